#include "api/command.h"

#include <stdlib.h>
#include <string.h>

void command_clear(struct command *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->customer_id);
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
