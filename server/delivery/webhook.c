#include "delivery/webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_CHARACTERS                                                                           \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"

bool webhook_check_url(const char *url, char *error, size_t error_size)
{
    size_t len = strlen(url);
    if (len > WEBHOOK_URL_MAX_BYTES) {
        snprintf(error, error_size, "the rendered URL is %zu bytes long, more than %d", len,
                 WEBHOOK_URL_MAX_BYTES);
        return false;
    }
    CURLU *parsed = curl_url();
    if (parsed == NULL) {
        snprintf(error, error_size, "out of memory");
        return false;
    }
    /* No flags: no scheme is guessed, and spaces and control characters are refused, where
     * CURLOPT_URL would quietly encode them or guess. */
    CURLUcode code = curl_url_set(parsed, CURLUPART_URL, url, 0);
    char *scheme = NULL, *host = NULL;
    bool ok = false;
    if (code != CURLUE_OK)
        snprintf(error, error_size, "the rendered URL is not valid: %s", curl_url_strerror(code));
    else if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        snprintf(error, error_size, "the rendered URL is not http or https");
    else if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0')
        snprintf(error, error_size, "the rendered URL has no host");
    else
        ok = true;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(parsed);
    return ok;
}

void webhook_request_clear(struct webhook_request *request)
{
    if (request == NULL)
        return;
    free(request->url);
    free(request->method);
    curl_slist_free_all(request->headers);
    free(request->body);
    memset(request, 0, sizeof *request);
}

/* Appends "name: value" to out->headers; false when out of memory. An empty value (or one of
 * blanks, which HTTP does not tell from empty) is written "name;": libcurl drops "name:" with
 * nothing after the colon, and sends "name;" as the header with an empty value. */
static bool add_header(struct webhook_request *out, const char *name, const char *value)
{
    bool empty = value[strspn(value, " \t")] == '\0';
    size_t size = strlen(name) + strlen(value) + 3;
    char *line = malloc(size);
    if (line == NULL)
        return false;
    if (empty)
        snprintf(line, size, "%s;", name);
    else
        snprintf(line, size, "%s: %s", name, value);
    struct curl_slist *grown = curl_slist_append(out->headers, line);
    free(line);
    if (grown == NULL)
        return false;
    out->headers = grown;
    return true;
}

/* The rule's headers, checked: false with `error` (and *retryable when out of memory). */
static bool add_rule_headers(struct webhook_request *out, json_object *headers, char *error,
                             size_t error_size, bool *retryable)
{
    json_object_object_foreach(headers, name, value)
    {
        const char *text = json_object_get_string(value);
        if (*name == '\0' || name[strspn(name, TOKEN_CHARACTERS)] != '\0') {
            snprintf(error, error_size, "action.headers: \"%.100s\" is not an HTTP header name",
                     name);
            return false;
        }
        if (!json_object_is_type(value, json_type_string)) {
            snprintf(error, error_size, "action.headers.%.100s is not a string", name);
            return false;
        }
        /* A header cannot carry a line break (it would end the header and could start another),
         * nor a NUL byte; sending the rest would be sending something the rule did not say. */
        if (strpbrk(text, "\r\n") != NULL ||
            strlen(text) != (size_t)json_object_get_string_len(value)) {
            snprintf(error, error_size,
                     "action.headers.%.100s: the rendered value holds a line break (CR or LF) or "
                     "a NUL byte, which an HTTP header cannot carry",
                     name);
            return false;
        }
        if (!add_header(out, name, text)) {
            snprintf(error, error_size, "out of memory");
            *retryable = true;
            return false;
        }
    }
    return true;
}

static bool has_header(json_object *headers, const char *wanted)
{
    json_object_object_foreach(headers, name, value)
    {
        (void)value;
        if (strcasecmp(name, wanted) == 0)
            return true;
    }
    return false;
}

bool webhook_prepare(json_object *action, int64_t delivery_id, struct webhook_request *out,
                     char *error, size_t error_size, bool *retryable)
{
    memset(out, 0, sizeof *out);
    json_object *url = NULL, *method = NULL, *headers = NULL, *body = NULL;
    json_object_object_get_ex(action, "url", &url);
    json_object_object_get_ex(action, "method", &method);
    json_object_object_get_ex(action, "headers", &headers);
    json_object_object_get_ex(action, "body", &body);
    const char *method_text = method ? json_object_get_string(method) : "POST";
    if (headers != NULL && !json_object_is_type(headers, json_type_object))
        headers = NULL;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, delivery_id);

    if (url == NULL || !json_object_is_type(url, json_type_string)) {
        snprintf(error, error_size, "the delivery has no url");
        goto refused;
    }
    if (!webhook_check_url(json_object_get_string(url), error, error_size))
        goto refused;
    if (strcmp(method_text, "POST") != 0 && strcmp(method_text, "PUT") != 0) {
        snprintf(error, error_size, "action.method must be POST or PUT");
        goto refused;
    }
    out->url = strdup(json_object_get_string(url));
    out->method = strdup(method_text);
    out->body = strdup(body ? json_object_to_json_string_ext(
                                  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                            : "{}");
    if (out->url == NULL || out->method == NULL || out->body == NULL)
        goto out_of_memory;
    if (!(headers != NULL && has_header(headers, "Content-Type")) &&
        !add_header(out, "Content-Type", "application/json"))
        goto out_of_memory;
    if (headers != NULL && !add_rule_headers(out, headers, error, error_size, retryable))
        goto refused;
    if (!add_header(out, "Idempotency-Key", id) || !add_header(out, "X-Trackd-Delivery", id))
        goto out_of_memory;
    return true;

out_of_memory:
    snprintf(error, error_size, "out of memory");
    *retryable = true;
refused:
    webhook_request_clear(out);
    return false;
}
