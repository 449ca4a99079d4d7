#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>

#include "http/http_server.h"
#include "ingest/ingest_queue.h"
#include "ingest/retention.h"

struct app {
    struct ingest_queue *ingest;
    struct http_server *http;
    struct retention *retention; /* NULL when disabled */
};

struct app *app_start(const struct config *cfg, char *error, size_t error_size)
{
    struct app *app = calloc(1, sizeof *app);
    if (app == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    struct ingest_options ingest = {
        .database_url = cfg->database_url,
        .max_requests = cfg->queue_max_requests,
        .max_bytes = cfg->queue_max_bytes,
        .batch_max_commands = cfg->write_batch_max,
        .writers = cfg->writers,
        .write_timeout_s = cfg->write_timeout,
    };
    app->ingest = ingest_start(&ingest, error, error_size);
    if (app->ingest == NULL)
        goto failed;
    struct http_options http = {
        .listen_host = cfg->listen_host,
        .listen_port = cfg->listen_port,
        .threads = cfg->http_threads,
        .max_connections = cfg->max_connections,
        .connection_timeout = cfg->connection_timeout,
        .database_url = cfg->database_url,
        /* Past the write timeout every waiting request has been answered 503. */
        .drain_timeout = cfg->write_timeout + 5,
    };
    app->http = http_server_start(&http, app->ingest, error, error_size);
    if (app->http == NULL)
        goto failed;
    if (cfg->purge_interval > 0)
        app->retention = retention_start(cfg->database_url, cfg->purge_interval);
    return app;
failed:
    app_stop(app);
    return NULL;
}

unsigned app_port(const struct app *app)
{
    return http_server_port(app->http);
}

void app_stop(struct app *app)
{
    if (app == NULL)
        return;
    retention_stop(app->retention);
    http_server_stop(app->http);
    ingest_stop(app->ingest);
    free(app);
}
