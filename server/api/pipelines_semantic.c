#include "api/pipelines_semantic.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_objects.h"

/* What a reserved name does. Both spellings Customer.io documents are accepted. */
struct reserved_event {
    const char *event;
    enum command_kind kind;
};

static const struct reserved_event reserved[] = {
    {"User Deleted", COMMAND_DELETE_PERSON},
    {"Delete Person", COMMAND_DELETE_PERSON},
    {"User Suppressed", COMMAND_SUPPRESS},
    {"Suppress Person", COMMAND_SUPPRESS},
    {"User Unsuppressed", COMMAND_UNSUPPRESS},
    {"Unsuppress Person", COMMAND_UNSUPPRESS},
    {"Device Created or Updated", COMMAND_ADD_DEVICE},
    {"Device Deleted", COMMAND_DELETE_DEVICE},
    {"Report Delivery Event", COMMAND_METRIC},
    {"Relationship Deleted", COMMAND_DELETE_RELATIONSHIP},
    {"Delete Relationship", COMMAND_DELETE_RELATIONSHIP},
    {"Object Deleted", COMMAND_DELETE_OBJECT},
    {"Delete Object", COMMAND_DELETE_OBJECT},
};

static const struct reserved_event *lookup(const char *event)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(event, reserved[i].event) == 0)
            return &reserved[i];
    return NULL;
}

bool semantic_is_reserved(const char *event)
{
    return lookup(event) != NULL;
}

/* context.device.token and context.device.type of a device event. */
static bool device_from_context(json_object *context, struct command *cmd, bool need_platform,
                                struct api_error *e)
{
    json_object *device = api_field(context, "device");
    if (!api_optional_string(device, "token", 1000, &cmd->device_token, e) ||
        cmd->device_token == NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "context.device.token",
                          "context.device.token is required for %s", cmd->name);
    if (!need_platform)
        return true;
    if (!api_optional_string(device, "type", 32, &cmd->platform, e))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "context.device.type",
                          "context.device.type must be a string such as ios or android");
    if (cmd->platform == NULL)
        cmd->platform = strdup("unknown");
    else
        for (char *c = cmd->platform; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    return cmd->platform != NULL ||
           api_refuse(e, TRACKD_ERR_INTERNAL, "context.device.type", "out of memory");
}

/* properties.deliveryId and properties.metric (+ recipient, reason, href). */
static bool metric_from_properties(json_object *properties, struct command *cmd,
                                   struct api_error *e)
{
    if (!api_required_string(properties, "deliveryId", API_ID_MAX_BYTES, &cmd->delivery_id, e))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "properties.deliveryId",
                          "properties.deliveryId is required for Report Delivery Event");
    if (!api_required_string(properties, "metric", 32, &cmd->metric, e))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "properties.metric",
                          "properties.metric is required for Report Delivery Event");
    return api_optional_string(properties, "recipient", 1000, &cmd->recipient, e) &&
           api_optional_string(properties, "reason", 1000, &cmd->metric_reason, e) &&
           api_optional_string(properties, "href", 2048, &cmd->href, e);
}

/* properties.objectId (required) and properties.objectTypeId (a whole number from 1, as a
 * number or a string; "1" when absent) of the object events. */
static bool object_from_properties(json_object *properties, struct command *cmd,
                                   struct api_error *e)
{
    json_object *id = api_field(properties, "objectId");
    if (json_object_is_type(id, json_type_int)) {
        char number[24];
        snprintf(number, sizeof number, "%lld", (long long)json_object_get_int64(id));
        cmd->group_id = strdup(number);
    } else if (!api_required_string(properties, "objectId", API_ID_MAX_BYTES, &cmd->group_id, e)) {
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "properties.objectId",
                          "properties.objectId is required for %s: a string of at most %d bytes",
                          cmd->name, API_ID_MAX_BYTES);
    }
    if (cmd->group_id == NULL)
        return api_refuse(e, TRACKD_ERR_INTERNAL, "properties.objectId", "out of memory");
    json_object *type = api_field(properties, "objectTypeId");
    if (type != NULL)
        return api_object_type_id(type, "properties.objectTypeId", &cmd->object_type_id, e);
    cmd->object_type_id = strdup("1");
    return cmd->object_type_id != NULL ||
           api_refuse(e, TRACKD_ERR_INTERNAL, "properties.objectTypeId", "out of memory");
}

bool semantic_to_command(json_object *properties, json_object *context, struct command *cmd,
                         struct api_error *e)
{
    cmd->kind = lookup(cmd->name)->kind;
    switch (cmd->kind) {
    case COMMAND_DELETE_PERSON:
    case COMMAND_SUPPRESS:
    case COMMAND_UNSUPPRESS:
        if (cmd->person.type == IDENTIFIER_NONE)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "userId", "userId is required for %s",
                              cmd->name);
        return true;
    case COMMAND_ADD_DEVICE:
        /* Without a userId the device goes to whoever the anonymous id is linked to. */
        free(cmd->properties);
        cmd->properties = api_serialize(properties);
        return device_from_context(context, cmd, true, e) &&
               (cmd->properties != NULL ||
                api_refuse(e, TRACKD_ERR_INTERNAL, "properties", "out of memory"));
    case COMMAND_DELETE_DEVICE:
        if (cmd->person.type == IDENTIFIER_NONE)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "userId", "userId is required for %s",
                              cmd->name);
        return device_from_context(context, cmd, false, e);
    case COMMAND_METRIC:
        return metric_from_properties(properties, cmd, e);
    case COMMAND_DELETE_RELATIONSHIP:
        if (cmd->person.type == IDENTIFIER_NONE && cmd->anonymous_id == NULL)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, "userId",
                              "userId or anonymousId is required for %s", cmd->name);
        return object_from_properties(properties, cmd, e);
    case COMMAND_DELETE_OBJECT:
        return object_from_properties(properties, cmd, e);
    default:
        return api_refuse(e, TRACKD_ERR_INTERNAL, "event", "unknown semantic event");
    }
}
