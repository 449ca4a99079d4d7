#include "api/pipelines.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_fields.h"
#include "core/json_check.h"
#include "api/pipelines_semantic.h"
#include "common/timeutil.h"

/* Instants outside years 0001-9999 are clamped to them (PostgreSQL and the formatter agree). */
#define EARLIEST_US (INT64_C(-62135596800) * TIMEUTIL_US_PER_SEC)
#define LATEST_US (INT64_C(253402300799) * TIMEUTIL_US_PER_SEC)

/* The longest a client may plausibly hold a call before sending it (offline queues), and how far
 * timestamp may run past sentAt, for the skew correction to apply. */
#define MAX_HOLD_US (INT64_C(30) * 86400 * TIMEUTIL_US_PER_SEC)
#define MAX_CLOCK_JITTER_US (INT64_C(60) * TIMEUTIL_US_PER_SEC)

/* Fields that a /v1/batch body sets for every item unless the item has its own. */
struct batch_defaults {
    json_object *context; /* borrowed; may be NULL */
    json_object *sent_at; /* borrowed; may be NULL */
    size_t context_bytes; /* serialized size of context: it becomes part of every item */
};

static const char *const endpoint_type_names[] = {
    [PIPELINES_IDENTIFY] = "identify", [PIPELINES_TRACK] = "track", [PIPELINES_PAGE] = "page",
    [PIPELINES_SCREEN] = "screen",     [PIPELINES_GROUP] = "group", [PIPELINES_ALIAS] = "alias",
};

/* Reads an optional ISO-8601 field into *out_us; *present says whether it was there. */
static bool optional_time(json_object *call, const char *key, json_object *fallback,
                          int64_t *out_us, bool *present, struct api_error *e)
{
    json_object *value = api_field(call, key);
    if (value == NULL)
        value = fallback;
    *present = value != NULL;
    if (value == NULL)
        return true;
    if (!json_object_is_type(value, json_type_string) ||
        !timeutil_parse_iso8601(json_object_get_string(value), out_us))
        return api_refuse(
            e, TRACKD_ERR_INVALID_FIELD, key,
            "%s must be an ISO-8601 date-time string such as 2026-11-28T09:50:00.000Z", key);
    return true;
}

/*
 * The event time: `timestamp` (or `originalTimestamp`) corrected for the client's clock skew
 * as Segment does, receivedAt - (sentAt - timestamp); without a timestamp, the receive time.
 */
static bool event_time(json_object *call, const struct batch_defaults *d, int64_t received_us,
                       int64_t *out_us, struct api_error *e)
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
    /* sent - ts is how long the client held the call before sending it. Outside a sane range
     * the client's fields contradict each other, and correcting would only move the event
     * to another millennium: the timestamp is then taken as sent. */
    int64_t held = sent - ts;
    bool plausible = held >= -MAX_CLOCK_JITTER_US && held <= MAX_HOLD_US;
    int64_t corrected = has_sent && plausible ? received_us - held : ts;
    *out_us = corrected < EARLIEST_US ? EARLIEST_US : corrected > LATEST_US ? LATEST_US : corrected;
    return true;
}

/* The call's context with the batch's context beneath it (the call's own keys win). */
static char *merged_context(json_object *context, const struct batch_defaults *d)
{
    if (d->context == NULL || json_object_object_length(d->context) == 0)
        return context ? api_serialize(context) : NULL;
    json_object *merged = json_object_new_object();
    if (merged == NULL)
        return NULL;
    json_object_object_foreach(d->context, key, value)
        json_object_object_add(merged, key, json_object_get(value));
    if (context != NULL) {
        json_object_object_foreach(context, key2, value2)
            json_object_object_add(merged, key2, json_object_get(value2));
    }
    char *text = api_serialize(merged);
    json_object_put(merged);
    return text;
}

/* The name of a page or screen view: `name`, else for pages the URL. */
static bool view_name(json_object *call, json_object *properties, struct command *cmd,
                      struct api_error *e)
{
    if (!api_optional_string(call, "name", API_EVENT_NAME_MAX_BYTES * 5, &cmd->name, e))
        return false;
    if (cmd->name == NULL && cmd->event_type == EVENT_TYPE_PAGE && properties != NULL) {
        json_object *url = api_field(properties, "url");
        if (url != NULL && json_object_is_type(url, json_type_string)) {
            if (json_object_get_string_len(url) > API_VIEW_NAME_MAX_BYTES)
                return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "properties.url",
                                  "properties.url cannot be longer than %d bytes",
                                  API_VIEW_NAME_MAX_BYTES);
            cmd->name = strdup(json_object_get_string(url));
        }
    }
    if (cmd->name == NULL)
        cmd->name = strdup("");
    return cmd->name != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, "name", "out of memory");
}

/* A group call: groupId names the object; traits.object_type_id its type ("1" by default),
 * traits.relationshipAttributes the person's relationship; the other traits describe the
 * object. */
static bool group_traits(json_object *call, json_object *traits, struct command *cmd,
                         struct api_error *e)
{
    cmd->kind = COMMAND_GROUP;
    json_object *group_id = api_field(call, "groupId");
    if (group_id != NULL && json_object_is_type(group_id, json_type_int)) {
        /* Numeric group ids are common; they are ids all the same. */
        char number[32];
        snprintf(number, sizeof number, "%lld", (long long)json_object_get_int64(group_id));
        cmd->group_id = strdup(number);
    } else if (!api_required_string(call, "groupId", API_ID_MAX_BYTES, &cmd->group_id, e)) {
        return false;
    }
    json_object *type = api_field(traits, "object_type_id");
    char type_text[32] = "1";
    if (type != NULL && json_object_is_type(type, json_type_int))
        snprintf(type_text, sizeof type_text, "%lld", (long long)json_object_get_int64(type));
    else if (type != NULL && json_object_is_type(type, json_type_string) &&
             json_object_get_string_len(type) > 0 && json_object_get_string_len(type) < 20)
        snprintf(type_text, sizeof type_text, "%s", json_object_get_string(type));
    else if (type != NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "traits.object_type_id",
                          "traits.object_type_id must be an integer or a short string");
    json_object *relationship = NULL;
    json_object *described = json_object_new_object();
    if (traits != NULL) {
        json_object_object_foreach(traits, key, value)
        {
            if (strcmp(key, "relationshipAttributes") == 0)
                relationship = value;
            else if (strcmp(key, "object_type_id") != 0)
                json_object_object_add(described, key, json_object_get(value));
        }
    }
    if (relationship != NULL && !json_object_is_type(relationship, json_type_object)) {
        json_object_put(described);
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "traits.relationshipAttributes",
                          "traits.relationshipAttributes must be an object");
    }
    cmd->object_type_id = strdup(type_text);
    cmd->relationship = api_serialize(relationship);
    cmd->properties = api_serialize(described);
    json_object_put(described);
    return (cmd->group_id && cmd->object_type_id && cmd->relationship && cmd->properties) ||
           api_refuse(e, TRACKD_ERR_INTERNAL, "traits", "out of memory");
}

/* Validates one call of type `type` and fills `cmd`; on refusal fills `e` and returns false
 * (the caller clears `cmd`). */
static bool parse_call(json_object *call, enum pipelines_endpoint type,
                       const struct batch_defaults *d, int64_t received_us, struct command *cmd,
                       struct api_error *e)
{
    char bad_path[96], message[320];
    if (!json_check_storable(call, "", bad_path, sizeof bad_path, message, sizeof message))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, bad_path, "%s", message);

    json_object *context = NULL, *integrations = NULL, *properties = NULL, *traits = NULL;
    cmd->received_us = received_us;
    if (!api_optional_string(call, "userId", API_ID_MAX_BYTES, &cmd->person.value, e) ||
        !api_optional_string(call, "anonymousId", API_ID_MAX_BYTES, &cmd->anonymous_id, e) ||
        !api_optional_string(call, "messageId", API_MESSAGE_ID_MAX_BYTES, &cmd->message_id, e) ||
        !api_optional_object(call, "context", &context, e) ||
        !api_optional_object(call, "integrations", &integrations, e) ||
        !event_time(call, d, received_us, &cmd->timestamp_us, e))
        return false;
    cmd->person.type = cmd->person.value ? IDENTIFIER_ID : IDENTIFIER_NONE;
    if (type != PIPELINES_ALIAS && cmd->person.value == NULL && cmd->anonymous_id == NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "userId",
                          "userId or anonymousId is required and must be a non-empty string");
    cmd->context = merged_context(context, d);

    switch (type) {
    case PIPELINES_IDENTIFY:
        cmd->kind = COMMAND_IDENTIFY;
        return api_optional_object(call, "traits", &traits, e) &&
               api_split_attributes(traits, "traits", NULL, cmd, e);
    case PIPELINES_TRACK:
        cmd->kind = COMMAND_TRACK;
        cmd->event_type = EVENT_TYPE_EVENT;
        if (!api_required_string(call, "event", API_EVENT_NAME_MAX_BYTES + 64, &cmd->name, e))
            return false;
        api_trim(cmd->name);
        if (strlen(cmd->name) > API_EVENT_NAME_MAX_BYTES)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "event",
                              "event name cannot be longer than %d bytes",
                              API_EVENT_NAME_MAX_BYTES);
        if (!api_optional_object(call, "properties", &properties, e))
            return false;
        cmd->properties = api_serialize(properties);
        if (cmd->properties != NULL && semantic_is_reserved(cmd->name))
            return semantic_to_command(properties, context, cmd, e);
        break;
    case PIPELINES_PAGE:
    case PIPELINES_SCREEN:
        cmd->kind = COMMAND_TRACK;
        cmd->event_type = type == PIPELINES_PAGE ? EVENT_TYPE_PAGE : EVENT_TYPE_SCREEN;
        if (!api_optional_object(call, "properties", &properties, e) ||
            !view_name(call, properties, cmd, e))
            return false;
        cmd->properties = api_serialize(properties);
        break;
    case PIPELINES_GROUP:
        if (!api_optional_object(call, "traits", &traits, e) || !group_traits(call, traits, cmd, e))
            return false;
        break;
    case PIPELINES_ALIAS:
        cmd->kind = COMMAND_ALIAS;
        if (!api_required_string(call, "previousId", API_ID_MAX_BYTES, &cmd->previous_id, e))
            return false;
        if (cmd->person.value == NULL)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "userId",
                              "userId is required and must be a non-empty string");
        cmd->properties = strdup("{}");
        break;
    case PIPELINES_BATCH:
        return api_refuse(e, TRACKD_ERR_INTERNAL, "type", "a batch cannot be nested");
    }
    if (cmd->properties == NULL)
        return api_refuse(e, TRACKD_ERR_INTERNAL, "properties", "out of memory");
    return true;
}

/* The type named by a batch item's "type" field. */
static bool item_type(json_object *item, enum pipelines_endpoint *type, struct api_error *e)
{
    json_object *value = api_field(item, "type");
    if (value == NULL || !json_object_is_type(value, json_type_string))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "type",
                          "type is required: one of identify, track, page, screen, group, alias");
    const char *name = json_object_get_string(value);
    for (int t = PIPELINES_IDENTIFY; t <= PIPELINES_ALIAS; t++) {
        if (strcmp(name, endpoint_type_names[t]) == 0) {
            *type = (enum pipelines_endpoint)t;
            return true;
        }
    }
    return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "type",
                      "type must be one of identify, track, page, screen, group, alias");
}

/* Parses one call (or batch item) into a new command of `out`, or records the refusal. */
static void take_call(json_object *call, const char *text, size_t text_len, long batch_index,
                      enum pipelines_endpoint type, const struct batch_defaults *d,
                      int64_t received_us, struct api_result *out)
{
    struct api_error e = {0};
    struct command cmd = {0};
    bool ok;
    if (text_len + d->context_bytes > API_CALL_MAX_BYTES)
        ok = api_refuse(&e, TRACKD_ERR_ITEM_TOO_LARGE, batch_index < 0 ? "body" : "batch",
                        "a call cannot be larger than %d bytes (this one has %zu, with the "
                        "batch's context)",
                        API_CALL_MAX_BYTES, text_len + d->context_bytes);
    else if (!json_object_is_type(call, json_type_object))
        ok = api_refuse(&e, TRACKD_ERR_INVALID_FIELD, batch_index < 0 ? "body" : "batch",
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
        api_refuse(&e, TRACKD_ERR_INTERNAL, "body", "out of memory");
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
    struct api_error e = {0};
    json_object *items = api_field(root, "batch");
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
    if (!api_optional_object(root, "context", &d.context, &e) ||
        !optional_time(root, "sentAt", NULL, &ignored, &has_sent, &e)) {
        api_result_add_problem(out, -1, e.code, e.field, body, len, "%s", e.message);
        out->whole_request_invalid = true;
        return;
    }
    char bad_path[96], message[320];
    if (d.context != NULL && !json_check_storable(d.context, "context", bad_path, sizeof bad_path,
                                                  message, sizeof message)) {
        api_result_add_problem(out, -1, TRACKD_ERR_INVALID_FIELD, bad_path, body, len, "%s",
                               message);
        out->whole_request_invalid = true;
        return;
    }
    if (d.context != NULL)
        json_object_to_json_string_length(d.context, API_JSON_FLAGS, &d.context_bytes);
    d.sent_at = has_sent ? api_field(root, "sentAt") : NULL;
    size_t count = json_object_array_length(items);
    for (size_t i = 0; i < count; i++) {
        json_object *item = json_object_array_get_idx(items, i);
        size_t item_len = 0;
        const char *item_text = json_object_to_json_string_length(item, API_JSON_FLAGS, &item_len);
        take_call(item, item_text, item_len, (long)i, PIPELINES_BATCH, &d, received_us, out);
    }
}

void pipelines_parse_request(enum pipelines_endpoint endpoint, const char *body, size_t len,
                             int64_t received_us, struct api_result *out)
{
    pipelines_parse_parsed(endpoint, body, len, NULL, received_us, out);
}

void pipelines_parse_parsed(enum pipelines_endpoint endpoint, const char *body, size_t len,
                            json_object *parsed, int64_t received_us, struct api_result *out)
{
    memset(out, 0, sizeof *out);
    json_object *root = api_parse_body(
        body, len, endpoint == PIPELINES_BATCH ? 0 : API_CALL_MAX_BYTES, "a call", parsed, out);
    if (root == NULL)
        return;
    if (endpoint == PIPELINES_BATCH) {
        parse_batch(root, body, len, received_us, out);
    } else {
        struct batch_defaults none = {0};
        take_call(root, body, len, -1, endpoint, &none, received_us, out);
        out->whole_request_invalid = out->command_count == 0;
    }
    json_object_put(root);
}
