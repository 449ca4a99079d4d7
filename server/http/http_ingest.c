#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <stdio.h>

#include "common/log.h"
#include "common/metrics.h"
#include "http/http_internal.h"

/* What a request counts against the queue's bound: its body (freed only on completion), the
 * parsed commands (about as large again), and a fixed cost per command. */
#define REQUEST_OVERHEAD_BYTES 1024
#define COMMAND_OVERHEAD_BYTES 256

/* Runs on the writer thread once the request's transaction is done. */
static void on_written(struct ingest_request *ingest, void *cls)
{
    (void)ingest;
    struct http_request *request = cls;
    atomic_store(&request->written, true);
    /* After this call the request belongs to libmicrohttpd's thread again. */
    MHD_resume_connection(request->connection);
}

enum MHD_Result http_submit(struct http_request *request)
{
    struct api_result *parsed = &request->parsed;
    struct ingest_request *ingest = &request->ingest;
    ingest->commands = parsed->commands;
    ingest->command_count = parsed->command_count;
    ingest->outcomes =
        calloc(parsed->command_count ? parsed->command_count : 1, sizeof *ingest->outcomes);
    ingest->bytes = 2 * request->body_len + REQUEST_OVERHEAD_BYTES +
                    parsed->command_count * COMMAND_OVERHEAD_BYTES;
    ingest->on_done = on_written;
    ingest->cls = request;
    if (ingest->outcomes == NULL)
        return http_reply_unavailable(request, "out of memory");
    if (!ingest_reserve(request->server->ingest, ingest->bytes))
        return http_reply_unavailable(request, "write queue full");
    /* From here the queue's bound counts the body: it leaves the receive budget. */
    http_release_body(request);
    /* Counted first, then the flag: a stop that sets the flag and then sees no waiting request
     * cannot miss this one, and one that sees it waits for it. */
    atomic_fetch_add(&request->server->suspended, 1);
    if (atomic_load(&request->server->draining)) {
        atomic_fetch_sub(&request->server->suspended, 1);
        ingest_release(request->server->ingest, ingest->bytes);
        return http_reply_unavailable(request, "shutting down");
    }
    request->submitted = true;
    request->counted_suspended = true;
    /* Suspend before enqueueing: the writer may finish and resume at once. */
    MHD_suspend_connection(request->connection);
    ingest_enqueue(request->server->ingest, ingest);
    return MHD_YES;
}

enum MHD_Result http_submit_parsed(struct http_request *request)
{
    struct api_result *parsed = &request->parsed;
    for (size_t i = 0; i < parsed->command_count; i++) {
        parsed->commands[i].workspace_id = request->workspace.id;
        parsed->commands[i].endpoint = request->route->path;
    }
    if (!api_result_add_rejections(parsed, request->workspace.id, request->route->path,
                                   request->received_us))
        return http_reply_unavailable(request, "out of memory");
    return http_submit(request);
}

/* One refused call as an answer lists it. */
struct item_error {
    long batch_index;
    const char *reason;
    const char *field;
    const char *message;
};

/* The refusals of a written request, in both shapes the families use. */
struct answer_errors {
    json_object *messages; /* ["message", ...] */
    json_object *items;    /* [{batch_index?, reason, field, message}, ...] */
    size_t count;
    size_t accepted;
    bool not_found; /* some call named a person that must exist and does not */
};

static void add_item_error(struct answer_errors *a, const struct item_error *e)
{
    json_object_array_add(a->messages, json_object_new_string(e->message));
    json_object *item = json_object_new_object();
    if (e->batch_index >= 0)
        json_object_object_add(item, "batch_index", json_object_new_int64(e->batch_index));
    json_object_object_add(item, "reason", json_object_new_string(e->reason));
    json_object_object_add(item, "field", json_object_new_string(e->field));
    json_object_object_add(item, "message", json_object_new_string(e->message));
    json_object_array_add(a->items, item);
    a->count++;
}

/* Gathers the adapter's problems and what the database refused or could not find. */
static void collect_errors(const struct http_request *request, struct answer_errors *a)
{
    const struct api_result *parsed = &request->parsed;
    const struct ingest_request *ingest = &request->ingest;
    for (size_t i = 0; i < parsed->problem_count; i++) {
        const struct api_problem *p = &parsed->problems[i];
        struct item_error e = {p->batch_index, errors_reason(p->code), p->field, p->message};
        add_item_error(a, &e);
    }
    if (parsed->problems_omitted > 0) {
        char message[160];
        snprintf(message, sizeof message,
                 "%zu more calls were refused (only the first %d are "
                 "listed)",
                 parsed->problems_omitted, API_PROBLEMS_MAX);
        struct item_error e = {-1, errors_reason(TRACKD_ERR_INVALID_FIELD), "batch", message};
        add_item_error(a, &e);
    }
    for (size_t i = 0; i < parsed->command_count; i++) {
        const struct command *cmd = &parsed->commands[i];
        if (cmd->kind == COMMAND_REJECT)
            continue;
        if (ingest->outcomes[i] == OUTCOME_REFUSED) {
            struct item_error e = {cmd->batch_index, errors_reason(TRACKD_ERR_REJECTED_BY_DATABASE),
                                   "body", "a value of this call was refused by the database"};
            add_item_error(a, &e);
        } else if (ingest->outcomes[i] == OUTCOME_NOT_FOUND) {
            char message[256];
            snprintf(message, sizeof message, "primary person not found: %s %s",
                     command_identifier_type_name(cmd->person.type), cmd->person.value);
            struct item_error e = {cmd->batch_index, errors_reason(TRACKD_ERR_NOT_FOUND), "primary",
                                   message};
            add_item_error(a, &e);
            a->not_found = true;
        } else {
            if (ingest->outcomes[i] == OUTCOME_CONFLICT)
                LOG_INFO("http",
                         "identify left unchanged: an identifier belongs to another "
                         "person (workspace=%s)",
                         request->workspace.name);
            if (ingest->outcomes[i] == OUTCOME_LINK_REFUSED)
                LOG_WARN("http",
                         "anonymous id not linked: it belongs to another person "
                         "(workspace=%s)",
                         request->workspace.name);
            a->accepted++;
        }
    }
}

enum MHD_Result http_answer_written(struct http_request *request, enum http_answer_style style,
                                    bool batch)
{
    if (request->counted_suspended) {
        request->counted_suspended = false;
        atomic_fetch_sub(&request->server->suspended, 1);
    }
    if (request->ingest.result != TRACKD_ERR_OK)
        return http_reply_unavailable(request, "database unavailable; retry later");

    struct answer_errors a = {json_object_new_array(), json_object_new_array(), 0, 0, false};
    enum MHD_Result ret;
    if (a.messages == NULL || a.items == NULL) {
        ret = http_reply_unavailable(request, "out of memory");
        goto cleanup;
    }
    collect_errors(request, &a);
    metrics_count_calls(a.accepted, a.count + request->parsed.problems_omitted);
    if (a.count == 0) {
        ret = http_reply_ok(request);
        goto cleanup;
    }
    unsigned status = batch && a.accepted > 0 ? MHD_HTTP_MULTI_STATUS
                      : !batch && a.not_found ? MHD_HTTP_NOT_FOUND
                                              : MHD_HTTP_BAD_REQUEST;
    json_object *root = json_object_new_object();
    if (style == HTTP_ANSWER_TRACK_V2 || (batch && status == MHD_HTTP_MULTI_STATUS)) {
        json_object_object_add(root, "errors", json_object_get(a.items));
    } else {
        json_object *meta = json_object_new_object();
        /* customerio-node shows meta.error as the message itself, so one error goes there. */
        if (a.count == 1 && style == HTTP_ANSWER_TRACK_V1)
            json_object_object_add(meta, "error",
                                   json_object_get(json_object_array_get_idx(a.messages, 0)));
        else
            json_object_object_add(meta, "errors", json_object_get(a.messages));
        json_object_object_add(root, "meta", meta);
        if (batch)
            json_object_object_add(root, "errors", json_object_get(a.items));
    }
    ret = http_reply_json(request, status,
                          json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
cleanup:
    json_object_put(a.messages);
    json_object_put(a.items);
    return ret;
}

/* Frees itself once committed: for rejections recorded without holding up the answer. */
struct detached_write {
    struct ingest_request ingest;
    struct command command;
    enum outcome outcome;
};

static void detached_done(struct ingest_request *ingest, void *cls)
{
    (void)ingest;
    struct detached_write *w = cls;
    command_clear(&w->command);
    free(w);
}

void http_record_rejection(struct http_request *request, enum trackd_error code,
                           const char *message)
{
    if (!request->authenticated || request->workspace.id == 0)
        return; /* no workspace to file it under: anybody could flood the table */
    struct detached_write *w = calloc(1, sizeof *w);
    if (w == NULL)
        return;
    w->command = (struct command){
        .kind = COMMAND_REJECT,
        .workspace_id = request->workspace.id,
        .endpoint = request->route->path,
        .reason = errors_reason(code),
        .message = strdup(message),
        .received_us = request->received_us,
        .timestamp_us = request->received_us,
        .batch_index = -1,
    };
    w->ingest = (struct ingest_request){
        .commands = &w->command,
        .command_count = 1,
        .outcomes = &w->outcome,
        .bytes = REQUEST_OVERHEAD_BYTES,
        .on_done = detached_done,
        .cls = w,
    };
    if (w->command.message == NULL || !ingest_reserve(request->server->ingest, w->ingest.bytes)) {
        LOG_WARN("http", "could not record a rejected request to %s", request->path);
        detached_done(&w->ingest, w);
        return;
    }
    ingest_enqueue(request->server->ingest, &w->ingest);
}
