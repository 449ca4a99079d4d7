#include "http_harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "app/app.h"
#include "store/store.h"
#include "testdb.h"

char *url;
struct app *app;
char write_key[41], other_write_key[41];
char site_credentials[64];
char base[64];
size_t harness_receive_max_bytes;
unsigned harness_conns_per_address;
unsigned harness_uploads_per_address;
const char *harness_public_url;
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
        .conns_per_address = harness_conns_per_address,
        .uploads_per_address = harness_uploads_per_address,
        .public_url = (char *)harness_public_url,
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

int raw_connect_from(const char *source)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    if (source != NULL) {
        struct sockaddr_in local = {.sin_family = AF_INET};
        cr_assert_eq(inet_pton(AF_INET, source, &local.sin_addr), 1, "%s", source);
        cr_assert_eq(bind(fd, (struct sockaddr *)&local, sizeof local), 0, "bind to %s", source);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)app_port(app))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    struct timeval wait = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    return fd;
}

int raw_connect(void)
{
    return raw_connect_from(NULL);
}

void raw_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send failed");
        data += n;
        len -= (size_t)n;
    }
}

long raw_status(int fd, char *head, size_t size)
{
    size_t used = 0;
    head[0] = '\0';
    while (used + 1 < size && strstr(head, "\r\n\r\n") == NULL) {
        ssize_t n = recv(fd, head + used, size - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        head[used] = '\0';
    }
    long status = 0;
    sscanf(head, "HTTP/1.1 %ld", &status);
    return status;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool raw_read_to_close(int fd, double seconds, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    double deadline = now_seconds() + seconds;
    for (;;) {
        double left = deadline - now_seconds();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            return false;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return true; /* closed (or reset) */
        size_t take = (size_t)n < size - 1 - used ? (size_t)n : size - 1 - used;
        memcpy(out + used, chunk, take);
        used += take;
        out[used] = '\0';
    }
}

void basic_header(char *out, size_t size)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[64];
    size_t n = (size_t)snprintf(plain, sizeof plain, "%s:", write_key), used = 0;
    used += (size_t)snprintf(out, size, "Authorization: Basic ");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)plain[i] << 16;
        v |= i + 1 < n ? (unsigned char)plain[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned char)plain[i + 2] : 0;
        char quad[5] = {digits[(v >> 18) & 63], digits[(v >> 12) & 63],
                        i + 1 < n ? digits[(v >> 6) & 63] : '=', i + 2 < n ? digits[v & 63] : '=',
                        '\0'};
        used += (size_t)snprintf(out + used, size - used, "%s", quad);
    }
}
