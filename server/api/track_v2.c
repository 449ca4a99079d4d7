#include "api/track_v2.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_fields.h"
#include "api/api_objects.h"
#include "api/track_v1.h"
#include "core/json_check.h"

static bool parse_identifiers(json_object *op, struct command *cmd, struct api_error *e)
{
    return api_identifier_object(api_field(op, "identifiers"), "identifiers", &cmd->person, e);
}

static bool parse_person(json_object *op, const char *action, struct command *cmd,
                         struct api_error *e)
{
    json_object *attributes = NULL;
    if (strcmp(action, "merge") == 0) {
        cmd->kind = COMMAND_MERGE;
        return api_identifier_object(api_field(op, "primary"), "primary", &cmd->person, e) &&
               api_identifier_object(api_field(op, "secondary"), "secondary", &cmd->secondary, e);
    }
    if (!parse_identifiers(op, cmd, e))
        return false;
    if (strcmp(action, "identify") == 0) {
        /* `timestamp` orders attribute updates, as v1's _timestamp does; read first, since the
         * attributes are stamped with it. */
        if (api_field(op, "timestamp") != NULL) {
            cmd->ordered = 1;
            if (!api_unix_time(op, "timestamp", &cmd->timestamp_us, e))
                return false;
        }
        if (!api_optional_object(op, "attributes", &attributes, e) ||
            !track_parse_identify(attributes, cmd, e))
            return false;
        /* cio_relationships beside the attributes, where v2 puts it, wins over one among them. */
        json_object *relationships = api_field(op, "cio_relationships");
        if (relationships != NULL) {
            free(cmd->relationships);
            cmd->relationships = NULL;
            if (!api_identify_relationships(relationships, "cio_relationships", cmd, e))
                return false;
        }
        return true;
    }
    if (strcmp(action, "add_relationships") == 0 || strcmp(action, "delete_relationships") == 0) {
        cmd->kind = COMMAND_RELATIONSHIPS;
        cmd->relationships_add = action[0] == 'a';
        return api_relationships(api_field(op, "cio_relationships"), "cio_relationships",
                                 API_RELATED_OBJECTS, cmd, e);
    }
    if (strcmp(action, "event") == 0 || strcmp(action, "page") == 0 ||
        strcmp(action, "screen") == 0) {
        /* The action is the event type: the op's own "type" is "person". */
        return track_parse_event(op, "attributes", action, cmd, e);
    }
    if (strcmp(action, "add_device") == 0)
        return track_parse_device(api_field(op, "device"), "token", cmd, e);
    if (strcmp(action, "delete_device") == 0) {
        cmd->kind = COMMAND_DELETE_DEVICE;
        json_object *device = api_field(op, "device");
        if (device == NULL || !json_object_is_type(device, json_type_object))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device",
                              "device is required and must be an object");
        if (!api_required_string(device, "token", API_DEVICE_TOKEN_MAX_BYTES, &cmd->device_token,
                                 e))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "device.token",
                              "device.token is required and must be a non-empty string");
        return true;
    }
    static const struct {
        const char *action;
        enum command_kind kind;
    } simple[] = {{"delete", COMMAND_DELETE_PERSON},
                  {"suppress", COMMAND_SUPPRESS},
                  {"unsuppress", COMMAND_UNSUPPRESS}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(action, simple[i].action) == 0) {
            cmd->kind = simple[i].kind;
            return true;
        }
    }
    return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "action",
                      "action must be one of identify, delete, event, page, screen, add_device, "
                      "delete_device, add_relationships, delete_relationships, merge, suppress, "
                      "unsuppress (for a person)");
}

/* An object operation: identify (create or update; identify_anonymous relates anonymous ids),
 * delete, add_relationships or delete_relationships, naming the object by object_type_id and
 * object_id, or by cio_object_id (which never creates one). */
static bool parse_object(json_object *op, const char *action, struct command *cmd,
                         struct api_error *e)
{
    json_object *relationships = api_field(op, "cio_relationships");
    bool anonymous = strcmp(action, "identify_anonymous") == 0;
    if (anonymous || strcmp(action, "identify") == 0) {
        cmd->kind = COMMAND_OBJECT_IDENTIFY;
        json_object *attributes = NULL;
        return api_object_identifiers(api_field(op, "identifiers"), "identifiers", cmd, e) &&
               api_optional_object(op, "attributes", &attributes, e) &&
               api_object_attributes(attributes, "attributes", cmd, e) &&
               (relationships == NULL ||
                api_relationships(relationships, "cio_relationships",
                                  anonymous ? API_RELATED_ANONYMOUS : API_RELATED_PEOPLE, cmd, e));
    }
    if (strcmp(action, "delete") == 0) {
        cmd->kind = COMMAND_DELETE_OBJECT;
        return api_object_identifiers(api_field(op, "identifiers"), "identifiers", cmd, e);
    }
    if (strcmp(action, "add_relationships") == 0 || strcmp(action, "delete_relationships") == 0) {
        cmd->kind = COMMAND_RELATIONSHIPS;
        cmd->relationships_add = action[0] == 'a';
        return api_object_identifiers(api_field(op, "identifiers"), "identifiers", cmd, e) &&
               api_relationships(relationships, "cio_relationships", API_RELATED_PEOPLE, cmd, e);
    }
    return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "action",
                      "action must be one of identify, identify_anonymous, delete, "
                      "add_relationships, delete_relationships (for an object)");
}

/* {"type":"delivery","action":"event","identifiers":{"id":DELIVERY},"name":METRIC,
 *  "attributes":{"device_token":...}} records a delivery metric. */
static bool parse_delivery(json_object *op, const char *action, struct command *cmd,
                           struct api_error *e)
{
    if (strcmp(action, "event") != 0)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "action",
                          "action of a delivery must be event");
    json_object *ids = api_field(op, "identifiers");
    json_object *attributes = NULL;
    if (!api_required_string(ids, "id", API_ID_MAX_BYTES, &cmd->delivery_id, e))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "identifiers.id",
                          "identifiers.id (the delivery id) is required");
    if (!api_required_string(op, "name", 32, &cmd->metric, e) ||
        !api_optional_object(op, "attributes", &attributes, e) ||
        !api_optional_string(attributes, "device_token", 1000, &cmd->device_token, e) ||
        !api_unix_time(op, "timestamp", &cmd->timestamp_us, e))
        return false;
    /* Reuse the metric rules of v1 by reading the same fields from a small object. */
    json_object *metric = json_object_new_object();
    json_object_object_add(metric, "delivery_id", json_object_new_string(cmd->delivery_id));
    json_object_object_add(metric, "metric", json_object_new_string(cmd->metric));
    free(cmd->delivery_id);
    free(cmd->metric);
    cmd->delivery_id = cmd->metric = NULL;
    int64_t when = cmd->timestamp_us;
    bool ok = track_parse_metric(metric, "metric", cmd, e);
    cmd->timestamp_us = when;
    json_object_put(metric);
    if (!ok && strcmp(e->field, "metric") == 0)
        snprintf(e->field, sizeof e->field, "name");
    return ok;
}

static bool parse_operation(json_object *op, int64_t received_us, struct command *cmd,
                            struct api_error *e)
{
    char bad_path[96], message[320];
    if (!json_check_storable(op, "", bad_path, sizeof bad_path, message, sizeof message))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, bad_path, "%s", message);
    cmd->received_us = received_us;
    cmd->timestamp_us = received_us;
    char *type = NULL, *action = NULL;
    bool ok = api_required_string(op, "type", 32, &type, e) &&
              api_required_string(op, "action", 32, &action, e);
    if (ok && strcmp(type, "person") == 0)
        ok = parse_person(op, action, cmd, e);
    else if (ok && strcmp(type, "object") == 0)
        ok = parse_object(op, action, cmd, e);
    else if (ok && strcmp(type, "delivery") == 0)
        ok = parse_delivery(op, action, cmd, e);
    else if (ok)
        ok = api_refuse(e, TRACKD_ERR_INVALID_FIELD, "type",
                        "type must be person, object or delivery");
    free(type);
    free(action);
    return ok;
}

/* Parses one operation into a new command of `out`, or records why it was refused. */
static void take_operation(json_object *op, const char *text, size_t text_len, long batch_index,
                           int64_t received_us, struct api_result *out)
{
    struct api_error e = {0};
    struct command cmd = {.batch_index = batch_index};
    bool ok;
    if (text_len > API_CALL_MAX_BYTES)
        ok = api_refuse(&e, TRACKD_ERR_ITEM_TOO_LARGE, batch_index < 0 ? "body" : "batch",
                        "an operation cannot be larger than %d bytes (this one has %zu)",
                        API_CALL_MAX_BYTES, text_len);
    else if (!json_object_is_type(op, json_type_object))
        ok = api_refuse(&e, TRACKD_ERR_INVALID_FIELD, batch_index < 0 ? "body" : "batch",
                        "an operation must be a JSON object");
    else
        ok = parse_operation(op, received_us, &cmd, &e);
    cmd.batch_index = batch_index;
    struct command *slot = ok ? api_result_add_command(out) : NULL;
    if (slot != NULL) {
        *slot = cmd;
        return;
    }
    command_clear(&cmd);
    if (ok)
        api_refuse(&e, TRACKD_ERR_INTERNAL, "body", "out of memory");
    api_result_add_problem(out, batch_index, e.code, e.field, text, text_len, "%s", e.message);
}

void track_v2_parse_request(enum track_v2_endpoint endpoint, const char *body, size_t len,
                            int64_t received_us, struct api_result *out)
{
    memset(out, 0, sizeof *out);
    json_object *root = api_parse_body(
        body, len, endpoint == TRACK_V2_ENTITY ? API_CALL_MAX_BYTES : 0, "an operation", NULL, out);
    if (root == NULL)
        return;
    if (endpoint == TRACK_V2_ENTITY) {
        take_operation(root, body, len, -1, received_us, out);
        out->whole_request_invalid = out->command_count == 0;
    } else {
        json_object *items = api_field(root, "batch");
        if (items == NULL || !json_object_is_type(items, json_type_array) ||
            json_object_array_length(items) == 0) {
            api_result_add_problem(out, -1, TRACKD_ERR_INVALID_FIELD, "batch", body, len,
                                   "batch is required and must be a non-empty array");
            out->whole_request_invalid = true;
        } else {
            size_t count = json_object_array_length(items);
            for (size_t i = 0; i < count; i++) {
                json_object *op = json_object_array_get_idx(items, i);
                size_t op_len = 0;
                const char *op_text =
                    json_object_to_json_string_length(op, API_JSON_FLAGS, &op_len);
                take_operation(op, op_text, op_len, (long)i, received_us, out);
            }
        }
    }
    json_object_put(root);
}
