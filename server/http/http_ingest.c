#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "http/http_internal.h"

/* Bytes a request counts against the queue's bound beyond its body: the parsed commands. */
#define REQUEST_OVERHEAD_BYTES 1024

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
    ingest->bytes = request->body_len + REQUEST_OVERHEAD_BYTES;
    ingest->on_done = on_written;
    ingest->cls = request;
    if (ingest->outcomes == NULL)
        return http_reply_unavailable(request, "out of memory");
    if (!ingest_reserve(request->server->ingest, ingest->bytes))
        return http_reply_unavailable(request, "write queue full");
    request->submitted = true;
    atomic_fetch_add(&request->server->suspended, 1);
    /* Suspend before enqueueing: the writer may finish and resume at once. */
    MHD_suspend_connection(request->connection);
    ingest_enqueue(request->server->ingest, ingest);
    return MHD_YES;
}

void http_written(struct http_request *request)
{
    atomic_fetch_sub(&request->server->suspended, 1);
}

/* Frees itself once committed: for rejections recorded without holding up the answer. */
struct detached_write {
    struct ingest_request ingest;
    struct command command;
    enum store_outcome outcome;
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
