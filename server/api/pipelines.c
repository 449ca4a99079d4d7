#include "api/pipelines.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "common/timeutil.h"

/* Instants outside years 0001-9999 are clamped to them (PostgreSQL and the formatter agree). */
#define EARLIEST_US (INT64_C(-62135596800) * TIMEUTIL_US_PER_SEC)
#define LATEST_US (INT64_C(253402300799) * TIMEUTIL_US_PER_SEC)

/* Fields that a /v1/batch body sets for every item unless the item has its own. */
struct batch_defaults {
    json_object *context; /* borrowed; may be NULL */
    json_object *sent_at; /* borrowed; may be NULL */
};

/* Why one call was refused. */
struct call_error {
    enum trackd_error code;
    char field[96];
    char message[320];
};

static const char *const endpoint_type_names[] = {
    [PIPELINES_IDENTIFY] = "identify", [PIPELINES_TRACK] = "track", [PIPELINES_PAGE] = "page",
    [PIPELINES_SCREEN] = "screen",     [PIPELINES_GROUP] = "group", [PIPELINES_ALIAS] = "alias",
};

/* Records why a call is refused; always returns false so callers can `return refuse(...)`. */
static bool refuse(struct call_error *e, enum trackd_error code, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static bool refuse(struct call_error *e, enum trackd_error code, const char *field, const char *fmt,
                   ...)
{
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

static char *serialize(json_object *value)
{
    if (value == NULL)
        return strdup("{}");
    return strdup(json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Looks up `key`; a JSON null counts as absent. */
static json_object *field(json_object *call, const char *key)
{
    json_object *value = NULL;
    if (!json_object_object_get_ex(call, key, &value))
        return NULL;
    return value; /* NULL for JSON null as well */
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/*
 * Reads an optional string field into *out (a copy, or NULL when absent, null or empty).
 * A value of another type, or longer than `max` bytes, refuses the call.
 */
static bool optional_string(json_object *call, const char *key, size_t max, char **out,
                            struct call_error *e)
{
    *out = NULL;
    json_object *value = field(call, key);
    if (value == NULL)
        return true;
    if (!json_object_is_type(value, json_type_string))
        return refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s must be a string", key);
    size_t len = (size_t)json_object_get_string_len(value);
    if (len > max)
        return refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s cannot be longer than %zu bytes", key,
                      max);
    const char *text = json_object_get_string(value);
    if (is_blank(text))
        return true;
    *out = strdup(text);
    return *out != NULL || refuse(e, TRACKD_ERR_INTERNAL, key, "out of memory");
}

/* Like optional_string, but absence refuses the call with "KEY is required". */
static bool required_string(json_object *call, const char *key, size_t max, char **out,
                            struct call_error *e)
{
    if (!optional_string(call, key, max, out, e))
        return false;
    if (*out == NULL)
        return refuse(e, TRACKD_ERR_INVALID_FIELD, key,
                      "%s is required and must be a non-empty "
                      "string",
                      key);
    return true;
}

/* Reads an optional object field: NULL when absent or null; another type refuses the call. */
static bool optional_object(json_object *call, const char *key, json_object **out,
                            struct call_error *e)
{
    *out = field(call, key);
    if (*out != NULL && !json_object_is_type(*out, json_type_object))
        return refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s must be an object", key);
    return true;
}

/* Reads an optional ISO-8601 field into *out_us; *present says whether it was there. */
static bool optional_time(json_object *call, const char *key, json_object *fallback,
                          int64_t *out_us, bool *present, struct call_error *e)
{
    json_object *value = field(call, key);
    if (value == NULL)
        value = fallback;
    *present = value != NULL;
    if (value == NULL)
        return true;
    if (!json_object_is_type(value, json_type_string) ||
        !timeutil_parse_iso8601(json_object_get_string(value), out_us))
        return refuse(e, TRACKD_ERR_INVALID_FIELD, key,
                      "%s must be an ISO-8601 date-time string such as 2026-11-28T09:50:00.000Z",
                      key);
    return true;
}

/*
 * The event time: `timestamp` (or `originalTimestamp`) corrected for the client's clock skew
 * as Segment does, receivedAt - (sentAt - timestamp); without a timestamp, the receive time.
 */
static bool event_time(json_object *call, const struct batch_defaults *d, int64_t received_us,
                       int64_t *out_us, struct call_error *e)
{
    int64_t ts = 0, sent = 0;
    bool has_ts = false, has_original = false, has_sent = false;
    if (!optional_time(call, "timestamp", NULL, &ts, &has_ts, e))
        return false;
    if (!has_ts && !optional_time(call, "originalTimestamp", NULL, &ts, &has_original, e))
        return false;
    if (!optional_time(call, "sentAt", d->sent_at, &sent, &has_sent, e))
        return false;
    if (!has_ts && !has_original) {
        *out_us = received_us;
        return true;
    }
    int64_t corrected = has_sent ? received_us - (sent - ts) : ts;
    *out_us = corrected < EARLIEST_US ? EARLIEST_US : corrected > LATEST_US ? LATEST_US : corrected;
    return true;
}

/* The call's context with the batch's context beneath it (the call's own keys win). */
static char *merged_context(json_object *context, const struct batch_defaults *d)
{
    if (d->context == NULL || json_object_object_length(d->context) == 0)
        return context ? serialize(context) : NULL;
    json_object *merged = json_object_new_object();
    if (merged == NULL)
        return NULL;
    json_object_object_foreach(d->context, key, value)
        json_object_object_add(merged, key, json_object_get(value));
    if (context != NULL) {
        json_object_object_foreach(context, key2, value2)
            json_object_object_add(merged, key2, json_object_get(value2));
    }
    char *text = serialize(merged);
    json_object_put(merged);
    return text;
}

/* Splits identify traits into attributes to set and names to remove (null values), and takes
 * the email out of them. */
static bool identify_traits(json_object *traits, struct command *cmd, struct call_error *e)
{
    json_object *set = json_object_new_object();
    json_object *unset = json_object_new_array();
    bool ok = false;
    if (set == NULL || unset == NULL) {
        refuse(e, TRACKD_ERR_INTERNAL, "traits", "out of memory");
        goto cleanup;
    }
    if (traits != NULL) {
        if (json_object_object_length(traits) > PIPELINES_ATTRIBUTES_MAX) {
            refuse(e, TRACKD_ERR_INVALID_FIELD, "traits",
                   "cannot identify more than %d attributes in one request",
                   PIPELINES_ATTRIBUTES_MAX);
            goto cleanup;
        }
        json_object_object_foreach(traits, key, value)
        {
            char path[200];
            snprintf(path, sizeof path, "traits.%s", key);
            size_t key_len = strlen(key);
            if (key_len == 0 || key_len > PIPELINES_ATTRIBUTE_NAME_MAX_BYTES) {
                refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                       "attribute name must be 1 to %d bytes long",
                       PIPELINES_ATTRIBUTE_NAME_MAX_BYTES);
                goto cleanup;
            }
            if (value == NULL) {
                json_object_array_add(unset, json_object_new_string(key));
                if (strcmp(key, "email") == 0)
                    cmd->clear_email = 1;
                continue;
            }
            size_t value_len = 0;
            json_object_to_json_string_length(value, JSON_C_TO_STRING_PLAIN, &value_len);
            if (value_len > PIPELINES_ATTRIBUTE_VALUE_MAX_BYTES) {
                refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                       "value for attribute '%s' cannot be longer than %d bytes", key,
                       PIPELINES_ATTRIBUTE_VALUE_MAX_BYTES);
                goto cleanup;
            }
            if (strcmp(key, "email") == 0) {
                if (!json_object_is_type(value, json_type_string) ||
                    json_object_get_string_len(value) > PIPELINES_EMAIL_MAX_BYTES) {
                    refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                           "traits.email must be a string of at most %d bytes",
                           PIPELINES_EMAIL_MAX_BYTES);
                    goto cleanup;
                }
                const char *email = json_object_get_string(value);
                if (!is_blank(email) && (cmd->email = strdup(email)) == NULL) {
                    refuse(e, TRACKD_ERR_INTERNAL, path, "out of memory");
                    goto cleanup;
                }
            }
            json_object_object_add(set, key, json_object_get(value));
        }
    }
    cmd->properties = serialize(set);
    cmd->unset_keys = serialize(unset);
    ok = cmd->properties != NULL && cmd->unset_keys != NULL;
    if (!ok)
        refuse(e, TRACKD_ERR_INTERNAL, "traits", "out of memory");
cleanup:
    json_object_put(set);
    json_object_put(unset);
    return ok;
}

/* The name of a page or screen view: `name`, else for pages the URL. */
static bool view_name(json_object *call, json_object *properties, struct command *cmd,
                      struct call_error *e)
{
    if (!optional_string(call, "name", PIPELINES_EVENT_NAME_MAX_BYTES * 5, &cmd->name, e))
        return false;
    if (cmd->name == NULL && cmd->event_type == EVENT_TYPE_PAGE && properties != NULL) {
        json_object *url = field(properties, "url");
        if (url != NULL && json_object_is_type(url, json_type_string))
            cmd->name = strdup(json_object_get_string(url));
    }
    if (cmd->name == NULL)
        cmd->name = strdup("");
    return cmd->name != NULL || refuse(e, TRACKD_ERR_INTERNAL, "name", "out of memory");
}

/* Trims leading and trailing ASCII whitespace in place (Customer.io trims event names). */
static void trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    size_t start = strspn(s, " \t\r\n");
    memmove(s, s + start, len - start + 1);
}

/* Validates one call of type `type` and fills `cmd`; on refusal fills `e` and returns false
 * (the caller clears `cmd`). */
static bool parse_call(json_object *call, enum pipelines_endpoint type,
                       const struct batch_defaults *d, int64_t received_us, struct command *cmd,
                       struct call_error *e)
{
    char bad_path[96], message[320];
    if (!json_check_storable(call, "", bad_path, sizeof bad_path, message, sizeof message))
        return refuse(e, TRACKD_ERR_INVALID_FIELD, bad_path, "%s", message);

    json_object *context = NULL, *integrations = NULL, *properties = NULL, *traits = NULL;
    cmd->received_us = received_us;
    if (!optional_string(call, "userId", PIPELINES_ID_MAX_BYTES, &cmd->customer_id, e) ||
        !optional_string(call, "anonymousId", PIPELINES_ID_MAX_BYTES, &cmd->anonymous_id, e) ||
        !optional_string(call, "messageId", PIPELINES_MESSAGE_ID_MAX_BYTES, &cmd->message_id, e) ||
        !optional_object(call, "context", &context, e) ||
        !optional_object(call, "integrations", &integrations, e) ||
        !event_time(call, d, received_us, &cmd->timestamp_us, e))
        return false;
    if (type != PIPELINES_ALIAS && cmd->customer_id == NULL && cmd->anonymous_id == NULL)
        return refuse(e, TRACKD_ERR_INVALID_FIELD, "userId",
                      "userId or anonymousId is required and must be a non-empty string");
    cmd->context = merged_context(context, d);

    switch (type) {
    case PIPELINES_IDENTIFY:
        cmd->kind = COMMAND_IDENTIFY;
        return optional_object(call, "traits", &traits, e) && identify_traits(traits, cmd, e);
    case PIPELINES_TRACK:
        cmd->kind = COMMAND_TRACK;
        cmd->event_type = EVENT_TYPE_EVENT;
        if (!required_string(call, "event", PIPELINES_EVENT_NAME_MAX_BYTES + 64, &cmd->name, e))
            return false;
        trim(cmd->name);
        if (strlen(cmd->name) > PIPELINES_EVENT_NAME_MAX_BYTES)
            return refuse(e, TRACKD_ERR_INVALID_FIELD, "event",
                          "event name cannot be longer than %d bytes",
                          PIPELINES_EVENT_NAME_MAX_BYTES);
        if (!optional_object(call, "properties", &properties, e))
            return false;
        cmd->properties = serialize(properties);
        break;
    case PIPELINES_PAGE:
    case PIPELINES_SCREEN:
        cmd->kind = COMMAND_TRACK;
        cmd->event_type = type == PIPELINES_PAGE ? EVENT_TYPE_PAGE : EVENT_TYPE_SCREEN;
        if (!optional_object(call, "properties", &properties, e) ||
            !view_name(call, properties, cmd, e))
            return false;
        cmd->properties = serialize(properties);
        break;
    case PIPELINES_GROUP:
        cmd->kind = COMMAND_GROUP;
        if (!required_string(call, "groupId", PIPELINES_ID_MAX_BYTES, &cmd->group_id, e) ||
            !optional_object(call, "traits", &traits, e))
            return false;
        cmd->properties = serialize(traits);
        break;
    case PIPELINES_ALIAS:
        cmd->kind = COMMAND_ALIAS;
        if (!required_string(call, "previousId", PIPELINES_ID_MAX_BYTES, &cmd->previous_id, e))
            return false;
        if (cmd->customer_id == NULL)
            return refuse(e, TRACKD_ERR_INVALID_FIELD, "userId",
                          "userId is required and must be a non-empty string");
        cmd->properties = strdup("{}");
        break;
    case PIPELINES_BATCH:
        return refuse(e, TRACKD_ERR_INTERNAL, "type", "a batch cannot be nested");
    }
    if (cmd->properties == NULL)
        return refuse(e, TRACKD_ERR_INTERNAL, "properties", "out of memory");
    return true;
}

/* The type named by a batch item's "type" field. */
static bool item_type(json_object *item, enum pipelines_endpoint *type, struct call_error *e)
{
    json_object *value = field(item, "type");
    if (value == NULL || !json_object_is_type(value, json_type_string))
        return refuse(e, TRACKD_ERR_INVALID_FIELD, "type",
                      "type is required: one of identify, track, page, screen, group, alias");
    const char *name = json_object_get_string(value);
    for (int t = PIPELINES_IDENTIFY; t <= PIPELINES_ALIAS; t++) {
        if (strcmp(name, endpoint_type_names[t]) == 0) {
            *type = (enum pipelines_endpoint)t;
            return true;
        }
    }
    return refuse(e, TRACKD_ERR_INVALID_FIELD, "type",
                  "type must be one of identify, track, page, screen, group, alias");
}

/* Parses one call (or batch item) into a new command of `out`, or records the refusal. */
static void take_call(json_object *call, const char *text, size_t text_len, long batch_index,
                      enum pipelines_endpoint type, const struct batch_defaults *d,
                      int64_t received_us, struct api_result *out)
{
    struct call_error e = {0};
    struct command cmd = {0};
    bool ok;
    if (text_len > API_CALL_MAX_BYTES)
        ok = refuse(&e, TRACKD_ERR_ITEM_TOO_LARGE, batch_index < 0 ? "body" : "batch",
                    "a call cannot be larger than %d bytes (this one has %zu)", API_CALL_MAX_BYTES,
                    text_len);
    else if (!json_object_is_type(call, json_type_object))
        ok = refuse(&e, TRACKD_ERR_INVALID_FIELD, batch_index < 0 ? "body" : "batch",
                    "%s must be a JSON object", batch_index < 0 ? "body" : "each batch item");
    else
        ok = (type != PIPELINES_BATCH || item_type(call, &type, &e)) &&
             parse_call(call, type, d, received_us, &cmd, &e);

    cmd.batch_index = batch_index;
    struct command *slot = ok ? api_result_add_command(out) : NULL;
    if (slot != NULL) {
        *slot = cmd;
        return;
    }
    command_clear(&cmd);
    if (ok) /* out of memory appending */
        refuse(&e, TRACKD_ERR_INTERNAL, "body", "out of memory");
    if (batch_index >= 0) {
        /* Name the item in the message too, for clients that only show messages. */
        char message[sizeof e.message];
        snprintf(message, sizeof message, "batch[%ld]: %s", batch_index, e.message);
        memcpy(e.message, message, sizeof e.message);
    }
    api_result_add_problem(out, batch_index, e.code, e.field, text, text_len, "%s", e.message);
}

static void parse_batch(json_object *root, const char *body, size_t len, int64_t received_us,
                        struct api_result *out)
{
    struct call_error e = {0};
    json_object *items = field(root, "batch");
    struct batch_defaults d = {0};
    if (items == NULL || !json_object_is_type(items, json_type_array) ||
        json_object_array_length(items) == 0) {
        api_result_add_problem(out, -1, TRACKD_ERR_INVALID_FIELD, "batch", body, len,
                               "batch is required and must be a non-empty array");
        out->whole_request_invalid = true;
        return;
    }
    bool has_sent = false;
    int64_t ignored;
    if (!optional_object(root, "context", &d.context, &e) ||
        !optional_time(root, "sentAt", NULL, &ignored, &has_sent, &e)) {
        api_result_add_problem(out, -1, e.code, e.field, body, len, "%s", e.message);
        out->whole_request_invalid = true;
        return;
    }
    d.sent_at = has_sent ? field(root, "sentAt") : NULL;
    size_t count = json_object_array_length(items);
    for (size_t i = 0; i < count; i++) {
        json_object *item = json_object_array_get_idx(items, i);
        size_t item_len = 0;
        const char *item_text =
            json_object_to_json_string_length(item, JSON_C_TO_STRING_PLAIN, &item_len);
        take_call(item, item_text, item_len, (long)i, PIPELINES_BATCH, &d, received_us, out);
    }
}

void pipelines_parse_request(enum pipelines_endpoint endpoint, const char *body, size_t len,
                             int64_t received_us, struct api_result *out)
{
    memset(out, 0, sizeof *out);
    if (endpoint != PIPELINES_BATCH && len > API_CALL_MAX_BYTES) {
        api_result_add_problem(out, -1, TRACKD_ERR_ITEM_TOO_LARGE, "body", body, len,
                               "a call cannot be larger than %d bytes (this one has %zu)",
                               API_CALL_MAX_BYTES, len);
        out->whole_request_invalid = true;
        return;
    }
    char error[160];
    json_object *root = json_check_parse(body, len, error, sizeof error);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        api_result_add_problem(out, -1, root ? TRACKD_ERR_INVALID_FIELD : TRACKD_ERR_INVALID_JSON,
                               "body", body, len, "%s",
                               root ? "body must be a JSON object" : error);
        out->whole_request_invalid = true;
        json_object_put(root);
        return;
    }
    if (endpoint == PIPELINES_BATCH) {
        parse_batch(root, body, len, received_us, out);
    } else {
        struct batch_defaults none = {0};
        take_call(root, body, len, -1, endpoint, &none, received_us, out);
        out->whole_request_invalid = out->command_count == 0;
    }
    json_object_put(root);
}
