#include "trigger/trigger_url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "trigger/trigger_template.h"

#define UNRESERVED "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
#define SUB_DELIMS "!$&'()*+,;="
/* What a URL may hold literally after its origin (RFC 3986 §2: unreserved, reserved, and '%'
 * when it starts an escape). */
#define URL_CHARACTERS UNRESERVED SUB_DELIMS ":/?#[]@%"

static size_t scheme_length(const char *url)
{
    if (strncmp(url, "http://", 7) == 0)
        return 7;
    if (strncmp(url, "https://", 8) == 0)
        return 8;
    return 0;
}

size_t trigger_url_origin_length(const char *url)
{
    size_t scheme = scheme_length(url);
    if (scheme == 0)
        return 0;
    return scheme + strcspn(url + scheme, "/?#");
}

static bool is_hex(char c)
{
    return c != '\0' && strchr("0123456789abcdefABCDEF", c) != NULL;
}

/* A character for a message: itself when printable, else its code. */
static void describe(char c, char *out, size_t size)
{
    unsigned char u = (unsigned char)c;
    if (u > 0x20 && u < 0x7f)
        snprintf(out, size, "'%c'", c);
    else
        snprintf(out, size, "byte 0x%02X", u);
}

/* True when text[i] starts a whole %XX escape within `len` bytes. */
static bool escape_at(const char *text, size_t len, size_t i)
{
    return text[i] == '%' && i + 2 < len && is_hex(text[i + 1]) && is_hex(text[i + 2]);
}

/* Checks "[user:password@]host[:port]" (written out, no template); false with `message`. The
 * host is a name or an IPv4 address (letters, digits, -._~) or an IPv6 address in brackets:
 * what libcurl accepts, without the escapes and zone ids that would make it read another. */
static bool check_authority(const char *authority, size_t len, char *message, size_t size)
{
    if (memchr(authority, '{', len) != NULL || memchr(authority, '}', len) != NULL) {
        snprintf(message, size,
                 "action.url: the scheme, host and port must be written out: a template "
                 "({{ ... }}) may appear only after the host, in the path, query or fragment");
        return false;
    }
    size_t host = len;
    while (host > 0 && authority[host - 1] != '@')
        host--;
    for (size_t i = 0; i + 1 < host; i++) { /* user:password, up to the last '@' */
        char what[16];
        if (escape_at(authority, host - 1, i)) {
            i += 2;
            continue;
        }
        if (strchr(UNRESERVED SUB_DELIMS ":", authority[i]) != NULL)
            continue;
        describe(authority[i], what, sizeof what);
        snprintf(message, size, "action.url: %s cannot appear in the user:password part", what);
        return false;
    }
    const char *start = authority + host, *end = authority + len, *port = NULL;
    size_t name_len;
    const char *allowed;
    bool bracketed = start < end && *start == '[';
    if (bracketed) {
        const char *close = memchr(start, ']', (size_t)(end - start));
        if (close == NULL || close == start + 1 || (close + 1 < end && close[1] != ':')) {
            snprintf(message, size, "action.url: an IPv6 host is written [address][:port]");
            return false;
        }
        port = close + 1 < end ? close + 2 : NULL;
        start++;
        name_len = (size_t)(close - start);
        allowed = "0123456789abcdefABCDEF:.";
    } else {
        const char *colon = memchr(start, ':', (size_t)(end - start));
        port = colon ? colon + 1 : NULL;
        name_len = (size_t)((colon ? colon : end) - start);
        allowed = UNRESERVED;
    }
    if (name_len == 0) {
        snprintf(message, size, "action.url must have a host after http:// or https://");
        return false;
    }
    for (size_t i = 0; i < name_len; i++) {
        if (strchr(allowed, start[i]) == NULL) {
            char what[16];
            describe(start[i], what, sizeof what);
            snprintf(message, size,
                     "action.url: %s cannot appear in the host (letters, digits, '-', '.', '_', "
                     "'~', or an IPv6 address in [ ])",
                     what);
            return false;
        }
    }
    if (bracketed) {
        char address[INET6_ADDRSTRLEN];
        struct in6_addr parsed;
        bool valid = name_len < sizeof address;
        if (valid) {
            memcpy(address, start, name_len);
            address[name_len] = '\0';
            valid = inet_pton(AF_INET6, address, &parsed) == 1;
        }
        if (!valid) {
            snprintf(message, size, "action.url: the host in [ ] is not an IPv6 address");
            return false;
        }
    }
    if (port != NULL) {
        long number = 0;
        const char *p = port;
        for (; p < end && *p >= '0' && *p <= '9' && number <= 65535; p++)
            number = number * 10 + (*p - '0');
        if (p != end || p == port || number < 1 || number > 65535) {
            snprintf(message, size, "action.url: the port must be a number from 1 to 65535");
            return false;
        }
    }
    return true;
}

/* ---- the check of what follows the origin ---- */

struct check_state {
    char *message;
    size_t size;
    bool failed;
};

static void check_literal(void *cls, const char *text, size_t len)
{
    struct check_state *s = cls;
    for (size_t i = 0; i < len && !s->failed; i++) {
        char c = text[i];
        if (c == '%') {
            /* An escape must be whole within the literal text: "%{{ x }}" is not one. */
            if (escape_at(text, len, i)) {
                i += 2;
                continue;
            }
            snprintf(s->message, s->size,
                     "action.url: '%%' must start an escape like %%2F (a percent sign is %%25)");
            s->failed = true;
        } else if (c == '{' || c == '}') {
            snprintf(s->message, s->size,
                     "action.url: '%c' is not part of a template ({{ event.<path> }} or "
                     "{{ person.<path> }}) and cannot appear in a URL (write %%%02X)",
                     c, (unsigned char)c);
            s->failed = true;
        } else if (strchr(URL_CHARACTERS, c) == NULL) {
            char what[16];
            describe(c, what, sizeof what);
            snprintf(s->message, s->size,
                     "action.url: %s cannot appear in a URL; write it percent-encoded (a space "
                     "is %%20)",
                     what);
            s->failed = true;
        }
    }
}

static void check_value(void *cls, const char *text, size_t len)
{
    (void)cls, (void)text, (void)len; /* values are encoded when rendered */
}

bool trigger_url_check(const char *url_template, char *message, size_t message_size)
{
    char scratch[1];
    if (message_size == 0) {
        message = scratch;
        message_size = sizeof scratch;
    }
    if (strlen(url_template) > TRIGGER_URL_MAX_BYTES) {
        snprintf(message, message_size, "action.url cannot be longer than %d bytes",
                 TRIGGER_URL_MAX_BYTES);
        return false;
    }
    size_t scheme = scheme_length(url_template);
    if (scheme == 0) {
        snprintf(message, message_size, "action.url must start with http:// or https://");
        return false;
    }
    size_t origin = trigger_url_origin_length(url_template);
    if (!check_authority(url_template + scheme, origin - scheme, message, message_size))
        return false;
    static const struct trigger_liquid_sink sink = {check_literal, check_value};
    struct check_state state = {message, message_size, false};
    if (!trigger_template_walk(url_template + origin, NULL, &sink, &state)) {
        snprintf(message, message_size, "out of memory");
        return false;
    }
    return !state.failed;
}

/* ---- rendering ---- */

/* Where in the URL a piece of the template lands. */
enum url_part {
    URL_PATH,     /* up to the rule's first '?' or '#' */
    URL_QUERY,    /* after that '?', up to a '#' */
    URL_FRAGMENT, /* after the rule's first '#' */
};

struct render_state {
    struct textbuf out;
    enum url_part part;
    size_t segment_start;   /* offset in out of the current path segment */
    bool segment_has_value; /* a value was rendered into it */
};

/* At the end of a path segment: when a value made it "." or "..", encodes its dots. */
static void end_segment(struct render_state *s)
{
    if (s->out.failed || !s->segment_has_value)
        return;
    size_t len = s->out.len - s->segment_start;
    const char *segment = s->out.data + s->segment_start;
    if ((len == 1 && segment[0] == '.') || (len == 2 && segment[0] == '.' && segment[1] == '.')) {
        s->out.len = s->segment_start;
        for (size_t i = 0; i < len; i++)
            textbuf_append(&s->out, "%2E", 3);
    }
}

static void render_literal(void *cls, const char *text, size_t len)
{
    struct render_state *s = cls;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (s->part == URL_PATH && (c == '/' || c == '?' || c == '#'))
            end_segment(s);
        textbuf_append(&s->out, &c, 1);
        if (s->part == URL_PATH && c == '/') {
            s->segment_start = s->out.len;
            s->segment_has_value = false;
        } else if (s->part == URL_PATH && c == '?') {
            s->part = URL_QUERY;
        } else if (s->part != URL_FRAGMENT && c == '#') {
            s->part = URL_FRAGMENT;
        }
    }
}

static void render_value(void *cls, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    struct render_state *s = cls;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c != '\0' && strchr(UNRESERVED, c) != NULL) {
            textbuf_append(&s->out, (const char *)&text[i], 1);
        } else {
            char escape[3] = {'%', hex[c >> 4], hex[c & 0xF]};
            textbuf_append(&s->out, escape, 3);
        }
    }
    s->segment_has_value = true;
}

char *trigger_render_url(const char *url_template, const struct trigger_facts *facts)
{
    if (url_template == NULL)
        return NULL;
    /* The origin is copied as written: trigger_url_check refused templates in it. */
    size_t origin = trigger_url_origin_length(url_template);
    if (origin == 0)
        origin = strlen(url_template);
    struct render_state s = {.part = URL_PATH};
    textbuf_append(&s.out, url_template, origin);
    s.segment_start = s.out.len;
    static const struct trigger_liquid_sink sink = {render_literal, render_value};
    bool ok = trigger_template_walk(url_template + origin, facts, &sink, &s);
    if (s.part == URL_PATH)
        end_segment(&s);
    if (!ok || s.out.failed) {
        free(s.out.data);
        return NULL;
    }
    return s.out.data;
}
