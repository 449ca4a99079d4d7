#include "core/command.h"

#include <stdlib.h>
#include <string.h>

void command_clear(struct command *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->person.value);
    free(cmd->secondary.value);
    free(cmd->body_id);
    free(cmd->object_type_id);
    free(cmd->relationship);
    free(cmd->device_token);
    free(cmd->platform);
    free(cmd->delivery_id);
    free(cmd->metric);
    free(cmd->recipient);
    free(cmd->metric_reason);
    free(cmd->href);
    free(cmd->anonymous_id);
    free(cmd->message_id);
    free(cmd->email);
    free(cmd->name);
    free(cmd->properties);
    free(cmd->unset_keys);
    free(cmd->context);
    free(cmd->group_id);
    free(cmd->previous_id);
    free(cmd->message);
    free(cmd->payload);
    free(cmd->ids);
    free(cmd->cio_object_id);
    free(cmd->relationships);
    free(cmd->attribute_times);
    memset(cmd, 0, sizeof *cmd);
}

const char *command_event_type_name(enum event_type type)
{
    switch (type) {
    case EVENT_TYPE_PAGE:
        return "page";
    case EVENT_TYPE_SCREEN:
        return "screen";
    case EVENT_TYPE_EVENT:
        break;
    }
    return "event";
}

const char *command_identifier_type_name(enum identifier_type type)
{
    switch (type) {
    case IDENTIFIER_ID:
        return "id";
    case IDENTIFIER_EMAIL:
        return "email";
    case IDENTIFIER_CIO_ID:
        return "cio_id";
    case IDENTIFIER_NONE:
        break;
    }
    return NULL;
}
