/* The delivery workers: backoff, the verdict on an answer, the check of the push and TLS
 * settings, and the extra CAs of TRACKD_CA_FILE against a local HTTPS server. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery_worker.h"
#include "delivery/outbound_tls.h"
#include "delivery/webhook.h"

Test(delivery, backoff_doubles_from_the_base_up_to_the_cap_with_jitter)
{
    cr_assert_eq(delivery_backoff_ms(1, 10, 3600, 1.0), 10000);
    cr_assert_eq(delivery_backoff_ms(2, 10, 3600, 1.0), 20000);
    cr_assert_eq(delivery_backoff_ms(4, 10, 3600, 1.0), 80000);
    cr_assert_eq(delivery_backoff_ms(20, 10, 3600, 1.0), 3600000, "capped");
    cr_assert_eq(delivery_backoff_ms(200, 10, 3600, 1.0), 3600000, "no overflow");
    cr_assert_eq(delivery_backoff_ms(1, 10, 3600, 0.5), 5000, "jitter scales down");
}

Test(delivery, answers_are_classified_as_the_contract_says)
{
    struct {
        long status;
        const char *body;
        int push;
        enum delivery_verdict verdict;
    } cases[] = {
        {200, "", 0, DELIVERY_SENT},
        {204, "", 0, DELIVERY_SENT},
        {0, "", 0, DELIVERY_RETRY},
        {408, "", 0, DELIVERY_RETRY},
        {429, "", 0, DELIVERY_RETRY},
        {500, "", 0, DELIVERY_RETRY},
        {503, "", 1, DELIVERY_RETRY},
        {400, "", 0, DELIVERY_DEAD},
        {401, "", 0, DELIVERY_DEAD},
        {404, "", 0, DELIVERY_DEAD},
        {404, "", 1, DELIVERY_GONE},
        {400, "{\"error\":{\"details\":[{\"errorCode\":\"UNREGISTERED\"}]}}", 1, DELIVERY_GONE},
        {400, "{\"error\":{\"status\":\"INVALID_ARGUMENT\"}}", 1, DELIVERY_DEAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(delivery_classify(cases[i].status, cases[i].body, cases[i].push),
                     cases[i].verdict, "case %zu (status %ld)", i, cases[i].status);
}

/* ---- the settings check, and the extra CAs ---- */

/* A scratch directory per test with an APNs key, a CA and a server certificate it signed. */
static char dir[] = "/tmp/trackd-delivery-XXXXXX";
static char key_path[160], ca_path[160], not_pem_path[160];
static char *server_cert_pem, *server_key_pem; /* for the HTTPS test server */

/* The contents of a memory BIO as a new NUL-terminated string (the BIO's are not); frees it. */
static char *text_of(BIO *bio)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)len + 1);
    cr_assert_not_null(copy);
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    BIO_free(bio);
    return copy;
}

static char *pem_of_key(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    return text_of(bio);
}

static char *pem_of_certificate(X509 *certificate)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_X509(bio, certificate), 1);
    return text_of(bio);
}

static void write_file(const char *name, const char *text, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void add_extension(X509 *certificate, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert_not_null(extension);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
}

/* A certificate for `name`, signed by `issuer_key` (itself when issuer is NULL: a CA). */
static X509 *make_certificate(const char *name, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), issuer ? 2 : 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 86400);
    X509_set_pubkey(certificate, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(certificate), "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(certificate, X509_get_subject_name(issuer ? issuer : certificate));
    if (issuer == NULL) {
        add_extension(certificate, certificate, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(certificate, certificate, NID_key_usage, "critical,keyCertSign");
    } else {
        add_extension(certificate, issuer, NID_subject_alt_name, "IP:127.0.0.1");
    }
    cr_assert_gt(X509_sign(certificate, issuer_key, EVP_sha256()), 0);
    return certificate;
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    EVP_PKEY *apns_key = EVP_EC_gen("P-256");
    char *pem = pem_of_key(apns_key);
    write_file("AuthKey.p8", pem, key_path, sizeof key_path);
    write_file("not-a-certificate.pem", pem, not_pem_path, sizeof not_pem_path);
    free(pem);
    EVP_PKEY_free(apns_key);

    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *server_key = EVP_EC_gen("P-256");
    X509 *ca = make_certificate("trackd test CA", ca_key, NULL, ca_key);
    X509 *server = make_certificate("127.0.0.1", server_key, ca, ca_key);
    pem = pem_of_certificate(ca);
    write_file("ca.pem", pem, ca_path, sizeof ca_path);
    free(pem);
    server_cert_pem = pem_of_certificate(server);
    server_key_pem = pem_of_key(server_key);
    X509_free(ca);
    X509_free(server);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
}

static void teardown(void)
{
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq(system(command), 0);
    free(server_cert_pem);
    free(server_key_pem);
}

/* What delivery_check_options prints for `options`, and whether it passed. */
static bool check(const struct delivery_options *options, char *out, size_t out_size)
{
    char *text = NULL;
    size_t len = 0;
    FILE *errors = open_memstream(&text, &len);
    bool valid = delivery_check_options(options, errors);
    fclose(errors);
    snprintf(out, out_size, "%s", text);
    free(text);
    return valid;
}

Test(delivery_settings, complete_apns_settings_and_a_ca_file_pass_silently, .init = setup,
     .fini = teardown)
{
    char out[1024];
    struct delivery_options options = {
        .apns_key_file = key_path,
        .apns_key_id = "ABC123DEFG",
        .apns_team_id = "DEF123GHIJ",
        .apns_topic = "com.example.app",
        .apns_url = "https://api.sandbox.push.apple.com",
        .ca_file = ca_path,
    };
    cr_assert(check(&options, out, sizeof out), "%s", out);
    cr_assert_str_empty(out);
    struct delivery_options none = {.apns_url = "https://api.push.apple.com"};
    cr_assert(check(&none, out, sizeof out), "%s", out);
    cr_assert_str_empty(out);
}

Test(delivery_settings, every_problem_is_one_line_naming_the_variable, .init = setup,
     .fini = teardown)
{
    char out[2048];
    struct delivery_options options = {
        .apns_key_file = key_path,
        .apns_key_id = "",
        .apns_url = "http://api.push.apple.com",
        .ca_file = "/nonexistent/ca.pem",
    };
    cr_assert_not(check(&options, out, sizeof out));
    cr_assert_str_eq(out, "trackd: TRACKD_APNS_KEY_ID is required with TRACKD_APNS_KEY_FILE\n"
                          "trackd: TRACKD_APNS_TEAM_ID is required with TRACKD_APNS_KEY_FILE\n"
                          "trackd: TRACKD_APNS_TOPIC is required with TRACKD_APNS_KEY_FILE\n"
                          "trackd: TRACKD_APNS_URL must start with https://\n"
                          "trackd: TRACKD_CA_FILE=/nonexistent/ca.pem: cannot read: No such "
                          "file or directory\n");

    struct delivery_options bad_files = {
        .apns_key_file = ca_path,
        .apns_key_id = "ABC123DEFG",
        .apns_team_id = "DEF123GHIJ",
        .apns_topic = "com.example.app\r\nx: y",
        .ca_file = not_pem_path,
    };
    cr_assert_not(check(&bad_files, out, sizeof out));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "trackd: TRACKD_APNS_TOPIC may hold only visible ASCII characters (no spaces)\n"
             "trackd: TRACKD_APNS_KEY_FILE=%s: not an EC P-256 private key (PKCS#8 PEM .p8)\n"
             "trackd: TRACKD_CA_FILE=%s: no PEM certificate in it\n",
             ca_path, not_pem_path);
    cr_assert_str_eq(out, expected);

    struct delivery_options missing_key = {
        .apns_key_file = "/nonexistent/AuthKey.p8",
        .apns_key_id = "A",
        .apns_team_id = "B",
        .apns_topic = "c",
    };
    cr_assert_not(check(&missing_key, out, sizeof out));
    cr_assert_str_eq(out, "trackd: TRACKD_APNS_KEY_FILE=/nonexistent/AuthKey.p8: cannot read: No "
                          "such file or directory\n");
}

/* ---- an HTTPS server whose certificate only the extra CA vouches for ---- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    (void)upload_data_size, (void)request_cls;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

/* GETs `url` with the extra CAs of `tls` (NULL: none); the libcurl result. */
static CURLcode fetch(const char *url, const struct outbound_tls *tls)
{
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    cr_assert(outbound_tls_apply(tls, curl));
    CURLcode result = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    fclose(sink);
    return result;
}

Test(delivery_settings, the_extra_ca_is_trusted_in_addition_to_the_systems, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(MHD_is_feature_supported(MHD_FEATURE_TLS), MHD_YES);
    struct sockaddr_in loopback = {.sin_family = AF_INET};
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, answer, NULL,
                         MHD_OPTION_SOCK_ADDR, &loopback, MHD_OPTION_HTTPS_MEM_CERT,
                         server_cert_pem, MHD_OPTION_HTTPS_MEM_KEY, server_key_pem, MHD_OPTION_END);
    cr_assert_not_null(daemon);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/",
             MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    cr_assert_eq(fetch(url, NULL), CURLE_PEER_FAILED_VERIFICATION,
                 "without the extra CA the certificate is refused");
    struct outbound_tls *tls = NULL;
    char why[256] = "";
    cr_assert(outbound_tls_load(ca_path, &tls, why, sizeof why), "%s", why);
    cr_assert_not_null(tls);
    cr_assert_eq(fetch(url, tls), CURLE_OK, "with it the server is trusted");
    cr_assert_eq(fetch(url, tls), CURLE_OK, "and again, on a new handle");

    struct outbound_tls *none = NULL;
    cr_assert(outbound_tls_load(NULL, &none, why, sizeof why));
    cr_assert_null(none, "no file, nothing to add");
    cr_assert(outbound_tls_load("", &none, why, sizeof why));
    cr_assert_null(none);
    cr_assert_not(outbound_tls_load(dir, &none, why, sizeof why));
    cr_assert_str_eq(why, "cannot read: Is a directory");

    outbound_tls_free(tls);
    MHD_stop_daemon(daemon);
    curl_global_cleanup();
}

/* ---- webhook requests ---- */

Test(delivery, a_url_libcurl_refuses_makes_the_delivery_dead_other_failures_retry)
{
    cr_assert_eq(delivery_classify_failure(CURLE_URL_MALFORMAT), DELIVERY_DEAD);
    cr_assert_eq(delivery_classify_failure(CURLE_UNSUPPORTED_PROTOCOL), DELIVERY_DEAD);
    cr_assert_eq(delivery_classify_failure(CURLE_COULDNT_CONNECT), DELIVERY_RETRY);
    cr_assert_eq(delivery_classify_failure(CURLE_COULDNT_RESOLVE_HOST), DELIVERY_RETRY);
    cr_assert_eq(delivery_classify_failure(CURLE_OPERATION_TIMEDOUT), DELIVERY_RETRY);
    cr_assert_eq(delivery_classify_failure(CURLE_SSL_CONNECT_ERROR), DELIVERY_RETRY);
}

/* Builds the request of `action` (JSON text) as delivery 42; the caller clears it. */
static bool prepare(const char *action_text, struct webhook_request *request, char *error,
                    size_t error_size, bool *retryable)
{
    json_object *action = json_tokener_parse(action_text);
    cr_assert_not_null(action, "test JSON does not parse: %s", action_text);
    error[0] = '\0';
    *retryable = false;
    bool ok = webhook_prepare(action, 42, request, error, error_size, retryable);
    json_object_put(action);
    return ok;
}

/* The header lines of `request`, each followed by a newline. */
static void header_lines(const struct webhook_request *request, char *out, size_t size)
{
    out[0] = '\0';
    for (const struct curl_slist *h = request->headers; h != NULL; h = h->next) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s\n", h->data);
    }
}

Test(webhook, headers_are_kept_whole_and_one_that_renders_empty_is_sent_empty)
{
    char token[401], action[1024], lines[2048], expected[2048], error[256];
    memset(token, 'T', 400);
    token[400] = '\0';
    snprintf(
        action, sizeof action,
        "{\"type\":\"webhook\",\"url\":\"https://x.test/u/a%%2Fb?t=s3cret\",\"method\":\"PUT\","
        "\"headers\":{\"Authorization\":\"Bearer %s\",\"X-Empty\":\"\",\"X-Blank\":\" \\t\","
        "\"X-User\":\"u1\"},\"body\":{\"a\":\"</b>\"}}",
        token);
    struct webhook_request request;
    bool retryable;
    cr_assert(prepare(action, &request, error, sizeof error, &retryable), "%s", error);
    cr_assert_str_eq(request.url, "https://x.test/u/a%2Fb?t=s3cret");
    cr_assert_str_eq(request.method, "PUT");
    cr_assert_str_eq(request.body, "{\"a\":\"</b>\"}");
    header_lines(&request, lines, sizeof lines);
    snprintf(expected, sizeof expected,
             "Content-Type: application/json\nAuthorization: Bearer %s\nX-Empty;\nX-Blank;\n"
             "X-User: u1\nIdempotency-Key: 42\nX-Trackd-Delivery: 42\n",
             token);
    cr_assert_str_eq(lines, expected);
    webhook_request_clear(&request);
    cr_assert_null(request.url, "cleared");
    webhook_request_clear(NULL);

    /* The rule's Content-Type replaces the default; no body and no method: {} by POST. */
    cr_assert(prepare("{\"url\":\"http://x.test\",\"headers\":{\"content-type\":\"text/plain\"}}",
                      &request, error, sizeof error, &retryable),
              "%s", error);
    header_lines(&request, lines, sizeof lines);
    cr_assert_str_eq(lines,
                     "content-type: text/plain\nIdempotency-Key: 42\nX-Trackd-Delivery: 42\n");
    cr_assert_str_eq(request.method, "POST");
    cr_assert_str_eq(request.body, "{}");
    webhook_request_clear(&request);
}

struct refused_request_case {
    const char *action;
    const char *error;
};

static struct refused_request_case requests_that_cannot_be_sent_are_refused_cases[] = {
    {"{\"url\":\"https://x.test/\",\"headers\":{\"X-Note\":\"a\\r\\nX-Injected: 1\"}}",
     "action.headers.X-Note: the rendered value holds a line break (CR or LF) or a NUL byte, "
     "which an HTTP header cannot carry"},
    {"{\"url\":\"https://x.test/\",\"headers\":{\"X-Note\":\"a\\nb\"}}", "X-Note"},
    {"{\"url\":\"https://x.test/\",\"headers\":{\"X-Note\":\"a\\u0000b\"}}", "a NUL byte"},
    {"{\"url\":\"https://x.test/\",\"headers\":{\"X-N\":5}}", "action.headers.X-N is not a string"},
    {"{\"url\":\"https://x.test/\",\"headers\":{\"Bad Name\":\"v\"}}", "not an HTTP header name"},
    {"{\"headers\":{}}", "the delivery has no url"},
    {"{\"url\":5}", "the delivery has no url"},
    {"{\"url\":\"https://x.test/a b\"}", "the rendered URL is not valid: "},
    {"{\"url\":\"https://x.test/a\\u0001\"}", "the rendered URL is not valid: "},
    {"{\"url\":\"x.test/a\"}", "the rendered URL is not valid: "},
    {"{\"url\":\"ftp://x.test/a\"}", "the rendered URL is not http or https"},
    {"{\"url\":\"https://x.test:99999/\"}", "the rendered URL is not valid: "},
    {"{\"url\":\"https://[::1/\"}", "the rendered URL is not valid: "},
    {"{\"url\":\"https://x.test/\",\"method\":\"GET\"}", "action.method must be POST or PUT"},
};

Test(webhook, requests_that_cannot_be_sent_are_refused_not_retried)
{
    struct refused_request_case *cases = requests_that_cannot_be_sent_are_refused_cases;
    size_t count = sizeof requests_that_cannot_be_sent_are_refused_cases / sizeof *cases;
    for (size_t i = 0; i < count; i++) {
        struct webhook_request request;
        char error[256];
        bool retryable;
        cr_assert_not(prepare(cases[i].action, &request, error, sizeof error, &retryable),
                      "%s is sent", cases[i].action);
        cr_assert_not(retryable, "%s", cases[i].action);
        cr_assert(strstr(error, cases[i].error) != NULL, "%s: '%s' lacks '%s'", cases[i].action,
                  error, cases[i].error);
        cr_assert_null(request.url);
        cr_assert_null(request.headers);
    }
}

Test(webhook, a_rendered_url_is_sent_up_to_8192_bytes_and_never_quoted_in_the_error)
{
    size_t size = WEBHOOK_URL_MAX_BYTES + 2;
    char *url = malloc(size), error[256];
    cr_assert_not_null(url);
    memset(url, 'a', size - 1);
    url[size - 1] = '\0';
    memcpy(url, "https://x.test/?token=s3cret&q=", 31);
    cr_assert_not(webhook_check_url(url, error, sizeof error));
    cr_assert_str_eq(error, "the rendered URL is 8193 bytes long, more than 8192");
    url[WEBHOOK_URL_MAX_BYTES] = '\0';
    cr_assert(webhook_check_url(url, error, sizeof error), "%s", error);
    memcpy(url + 40, " ", 1);
    cr_assert_not(webhook_check_url(url, error, sizeof error));
    cr_assert_null(strstr(error, "s3cret"), "%s", error);
    free(url);
    cr_assert(webhook_check_url("http://127.0.0.1:9999/hooks/u/..%2Fadmin?ref=a%26b#x", error,
                                sizeof error),
              "%s", error);
    cr_assert(webhook_check_url("https://user:pw@[::1]:8443/", error, sizeof error), "%s", error);
}

/* ---- a prepared request on the wire ---- */

/* The header lines a local server received, "name: value\n" each. */
static char received[4096];

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)cls, (void)kind;
    size_t len = strlen(received);
    snprintf(received + len, sizeof received - len, "%s: %s\n", key, value ? value : "(null)");
    return MHD_YES;
}

static enum MHD_Result record_headers(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **request_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    if (*request_cls == NULL) {
        *request_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    received[0] = '\0';
    MHD_get_connection_values(connection, MHD_HEADER_KIND, keep_header, NULL);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

Test(webhook, a_prepared_request_arrives_with_every_header_whole)
{
    struct sockaddr_in loopback = {.sin_family = AF_INET};
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, record_headers, NULL,
                         MHD_OPTION_SOCK_ADDR, &loopback, MHD_OPTION_END);
    cr_assert_not_null(daemon);
    char token[401], action[1024], error[256];
    memset(token, 'T', 400);
    token[400] = '\0';
    snprintf(action, sizeof action,
             "{\"url\":\"http://127.0.0.1:%u/hook\",\"headers\":{\"Authorization\":\"Bearer %s\","
             "\"X-Empty\":\"\",\"X-User\":\"u1\"},\"body\":{}}",
             MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port, token);
    struct webhook_request request;
    bool retryable;
    cr_assert(prepare(action, &request, error, sizeof error, &retryable), "%s", error);

    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, request.url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, request.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    cr_assert_eq(curl_easy_perform(curl), CURLE_OK);
    curl_easy_cleanup(curl);
    fclose(sink);
    webhook_request_clear(&request);
    MHD_stop_daemon(daemon);

    char expected[600];
    snprintf(expected, sizeof expected, "\nAuthorization: Bearer %s\n", token);
    cr_assert(strstr(received, expected) != NULL, "the token arrives whole:\n%s", received);
    cr_assert(strstr(received, "\nX-Empty: \n") != NULL, "the empty header arrives:\n%s", received);
    cr_assert(strstr(received, "\nX-User: u1\n") != NULL, "%s", received);
    cr_assert(strstr(received, "\nIdempotency-Key: 42\n") != NULL, "%s", received);
}
