/*
 * Request bodies: the memory they may take, their Content-Type and Content-Encoding, and the
 * bytes as they arrive, inflated on the way when the client compressed them.
 *
 * Every byte buffered is first reserved from the server's receive budget
 * (TRACKD_RECEIVE_MAX_BYTES), so that memory stays bounded however many uploads run at once.
 * Memory is reserved as bytes arrive, never for what a client merely declares: the buffer grows
 * by doubling (up to the declared Content-Length, if any), each step reserved before it is
 * taken, so that a client which declares a large body and sends nothing holds nothing. An
 * inflater's own state is reserved when the first compressed byte arrives.
 *
 * A body is read only once its request has been routed and, where the header allows,
 * authenticated; a body whose key is inside it (the browser and mobile SDKs) cannot be, so what
 * such bodies hold together is kept to half the budget (unauthenticated_bytes): strangers cannot
 * take the room of callers with credentials in the header. Each client address has at most
 * TRACKD_MAX_UPLOADS_PER_ADDRESS bodies in progress (http_conns_begin_upload).
 *
 * Limits apply to the inflated bytes, and inflation stops the moment one is passed: what is left
 * of the compressed body is read without being inflated, and answered 413.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* The first buffer of a body, before it doubles. */
#define BODY_FIRST_CAPACITY 4096

/* Adds `bytes` to `counter` unless that passes `limit` (0: no bound). */
static bool reserve_within(atomic_size_t *counter, size_t limit, size_t bytes)
{
    size_t held = atomic_load(counter);
    do {
        if (limit > 0 && held + bytes > limit)
            return false;
    } while (!atomic_compare_exchange_weak(counter, &held, held + bytes));
    return true;
}

/* Reserves `bytes` more for the request, from the receive budget and, while the body is not
 * authenticated, from the half of it such bodies may hold; false when there is no room. The
 * caller adds what it got to one of the request's own counters. */
static bool reserve(struct http_request *request, size_t bytes)
{
    struct http_server *server = request->server;
    if (!reserve_within(&server->receiving_bytes, server->receive_max_bytes, bytes))
        return false;
    if (request->unauthenticated_upload &&
        !reserve_within(&server->unauthenticated_bytes, server->receive_max_bytes / 2, bytes)) {
        atomic_fetch_sub(&server->receiving_bytes, bytes);
        return false;
    }
    return true;
}

/* Gives back what reserve() took. */
static void unreserve(struct http_request *request, size_t bytes)
{
    atomic_fetch_sub(&request->server->receiving_bytes, bytes);
    if (request->unauthenticated_upload)
        atomic_fetch_sub(&request->server->unauthenticated_bytes, bytes);
}

static bool reserve_body(struct http_request *request, size_t bytes)
{
    if (!reserve(request, bytes))
        return false;
    request->body_reserved += bytes;
    return true;
}

void http_release_body(struct http_request *request)
{
    size_t held = request->body_reserved + request->inflate_reserved;
    if (held > 0) {
        unreserve(request, held);
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
        unreserve(request, request->inflate_reserved);
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
    http_conns_end_upload(request); /* what is left is dropped as it comes: it holds nothing */
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
    /* An email's unsubscribe link is posted by a form or a mail client (form-encoded); its
     * handler never reads the body. */
    bool form_allowed = request->route != NULL &&
                        request->route->handler == http_handle_unsubscribe &&
                        request->params.count > 0 && strchr(request->params.values[0], '.');
    if (!json_content_type(type) && !form_allowed) {
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
    if (!http_conns_begin_upload(request)) {
        request->early_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(request->early_message, sizeof request->early_message,
                 "too many uploads in progress from this address; retry later");
        return;
    }
    /* Nothing is reserved yet: bytes are, as they arrive. Which half of the budget they come
     * from is fixed now, for as long as anything is reserved. */
    request->unauthenticated_upload = !request->authenticated;
    request->encoding = encoding;
    if (encoding == BODY_ENCODING_IDENTITY && !chunked)
        request->declared_length = (size_t)declared;
}

/* Makes the inflater at the first compressed byte, its state reserved first; false (the body
 * refused with 503) when the budget has no room for it. */
static bool start_inflating(struct http_request *request)
{
    request->inflater_started = true;
    if (!reserve(request, BODY_INFLATE_MEMORY)) {
        refuse_body(request, MHD_HTTP_SERVICE_UNAVAILABLE, NULL);
        return false;
    }
    request->inflate_reserved = BODY_INFLATE_MEMORY;
    request->inflater = body_inflater_new(request->encoding);
    if (request->inflater == NULL) {
        refuse_body(request, MHD_HTTP_SERVICE_UNAVAILABLE, NULL);
        return false;
    }
    return true;
}

/* Appends (inflated) bytes to the body, up to HTTP_BODY_MAX; false once the body is over it
 * (body_too_large) or the receive budget is spent (refused with 503), or when out of memory
 * (out_of_memory). The buffer grows by doubling, each step reserved first, and never past a
 * declared plain length. */
static bool append_body(struct http_request *request, const char *data, size_t size)
{
    if (request->body_too_large || request->body_len + size > HTTP_BODY_MAX) {
        request->body_too_large = true;
        return false;
    }
    size_t needed = request->body_len + size + 1;
    if (needed > request->body_cap) {
        size_t cap = request->body_cap ? request->body_cap : BODY_FIRST_CAPACITY;
        while (cap < needed)
            cap *= 2;
        size_t most =
            request->declared_length > 0 ? request->declared_length + 1 : HTTP_BODY_MAX + 1;
        if (cap > most)
            cap = most >= needed ? most : needed;
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
    if (request->encoding != BODY_ENCODING_IDENTITY && !request->inflater_started &&
        !start_inflating(request))
        return true; /* refused: the rest is dropped */
    if (request->inflater == NULL) {
        if (append_body(request, data, size))
            return true;
        /* Past the limit (only a chunked body gets there): nothing more is kept. */
        if (request->body_too_large)
            refuse_body(request, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
        return !request->out_of_memory;
    }
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
    if (request->body_ended)
        return; /* called again when a request resumes */
    request->body_ended = true;
    http_conns_end_upload(request);
    if (request->encoding == BODY_ENCODING_IDENTITY || request->early_status != 0) {
        stop_inflating(request);
        return;
    }
    bool complete = request->inflater != NULL && body_inflater_complete(request->inflater);
    stop_inflating(request);
    if (!complete)
        refuse_corrupt(request, request->inflater_started ? "the compressed stream is cut short"
                                                          : "the compressed stream is empty");
}
