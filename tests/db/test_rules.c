/*
 * Rules from file to delivery, in this process: the CLI's loader, the rule cache, the evaluator
 * and a delivery worker, against a webhook receiver of our own (a libmicrohttpd daemon on a free
 * loopback port). In-process so that the sanitizer and valgrind runs (scripts/test.sh) watch the
 * engine and delivery code, which the compat tests only reach through the trackd binary.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/cli_internal.h"
#include "delivery/delivery_worker.h"
#include "engine/evaluator.h"
#include "engine/rule_cache.h"
#include "testdb.h"
#include "teststore.h"

static struct teststore t;
static char dir[] = "/tmp/trackd-rules-XXXXXX";
static char rule_path[128];

/* ---- the webhook receiver ---- */

/* What the receiver saw; shared with the daemon's thread under `lock`. */
static struct {
    pthread_mutex_t lock;
    int failures_left; /* answer 503 to this many requests first */
    int requests;
    char idempotency_key[32]; /* of every request: they must all carry the same */
    bool keys_differ;
    char body[1024]; /* of the last request */
    char path[256];  /* of the last request, as sent (not unescaped) */
    char ref[128];   /* its query's ref and token, as sent */
    char token[32];
    size_t authorization_len; /* of its Authorization header; 0 when absent */
    bool empty_header;        /* it had X-Empty, with an empty value */
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct MHD_Daemon *receiver;
static unsigned receiver_port;

struct upload {
    char data[1024];
    size_t len;
};

static enum MHD_Result receive(void *cls, struct MHD_Connection *connection, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)cls, (void)method, (void)version;
    struct upload *upload = *con_cls;
    if (upload == NULL) {
        *con_cls = calloc(1, sizeof *upload);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        size_t take = sizeof upload->data - 1 - upload->len;
        take = *upload_data_size < take ? *upload_data_size : take;
        memcpy(upload->data + upload->len, upload_data, take);
        upload->len += take;
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *key = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Idempotency-Key");
    pthread_mutex_lock(&seen.lock);
    if (seen.requests++ == 0)
        snprintf(seen.idempotency_key, sizeof seen.idempotency_key, "%s", key ? key : "");
    else if (key == NULL || strcmp(key, seen.idempotency_key) != 0)
        seen.keys_differ = true;
    snprintf(seen.body, sizeof seen.body, "%s", upload->data);
    snprintf(seen.path, sizeof seen.path, "%s", url);
    const char *ref = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "ref");
    const char *token = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "token");
    const char *authorization =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
    const char *empty = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Empty");
    snprintf(seen.ref, sizeof seen.ref, "%s", ref ? ref : "(none)");
    snprintf(seen.token, sizeof seen.token, "%s", token ? token : "(none)");
    seen.authorization_len = authorization ? strlen(authorization) : 0;
    seen.empty_header = empty != NULL && *empty == '\0';
    unsigned status = MHD_HTTP_OK;
    if (seen.failures_left > 0) {
        seen.failures_left--;
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    pthread_mutex_unlock(&seen.lock);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)connection, (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

/* Leaves the path and query as sent, so that tests see the percent-encoding trackd wrote. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
    (void)cls, (void)connection;
    return strlen(text);
}

static void setup(void)
{
    teststore_open(&t);
    cr_assert_not_null(mkdtemp(dir));
    struct sockaddr_in loopback = {.sin_family = AF_INET, .sin_port = 0};
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    receiver = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                receive, NULL, MHD_OPTION_SOCK_ADDR, &loopback,
                                MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
    cr_assert_not_null(receiver);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(receiver, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert(info != NULL && info->port != 0);
    receiver_port = info->port;
}

static void teardown(void)
{
    MHD_stop_daemon(receiver);
    if (rule_path[0] != '\0')
        unlink(rule_path);
    rmdir(dir);
    teststore_close(&t);
}

TestSuite(rules, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static int load(const char *path)
{
    char *paths[] = {(char *)path};
    return cli_rules_load(t.url, "test", paths, 1);
}

static size_t candidates(const struct rule_cache *cache, int64_t workspace_id,
                         enum trigger_event_type type, const char *event)
{
    const struct cached_rule *first = NULL;
    size_t count = 0;
    rule_cache_candidates(cache, workspace_id, type, event, &first, &count);
    cr_assert_eq(first == NULL, count == 0);
    return count;
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* ---- tests ---- */

Test(rules, an_empty_rule_set_loads_and_offers_no_candidates)
{
    struct rule_cache cache = {0};
    cr_assert(rule_cache_refresh(&cache, t.store), "%s", store_last_error(t.store));
    cr_assert_eq(cache.count, 0);
    cr_assert_eq(candidates(&cache, t.workspace_id, TRIGGER_TYPE_EVENT, "signed_up"), 0);
    rule_cache_clear(&cache);
}

Test(rules, a_directory_without_rule_files_is_refused_and_changes_nothing)
{
    cr_assert_eq(load(dir), CLI_EXIT_RUNTIME);
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM rules"), 0);
}

Test(rules, the_shipped_rules_load_and_are_found_by_their_trigger)
{
    cr_assert_eq(load(RULES_DIR), CLI_EXIT_OK);
    struct rule_cache cache = {0};
    cr_assert(rule_cache_refresh(&cache, t.store), "%s", store_last_error(t.store));
    cr_assert_eq((long)cache.count, teststore_count(&t, "SELECT count(*) FROM rules"));
    cr_assert_eq(candidates(&cache, t.workspace_id, TRIGGER_TYPE_EVENT, "signed_up"), 3);
    cr_assert_eq(candidates(&cache, t.workspace_id, TRIGGER_TYPE_EVENT, "purchase"), 1);
    cr_assert_eq(candidates(&cache, t.workspace_id, TRIGGER_TYPE_PAGE, "signed_up"), 0);
    cr_assert_eq(candidates(&cache, t.workspace_id + 1, TRIGGER_TYPE_EVENT, "signed_up"), 0);
    rule_cache_clear(&cache);
}

Test(rules, a_matching_event_fires_its_webhook_which_is_retried_with_the_same_key)
{
    snprintf(rule_path, sizeof rule_path, "%s/pro-signup.json", dir);
    FILE *f = fopen(rule_path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"name\": \"pro-signup\", \"trigger\": {\"event\": \"signed_up\"},"
            " \"conditions\": [{\"field\": \"event.plan\", \"op\": \"eq\", \"value\": \"pro\"}],"
            " \"action\": {\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%u/hooks/signup\","
            " \"body\": {\"who\": \"{{ person.id }}\", \"plan\": \"{{ event.plan }}\"}}}",
            receiver_port);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(load(rule_path), CLI_EXIT_OK);
    teststore_pipelines(&t, NULL, PIPELINES_TRACK,
                        "{\"userId\":\"ann\",\"event\":\"signed_up\",\"properties\":{\"plan\":"
                        "\"free\"}}");
    teststore_pipelines(&t, NULL, PIPELINES_TRACK,
                        "{\"userId\":\"bob\",\"event\":\"signed_up\",\"properties\":{\"plan\":"
                        "\"pro\"}}");
    seen.failures_left = 1;

    struct evaluator *evaluator = evaluator_start(t.url, "UTC");
    cr_assert_not_null(evaluator);
    struct delivery_options options = {
        .database_url = t.url,
        .concurrency = 4,
        .max_attempts = 3,
        .retry_base_s = 1,
        .retry_cap_s = 1,
        .connect_timeout_s = 5,
        .request_timeout_s = 10,
    };
    struct delivery_worker *worker = delivery_start(&options);
    cr_assert_not_null(worker);
    long sent = 0;
    for (int waited = 0; waited < 30000 && sent == 0; waited += 100) {
        sleep_ms(100);
        sent = teststore_count(&t, "SELECT count(*) FROM deliveries WHERE status = 'sent'");
    }
    delivery_stop(worker);
    evaluator_stop(evaluator);

    cr_assert_eq(sent, 1, "no delivery was sent within 30 s");
    teststore_expect(&t, "SELECT count(*) FROM deliveries", "1");
    teststore_expect(&t, "SELECT attempts FROM deliveries", "2");
    pthread_mutex_lock(&seen.lock);
    cr_assert_eq(seen.requests, 2, "the receiver got %d requests", seen.requests);
    cr_assert(!seen.keys_differ, "the retry carried another Idempotency-Key");
    cr_assert(strstr(seen.body, "\"who\":\"bob\"") && strstr(seen.body, "\"plan\":\"pro\""),
              "body %s", seen.body);
    char *id = testdb_query_value(t.url, "SELECT id FROM deliveries");
    cr_assert_str_eq(seen.idempotency_key, id);
    free(id);
    pthread_mutex_unlock(&seen.lock);
}

/* Writes `definition` (a printf format, given the receiver's port) as the rule file. */
static void write_rule(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void write_rule(const char *fmt, ...)
{
    snprintf(rule_path, sizeof rule_path, "%s/hook.json", dir);
    FILE *f = fopen(rule_path, "w");
    cr_assert_not_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    cr_assert_eq(fclose(f), 0);
}

/* Runs an evaluator and a delivery worker until `done_sql` counts `want` rows (or 30 s). */
static long run_until(const char *done_sql, long want)
{
    struct evaluator *evaluator = evaluator_start(t.url, "UTC");
    cr_assert_not_null(evaluator);
    struct delivery_options options = {
        .database_url = t.url,
        .concurrency = 4,
        .max_attempts = 3,
        .retry_base_s = 1,
        .retry_cap_s = 1,
        .connect_timeout_s = 5,
        .request_timeout_s = 10,
    };
    struct delivery_worker *worker = delivery_start(&options);
    cr_assert_not_null(worker);
    long done = 0;
    for (int waited = 0; waited < 30000 && done < want; waited += 100) {
        sleep_ms(100);
        done = teststore_count(&t, done_sql);
    }
    delivery_stop(worker);
    evaluator_stop(evaluator);
    return done;
}

Test(rules, client_values_stay_inside_the_webhook_url_and_headers_arrive_whole)
{
    write_rule(
        "{\"name\": \"hook\", \"trigger\": {\"event\": \"signed_up\"},"
        " \"action\": {\"type\": \"webhook\","
        " \"url\": \"http://127.0.0.1:%u/u/{{ person.id }}?ref={{ event.ref }}&token=s3cret\","
        " \"headers\": {\"Authorization\": \"Bearer %0400d\", \"X-Empty\": \"{{ event.no }}\"}}}",
        receiver_port, 7);
    cr_assert_eq(load(rule_path), CLI_EXIT_OK);
    teststore_pipelines(&t, NULL, PIPELINES_TRACK,
                        "{\"userId\":\"../../admin?x=1#\",\"event\":\"signed_up\","
                        "\"properties\":{\"ref\":\"a&b=c #d\"}}");
    cr_assert_eq(run_until("SELECT count(*) FROM deliveries WHERE status = 'sent'", 1), 1,
                 "no delivery was sent within 30 s");
    pthread_mutex_lock(&seen.lock);
    cr_assert_eq(seen.requests, 1);
    cr_assert_str_eq(seen.path, "/u/..%2F..%2Fadmin%3Fx%3D1%23");
    cr_assert_str_eq(seen.ref, "a%26b%3Dc%20%23d");
    cr_assert_str_eq(seen.token, "s3cret", "the rule's own query is kept");
    cr_assert_eq(seen.authorization_len, strlen("Bearer ") + 400, "not cut");
    cr_assert(seen.empty_header, "the header that renders empty is sent empty");
    pthread_mutex_unlock(&seen.lock);
}

Test(rules, a_request_that_cannot_be_sent_is_dead_at_once_with_the_reason)
{
    write_rule("{\"name\": \"hook\", \"trigger\": {\"event\": \"signed_up\"},"
               " \"action\": {\"type\": \"webhook\","
               " \"url\": \"http://127.0.0.1:%u/long?q={{ event.q }}\","
               " \"headers\": {\"X-Note\": \"{{ event.note }}\"}}}",
               receiver_port);
    cr_assert_eq(load(rule_path), CLI_EXIT_OK);
    char body[12000];
    snprintf(body, sizeof body,
             "{\"userId\":\"long\",\"event\":\"signed_up\",\"properties\":{\"q\":\"%09000d\"}}", 1);
    teststore_pipelines(&t, NULL, PIPELINES_TRACK, body);
    teststore_pipelines(&t, NULL, PIPELINES_TRACK,
                        "{\"userId\":\"crlf\",\"event\":\"signed_up\","
                        "\"properties\":{\"q\":\"x\",\"note\":\"a\\r\\nX-Injected: 1\"}}");
    cr_assert_eq(run_until("SELECT count(*) FROM deliveries WHERE status = 'dead'", 2), 2,
                 "the deliveries are not dead within 30 s");
    teststore_expect(&t, "SELECT string_agg(attempts::text, ',') FROM deliveries", "1,1");
    char url[64], expected[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/long?q=", receiver_port);
    snprintf(expected, sizeof expected, "the rendered URL is %zu bytes long, more than 8192",
             strlen(url) + 9000);
    teststore_expect(&t,
                     "SELECT d.last_error FROM deliveries d JOIN people p ON p.id = d.person_id"
                     " WHERE p.customer_id = 'long'",
                     expected);
    teststore_expect(&t,
                     "SELECT d.last_error FROM deliveries d JOIN people p ON p.id = d.person_id"
                     " WHERE p.customer_id = 'crlf'",
                     "action.headers.X-Note: the rendered value holds a line break (CR or LF) or "
                     "a NUL byte, which an HTTP header cannot carry");
    pthread_mutex_lock(&seen.lock);
    cr_assert_eq(seen.requests, 0, "nothing was sent");
    pthread_mutex_unlock(&seen.lock);
}
