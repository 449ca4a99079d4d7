/*
 * Request framing: where one request's body ends and the next request begins. A server that
 * reads this differently from a proxy in front of it can be made to see a request the proxy
 * never saw (request smuggling), so anything ambiguous is refused, at once and with the
 * connection closed, before any of the body is read.
 *
 * libmicrohttpd 0.9.75, with MHD_OPTION_STRICT_FOR_CLIENT at 1, refuses by itself (and answers
 * in HTML, before trackd is called: there is no hook for its error pages in this version) a
 * malformed request line or header line, an HTTP version other than 1.0 and 1.1, an HTTP/1.1
 * request without Host, a Content-Length that is not a decimal number or does not fit in 64
 * bits, a request line or header block larger than its per-connection memory, and malformed
 * chunked framing. What it lets through, and is checked here:
 *
 *   - a header name that is not an RFC 9110 token, such as "Content-Length " with a blank before
 *     the colon: libmicrohttpd keeps it under that name, so the length would be ignored and the
 *     body read as the next request;
 *   - Content-Length or Transfer-Encoding sent more than once (libmicrohttpd uses the first);
 *   - both of them at once;
 *   - a transfer coding other than chunked: libmicrohttpd would read "identity" or "gzip,
 *     chunked" until the connection closes (501, as RFC 9112 asks of an unknown coding);
 *   - Host sent more than once.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* What the header walk found. */
struct framing {
    unsigned content_lengths, transfer_encodings, hosts;
    const char *transfer_encoding; /* the first one's value */
    bool bad_name;
};

/* RFC 9110 tchar: the characters a header name may have. */
static bool token(const char *name)
{
    static const char separators_allowed[] = "!#$%&'*+-.^_`|~";
    if (name == NULL || *name == '\0')
        return false;
    for (const char *c = name; *c != '\0'; c++) {
        bool alnum =
            (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        if (!alnum && strchr(separators_allowed, *c) == NULL)
            return false;
    }
    return true;
}

static enum MHD_Result look_at_header(void *cls, enum MHD_ValueKind kind, const char *name,
                                      const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (!token(name)) {
        f->bad_name = true;
        return MHD_NO; /* nothing else matters */
    }
    if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_lengths++;
    else if (strcasecmp(name, MHD_HTTP_HEADER_HOST) == 0)
        f->hosts++;
    else if (strcasecmp(name, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 &&
             f->transfer_encodings++ == 0)
        f->transfer_encoding = value;
    return MHD_YES;
}

/* Whether a Transfer-Encoding value is "chunked" alone, blanks around it allowed. */
static bool chunked_alone(const char *value)
{
    value += strspn(value, " \t");
    size_t len = strcspn(value, " \t");
    return len == 7 && strncasecmp(value, "chunked", 7) == 0 &&
           value[len + strspn(value + len, " \t")] == '\0';
}

unsigned http_check_framing(struct MHD_Connection *connection, char *message, size_t size)
{
    struct framing f = {0};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, look_at_header, &f);
    if (f.bad_name) {
        snprintf(message, size,
                 "malformed header name: only letters, digits and !#$%%&'*+-.^_`|~ "
                 "may come before the colon");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f.content_lengths > 1) {
        snprintf(message, size, "Content-Length cannot be sent more than once");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f.transfer_encodings > 1) {
        snprintf(message, size, "Transfer-Encoding cannot be sent more than once");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f.transfer_encodings > 0 && f.content_lengths > 0) {
        snprintf(message, size, "Content-Length and Transfer-Encoding cannot both be sent");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f.hosts > 1) {
        snprintf(message, size, "Host cannot be sent more than once");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f.transfer_encoding != NULL && !chunked_alone(f.transfer_encoding)) {
        snprintf(message, size,
                 "Transfer-Encoding '%.40s' is not supported: send chunked, or a Content-Length",
                 f.transfer_encoding);
        return MHD_HTTP_NOT_IMPLEMENTED;
    }
    return 0;
}
