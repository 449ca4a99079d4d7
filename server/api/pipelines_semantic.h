/*
 * Semantic events: Pipelines `track` calls whose event name is reserved by Customer.io run the
 * same commands as the matching Track API endpoints, and are not stored as events.
 */
#ifndef TRACKD_API_PIPELINES_SEMANTIC_H
#define TRACKD_API_PIPELINES_SEMANTIC_H

#include <json-c/json.h>
#include <stdbool.h>

#include "api/api_fields.h"

/* True when `event` is one of the reserved names. */
bool semantic_is_reserved(const char *event);

/*
 * Turns the COMMAND_TRACK `cmd` (already holding person, anonymous id and timestamp) for the
 * reserved event `cmd->name` into the command it stands for, reading `properties` and
 * `context` of the call. Returns false with `e` filled when a required field is missing.
 */
bool semantic_to_command(json_object *properties, json_object *context, struct command *cmd,
                         struct api_error *e);

#endif
