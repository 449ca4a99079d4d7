/* What one client can do to the others, and what a cache may do with an answer: request
 * framing driven with raw sockets, caps per client address (clients on 127.0.0.2, .3, ...: the
 * whole of 127/8 is this machine), and the settings document's caching. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_harness.h"

static void setup(void)
{
    start_server(1024);
}

static void teardown(void)
{
    harness_stop();
}

static void pause_ms(long ms)
{
    struct timespec wait = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&wait, NULL);
}

/* ---- framing: where a body ends must not be open to two readings ---- */

TestSuite(framing, .init = setup, .fini = teardown, .timeout = 60);

struct framing_case {
    const char *name;
    const char *headers; /* between the request line and the blank line */
    const char *body;
    long status;
    const char *message_part;
};

/* A request that, were its body read as the next request, would be answered a second time. */
#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

Test(framing, ambiguous_framing_is_refused_at_once_in_json_and_the_connection_closed)
{
    char auth[128];
    basic_header(auth, sizeof auth);
    const char *track = "{\"userId\":\"u1\",\"event\":\"smuggler\"}";
    char chunked_track[128];
    snprintf(chunked_track, sizeof chunked_track, "%zx\r\n%s\r\n0\r\n\r\n", strlen(track), track);
    const struct framing_case cases[] = {
        {"two different Content-Length", "Content-Length: 34\r\nContent-Length: 5\r\n", track, 400,
         "Content-Length cannot be sent more than once"},
        {"the same Content-Length twice", "Content-Length: 34\r\nContent-Length: 34\r\n", track,
         400, "Content-Length cannot be sent more than once"},
        {"a blank before the colon", "Content-Length : 34\r\n", track, 400,
         "malformed header name"},
        {"a tab before the colon", "Content-Length\t: 34\r\n", track, 400, "malformed header name"},
        {"Content-Length with Transfer-Encoding",
         "Content-Length: 34\r\nTransfer-Encoding: chunked\r\n", chunked_track, 400,
         "Content-Length and Transfer-Encoding cannot both be sent"},
        {"Transfer-Encoding twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
         chunked_track, 400, "Transfer-Encoding cannot be sent more than once"},
        {"Transfer-Encoding: identity", "Transfer-Encoding: identity\r\n", track, 501,
         "Transfer-Encoding 'identity' is not supported"},
        {"Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", chunked_track,
         501, "Transfer-Encoding 'gzip, chunked' is not supported"},
        {"Host twice", "Host: 127.0.0.2\r\nContent-Length: 34\r\n", track, 400,
         "Host cannot be sent more than once"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct framing_case *c = &cases[i];
        char text[2048];
        int len = snprintf(text, sizeof text,
                           "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                           "Content-Type: application/json\r\n%s\r\n%s" SMUGGLED,
                           auth, c->headers, c->body);
        int fd = raw_connect();
        raw_send(fd, text, (size_t)len);
        char answer[4096];
        bool closed = raw_read_to_close(fd, 3.0, answer, sizeof answer);
        close(fd);
        long status = 0;
        sscanf(answer, "HTTP/1.1 %ld", &status);
        cr_expect_eq(status, c->status, "%s: %s", c->name, answer);
        cr_expect(closed, "%s: the connection was left open: %s", c->name, answer);
        cr_expect(strstr(answer, "Content-Type: application/json") != NULL, "%s: %s", c->name,
                  answer);
        cr_expect(strstr(answer, c->message_part) != NULL, "%s: %s", c->name, answer);
        const char *second = strstr(answer + 1, "HTTP/1.1 ");
        cr_expect_null(second, "%s: the body was read as a request: %s", c->name, answer);
    }
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);

    /* What is sound still works, on the same kind of connection: chunked, or one length. */
    const char *sound[] = {"Transfer-Encoding: Chunked\r\n", "Content-Length: 34\r\n"};
    for (size_t i = 0; i < 2; i++) {
        char text[1024];
        int len = snprintf(text, sizeof text,
                           "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                           "Content-Type: application/json\r\n%s\r\n%s",
                           auth, sound[i], i == 0 ? chunked_track : track);
        int fd = raw_connect();
        raw_send(fd, text, (size_t)len);
        char head[1024];
        cr_expect_eq(raw_status(fd, head, sizeof head), 200, "%s: %s", sound[i], head);
        close(fd);
    }
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'smuggler'"), 2);
}

/* libmicrohttpd 0.9.75 answers these itself, in HTML, before trackd sees the request (README,
 * "Answers"): what is held to here is that they are refused and the connection ends. A newer
 * libmicrohttpd that lets trackd answer them would fail this test, as a reminder to say so. */
Test(framing, what_libmicrohttpd_refuses_itself_is_refused_and_the_connection_closed)
{
    const struct {
        const char *text;
        long status;
    } cases[] = {
        {"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\n{}", 400},
        {"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", 400},
        {"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET /healthz HTTP/1.1\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = raw_connect();
        raw_send(fd, cases[i].text, strlen(cases[i].text));
        char answer[4096];
        bool closed = raw_read_to_close(fd, 3.0, answer, sizeof answer);
        close(fd);
        long status = 0;
        sscanf(answer, "HTTP/1.1 %ld", &status);
        cr_expect_eq(status, cases[i].status, "%s\n->\n%s", cases[i].text, answer);
        cr_expect(closed, "left open: %s", cases[i].text);
        cr_expect_null(strstr(answer, "application/json"),
                       "libmicrohttpd now lets trackd answer this in JSON: update the README: %s",
                       answer);
    }
}

/* Each connection's memory (16 KB) holds its request line and headers: headers of 12 KB, or
 * 6 KB of cookies (libmicrohttpd keeps a parsed copy of those), are read; what does not fit is
 * refused with 431 and the connection closed, the server unharmed. */
Test(framing, large_headers_are_read_and_too_large_ones_refused_with_431)
{
    char auth[256];
    basic_header(auth, sizeof auth);
    const char *track = "{\"userId\":\"u1\",\"event\":\"big_headers\"}";
    const struct {
        const char *name;
        size_t size;
        long status;
    } cases[] = {{"X-Padding", 12000, 200}, {"Cookie", 6000, 200}, {"X-Padding", 20000, 431}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = malloc(cases[i].size + 1024);
        cr_assert_not_null(text);
        int len = snprintf(
            text, 1024,
            "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
            "Connection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
            "%s: a=",
            auth, strlen(track), cases[i].name);
        memset(text + len, 'c', cases[i].size);
        len += (int)cases[i].size;
        len += snprintf(text + len, 1024, "\r\n\r\n%s", track);
        int fd = raw_connect();
        raw_send(fd, text, (size_t)len);
        free(text);
        char answer[4096];
        bool closed = raw_read_to_close(fd, 3.0, answer, sizeof answer);
        close(fd);
        long status = 0;
        sscanf(answer, "HTTP/1.1 %ld", &status);
        cr_expect_eq(status, cases[i].status, "%s of %zu bytes: %s", cases[i].name, cases[i].size,
                     answer);
        if (cases[i].status != 200)
            cr_expect(closed, "left open after a %ld", cases[i].status);
    }
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'big_headers'"), 2);
    expect(request("GET", "/healthz", NULL, NULL, 0), 200, "ok");
}

/* ---- per client address: connections and uploads ---- */

static void per_address_setup(void)
{
    harness_conns_per_address = 8;
    harness_uploads_per_address = 3;
    start_server(1024);
}

TestSuite(per_address, .init = per_address_setup, .fini = teardown, .timeout = 60);

/* A keep-alive connection from `source` that has been answered once and stays open. */
static int served_keepalive(const char *source)
{
    int fd = raw_connect_from(source);
    const char *get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    raw_send(fd, get, strlen(get));
    char head[1024];
    cr_assert_eq(raw_status(fd, head, sizeof head), 200, "%s: %s", source, head);
    return fd;
}

/* Whether a new connection from `source` is served (else it is closed unanswered). */
static bool served(const char *source)
{
    int fd = raw_connect_from(source);
    const char *get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    send(fd, get, strlen(get), MSG_NOSIGNAL);
    char answer[2048];
    raw_read_to_close(fd, 5.0, answer, sizeof answer);
    close(fd);
    return strncmp(answer, "HTTP/1.1 200 ", 13) == 0;
}

Test(per_address, one_address_cannot_hold_every_connection)
{
    /* 127.0.0.2 holds its 8 keep-alive connections (of the server's 64)... */
    int held[8];
    for (int i = 0; i < 8; i++)
        held[i] = served_keepalive("127.0.0.2");
    /* ... its next one is closed unanswered, while another address is served. */
    cr_assert_not(served("127.0.0.2"), "a ninth connection from one address was served");
    cr_assert(served("127.0.0.3"), "another address was refused");
    /* The connections held still work. */
    const char *get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    raw_send(held[0], get, strlen(get));
    char head[1024];
    cr_assert_eq(raw_status(held[0], head, sizeof head), 200, "%s", head);
    /* One closed, the address may connect again. */
    close(held[7]);
    bool again = false;
    for (int i = 0; i < 50 && !again; i++) {
        pause_ms(100);
        again = served("127.0.0.2");
    }
    cr_assert(again, "a slot freed was not given back to its address");
    for (int i = 0; i < 7; i++)
        close(held[i]);
}

/* Starts an authenticated /v1/batch upload from `source` declaring 100000 bytes and sends the
 * first 1000. */
static int start_upload_from(const char *source)
{
    int fd = raw_connect_from(source);
    char auth[128], text[2048];
    basic_header(auth, sizeof auth);
    int len = snprintf(text, sizeof text,
                       "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                       "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                       "{\"batch\":[",
                       auth);
    raw_send(fd, text, (size_t)len);
    char spaces[990];
    memset(spaces, ' ', sizeof spaces);
    raw_send(fd, spaces, sizeof spaces);
    return fd;
}

/* Sends a whole small track call from `source`; returns the status and the head. */
static long track_from(const char *source, char *head, size_t size)
{
    int fd = raw_connect_from(source);
    char auth[128], text[1024];
    basic_header(auth, sizeof auth);
    const char *body = "{\"userId\":\"u1\",\"event\":\"small\"}";
    int len = snprintf(text, sizeof text,
                       "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       auth, strlen(body), body);
    raw_send(fd, text, (size_t)len);
    long status = raw_status(fd, head, size);
    close(fd);
    return status;
}

Test(per_address, one_address_cannot_hold_every_upload)
{
    int held[3];
    for (int i = 0; i < 3; i++)
        held[i] = start_upload_from("127.0.0.2");
    pause_ms(300);
    char head[1024];
    cr_assert_eq(track_from("127.0.0.2", head, sizeof head), 503, "%s", head);
    cr_assert(strstr(head, "Retry-After: ") != NULL, "%s", head);
    cr_assert_eq(track_from("127.0.0.3", head, sizeof head), 200, "%s", head);
    for (int i = 0; i < 3; i++)
        close(held[i]);
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        pause_ms(100);
        status = track_from("127.0.0.2", head, sizeof head);
    }
    cr_assert_eq(status, 200, "uploads from the address once its others ended: %s", head);
}

/* ---- the settings document: shared caches only keep what does not depend on the client ---- */

TestSuite(settings_by_host, .init = setup, .fini = teardown, .timeout = 60);

Test(settings_by_host, built_from_the_host_it_is_private_and_varies_by_host)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/projects/%s/settings", write_key);
    const char *const attacker[] = {"Host: evil.example:666", NULL};
    struct reply *r = request_with("GET", path, NULL, NULL, 0, attacker);
    cr_assert(has_header(r, "Cache-Control: private, max-age=300"), "%s", r->headers);
    cr_assert(has_header(r, "Vary: Host"), "%s", r->headers);
    cr_assert_null(strcasestr(r->headers, "public"), "%s", r->headers);
    expect(r, 200, "\"apiHost\":\"evil.example:666/v1\"");

    const char *const odd[] = {"Host: a\"b/c", NULL};
    expect(request_with("GET", path, NULL, NULL, 0, odd), 400, "Host must be");
}

static void public_url_setup(void)
{
    harness_public_url = "https://track.example.com/";
    start_server(1024);
}

TestSuite(settings_public, .init = public_url_setup, .fini = teardown, .timeout = 60);

Test(settings_public, built_from_the_public_url_any_cache_may_keep_it)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/projects/%s/settings", write_key);
    const char *const attacker[] = {"Host: evil.example", NULL};
    struct reply *r = request_with("GET", path, NULL, NULL, 0, attacker);
    cr_assert(has_header(r, "Cache-Control: public, max-age=300"), "%s", r->headers);
    cr_assert_null(strcasestr(r->headers, "Vary: Host"), "%s", r->headers);
    expect(r, 200, "\"apiHost\":\"track.example.com/v1\",\"protocol\":\"https\"");
}
