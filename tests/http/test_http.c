/* The real server on a free port, driven over HTTP with libcurl. Each test starts its own
 * server on its own database clone. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "store/store.h"
#include "http_harness.h"
#include "testdb.h"

static void setup(void)
{
    start_server(1024);
}

static void teardown(void)
{
    harness_stop();
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 60);

Test(http, health_and_readiness_answer_json)
{
    expect(request("GET", "/healthz", NULL, NULL, 0), 200, "\"ok\"");
    expect(request("GET", "/readyz", NULL, NULL, 0), 200, "\"ready\"");
}

Test(http, unknown_paths_and_methods_answer_json)
{
    expect(request("GET", "/nope", NULL, NULL, 0), 404, "\"error\"");
    struct reply *r = request("GET", "/v1/track", write_key, NULL, 0);
    cr_assert(has_header(r, "Allow: POST"), "%s", r->headers);
    expect(r, 405, "not allowed");
}

Test(http, wrong_or_missing_credentials_get_401)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"E\"}";
    struct reply *r = request("POST", "/v1/track", NULL, body, strlen(body));
    cr_assert(has_header(r, "WWW-Authenticate: Basic realm=\"trackd\""), "%s", r->headers);
    expect(r, 401, "{\"meta\":{\"error\":\"Unauthorized request\"}}");
    expect(request("POST", "/v1/track", "0123456789abcdef0123456789abcdef01234567", body,
                   strlen(body)),
           401, "Unauthorized request");
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);
}

Test(http, blank_keys_get_401_and_a_bare_cio_prefix_gets_400)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"E\"}";
    static const char *const blank_write_keys[] = {"cio_ ", " ", "\t"};
    for (size_t i = 0; i < sizeof blank_write_keys / sizeof blank_write_keys[0]; i++)
        expect(request("POST", "/v1/track", blank_write_keys[i], body, strlen(body)), 401,
               "Unauthorized request");
    char blank_api_key[64], blank_site[64];
    snprintf(blank_api_key, sizeof blank_api_key,
             "%.*s: ", (int)(strchr(site_credentials, ':') - site_credentials), site_credentials);
    snprintf(blank_site, sizeof blank_site, " %s", strchr(site_credentials, ':'));
    expect(request("PUT", "/api/v1/customers/u1", blank_api_key, "{}", 2), 401,
           "Unauthorized request");
    expect(request("PUT", "/api/v1/customers/u1", blank_site, "{}", 2), 401,
           "Unauthorized request");
    const char *web = "{\"writeKey\":\"cio_ \",\"userId\":\"u1\",\"event\":\"E\"}";
    expect(request("POST", "/v1/t", NULL, web, strlen(web)), 401, "Unauthorized request");

    /* With good credentials, "cio_" followed by blanks names nobody: refused, naming the field. */
    expect(request("PUT", "/api/v1/customers/cio_%20", site_credentials, "{}", 2), 400,
           "identifier: cio_ must be followed by a cio_id");
    expect(request("PUT", "/api/v1/customers/u1", site_credentials, "{}", 2), 200, NULL);
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);
    cr_assert_eq(count("SELECT count(*) FROM people"), 1);
}

Test(http, track_is_committed_before_the_answer)
{
    expect(post("/v1/track", "{\"userId\":\"u1\",\"event\":\"purchase\","
                             "\"properties\":{\"price\":\"4.99\"}}"),
           200, "{}");
    /* No waiting: the row must already be there. */
    cr_assert_eq(count("SELECT count(*) FROM events e JOIN people p ON p.id = e.person_id"
                       " WHERE p.customer_id = 'u1' AND e.name = 'purchase'"),
                 1);
}

Test(http, each_pipelines_endpoint_stores_its_call)
{
    expect(post("/v1/identify", "{\"userId\":\"u1\",\"traits\":{\"email\":\"a@x.com\"}}"), 200,
           NULL);
    expect(post("/v1/track", "{\"anonymousId\":\"a1\",\"event\":\"E\"}"), 200, NULL);
    expect(post("/v1/page", "{\"userId\":\"u1\",\"name\":\"Home\"}"), 200, NULL);
    expect(post("/v1/screen", "{\"userId\":\"u1\",\"name\":\"Main\"}"), 200, NULL);
    expect(post("/v1/group", "{\"userId\":\"u1\",\"groupId\":\"g1\"}"), 200, NULL);
    expect(post("/v1/alias", "{\"userId\":\"u1\",\"previousId\":\"a1\"}"), 200, NULL);
    cr_assert_eq(count("SELECT count(*) FROM people WHERE email = 'a@x.com'"), 1);
    cr_assert_eq(count("SELECT count(*) FROM events"), 3);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE type = 'page' AND name = 'Home'"), 1);
    cr_assert_eq(count("SELECT count(*) FROM identity_calls"), 2);
}

Test(http, a_duplicate_message_id_answers_200_and_stores_once)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"E\",\"messageId\":\"m-1\"}";
    expect(post("/v1/track", body), 200, NULL);
    expect(post("/v1/track", body), 200, NULL);
    cr_assert_eq(count("SELECT count(*) FROM events"), 1);
}

Test(http, invalid_calls_get_400_naming_the_field_and_are_recorded)
{
    expect(post("/v1/track", "{\"userId\":\"u1\"}"), 400,
           "{\"meta\":{\"errors\":[\"event is required");
    expect(post("/v1/identify", "{\"userId\":\"u1\",\"traits\":[]}"), 400, "traits must be");
    expect(post("/v1/track", "{\"userId\":"), 400, "not valid JSON");
    expect(post("/v1/track", ""), 400, "not valid JSON");
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);
    cr_assert_eq(count("SELECT count(*) FROM rejected_requests r JOIN workspaces w"
                       " ON w.id = r.workspace_id WHERE w.name = 'alpha'"),
                 4);
    cr_assert_eq(count("SELECT count(*) FROM rejected_requests WHERE endpoint = '/v1/track'"
                       " AND reason = 'invalid_field' AND payload = '{\"userId\":\"u1\"}'"),
                 1);
}

Test(http, a_partly_invalid_batch_gets_207_with_indexes)
{
    expect(post("/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"A\"},"
                             "{\"type\":\"track\",\"userId\":\"u1\"},"
                             "{\"type\":\"screen\",\"anonymousId\":\"x\",\"name\":\"S\"}]}"),
           207,
           "{\"errors\":[{\"batch_index\":1,\"reason\":\"invalid_field\",\"field\":\"event\","
           "\"message\":\"batch[1]: event is required");
    cr_assert_eq(count("SELECT count(*) FROM events"), 2);
    cr_assert_eq(count("SELECT count(*) FROM rejected_requests"), 1);
}

Test(http, a_wholly_invalid_batch_gets_400)
{
    expect(post("/v1/batch", "{\"batch\":[{\"type\":\"track\"},{\"type\":\"x\"}]}"), 400,
           "\"batch_index\":1");
    expect(post("/v1/batch", "{\"batch\":[]}"), 400, "batch is required");
    cr_assert_eq(count("SELECT count(*) FROM rejected_requests"), 3);
}

Test(http, a_call_over_32_kb_is_refused)
{
    size_t n = 33 * 1024;
    char *body = malloc(n + 100);
    int used = sprintf(body, "{\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"p\":\"");
    memset(body + used, 'x', n);
    strcpy(body + used + n, "\"}}");
    expect(post("/v1/track", body), 400, "cannot be larger than 32768 bytes");
    free(body);
}

Test(http, a_body_over_500_kb_gets_413_and_is_recorded)
{
    size_t n = 600 * 1024;
    char *body = malloc(n);
    memset(body, ' ', n);
    expect(request("POST", "/v1/batch", write_key, body, n), 413, "500");
    const char *const chunked[] = {"Transfer-Encoding: chunked", NULL};
    expect(request_with("POST", "/v1/batch", write_key, body, n, chunked), 413, "500");
    free(body);
    /* The record is written without holding up the answer: wait for it, bounded. */
    long recorded = 0;
    for (int i = 0; i < 100 && recorded < 2; i++) {
        recorded = count("SELECT count(*) FROM rejected_requests WHERE reason = 'body_too_large'");
        struct timespec tick = {0, 20 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    cr_assert_eq(recorded, 2);
}

Test(http, keys_write_only_to_their_own_workspace)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"E\"}";
    expect(request("POST", "/v1/track", other_write_key, body, strlen(body)), 200, NULL);
    cr_assert_eq(count("SELECT count(*) FROM events e JOIN workspaces w ON w.id = e.workspace_id"
                       " WHERE w.name = 'beta'"),
                 1);
    cr_assert_eq(count("SELECT count(*) FROM people p JOIN workspaces w ON w.id = p.workspace_id"
                       " WHERE w.name = 'alpha'"),
                 0);
}

/* ---- overload: a blocked writer, a full queue, 503 with Retry-After ---- */

struct pending {
    struct reply *reply;
    atomic_bool done;
};

static void *send_in_background(void *arg)
{
    struct pending *p = arg;
    p->reply = post("/v1/track", "{\"userId\":\"u1\",\"event\":\"blocked\"}");
    atomic_store(&p->done, true);
    return NULL;
}

static void overload_setup(void)
{
    start_server(1);
}

/* A suite of its own: fixtures of a test add to those of its suite rather than replace them. */
TestSuite(overload, .init = overload_setup, .fini = teardown, .timeout = 60);

Test(overload, a_full_queue_answers_503_and_nothing_is_answered_before_commit)
{
    /* Hold a lock the writer needs, so the first request waits inside its transaction. */
    PGconn *blocker = PQconnectdb(url);
    cr_assert_eq(PQstatus(blocker), CONNECTION_OK);
    PQclear(PQexec(blocker, "BEGIN"));
    PQclear(PQexec(blocker, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));

    struct pending first = {0};
    atomic_init(&first.done, false);
    pthread_t thread;
    pthread_create(&thread, NULL, send_in_background, &first);
    struct timespec wait = {0, 400 * 1000 * 1000};
    nanosleep(&wait, NULL);
    cr_assert_not(atomic_load(&first.done), "answered before its transaction could commit");

    struct reply *second = post("/v1/track", "{\"userId\":\"u2\",\"event\":\"E\"}");
    cr_assert(has_header(second, "Retry-After: "), "%s", second->headers);
    expect(second, 503, "queue full");

    PQclear(PQexec(blocker, "COMMIT"));
    PQfinish(blocker);
    pthread_join(thread, NULL);
    expect(first.reply, 200, NULL);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'blocked'"), 1);
    cr_assert_eq(count("SELECT count(*) FROM events"), 1, "the refused call was not stored");
}

Test(http, a_refusal_is_answered_even_when_the_body_was_not_read)
{
    /* Decided before the body arrives, sent after it was read: not a connection reset. */
    size_t n = 100 * 1024;
    char *body = malloc(n);
    memset(body, ' ', n);
    body[0] = '{';
    body[n - 1] = '}';
    expect(request("POST", "/v1/track", "0123456789abcdef0123456789abcdef01234567", body, n), 401,
           "Unauthorized request");
    expect(request("POST", "/nowhere", write_key, body, n), 404, "no such endpoint");
    free(body);
}

Test(http, a_flood_of_invalid_items_is_capped)
{
    char body[4096] = "{\"batch\":[";
    for (int i = 0; i < 300; i++)
        strcat(body, i ? ",1" : "1");
    strcat(body, "]}");
    expect(post("/v1/batch", body), 400, "200 more calls were refused");
    cr_assert_eq(count("SELECT count(*) FROM rejected_requests"), 101);
}

Test(http, track_v1_and_pipelines_keys_do_not_open_each_other)
{
    const char *event = "{\"name\":\"E\"}";
    expect(request("POST", "/api/v1/customers/u1/events", write_key, event, strlen(event)), 401,
           "Unauthorized request");
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);
}

Test(http, metrics_count_requests_by_route_and_status_without_secrets)
{
    expect(post("/v1/track", "{\"userId\":\"m1\",\"event\":\"E\"}"), 200, NULL);
    expect(post("/v1/track", "{\"userId\":\"m1\"}"), 400, NULL);
    const char *expected[] = {
        "trackd_http_requests_total{route=\"POST /v1/track\",status=\"200\"} 1\n",
        "trackd_http_requests_total{route=\"POST /v1/track\",status=\"400\"} 1\n",
        "trackd_calls_accepted_total 1\n",
        "trackd_calls_rejected_total 1\n",
        "trackd_write_batch_size_count ",
        "trackd_write_commit_seconds_bucket{le=\"+Inf\"} ",
        "trackd_write_queue_depth 0\n",
        "trackd_database_up 1\n",
        "trackd_rule_evaluations_total ",
        "trackd_deliveries_total{outcome=\"sent\"} ",
    };
    /* A request is counted when libmicrohttpd reports it complete, which may come just after
     * the client has read its answer: the page is read again until it shows both (5 s at most). */
    struct reply *r = NULL;
    size_t missing = 0;
    for (int attempt = 0; attempt < 250; attempt++) {
        free(r);
        r = request("GET", "/metrics", NULL, NULL, 0);
        for (missing = 0; missing < sizeof expected / sizeof expected[0]; missing++)
            if (strstr(r->body, expected[missing]) == NULL)
                break;
        if (missing == sizeof expected / sizeof expected[0])
            break;
        struct timespec tick = {0, 20 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    cr_assert_eq(r->status, 200);
    cr_assert(has_header(r, "Content-Type: text/plain; version=0.0.4"), "%s", r->headers);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_assert(strstr(r->body, expected[i]) != NULL, "missing %s in\n%s", expected[i], r->body);
    cr_assert(strstr(r->body, write_key) == NULL, "no key on the page");
    cr_assert(strstr(r->body, "m1") == NULL, "no person on the page");
    free(r);
}

static void slow_setup(void)
{
    start_server_with(1024, 1);
}

TestSuite(slow_database, .init = slow_setup, .fini = teardown, .timeout = 60);

Test(slow_database, a_write_blocked_past_the_timeout_gets_503_and_shutdown_still_works)
{
    PGconn *blocker = PQconnectdb(url);
    cr_assert_eq(PQstatus(blocker), CONNECTION_OK);
    PQclear(PQexec(blocker, "BEGIN"));
    PQclear(PQexec(blocker, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));
    struct reply *r = post("/v1/track", "{\"userId\":\"u1\",\"event\":\"E\"}");
    cr_assert(has_header(r, "Retry-After: "), "%s", r->headers);
    expect(r, 503, "retry later");
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    expect(post("/v1/track", "{\"userId\":\"u1\",\"event\":\"E\"}"), 200, NULL);
}

/* ---- uploads: bodies being received are bounded in memory ---- */

/* Sends the head of a /v1/batch upload: with Content-Length `declared`, or chunked when 0. */
static int start_upload(size_t declared)
{
    int fd = raw_connect();
    char auth[128], head[512];
    basic_header(auth, sizeof auth);
    char length[64];
    snprintf(length, sizeof length,
             declared ? "Content-Length: %zu" : "Transfer-Encoding: chunked%.0zu", declared);
    int len = snprintf(head, sizeof head,
                       "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                       "Content-Type: application/json\r\n%s\r\n\r\n",
                       auth, length);
    raw_send(fd, head, (size_t)len);
    return fd;
}

/* Sends `n` bytes of a batch body: '{"batch":[' then spaces (the JSON is never finished). */
static void send_body(int fd, size_t n, bool chunked)
{
    char *data = malloc(n);
    memset(data, ' ', n);
    memcpy(data, "{\"batch\":[", 10);
    if (chunked) {
        char size_line[32];
        int len = snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        raw_send(fd, size_line, (size_t)len);
    }
    raw_send(fd, data, n);
    if (chunked)
        raw_send(fd, "\r\n", 2);
    free(data);
}

static void uploads_setup(void)
{
    harness_receive_max_bytes = 1024 * 1024;
    start_server(1024);
}

TestSuite(uploads, .init = uploads_setup, .fini = teardown, .timeout = 60);

/* A complete batch of small track calls named `event`, padded to about `size` bytes, with
 * `key` (NULL: none) as its writeKey, as the browser SDK sends it. */
static char *batch_named(size_t size, const char *event, const char *key, size_t *len)
{
    char *body = malloc(size + 256);
    size_t used = (size_t)sprintf(body, "{\"batch\":[");
    for (int i = 0; used + 200 < size; i++)
        used += (size_t)sprintf(body + used,
                                "%s{\"type\":\"track\",\"userId\":\"u%d\",\"event\":\"%s\","
                                "\"properties\":{\"pad\":\"%080d\"}}",
                                i ? "," : "", i, event, i);
    used += (size_t)sprintf(body + used, "]%s%s%s}", key ? ",\"writeKey\":\"" : "", key ? key : "",
                            key ? "\"" : "");
    *len = used;
    return body;
}

static char *batch_body(size_t size, size_t *len)
{
    return batch_named(size, "E", NULL, len);
}

Test(uploads, bodies_beyond_the_receive_budget_get_503_without_being_buffered)
{
    /* Two uploads in progress hold 2 x 450 KB of the 1 MiB for bodies being received: what
     * they have sent, in buffers grown up to their declared length. */
    int held[2];
    for (int i = 0; i < 2; i++) {
        held[i] = start_upload(450000);
        send_body(held[i], 400000, false);
    }
    struct timespec settle = {0, 300 * 1000 * 1000};
    nanosleep(&settle, NULL);

    /* A third, declaring 300 KB, is refused once its body has been read (and dropped). */
    size_t len = 0;
    char *body = batch_body(300 * 1024, &len);
    struct reply *r = post("/v1/batch", body);
    cr_assert(has_header(r, "Retry-After: "), "%s", r->headers);
    expect(r, 503, "too many uploads in progress");

    /* A chunked one, with no declared length, is refused when its buffer would outgrow it. */
    int chunked = start_upload(0);
    send_body(chunked, 300 * 1024, true);
    raw_send(chunked, "0\r\n\r\n", 5);
    char head[1024];
    cr_assert_eq(raw_status(chunked, head, sizeof head), 503, "%s", head);
    cr_assert(strstr(head, "Retry-After: ") != NULL, "%s", head);
    close(chunked);

    /* Small requests still fit; and once the uploads end, the large one is served. */
    expect(post("/v1/track", "{\"userId\":\"u1\",\"event\":\"small\"}"), 200, NULL);
    for (int i = 0; i < 2; i++)
        close(held[i]);
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        nanosleep(&settle, NULL);
        r = post("/v1/batch", body);
        status = r->status;
        free(r);
    }
    cr_assert_eq(status, 200, "the large upload once the others ended");
    free(body);
    cr_assert_gt(count("SELECT count(*) FROM events WHERE name = 'E'"), 1000);
}

/* The head of a /v1/b upload without credentials (the SDKs' key would be in the body), declaring
 * `declared` bytes. */
static int start_keyless_upload(size_t declared)
{
    int fd = raw_connect();
    char head[256];
    int len = snprintf(head, sizeof head,
                       "POST /v1/b HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                       "Content-Length: %zu\r\n\r\n",
                       declared);
    raw_send(fd, head, (size_t)len);
    return fd;
}

Test(uploads, idle_keyless_uploads_declaring_the_whole_budget_do_not_block_others)
{
    /* Three clients without credentials each declare nearly 500 KB (together more than the
     * 1 MiB budget) and send one byte. Memory is reserved for bytes that arrive, not for
     * lengths declared: they hold a few KB, and everyone else's uploads go through. */
    int idle[3];
    for (int i = 0; i < 3; i++) {
        idle[i] = start_keyless_upload(511999);
        raw_send(idle[i], "{", 1);
    }
    struct timespec settle = {0, 300 * 1000 * 1000};
    nanosleep(&settle, NULL);

    size_t len = 0;
    char *body = batch_body(300 * 1024, &len);
    expect(post("/v1/batch", body), 200, "{}");
    free(body);
    char *keyed = batch_named(200 * 1024, "keyed", write_key, &len);
    expect(request("POST", "/v1/b", NULL, keyed, len), 200, "{}");
    free(keyed);
    cr_assert_gt(count("SELECT count(*) FROM events WHERE name = 'keyed'"), 100);
    for (int i = 0; i < 3; i++)
        close(idle[i]);
}

Test(uploads, bodies_without_credentials_hold_at_most_half_the_budget)
{
    /* One keyless upload holds 450 KB of the 512 KB that bodies not authenticated yet may hold
     * together (half of the 1 MiB budget). */
    int held = start_keyless_upload(450000);
    send_body(held, 400000, false);
    struct timespec settle = {0, 300 * 1000 * 1000};
    nanosleep(&settle, NULL);

    /* Another keyless one of 100 KB finds no room... */
    size_t keyed_len = 0, len = 0;
    char *keyed = batch_named(100 * 1024, "keyed", write_key, &keyed_len);
    struct reply *r = request("POST", "/v1/b", NULL, keyed, keyed_len);
    cr_assert(has_header(r, "Retry-After: "), "%s", r->headers);
    expect(r, 503, "retry later");
    /* ... while a caller with its key in the header still does, for three times as much. */
    char *body = batch_body(300 * 1024, &len);
    expect(post("/v1/batch", body), 200, "{}");
    free(body);

    /* Once the keyless upload ends, keyless uploads fit again. */
    close(held);
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        nanosleep(&settle, NULL);
        r = request("POST", "/v1/b", NULL, keyed, keyed_len);
        status = r->status;
        free(r);
    }
    cr_assert_eq(status, 200, "a keyless upload once the other ended");
    free(keyed);
}

/* ---- a request waiting for the writers is answered within about the write timeout ---- */

#define DEADLINE_WRITE_TIMEOUT 4

static void deadline_setup(void)
{
    start_server_with(1024, DEADLINE_WRITE_TIMEOUT);
}

TestSuite(queue_deadline, .init = deadline_setup, .fini = teardown, .timeout = 60);

struct timed {
    struct reply *reply;
    double seconds; /* from sending to the answer */
    int index;
};

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *send_timed(void *arg)
{
    struct timed *t = arg;
    char body[128];
    snprintf(body, sizeof body, "{\"userId\":\"u%d\",\"event\":\"queued\"}", t->index);
    double started = monotonic_seconds();
    t->reply = post("/v1/track", body);
    t->seconds = monotonic_seconds() - started;
    return NULL;
}

Test(queue_deadline, requests_stuck_behind_a_blocked_writer_get_503_within_the_write_timeout)
{
    /* Both writers block on the lock with the first two requests; the next ones wait in the
     * queue behind them. Before, those were taken only when a writer gave up (after the write
     * timeout) and then waited a whole write timeout more: about twice the timeout in all. */
    PGconn *blocker = PQconnectdb(url);
    cr_assert_eq(PQstatus(blocker), CONNECTION_OK);
    PQclear(PQexec(blocker, "BEGIN"));
    PQclear(PQexec(blocker, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));

    enum { SENT = 6 };
    struct timed sent[SENT];
    pthread_t threads[SENT];
    for (int i = 0; i < SENT; i++) {
        sent[i] = (struct timed){.index = i};
        pthread_create(&threads[i], NULL, send_timed, &sent[i]);
        struct timespec gap = {0, 300 * 1000 * 1000};
        nanosleep(&gap, NULL);
    }
    for (int i = 0; i < SENT; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < SENT; i++) {
        cr_log_info("request %d: %ld after %.2f s", i, sent[i].reply->status, sent[i].seconds);
        /* Generous: the timeout, plus under a second of rounding, plus a loaded machine. */
        cr_expect_lt(sent[i].seconds, DEADLINE_WRITE_TIMEOUT + 2.0,
                     "request %d answered after %.2f s (write timeout %d s)", i, sent[i].seconds,
                     DEADLINE_WRITE_TIMEOUT);
        cr_expect(has_header(sent[i].reply, "Retry-After: "), "%s", sent[i].reply->headers);
        expect(sent[i].reply, 503, "retry later");
    }

    /* Nothing answered 503 is written afterwards, and writes go through again. */
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    expect(post("/v1/track", "{\"userId\":\"after\",\"event\":\"E\"}"), 200, NULL);
    struct timespec settle = {0, 500 * 1000 * 1000};
    nanosleep(&settle, NULL);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'queued'"), 0);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'E'"), 1);
}
