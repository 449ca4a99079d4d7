#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#include "common/log.h"

/* Seconds a readiness check or key look-up may take before it counts as a failure. */
#define CONTROL_STATEMENT_TIMEOUT 2
#include "http/http_internal.h"

bool http_with_control(struct http_server *server, bool (*fn)(struct store *store, void *cls),
                       void *cls)
{
    pthread_mutex_lock(&server->control_lock);
    bool ok = false;
    if (server->control == NULL) {
        char error[256];
        server->control = store_connect(server->database_url, error, sizeof error);
        if (server->control == NULL)
            LOG_WARN("http", "control connection failed: %s", error);
        else if (!store_set_statement_timeout(server->control, CONTROL_STATEMENT_TIMEOUT))
            LOG_WARN("http", "control connection: %s", store_last_error(server->control));
    } else if (!store_is_connected(server->control) && !store_reconnect(server->control)) {
        LOG_WARN("http", "control connection failed: %s", store_last_error(server->control));
    }
    if (server->control != NULL && store_is_connected(server->control))
        ok = fn(server->control, cls);
    pthread_mutex_unlock(&server->control_lock);
    return ok;
}

enum MHD_Result http_handle_healthz(struct http_request *request)
{
    return http_reply_json(request, MHD_HTTP_OK, "{\"status\":\"ok\"}");
}

static bool schema_current(struct store *store, void *cls)
{
    enum store_status *status = cls;
    *status = store_schema_is_current(store);
    return *status >= 0;
}

enum MHD_Result http_handle_readyz(struct http_request *request)
{
    enum store_status status = STORE_HARD_ERROR;
    if (!http_with_control(request->server, schema_current, &status))
        return http_reply_unavailable(request, "database unreachable");
    if (status != STORE_ONE_RESULT)
        return http_reply_unavailable(request, "schema not current: run `trackd migrate`");
    if (!ingest_database_up(request->server->ingest))
        return http_reply_unavailable(request, "writer is reconnecting to the database");
    return http_reply_json(request, MHD_HTTP_OK, "{\"status\":\"ready\"}");
}

enum MHD_Result http_handle_metrics(struct http_request *request)
{
    struct metrics_gauges gauges = {
        .queue_depth = ingest_depth(request->server->ingest),
        .database_up = ingest_database_up(request->server->ingest),
        .suspended_requests = atomic_load(&request->server->suspended),
    };
    char *page = metrics_render(http_route_name, &gauges);
    if (page == NULL)
        return http_reply_unavailable(request, "out of memory");
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(page), page, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(page);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    request->status = MHD_HTTP_OK;
    enum MHD_Result ret = MHD_queue_response(request->connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return ret;
}
