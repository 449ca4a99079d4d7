/*
 * Request bodies: the memory they may take, their Content-Type and Content-Encoding, and the
 * bytes as they arrive, inflated on the way when the client compressed them.
 *
 * Every byte buffered is first reserved from the server's receive budget
 * (TRACKD_RECEIVE_MAX_BYTES), so that memory stays bounded however many uploads run at once: a
 * plain body with a declared Content-Length is reserved whole before it is read; a chunked one,
 * and every compressed one (whose declared length says nothing of its inflated size), grows by
 * doubling, each step reserved before it is taken. An inflater's own state is reserved too.
 * Limits apply to the inflated bytes, and inflation stops the moment one is passed: what is left
 * of the compressed body is read without being inflated, and answered 413.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* Reserves `bytes` more of the receive budget; false when the bodies being received hold it
 * all already. The caller adds what it got to one of its own counters. */
static bool reserve(struct http_server *server, size_t bytes)
{
    size_t held = atomic_load(&server->receiving_bytes);
    do {
        if (server->receive_max_bytes > 0 && held + bytes > server->receive_max_bytes)
            return false;
    } while (!atomic_compare_exchange_weak(&server->receiving_bytes, &held, held + bytes));
    return true;
}

static bool reserve_body(struct http_request *request, size_t bytes)
{
    if (!reserve(request->server, bytes))
        return false;
    request->body_reserved += bytes;
    return true;
}

void http_release_body(struct http_request *request)
{
    size_t held = request->body_reserved + request->inflate_reserved;
    if (held > 0) {
        atomic_fetch_sub(&request->server->receiving_bytes, held);
        request->body_reserved = 0;
        request->inflate_reserved = 0;
    }
}

/* Ends inflation (the body is refused, or complete) and gives its memory back. */
static void stop_inflating(struct http_request *request)
{
    body_inflater_free(request->inflater);
    request->inflater = NULL;
    if (request->inflate_reserved > 0) {
        atomic_fetch_sub(&request->server->receiving_bytes, request->inflate_reserved);
        request->inflate_reserved = 0;
    }
}

/* Refuses the body with `status` (and a message for 400 or 415): what was buffered is dropped
 * and the rest is read without being kept, then the answer goes out (http_reply_early). */
static void refuse_body(struct http_request *request, unsigned status, const char *message)
{
    stop_inflating(request);
    free(request->body);
    request->body = NULL;
    request->body_cap = 0;
    http_release_body(request);
    request->early_status = status;
    if (message != NULL)
        snprintf(request->early_message, sizeof request->early_message, "%s", message);
}

/* Whether a body of this Content-Type is read as JSON: application/json (and any +json type),
 * text/plain (what browsers and analytics-kotlin send), or no type at all. */
static bool json_content_type(const char *type)
{
    if (type == NULL)
        return true;
    size_t len = strcspn(type, ";");
    while (len > 0 && type[len - 1] == ' ')
        len--;
    static const char *const accepted[] = {"application/json", "text/plain"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (len == strlen(accepted[i]) && strncasecmp(type, accepted[i], len) == 0)
            return true;
    return len > 5 && strncasecmp(type + len - 5, "+json", 5) == 0;
}

void http_body_begin(struct http_request *request, unsigned long long declared, bool chunked)
{
    struct MHD_Connection *connection = request->connection;
    const char *type =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *encoding_header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    bool has_body = declared > 0 || chunked;
    if (!has_body)
        return;
    if (!json_content_type(type)) {
        request->early_status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        snprintf(request->early_message, sizeof request->early_message,
                 "Content-Type must be application/json or text/plain");
        return;
    }
    enum body_encoding encoding;
    if (!body_encoding_parse(encoding_header, &encoding)) {
        request->early_status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        snprintf(request->early_message, sizeof request->early_message,
                 "Content-Encoding '%.40s' is not supported: send gzip, deflate or identity",
                 encoding_header);
        return;
    }
    if (encoding == BODY_ENCODING_IDENTITY) {
        /* A declared length is reserved (and allocated) whole, at once. */
        if (declared > 0 && !reserve_body(request, (size_t)declared + 1))
            request->early_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return;
    }
    if (!reserve(request->server, BODY_INFLATE_MEMORY)) {
        request->early_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return;
    }
    request->inflate_reserved = BODY_INFLATE_MEMORY;
    request->encoding = encoding;
    request->inflater = body_inflater_new(encoding);
    if (request->inflater == NULL)
        refuse_body(request, MHD_HTTP_SERVICE_UNAVAILABLE, NULL);
}

/* Appends (inflated) bytes to the body, up to HTTP_BODY_MAX; false once the body is over it
 * (body_too_large) or the receive budget is spent (refused with 503), or when out of memory
 * (out_of_memory). The buffer of a declared plain length is reserved already; otherwise it grows
 * by doubling, each step reserved first. */
static bool append_body(struct http_request *request, const char *data, size_t size)
{
    if (request->body_too_large || request->body_len + size > HTTP_BODY_MAX) {
        request->body_too_large = true;
        return false;
    }
    size_t needed = request->body_len + size + 1;
    if (needed > request->body_cap) {
        size_t cap = request->body_reserved; /* a declared length, reserved whole */
        if (cap < needed) {
            cap = request->body_cap ? request->body_cap : 4096;
            while (cap < needed)
                cap *= 2;
            if (cap > HTTP_BODY_MAX + 1)
                cap = HTTP_BODY_MAX + 1;
        }
        if (cap > request->body_reserved && !reserve_body(request, cap - request->body_reserved)) {
            refuse_body(request, MHD_HTTP_SERVICE_UNAVAILABLE, NULL);
            return false;
        }
        char *grown = realloc(request->body, cap);
        if (grown == NULL) {
            request->out_of_memory = true;
            return false;
        }
        request->body = grown;
        request->body_cap = cap;
    }
    memcpy(request->body + request->body_len, data, size);
    request->body_len += size;
    request->body[request->body_len] = '\0';
    return true;
}

static bool take_inflated(void *cls, const char *data, size_t size)
{
    return append_body(cls, data, size);
}

/* Names the encoding and zlib's complaint in a 400 that the client can act on. */
static void refuse_corrupt(struct http_request *request, const char *why)
{
    char message[sizeof request->early_message];
    snprintf(message, sizeof message, "Content-Encoding: the body is not valid %s (%s)",
             body_encoding_name(request->encoding), why);
    refuse_body(request, MHD_HTTP_BAD_REQUEST, message);
}

bool http_body_receive(struct http_request *request, const char *data, size_t size)
{
    if (request->inflater == NULL)
        return append_body(request, data, size) || !request->out_of_memory;
    enum body_inflate_status status =
        body_inflater_feed(request->inflater, data, size, take_inflated, request);
    switch (status) {
    case BODY_INFLATE_MORE:
        return true;
    case BODY_INFLATE_STOPPED:
        /* Over the limit, or out of budget (refused with 503 already). Inflating further would
         * only make more to drop: the rest of the compressed body is read without inflating it
         * (libmicrohttpd cannot answer before the body is read; past DISCARD_MAX of it the
         * connection is closed), then answered 413. */
        if (request->body_too_large)
            refuse_body(request, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
        stop_inflating(request);
        return !request->out_of_memory;
    case BODY_INFLATE_CORRUPT:
        refuse_corrupt(request, body_inflater_error(request->inflater));
        return true;
    case BODY_INFLATE_NO_MEMORY:
        break;
    }
    request->out_of_memory = true;
    return false;
}

void http_body_end(struct http_request *request)
{
    if (request->inflater == NULL)
        return;
    bool complete = body_inflater_complete(request->inflater);
    stop_inflating(request);
    if (!complete)
        refuse_corrupt(request, request->body_len == 0 && request->body == NULL
                                    ? "the compressed stream is empty"
                                    : "the compressed stream is cut short");
}
