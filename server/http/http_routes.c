#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/pipelines.h"
#include "api/track_v1.h"
#include "api/track_v2.h"
#include "common/metrics.h"
#include "common/utf8.h"
#include "http/http_internal.h"

/*
 * Every endpoint trackd serves. A "{}" segment matches any non-empty segment and is handed to
 * the handler percent-decoded, in order. The query string is not part of the path.
 */
static const struct http_route routes[] = {
    {"GET", "/healthz", HTTP_AUTH_NONE, http_handle_healthz, 0},
    {"GET", "/readyz", HTTP_AUTH_NONE, http_handle_readyz, 0},
    {"GET", "/metrics", HTTP_AUTH_NONE, http_handle_metrics, 0},
    /* Data Pipelines; the browser SDKs use the one-letter paths and may put the write key in
     * the body instead of an Authorization header (to avoid a CORS preflight). */
    {"POST", "/v1/identify", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines,
     PIPELINES_IDENTIFY},
    {"POST", "/v1/track", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_TRACK},
    {"POST", "/v1/page", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_PAGE},
    {"POST", "/v1/screen", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_SCREEN},
    {"POST", "/v1/group", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_GROUP},
    {"POST", "/v1/alias", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_ALIAS},
    {"POST", "/v1/batch", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_BATCH},
    {"POST", "/v1/i", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_IDENTIFY},
    {"POST", "/v1/t", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_TRACK},
    {"POST", "/v1/p", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_PAGE},
    {"POST", "/v1/s", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_SCREEN},
    {"POST", "/v1/g", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_GROUP},
    {"POST", "/v1/a", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_ALIAS},
    {"POST", "/v1/b", HTTP_AUTH_WRITE_KEY_OR_BODY, http_handle_pipelines, PIPELINES_BATCH},
    /* What the browser SDK fetches first, with the write key it already has in the path. */
    {"GET", "/v1/projects/{}/settings", HTTP_AUTH_NONE, http_handle_settings, 0},
    /* Track API v1 */
    {"PUT", "/api/v1/customers/{}", HTTP_AUTH_SITE_KEY, http_handle_track_v1, TRACK_V1_IDENTIFY},
    {"DELETE", "/api/v1/customers/{}", HTTP_AUTH_SITE_KEY, http_handle_track_v1, TRACK_V1_DELETE},
    {"POST", "/api/v1/customers/{}/events", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_EVENT},
    {"POST", "/api/v1/events", HTTP_AUTH_SITE_KEY, http_handle_track_v1, TRACK_V1_ANONYMOUS_EVENT},
    {"PUT", "/api/v1/customers/{}/devices", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_ADD_DEVICE},
    {"DELETE", "/api/v1/customers/{}/devices/{}", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_DELETE_DEVICE},
    {"POST", "/api/v1/customers/{}/suppress", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_SUPPRESS},
    {"POST", "/api/v1/customers/{}/unsuppress", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_UNSUPPRESS},
    {"POST", "/api/v1/merge_customers", HTTP_AUTH_SITE_KEY, http_handle_track_v1, TRACK_V1_MERGE},
    /* Customer.io takes metrics without credentials (the delivery id is the secret). */
    {"POST", "/api/v1/metrics", HTTP_AUTH_SITE_KEY_OPTIONAL, http_handle_track_v1, TRACK_V1_METRIC},
    {"POST", "/api/v1/push/events", HTTP_AUTH_SITE_KEY_OPTIONAL, http_handle_track_v1,
     TRACK_V1_PUSH_EVENT},
    /* Customer.io's older mobile SDKs report push metrics at the root of the track host. */
    {"POST", "/push/events", HTTP_AUTH_SITE_KEY_OPTIONAL, http_handle_track_v1,
     TRACK_V1_PUSH_EVENT},
    /* Customer.io's unsubscribe call, at the root of the track host: the delivery id is the
     * secret (customerio-node sends its credentials anyway). The same path serves the signed
     * links of trackd's emails: a page to GET, a form or one-click POST. */
    {"GET", "/unsubscribe/{}", HTTP_AUTH_NONE, http_handle_unsubscribe_page, 0},
    {"POST", "/unsubscribe/{}", HTTP_AUTH_SITE_KEY_OPTIONAL, http_handle_unsubscribe,
     TRACK_V1_UNSUBSCRIBE},
    /* Manual segments; the id_type query parameter says what the ids are. */
    {"POST", "/api/v1/segments/{}/add_customers", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_SEGMENT_ADD},
    {"POST", "/api/v1/segments/{}/remove_customers", HTTP_AUTH_SITE_KEY, http_handle_track_v1,
     TRACK_V1_SEGMENT_REMOVE},
    {"GET", "/api/v1/accounts/region", HTTP_AUTH_SITE_KEY, http_handle_region, 0},
    /* Track API v2 */
    {"POST", "/api/v2/entity", HTTP_AUTH_SITE_KEY, http_handle_track_v2, TRACK_V2_ENTITY},
    {"POST", "/api/v2/batch", HTTP_AUTH_SITE_KEY, http_handle_track_v2, TRACK_V2_BATCH},
};

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])
_Static_assert(ROUTE_COUNT < METRICS_MAX_ROUTES, "metrics count routes by index");

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes `len` bytes of a path segment into a new string; a '%' not followed by two
 * hex digits is kept as it is. Sets *valid false when the result is not UTF-8 text. */
static char *decode_segment(const char *s, size_t len, bool *valid)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            out[used++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[used++] = s[i];
        }
    }
    out[used] = '\0';
    if (!utf8_valid(out, used))
        *valid = false;
    return out;
}

/* Matches `path` against `pattern`, capturing "{}" segments into params (decoded). */
static bool match(const char *pattern, const char *path, struct http_params *params)
{
    params->count = 0;
    params->valid = true;
    const char *p = pattern, *s = path;
    while (*p != '\0' && *s != '\0') {
        if (p[0] == '{' && p[1] == '}') {
            size_t len = strcspn(s, "/");
            if (len == 0 || params->count == HTTP_MAX_PARAMS)
                return false;
            params->values[params->count] = decode_segment(s, len, &params->valid);
            if (params->values[params->count] == NULL)
                return false;
            params->count++;
            p += 2;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

unsigned http_route_index(const struct http_route *route)
{
    return route ? (unsigned)(route - routes) : METRICS_MAX_ROUTES - 1;
}

const char *http_route_name(unsigned index)
{
    static char names[ROUTE_COUNT][80];
    static atomic_bool named;
    if (index >= ROUTE_COUNT)
        return NULL;
    if (!atomic_load(&named)) {
        /* Written once, before anyone can read them: the first /metrics scrape comes after the
         * server started, and every call writes the same text. */
        for (size_t i = 0; i < ROUTE_COUNT; i++)
            snprintf(names[i], sizeof names[i], "%s %s", routes[i].method, routes[i].path);
        atomic_store(&named, true);
    }
    return names[index];
}

void http_params_clear(struct http_params *params)
{
    for (size_t i = 0; i < params->count; i++)
        free(params->values[i]);
    params->count = 0;
}

const struct http_route *http_find_route(const char *method, const char *path,
                                         struct http_params *params, bool *path_known)
{
    *path_known = false;
    const struct http_route *found = NULL;
    for (size_t i = 0; i < ROUTE_COUNT && found == NULL; i++) {
        bool same_path = match(routes[i].path, path, params);
        if (same_path && strcmp(routes[i].method, method) == 0) {
            found = &routes[i];
            break;
        }
        *path_known = *path_known || same_path;
        http_params_clear(params);
    }
    return found;
}

void http_allowed_methods(const char *path, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ROUTE_COUNT && used < out_size; i++) {
        struct http_params params = {0};
        bool same = match(routes[i].path, path, &params);
        http_params_clear(&params);
        if (!same)
            continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", routes[i].method);
        if (n > 0)
            used += (size_t)n;
    }
}
