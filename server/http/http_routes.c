#include <stdio.h>
#include <string.h>

#include "api/pipelines.h"
#include "http/http_internal.h"

/* Every endpoint trackd serves. Paths are exact; the query string is not part of the path. */
static const struct http_route routes[] = {
    {"GET", "/healthz", HTTP_AUTH_NONE, http_handle_healthz, 0},
    {"GET", "/readyz", HTTP_AUTH_NONE, http_handle_readyz, 0},
    {"POST", "/v1/identify", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_IDENTIFY},
    {"POST", "/v1/track", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_TRACK},
    {"POST", "/v1/page", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_PAGE},
    {"POST", "/v1/screen", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_SCREEN},
    {"POST", "/v1/group", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_GROUP},
    {"POST", "/v1/alias", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_ALIAS},
    {"POST", "/v1/batch", HTTP_AUTH_WRITE_KEY, http_handle_pipelines, PIPELINES_BATCH},
};

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

const struct http_route *http_find_route(const char *method, const char *path, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
    }
    return NULL;
}

void http_allowed_methods(const char *path, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ROUTE_COUNT && used < out_size; i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", routes[i].method);
        if (n > 0)
            used += (size_t)n;
    }
}
