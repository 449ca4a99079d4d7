/* Compressed bodies and HTTPS against the real server: what Customer.io's Android SDK sends
 * (gzip'd, chunked, text/plain, the write key in the body) and what an attacker might. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "http_harness.h"

static void setup(void)
{
    start_server(1024);
}

static void teardown(void)
{
    harness_stop();
}

TestSuite(compressed, .init = setup, .fini = teardown, .timeout = 60);

/* `len` bytes compressed: windowBits 31 is gzip, 15 zlib, -15 raw deflate. Caller frees. */
static char *squeeze(const char *data, size_t len, int window_bits, size_t *out_len)
{
    z_stream s = {0};
    cr_assert_eq(deflateInit2(&s, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&s, (uLong)len) + 32;
    char *out = malloc(cap);
    s.next_in = (Bytef *)data;
    s.avail_in = (uInt)len;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    *out_len = cap - s.avail_out;
    deflateEnd(&s);
    return out;
}

/* A batch as analytics-kotlin uploads it, with `writeKey` (NULL: none) in the body. */
static char *android_batch(const char *key, const char *event)
{
    char *text = NULL;
    cr_assert(asprintf(&text,
                       "{\"batch\":[{\"type\":\"track\",\"event\":\"%s\",\"userId\":\"\","
                       "\"anonymousId\":\"5d3b1f0e-0000-4000-8000-000000000001\","
                       "\"messageId\":\"%s-1\",\"timestamp\":\"2026-12-05T08:00:00.123Z\","
                       "\"integrations\":{},\"context\":{\"library\":{\"name\":"
                       "\"analytics-kotlin\",\"version\":\"1.19.1\"}}}],"
                       "\"sentAt\":\"2026-12-05T08:00:01.000Z\"%s%s%s}",
                       event, event, key ? ",\"writeKey\":\"" : "", key ? key : "",
                       key ? "\"" : "") > 0);
    return text;
}

static const char *const android_headers[] = {"Content-Type: text/plain", "Content-Encoding: gzip",
                                              "Transfer-Encoding: chunked",
                                              "User-Agent: analytics-kotlin/1.19.1", NULL};

Test(compressed, a_gzipped_chunked_batch_with_the_key_in_its_body_is_stored)
{
    char *body = android_batch(write_key, "Application Installed");
    size_t len = 0;
    char *gz = squeeze(body, strlen(body), 31, &len);
    expect(request_with("POST", "/v1/b", NULL, gz, len, android_headers), 200, "{}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'Application Installed'"
                       " AND anonymous_id = '5d3b1f0e-0000-4000-8000-000000000001'"),
                 1);
    free(gz);
    free(body);

    /* The same upload with another workspace's unknown key, or none, is refused. */
    body = android_batch("0123456789abcdef0123456789abcdef01234567", "Refused");
    gz = squeeze(body, strlen(body), 31, &len);
    expect(request_with("POST", "/v1/b", NULL, gz, len, android_headers), 401,
           "Unauthorized request");
    free(gz);
    free(body);
    body = android_batch(NULL, "Keyless");
    gz = squeeze(body, strlen(body), 31, &len);
    expect(request_with("POST", "/v1/b", NULL, gz, len, android_headers), 401,
           "Unauthorized request");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name IN ('Refused', 'Keyless')"), 0);
    free(gz);
    free(body);
}

Test(compressed, deflate_in_both_forms_works_on_every_api)
{
    const char *track = "{\"name\":\"deflated\",\"data\":{\"n\":1}}";
    const char *const deflate[] = {"Content-Encoding: deflate", NULL};
    int forms[] = {15, -15};
    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        char *z = squeeze(track, strlen(track), forms[i], &len);
        expect(
            request_with("POST", "/api/v1/customers/u1/events", site_credentials, z, len, deflate),
            200, "{}");
        free(z);
    }
    const char *pipelines = "{\"userId\":\"u1\",\"event\":\"gzipped\"}";
    const char *const gzip[] = {"Content-Encoding: gzip", NULL};
    size_t len = 0;
    char *gz = squeeze(pipelines, strlen(pipelines), 31, &len);
    expect(request_with("POST", "/v1/track", write_key, gz, len, gzip), 200, "{}");
    free(gz);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name IN ('deflated', 'gzipped')"), 3);
}

Test(compressed, corrupt_cut_short_and_unknown_encodings_are_refused_by_name)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"never\"}";
    size_t len = 0;
    char *gz = squeeze(body, strlen(body), 31, &len);
    const char *const gzip[] = {"Content-Encoding: gzip", NULL};
    expect(request_with("POST", "/v1/track", write_key, gz, len - 4, gzip), 400,
           "Content-Encoding");
    expect(request_with("POST", "/v1/track", write_key, body, strlen(body), gzip), 400,
           "Content-Encoding");
    const char *const brotli[] = {"Content-Encoding: br", NULL};
    expect(request_with("POST", "/v1/track", write_key, gz, len, brotli), 415,
           "Content-Encoding 'br' is not supported");
    const char *const gzip_chunked[] = {"Content-Encoding: gzip", "Transfer-Encoding: chunked",
                                        NULL};
    gz[len / 2] ^= 0x55;
    struct reply *r = request_with("POST", "/v1/track", write_key, gz, len, gzip_chunked);
    cr_assert(r->status == 400, "status %ld: %s", r->status, r->body);
    cr_assert(strstr(r->body, "Content-Encoding") != NULL, "%s", r->body);
    free(r);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'never'"), 0);
    free(gz);
}

static void small_budget_setup(void)
{
    harness_receive_max_bytes = 1024 * 1024;
    start_server(1024);
}

TestSuite(bombs, .init = small_budget_setup, .fini = teardown, .timeout = 60);

Test(bombs, a_bomb_gets_413_and_gives_its_memory_back)
{
    /* 64 MB of zeros inside a batch: about 64 KB on the wire. */
    size_t plain_len = 64u << 20, len = 0;
    char *plain = malloc(plain_len);
    memset(plain, ' ', plain_len);
    memcpy(plain, "{\"batch\":[", 10);
    char *gz = squeeze(plain, plain_len, 31, &len);
    free(plain);
    cr_assert_lt(len, 256u * 1024);
    const char *const gzip_chunked[] = {"Content-Encoding: gzip", "Transfer-Encoding: chunked",
                                        NULL};
    const char *const gzip[] = {"Content-Encoding: gzip", NULL};
    /* More bombs than the 1 MB receive budget could hold at once if any leaked. */
    for (int i = 0; i < 6; i++)
        expect(request_with("POST", "/v1/batch", write_key, gz, len, i % 2 ? gzip : gzip_chunked),
               413, "once inflated");
    free(gz);

    /* The whole budget is free again: a valid 400 KB batch, compressed, is taken. */
    size_t items = 100, item_len = 4000;
    char *batch = malloc(items * (item_len + 200) + 64);
    size_t at = (size_t)sprintf(batch, "{\"batch\":[");
    for (size_t i = 0; i < items; i++)
        at += (size_t)sprintf(batch + at,
                              "%s{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"big\","
                              "\"messageId\":\"big-%zu\",\"properties\":{\"pad\":\"%0*d\"}}",
                              i ? "," : "", i, (int)item_len, 0);
    at += (size_t)sprintf(batch + at, "]}");
    gz = squeeze(batch, at, 31, &len);
    expect(request_with("POST", "/v1/batch", write_key, gz, len, gzip), 200, "{}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'big'"), (long)items);
    free(gz);
    free(batch);
}

/* A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command. */
static char tls_dir[64];
static char cert_path[96], key_path[96], ca_path[96];

static void tls_setup(void)
{
    snprintf(tls_dir, sizeof tls_dir, "/tmp/trackd-http-tls.XXXXXX");
    cr_assert_not_null(mkdtemp(tls_dir));
    char command[2048];
    snprintf(command, sizeof command,
             "cd %s && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-days 2 -keyout ca.key -out ca.pem -subj /CN=test-ca "
             "-addext basicConstraints=critical,CA:TRUE "
             "-addext keyUsage=critical,keyCertSign >/dev/null 2>&1 && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout key.pem -out cert.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' > cert.ext && "
             "openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-days 2 -extfile cert.ext -out cert.pem >/dev/null 2>&1",
             tls_dir);
    cr_assert_eq(system(command), 0, "openssl could not make the test certificates");
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", tls_dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", tls_dir);
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", tls_dir);
    harness_tls_cert = cert_path;
    harness_tls_key = key_path;
    harness_ca_file = ca_path;
    start_server(1024);
}

static void tls_teardown(void)
{
    harness_stop();
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", tls_dir);
    cr_assert_eq(system(command), 0);
}

TestSuite(https, .init = tls_setup, .fini = tls_teardown, .timeout = 60);

Test(https, the_android_upload_lands_over_tls_and_settings_name_https)
{
    cr_assert(strncmp(base, "https://", 8) == 0, "%s", base);
    expect(request("GET", "/healthz", NULL, NULL, 0), 200, "\"ok\"");
    char path[128];
    snprintf(path, sizeof path, "/v1/projects/%s/settings", write_key);
    expect(request("GET", path, NULL, NULL, 0), 200, "\"protocol\":\"https\"");
    char *body = android_batch(write_key, "Over TLS");
    size_t len = 0;
    char *gz = squeeze(body, strlen(body), 31, &len);
    expect(request_with("POST", "/v1/b", NULL, gz, len, android_headers), 200, "{}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE name = 'Over TLS'"), 1);
    free(gz);
    free(body);
}
