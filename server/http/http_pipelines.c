#include <json-c/json.h>

#include "api/pipelines.h"
#include "common/log.h"
#include "http/http_internal.h"

/* One refused call as the answer lists it. */
struct item_error {
    long batch_index;
    const char *reason;
    const char *field;
    const char *message;
};

static void add_item_error(json_object *messages, json_object *errors, const struct item_error *e)
{
    json_object_array_add(messages, json_object_new_string(e->message));
    json_object *item = json_object_new_object();
    if (e->batch_index >= 0)
        json_object_object_add(item, "batch_index", json_object_new_int64(e->batch_index));
    json_object_object_add(item, "reason", json_object_new_string(e->reason));
    json_object_object_add(item, "field", json_object_new_string(e->field));
    json_object_object_add(item, "message", json_object_new_string(e->message));
    json_object_array_add(errors, item);
}

/*
 * The answer once the write is done: 200 {} when every call was stored; for a single call 400
 * {"meta":{"errors":[...]}}; for a batch 207 {"errors":[{batch_index,...}]} when some items
 * were refused, or 400 (with both shapes) when all were.
 */
static enum MHD_Result answer(struct http_request *request)
{
    const struct api_result *parsed = &request->parsed;
    const struct ingest_request *ingest = &request->ingest;
    if (ingest->result != TRACKD_ERR_OK)
        return http_reply_unavailable(request, "database unavailable; retry later");

    json_object *messages = json_object_new_array();
    json_object *errors = json_object_new_array();
    size_t accepted = 0, refused = 0;
    for (size_t i = 0; i < parsed->problem_count; i++) {
        const struct api_problem *p = &parsed->problems[i];
        struct item_error e = {p->batch_index, errors_reason(p->code), p->field, p->message};
        add_item_error(messages, errors, &e);
        refused++;
    }
    for (size_t i = 0; i < parsed->command_count; i++) {
        const struct command *cmd = &parsed->commands[i];
        if (cmd->kind == COMMAND_REJECT)
            continue;
        if (ingest->outcomes[i] == STORE_OUTCOME_REFUSED) {
            struct item_error e = {cmd->batch_index, errors_reason(TRACKD_ERR_REJECTED_BY_DATABASE),
                                   "body", ingest->refusal};
            add_item_error(messages, errors, &e);
            refused++;
            continue;
        }
        if (ingest->outcomes[i] == STORE_OUTCOME_CONFLICT)
            LOG_INFO("http",
                     "identify left unchanged: the email belongs to another person "
                     "(workspace=%s)",
                     request->workspace.name);
        accepted++;
    }

    enum MHD_Result ret;
    bool batch = request->route->variant == PIPELINES_BATCH;
    if (refused == 0) {
        ret = http_reply_ok(request);
    } else {
        json_object *root = json_object_new_object();
        unsigned status = MHD_HTTP_BAD_REQUEST;
        if (batch && accepted > 0) {
            status = MHD_HTTP_MULTI_STATUS;
        } else {
            json_object *meta = json_object_new_object();
            json_object_object_add(meta, "errors", json_object_get(messages));
            json_object_object_add(root, "meta", meta);
        }
        if (batch)
            json_object_object_add(root, "errors", json_object_get(errors));
        ret = http_reply_json(request, status,
                              json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
        json_object_put(root);
    }
    json_object_put(messages);
    json_object_put(errors);
    return ret;
}

enum MHD_Result http_handle_pipelines(struct http_request *request)
{
    if (request->submitted) {
        http_written(request);
        return answer(request);
    }
    struct api_result *parsed = &request->parsed;
    pipelines_parse_request((enum pipelines_endpoint)request->route->variant, request->body,
                            request->body_len, request->received_us, parsed);
    for (size_t i = 0; i < parsed->command_count; i++) {
        parsed->commands[i].workspace_id = request->workspace.id;
        parsed->commands[i].endpoint = request->route->path;
    }
    if (!api_result_add_rejections(parsed, request->workspace.id, request->route->path,
                                   request->received_us))
        return http_reply_unavailable(request, "out of memory");
    return http_submit(request);
}
