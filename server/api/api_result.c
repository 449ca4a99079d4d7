#include "api/api.h"

#include "core/json_check.h"
#include "common/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_result_free(struct api_result *result)
{
    if (result == NULL)
        return;
    for (size_t i = 0; i < result->command_count; i++)
        command_clear(&result->commands[i]);
    free(result->commands);
    for (size_t i = 0; i < result->problem_count; i++)
        free(result->problems[i].payload);
    free(result->problems);
    memset(result, 0, sizeof *result);
}

/* Grows `*array` (of `count` elements of `size` bytes) by one zeroed element. */
static void *append(void **array, size_t *count, size_t size)
{
    /* The array grows to 4, then doubles whenever count reaches a power of two of at least 4,
     * so the capacity follows from the count and needs no field of its own. */
    size_t n = *count;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t capacity = n == 0 ? 4 : n * 2;
        void *grown = realloc(*array, capacity * size);
        if (grown == NULL)
            return NULL;
        *array = grown;
    }
    char *slot = (char *)*array + n * size;
    memset(slot, 0, size);
    *count = n + 1;
    return slot;
}

struct command *api_result_add_command(struct api_result *result)
{
    return append((void **)&result->commands, &result->command_count, sizeof(struct command));
}

bool api_result_add_problem(struct api_result *result, long batch_index, enum trackd_error code,
                            const char *field, const char *payload, size_t payload_len,
                            const char *fmt, ...)
{
    if (result->problem_count >= API_PROBLEMS_MAX) {
        result->problems_omitted++;
        return true;
    }
    struct api_problem *p =
        append((void **)&result->problems, &result->problem_count, sizeof(struct api_problem));
    if (p == NULL)
        return false;
    p->batch_index = batch_index;
    p->code = code;
    snprintf(p->field, sizeof p->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    /* Both may quote what the client sent and are cut to their size, perhaps inside a
     * character; they reach clients as JSON and rejected_requests as text. */
    utf8_sanitize(p->field, strlen(p->field));
    utf8_sanitize(p->message, strlen(p->message));
    if (payload != NULL) {
        size_t keep =
            payload_len < API_REJECTED_PAYLOAD_MAX ? payload_len : API_REJECTED_PAYLOAD_MAX;
        p->payload = malloc(keep + 1);
        if (p->payload == NULL)
            return false;
        memcpy(p->payload, payload, keep);
        p->payload[keep] = '\0';
        /* What the client sent may be anything; the record must still be storable text. The
         * cut may also split a character, which this repairs too. */
        utf8_sanitize(p->payload, keep);
    }
    return true;
}

bool api_result_add_rejections(struct api_result *result, int64_t workspace_id,
                               const char *endpoint, int64_t received_us)
{
    for (size_t i = 0; i < result->problem_count; i++) {
        const struct api_problem *p = &result->problems[i];
        struct command *cmd = api_result_add_command(result);
        if (cmd == NULL)
            return false;
        cmd->kind = COMMAND_REJECT;
        cmd->workspace_id = workspace_id;
        cmd->endpoint = endpoint;
        cmd->reason = errors_reason(p->code);
        cmd->received_us = received_us;
        cmd->timestamp_us = received_us;
        cmd->batch_index = p->batch_index;
        cmd->message = strdup(p->message);
        cmd->payload = p->payload ? strdup(p->payload) : NULL;
        if (cmd->message == NULL || (p->payload != NULL && cmd->payload == NULL))
            return false;
    }
    if (result->problems_omitted > 0) {
        struct command *cmd = api_result_add_command(result);
        if (cmd == NULL)
            return false;
        char message[160];
        snprintf(message, sizeof message,
                 "%zu more calls of this request were refused (only the first %d are recorded)",
                 result->problems_omitted, API_PROBLEMS_MAX);
        *cmd = (struct command){.kind = COMMAND_REJECT,
                                .workspace_id = workspace_id,
                                .endpoint = endpoint,
                                .reason = errors_reason(TRACKD_ERR_INVALID_FIELD),
                                .received_us = received_us,
                                .timestamp_us = received_us,
                                .batch_index = -1,
                                .message = strdup(message)};
        if (cmd->message == NULL)
            return false;
    }
    return true;
}

json_object *api_parse_body(const char *body, size_t len, size_t max_bytes, const char *what,
                            json_object *parsed, struct api_result *out)
{
    if (max_bytes > 0 && len > max_bytes) {
        api_result_add_problem(out, -1, TRACKD_ERR_ITEM_TOO_LARGE, "body", body, len,
                               "%s cannot be larger than %zu bytes (this one has %zu)", what,
                               max_bytes, len);
        out->whole_request_invalid = true;
        json_object_put(parsed);
        return NULL;
    }
    char error[160] = "";
    json_object *root = parsed ? parsed : json_check_parse(body, len, error, sizeof error);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        api_result_add_problem(out, -1, root ? TRACKD_ERR_INVALID_FIELD : TRACKD_ERR_INVALID_JSON,
                               "body", body, len, "%s",
                               root ? "body must be a JSON object" : error);
        out->whole_request_invalid = true;
        json_object_put(root);
        return NULL;
    }
    return root;
}
