#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

/* Seconds a client is asked to wait after a 503. */
#define RETRY_AFTER_SECONDS "1"

static struct MHD_Response *json_response(const char *json)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (response != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return response;
}

const char *http_cors_origin(struct http_request *request)
{
    const char *allowed = request->server->cors_origins;
    if (allowed == NULL)
        return "*";
    const char *origin =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, "Origin");
    if (origin == NULL || *origin == '\0')
        return NULL;
    /* Exact match against each comma-separated entry. */
    size_t len = strlen(origin);
    for (const char *p = allowed; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == len && strncmp(p, origin, n) == 0)
            return origin;
        p += n;
    }
    return NULL;
}

enum MHD_Result http_reply_response(struct http_request *request, unsigned status,
                                    struct MHD_Response *response)
{
    if (response == NULL)
        return MHD_NO;
    const char *origin = http_cors_origin(request);
    if (origin != NULL) {
        MHD_add_response_header(response, "Access-Control-Allow-Origin", origin);
        if (request->server->cors_origins != NULL)
            MHD_add_response_header(response, "Vary", "Origin");
    }
    if (request->close_after)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    request->status = status;
    enum MHD_Result ret = MHD_queue_response(request->connection, status, response);
    MHD_destroy_response(response);
    return ret;
}

enum MHD_Result http_reply_json(struct http_request *request, unsigned status, const char *json)
{
    return http_reply_response(request, status, json_response(json));
}

/* A `{"meta":{"error":MESSAGE}}` response. */
static struct MHD_Response *error_response(const char *message)
{
    json_object *root = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "error", json_object_new_string(message));
    json_object_object_add(root, "meta", meta);
    struct MHD_Response *response = json_response(json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return response;
}

enum MHD_Result http_reply_error(struct http_request *request, unsigned status, const char *message)
{
    return http_reply_response(request, status, error_response(message));
}

enum MHD_Result http_reply_ok(struct http_request *request)
{
    /* The shared `200 {}` carries "Access-Control-Allow-Origin: *"; with a list of origins
     * the header depends on the request, so the answer is built for it. */
    if (request->server->cors_origins != NULL)
        return http_reply_json(request, MHD_HTTP_OK, "{}");
    request->status = MHD_HTTP_OK;
    return MHD_queue_response(request->connection, MHD_HTTP_OK, request->server->empty_ok);
}

enum MHD_Result http_reply_preflight(struct http_request *request)
{
    char allowed[64];
    http_allowed_methods(request->path, allowed, sizeof allowed);
    char methods[80];
    snprintf(methods, sizeof methods, "%s, OPTIONS", allowed);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (response != NULL) {
        MHD_add_response_header(response, "Access-Control-Allow-Methods", methods);
        MHD_add_response_header(response, "Access-Control-Allow-Headers",
                                "Content-Type, Authorization");
        MHD_add_response_header(response, "Access-Control-Max-Age", "86400");
    }
    return http_reply_response(request, MHD_HTTP_NO_CONTENT, response);
}

enum MHD_Result http_reply_unauthorized(struct http_request *request)
{
    struct MHD_Response *response =
        json_response("{\"meta\":{\"error\":\"Unauthorized request\"}}");
    if (response != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"trackd\"");
    return http_reply_response(request, MHD_HTTP_UNAUTHORIZED, response);
}

enum MHD_Result http_reply_unavailable(struct http_request *request, const char *message)
{
    struct MHD_Response *response = error_response(message);
    if (response != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_SECONDS);
    return http_reply_response(request, MHD_HTTP_SERVICE_UNAVAILABLE, response);
}

enum MHD_Result http_reply_method_not_allowed(struct http_request *request, const char *allowed)
{
    char message[128];
    snprintf(message, sizeof message, "method %s not allowed; use %s", request->method, allowed);
    struct MHD_Response *response = error_response(message);
    if (response != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allowed);
    return http_reply_response(request, MHD_HTTP_METHOD_NOT_ALLOWED, response);
}
