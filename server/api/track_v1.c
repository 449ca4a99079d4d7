#include "api/track_v1.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_fields.h"
#include "api/api_objects.h"
#include "core/json_check.h"

/* Identify attributes that are instructions, not attributes: they are never stored as such. */
static const char *const identify_reserved[] = {"id",           "_update",           "_timestamp",
                                                "anonymous_id", "cio_relationships", NULL};

static const char *const delivery_metrics[] = {
    "sent",    "delivered", "opened", "clicked",      "converted",     "bounced", "spammed",
    "dropped", "deferred",  "failed", "unsubscribed", "undeliverable", NULL};

static bool one_of(const char *value, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(value, *allowed) == 0)
            return true;
    return false;
}

bool track_parse_event(json_object *call, const char *data_key, const char *type_name,
                       struct command *cmd, struct api_error *e)
{
    cmd->kind = COMMAND_TRACK;
    if (type_name == NULL) {
        json_object *type = api_field(call, "type");
        type_name = type && json_object_is_type(type, json_type_string)
                        ? json_object_get_string(type)
                        : "event";
    }
    /* Anything that is not page or screen is an event, as Customer.io does. */
    cmd->event_type = strcmp(type_name, "page") == 0     ? EVENT_TYPE_PAGE
                      : strcmp(type_name, "screen") == 0 ? EVENT_TYPE_SCREEN
                                                         : EVENT_TYPE_EVENT;
    size_t name_max =
        cmd->event_type == EVENT_TYPE_EVENT ? API_EVENT_NAME_MAX_BYTES : API_VIEW_NAME_MAX_BYTES;
    json_object *name = api_field(call, "name");
    if (name == NULL || !json_object_is_type(name, json_type_string) ||
        api_is_blank(json_object_get_string(name)))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "name", "event name must not be blank");
    cmd->name = strdup(json_object_get_string(name));
    if (cmd->name == NULL)
        return api_refuse(e, TRACKD_ERR_INTERNAL, "name", "out of memory");
    api_trim(cmd->name);
    if (strlen(cmd->name) > name_max)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "name",
                          "event name cannot be longer than %zu bytes", name_max);

    json_object *data = NULL;
    if (json_object_object_get_ex(call, data_key, &data) && data != NULL &&
        !json_object_is_type(data, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, data_key,
                          "event data must be a hash (e.g., send \"%s\":{} instead of \"%s\":\"\")",
                          data_key, data_key);
    size_t data_len = 0;
    if (data != NULL)
        json_object_to_json_string_length(data, API_JSON_FLAGS, &data_len);
    if (data_len > API_EVENT_DATA_MAX_BYTES)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, data_key,
                          "event data cannot be longer than %d bytes", API_EVENT_DATA_MAX_BYTES);
    cmd->properties = api_serialize(data);
    if (cmd->properties == NULL)
        return api_refuse(e, TRACKD_ERR_INTERNAL, data_key, "out of memory");
    /* `id` is the deduplication key, shared with Pipelines messageId. */
    return api_optional_string(call, "id", API_MESSAGE_ID_MAX_BYTES, &cmd->message_id, e) &&
           api_unix_time(call, "timestamp", &cmd->timestamp_us, e);
}

bool track_parse_device(json_object *device, const char *token_key, struct command *cmd,
                        struct api_error *e)
{
    cmd->kind = COMMAND_ADD_DEVICE;
    char field[32];
    snprintf(field, sizeof field, "device.%s", token_key);
    if (device == NULL || !json_object_is_type(device, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device",
                          "device is required and must be an object");
    json_object *attributes = NULL;
    if (!api_required_string(device, token_key, API_DEVICE_TOKEN_MAX_BYTES, &cmd->device_token,
                             e) ||
        !api_required_string(device, "platform", 32, &cmd->platform, e) ||
        !api_unix_time(device, "last_used", &cmd->timestamp_us, e) ||
        !api_optional_object(device, "attributes", &attributes, e)) {
        /* Name the field as nested under device. */
        char inner[sizeof e->field];
        snprintf(inner, sizeof inner, "%s", e->field);
        snprintf(e->field, sizeof e->field, "device.%s", inner);
        return false;
    }
    if (strcmp(cmd->platform, "ios") != 0 && strcmp(cmd->platform, "android") != 0)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device.platform",
                          "device platform must be ios or android");
    if (attributes != NULL && json_object_object_length(attributes) > API_ATTRIBUTES_MAX)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device.attributes",
                          "device attributes cannot have more than %d keys", API_ATTRIBUTES_MAX);
    cmd->properties = api_serialize(attributes);
    return cmd->properties != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, "device", "out of memory");
}

bool track_parse_metric(json_object *call, const char *metric_key, struct command *cmd,
                        struct api_error *e)
{
    cmd->kind = COMMAND_METRIC;
    if (!api_required_string(call, "delivery_id", API_ID_MAX_BYTES, &cmd->delivery_id, e) ||
        !api_required_string(call, metric_key, 32, &cmd->metric, e) ||
        !api_optional_string(call, "recipient", 1000, &cmd->recipient, e) ||
        !api_optional_string(call, "reason", 1000, &cmd->metric_reason, e) ||
        !api_optional_string(call, "href", 2048, &cmd->href, e) ||
        !api_unix_time(call, "timestamp", &cmd->timestamp_us, e))
        return false;
    if (!one_of(cmd->metric, delivery_metrics))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, metric_key,
                          "%s must be one of sent, delivered, opened, clicked, converted, "
                          "bounced, spammed, dropped, deferred, failed, unsubscribed, "
                          "undeliverable",
                          metric_key);
    return true;
}

bool track_parse_identify(json_object *body, struct command *cmd, struct api_error *e)
{
    cmd->kind = COMMAND_IDENTIFY;
    json_object *id = api_field(body, "id");
    if (id != NULL) {
        if (!json_object_is_type(id, json_type_string))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "id",
                              "id attribute must be a string value");
        if (api_is_blank(json_object_get_string(id)))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "id",
                              "id attribute cannot be an empty string");
        if (json_object_get_string_len(id) > API_ID_MAX_BYTES)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "id",
                              "id attribute cannot be longer than %d bytes", API_ID_MAX_BYTES);
        cmd->body_id = strdup(json_object_get_string(id));
    }
    json_object *update = api_field(body, "_update");
    cmd->update_only = update != NULL && json_object_is_type(update, json_type_boolean) &&
                       json_object_get_boolean(update);
    json_object *relationships = api_field(body, "cio_relationships");
    if (relationships != NULL &&
        !api_identify_relationships(relationships, "cio_relationships", cmd, e))
        return false;
    /* _timestamp orders updates sent in quick succession: an older one never overwrites a newer
     * value. */
    if (api_field(body, "_timestamp") != NULL) {
        cmd->ordered = 1;
        if (!api_unix_time(body, "_timestamp", &cmd->timestamp_us, e))
            return false;
    }
    return api_optional_string(body, "anonymous_id", API_ID_MAX_BYTES, &cmd->anonymous_id, e) &&
           api_split_attributes(body, "attributes", identify_reserved, cmd, e);
}

/* POST /api/v1/events: an event with no person; needs an anonymous_id, or a data.recipient for
 * Customer.io's "invite" events. */
static bool parse_anonymous_event(json_object *body, struct command *cmd, struct api_error *e)
{
    if (!track_parse_event(body, "data", NULL, cmd, e) ||
        !api_optional_string(body, "anonymous_id", API_ID_MAX_BYTES, &cmd->anonymous_id, e))
        return false;
    if (cmd->anonymous_id == NULL && api_field(api_field(body, "data"), "recipient") == NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "anonymous_id",
                          "anonymous_id is required (or data.recipient for an invite event)");
    return true;
}

/* POST /api/v1/push/events: {delivery_id, event, device_id, timestamp}. */
static bool parse_push_event(json_object *body, struct command *cmd, struct api_error *e)
{
    if (!track_parse_metric(body, "event", cmd, e) ||
        !api_optional_string(body, "device_id", API_DEVICE_TOKEN_MAX_BYTES, &cmd->device_token, e))
        return false;
    if (strcmp(cmd->metric, "opened") != 0 && strcmp(cmd->metric, "converted") != 0 &&
        strcmp(cmd->metric, "delivered") != 0)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "event",
                          "event must be one of opened, converted, delivered");
    return true;
}

/* POST /unsubscribe/{delivery_id}: {"unsubscribe": true} (false resubscribes). */
static bool parse_unsubscribe(const char *delivery_id, json_object *body, struct command *cmd,
                              struct api_error *e)
{
    cmd->kind = COMMAND_UNSUBSCRIBE;
    if (delivery_id == NULL || api_is_blank(delivery_id))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "delivery_id",
                          "delivery_id cannot be blank");
    if (strlen(delivery_id) > API_ID_MAX_BYTES)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "delivery_id",
                          "delivery_id cannot be longer than %d bytes", API_ID_MAX_BYTES);
    json_object *flag = api_field(body, "unsubscribe");
    if (flag == NULL || !json_object_is_type(flag, json_type_boolean))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "unsubscribe",
                          "unsubscribe is required and must be true or false");
    cmd->unsubscribe = json_object_get_boolean(flag);
    cmd->delivery_id = strdup(delivery_id);
    return cmd->delivery_id != NULL ||
           api_refuse(e, TRACKD_ERR_INTERNAL, "delivery_id", "out of memory");
}

/* POST /api/v1/segments/{segment_id}/add_customers (remove_customers)?id_type=: {"ids": [...]},
 * 1 to 1000 ids, each a string or an integer; blank ones are left out. */
static bool parse_segment(const char *segment, const char *id_type, json_object *body, bool add,
                          struct command *cmd, struct api_error *e)
{
    cmd->kind = COMMAND_SEGMENT;
    cmd->segment_add = add;
    char *end = NULL;
    long long number = segment ? strtoll(segment, &end, 10) : 0;
    if (segment == NULL || *segment < '1' || *segment > '9' || *end != '\0' || number < 1 ||
        number > 2147483647 || strlen(segment) > 10)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "segment_id",
                          "segment_id must be a whole number from 1 to 2147483647");
    cmd->segment_id = number;
    if (id_type == NULL || strcmp(id_type, "id") == 0)
        cmd->id_type = IDENTIFIER_ID;
    else if (strcmp(id_type, "email") == 0)
        cmd->id_type = IDENTIFIER_EMAIL;
    else if (strcmp(id_type, "cio_id") == 0)
        cmd->id_type = IDENTIFIER_CIO_ID;
    else
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "id_type",
                          "id_type must be id, email or cio_id");
    json_object *ids = api_field(body, "ids");
    size_t count = json_object_is_type(ids, json_type_array) ? json_object_array_length(ids) : 0;
    if (count == 0 || count > TRACK_SEGMENT_IDS_MAX)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "ids",
                          "ids is required: an array of 1 to %d ids", TRACK_SEGMENT_IDS_MAX);
    json_object *kept = json_object_new_array();
    for (size_t i = 0; kept != NULL && i < count; i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        char text[32];
        const char *value = NULL;
        if (json_object_is_type(id, json_type_string))
            value = json_object_get_string(id);
        else if (json_object_is_type(id, json_type_int))
            value = text, snprintf(text, sizeof text, "%" PRId64, json_object_get_int64(id));
        if (value == NULL) {
            json_object_put(kept);
            char field[32];
            snprintf(field, sizeof field, "ids[%zu]", i);
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                              "%s must be a string or a whole number", field);
        }
        if (strlen(value) > API_ID_MAX_BYTES) {
            json_object_put(kept);
            char field[32];
            snprintf(field, sizeof field, "ids[%zu]", i);
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                              "%s cannot be longer than %d bytes", field, API_ID_MAX_BYTES);
        }
        if (!api_is_blank(value))
            json_object_array_add(kept, json_object_new_string(value));
    }
    if (kept != NULL)
        cmd->ids = strdup(json_object_to_json_string_ext(kept, JSON_C_TO_STRING_PLAIN));
    json_object_put(kept);
    return cmd->ids != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, "ids", "out of memory");
}

static bool parse_merge(json_object *body, struct command *cmd, struct api_error *e)
{
    cmd->kind = COMMAND_MERGE;
    return api_identifier_object(api_field(body, "primary"), "primary", &cmd->person, e) &&
           api_identifier_object(api_field(body, "secondary"), "secondary", &cmd->secondary, e);
}

/* Whether the endpoint names its person in the path. */
static bool has_person_path(enum track_v1_endpoint endpoint)
{
    return endpoint != TRACK_V1_ANONYMOUS_EVENT && endpoint != TRACK_V1_MERGE &&
           endpoint != TRACK_V1_METRIC && endpoint != TRACK_V1_PUSH_EVENT &&
           endpoint != TRACK_V1_UNSUBSCRIBE && endpoint != TRACK_V1_SEGMENT_ADD &&
           endpoint != TRACK_V1_SEGMENT_REMOVE;
}

/* Whether the endpoint reads its body; the others ignore it (clients send `{}` or nothing). */
static bool reads_body(enum track_v1_endpoint endpoint)
{
    return endpoint != TRACK_V1_DELETE && endpoint != TRACK_V1_DELETE_DEVICE &&
           endpoint != TRACK_V1_SUPPRESS && endpoint != TRACK_V1_UNSUPPRESS;
}

static bool parse_call(enum track_v1_endpoint endpoint, const char *const *params,
                       json_object *body, int64_t received_us, struct command *cmd,
                       struct api_error *e)
{
    cmd->received_us = received_us;
    cmd->timestamp_us = received_us;
    cmd->batch_index = -1;
    if (has_person_path(endpoint) && !api_path_identifier(params[0], "identifier", &cmd->person, e))
        return false;
    switch (endpoint) {
    case TRACK_V1_IDENTIFY:
        return track_parse_identify(body, cmd, e);
    case TRACK_V1_DELETE:
        cmd->kind = COMMAND_DELETE_PERSON;
        return true;
    case TRACK_V1_EVENT:
        return track_parse_event(body, "data", NULL, cmd, e);
    case TRACK_V1_ANONYMOUS_EVENT:
        return parse_anonymous_event(body, cmd, e);
    case TRACK_V1_ADD_DEVICE:
        return track_parse_device(api_field(body, "device"), "id", cmd, e);
    case TRACK_V1_DELETE_DEVICE:
        cmd->kind = COMMAND_DELETE_DEVICE;
        if (params[1] == NULL || api_is_blank(params[1]))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device_id",
                              "device_id cannot be blank");
        if (strlen(params[1]) > API_DEVICE_TOKEN_MAX_BYTES)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device_id",
                              "device_id cannot be longer than %d bytes",
                              API_DEVICE_TOKEN_MAX_BYTES);
        cmd->device_token = strdup(params[1]);
        return cmd->device_token != NULL ||
               api_refuse(e, TRACKD_ERR_INTERNAL, "device_id", "out of memory");
    case TRACK_V1_SUPPRESS:
        cmd->kind = COMMAND_SUPPRESS;
        return true;
    case TRACK_V1_UNSUPPRESS:
        cmd->kind = COMMAND_UNSUPPRESS;
        return true;
    case TRACK_V1_MERGE:
        return parse_merge(body, cmd, e);
    case TRACK_V1_METRIC:
        return track_parse_metric(body, "metric", cmd, e);
    case TRACK_V1_PUSH_EVENT:
        return parse_push_event(body, cmd, e);
    case TRACK_V1_UNSUBSCRIBE:
        return parse_unsubscribe(params[0], body, cmd, e);
    case TRACK_V1_SEGMENT_ADD:
    case TRACK_V1_SEGMENT_REMOVE:
        return parse_segment(params[0], params[1], body, endpoint == TRACK_V1_SEGMENT_ADD, cmd, e);
    }
    return api_refuse(e, TRACKD_ERR_INTERNAL, "body", "unknown endpoint");
}

void track_v1_parse_request(enum track_v1_endpoint endpoint, const char *const *params,
                            const char *body, size_t len, int64_t received_us,
                            struct api_result *out)
{
    memset(out, 0, sizeof *out);
    struct api_error e = {0};
    struct command cmd = {0};
    json_object *root = NULL;
    bool ok = true;
    if (reads_body(endpoint) && len > 0) {
        char error[160];
        root = json_check_parse(body, len, error, sizeof error);
        if (root == NULL)
            ok = api_refuse(&e, TRACKD_ERR_INVALID_JSON, "body", "%s", error);
        else if (!json_object_is_type(root, json_type_object))
            ok = api_refuse(&e, TRACKD_ERR_INVALID_FIELD, "body", "body must be a JSON object");
        else {
            char bad_path[96], message[320];
            if (!json_check_storable(root, "", bad_path, sizeof bad_path, message, sizeof message))
                ok = api_refuse(&e, TRACKD_ERR_INVALID_FIELD, bad_path, "%s", message);
        }
    }
    ok = ok && parse_call(endpoint, params, root, received_us, &cmd, &e);
    struct command *slot = ok ? api_result_add_command(out) : NULL;
    if (slot != NULL) {
        *slot = cmd;
    } else {
        command_clear(&cmd);
        if (ok)
            api_refuse(&e, TRACKD_ERR_INTERNAL, "body", "out of memory");
        api_result_add_problem(out, -1, e.code, e.field, body, len, "%s", e.message);
        out->whole_request_invalid = true;
    }
    json_object_put(root);
}
