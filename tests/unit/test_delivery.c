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
