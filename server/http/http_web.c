/* What websites need beyond the ingest endpoints: the browser SDK's settings document. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

/* Seconds browsers and CDNs may keep the settings document. */
#define SETTINGS_MAX_AGE "300"

/* Longest Host taken (a DNS name is at most 253 characters, then a port). */
#define HOST_MAX 260

/* Whether `host` is a host name, an IPv4 address or a bracketed IPv6 address, with an optional
 * port: nothing else is echoed into apiHost. */
static bool plausible_host(const char *host)
{
    size_t len = strlen(host);
    if (len == 0 || len > HOST_MAX)
        return false;
    size_t name_len;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL || close == host + 1)
            return false;
        name_len = (size_t)(close - host) + 1;
        if (strspn(host + 1, "0123456789abcdefABCDEF:.") != name_len - 2)
            return false;
    } else {
        name_len =
            strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
        if (name_len == 0)
            return false;
    }
    const char *port = host + name_len;
    if (*port == '\0')
        return true;
    size_t digits = strspn(port + 1, "0123456789");
    return *port == ':' && digits >= 1 && digits <= 5 && port[1 + digits] == '\0';
}

/*
 * GET /v1/projects/{writeKey}/settings: tells @customerio/cdp-analytics-browser where to send
 * its calls ({protocol}://{apiHost}/t, /p, ...), and the mobile SDKs (https://{apiHost}/b,
 * /track) the same. The address comes from TRACKD_PUBLIC_URL
 * ("https://track.example.com" or with a path prefix), else from the request's Host. Nothing
 * in it is secret: the write key is the one the page already has.
 *
 * Only a document built from TRACKD_PUBLIC_URL may be kept by shared caches: one built from
 * the request's Host says whatever that client claimed, so it is private (the browser's own
 * cache only) and varies by Host, lest a CDN or proxy serve one client's Host to everyone.
 */
enum MHD_Result http_handle_settings(struct http_request *request)
{
    const char *key = request->params.count > 0 ? request->params.values[0] : "";
    struct http_workspace workspace;
    if (!http_auth_write_key(request->server, key, &workspace))
        return http_reply_error(request, MHD_HTTP_NOT_FOUND, "no project with this write key");

    char host[HOST_MAX + 64];
    /* The mobile SDKs put https:// before apiHost whatever this says; browsers follow it. */
    const char *protocol = request->server->tls ? "https" : "http";
    const char *public_url = request->server->public_url;
    if (public_url != NULL) {
        const char *rest = strstr(public_url, "://");
        if (rest != NULL && strncmp(public_url, "https", 5) == 0)
            protocol = "https";
        rest = rest ? rest + 3 : public_url;
        size_t len = strlen(rest);
        while (len > 0 && rest[len - 1] == '/')
            len--;
        snprintf(host, sizeof host, "%.*s/v1", (int)len, rest);
    } else {
        const char *header =
            MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (header != NULL && !plausible_host(header))
            return http_reply_error(request, MHD_HTTP_BAD_REQUEST,
                                    "Host must be a host name or address, with an optional port");
        snprintf(host, sizeof host, "%s/v1", header ? header : "127.0.0.1");
    }
    json_object *pipelines = json_object_new_object();
    json_object_object_add(pipelines, "apiKey", json_object_new_string(key));
    json_object_object_add(pipelines, "apiHost", json_object_new_string(host));
    json_object_object_add(pipelines, "protocol", json_object_new_string(protocol));
    json_object *integrations = json_object_new_object();
    json_object_object_add(integrations, "Customer.io Data Pipelines", pipelines);
    json_object *root = json_object_new_object();
    json_object_object_add(root, "integrations", integrations);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    json_object_put(root);
    if (response != NULL) {
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (public_url != NULL) {
            MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                                    "public, max-age=" SETTINGS_MAX_AGE);
        } else {
            MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                                    "private, max-age=" SETTINGS_MAX_AGE);
            MHD_add_response_header(response, MHD_HTTP_HEADER_VARY, "Host");
        }
    }
    return http_reply_response(request, MHD_HTTP_OK, response);
}
