#include "http_harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"
#include "store/store.h"
#include "testdb.h"

char *url;
struct app *app;
char write_key[41], other_write_key[41];
char site_credentials[64];
char base[64];
size_t harness_receive_max_bytes;
const char *harness_tls_cert;
const char *harness_tls_key;
const char *harness_ca_file;

void start_server_with(unsigned queue_max_requests, unsigned write_timeout)
{
    url = testdb_create();
    char error[512];
    struct store *store = store_connect(url, error, sizeof error);
    cr_assert_not_null(store, "%s", error);
    struct store_workspace ws;
    char api_key[41];
    cr_assert_eq(store_create_workspace(store, "alpha", &ws, api_key, write_key), 1);
    snprintf(site_credentials, sizeof site_credentials, "%s:%s", ws.site_id, api_key);
    cr_assert_eq(store_create_workspace(store, "beta", &ws, api_key, other_write_key), 1);
    store_close(store);

    static struct config cfg;
    cfg = (struct config){
        .database_url = url,
        .listen_host = "127.0.0.1",
        .listen_port = 0,
        .log_level = LOG_LEVEL_WARN,
        .http_threads = 2,
        .max_connections = 64,
        .connection_timeout = 10,
        .queue_max_requests = queue_max_requests,
        .queue_max_bytes = 8 * 1024 * 1024,
        .write_batch_max = 500,
        .writers = 2,
        .write_timeout = write_timeout,
        .receive_max_bytes = harness_receive_max_bytes,
        .tls_cert = (char *)harness_tls_cert,
        .tls_key = (char *)harness_tls_key,
    };
    log_current_level = LOG_LEVEL_WARN;
    app = app_start(&cfg, (struct app_parts){.http = true, .workers = false}, error, sizeof error);
    cr_assert_not_null(app, "%s", error);
    snprintf(base, sizeof base, "%s://127.0.0.1:%u", harness_tls_cert ? "https" : "http",
             app_port(app));
}

void start_server(unsigned queue_max_requests)
{
    start_server_with(queue_max_requests, 5);
}

void harness_stop(void)
{
    app_stop(app);
    testdb_drop(url);
}

/* What is left of a chunked upload. */
struct upload {
    const char *data;
    size_t left;
};

static size_t read_upload(char *buffer, size_t size, size_t n, void *cls)
{
    struct upload *u = cls;
    size_t take = size * n < 1000 ? size * n : 1000;
    if (take > u->left)
        take = u->left;
    memcpy(buffer, u->data, take);
    u->data += take;
    u->left -= take;
    return take;
}

static size_t collect_body(char *data, size_t size, size_t n, void *cls)
{
    struct reply *r = cls;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->body_len;
    memcpy(r->body + r->body_len, data, len < room ? len : room);
    r->body_len += len < room ? len : room;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t collect_header(char *data, size_t size, size_t n, void *cls)
{
    struct reply *r = cls;
    size_t len = size * n;
    size_t room = sizeof r->headers - 1 - r->headers_len;
    memcpy(r->headers + r->headers_len, data, len < room ? len : room);
    r->headers_len += len < room ? len : room;
    r->headers[r->headers_len] = '\0';
    return len;
}

struct reply *request_with(const char *method, const char *path, const char *key, const char *body,
                           size_t body_len, const char *const *extra)
{
    struct reply *r = calloc(1, sizeof *r);
    CURL *curl = curl_easy_init();
    char target[256];
    snprintf(target, sizeof target, "%s%s", base, path);
    curl_easy_setopt(curl, CURLOPT_URL, target);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    bool chunked = false;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        headers = curl_slist_append(headers, extra[i]);
        chunked = chunked || strcasecmp(extra[i], "Transfer-Encoding: chunked") == 0;
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (harness_ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, harness_ca_file);
    if (key != NULL) {
        char userpwd[64];
        snprintf(userpwd, sizeof userpwd, strchr(key, ':') ? "%s" : "%s:", key);
        curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
    }
    struct upload upload = {body, body_len};
    if (body != NULL && chunked) {
        /* Read in small pieces, so that the server sees the body arrive in several chunks. */
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
        curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    } else if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(curl);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return r;
}

struct reply *request(const char *method, const char *path, const char *key, const char *body,
                      size_t body_len)
{
    return request_with(method, path, key, body, body_len, NULL);
}

struct reply *post(const char *path, const char *body)
{
    return request("POST", path, write_key, body, strlen(body));
}

bool has_header(const struct reply *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

long count(const char *sql)
{
    char *value = testdb_query_value(url, sql);
    long n = value ? atol(value) : -1;
    free(value);
    return n;
}

void expect(struct reply *r, long status, const char *body_part)
{
    cr_assert_eq(r->status, status, "status %ld, body %s", r->status, r->body);
    cr_assert(has_header(r, "Content-Type: application/json"), "headers: %s", r->headers);
    if (body_part != NULL)
        cr_assert(strstr(r->body, body_part) != NULL, "'%s' lacks '%s'", r->body, body_part);
    free(r);
}
