/*
 * fcm_auth against a token endpoint of our own: a libmicrohttpd daemon on a free loopback port
 * that checks each request the way Google's does (grant type, RS256 signature against the public
 * half of TEST_KEY_PEM, claims) and hands out "tok-1", "tok-2", ...
 * Each test runs in its own process (Criterion), with its own daemon and temp directory.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery/base64url.h"
#include "delivery/fcm_auth.h"

#define CLIENT_EMAIL "pusher@trackd-test.iam.gserviceaccount.com"
#define PROJECT_ID "trackd-test"
#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define NOW INT64_C(1790000000)
#define MAX_UPLOAD 65536

/*
 * A throwaway RSA key that signs nothing but these tests' tokens (generated with `openssl genpkey
 * -algorithm RSA -pkeyopt rsa_keygen_bits:2048`). Fixed rather than generated per test because
 * generating a 2048-bit key takes seconds, and minutes under valgrind (valgrind_unit_fcm_auth).
 */
static const char TEST_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDj0F3AJURhmFes\n"
    "VuUR6L8Y+nWE0uznJP2UckN5F02sHdYz0DWoQMpsa5LtMenL5AXlyO/nja2/DFPg\n"
    "PcZ/w4wse+j+Slr5vWXDH43bwxHLhfjMg1NDpO5n90QR9865ezTHxtCsVMoak0r/\n"
    "zH5Pzg57oqMj19FKP1muIZW/1SxfbqQt6PNDogNs2OLQxQkzuv5l1In62VdGysmw\n"
    "Zr5enPgmUDgbGBNpzu69Z+IcdbVrs/pSToN8yqdckoSBzd93beNj0MJ/qNGH6HuE\n"
    "lbnFy3j/fpb94jwYINuMSj93GbSVOr6cN8uLZHlWodF1uzdiMuq2Cdgc7+iooy4u\n"
    "TKal0ZQVAgMBAAECggEAIeW1pWsGJz1rQjX1xLnsgVN3HAnkfSo4Xxe3aXOpt4QD\n"
    "BNekvEHTvNku1gNYxeFKbVv+MmaW5Tf43QNkH0uh9laDnx7CNanUU/nEemAmrDFl\n"
    "iUy7HXQTkz2sD75fMKMgAd/X2eSN4/FptfEgFFDVP9k9zA4HUrRlbC8MIKyf+xzs\n"
    "AKq5+gYdFEYwtN+9rZHMEd7sBqLm+Qoy2bxCwyPIU4hz0XXObVW4UiM5lo7JiASM\n"
    "dvFmv4YPu2IpccGuXpO9e6F68OThylfclJQlvttgyW7QLRnuiZ//aIlv73AKyQst\n"
    "9h/GXDEiL51YuWoP0Pw6Dn7Mz6hwoF4iEKZOGtvmewKBgQD6F8Sf5Hm12HV37b9w\n"
    "xXugICjwLdkz774hw9flUso/7x3M6KXAQ8GEmHJFKfI0aIg76GcPFuY/3aNtBgC/\n"
    "/4zvqWc8rXif4jdygUfGuYckAKxTNfPtryMyNemlBgYoaelZt6PTl5bCDB19yREQ\n"
    "bPovOpgR8jqhdaVg6QXy38i6lwKBgQDpMeJ3w5i9Pz6thtnloXdwjXHLt9fPwQaY\n"
    "M1uTt145v+l3oT3PVO9uKitYg1nuVRbcSgLRWLSUMSNJNS3Ysr8tQ31rjxDKj7bd\n"
    "gEyWwfF2bsj7UEUNuQiOKlEaHDqydL8rE8KsBKu/pVzEzV4bK1pVk+pX2v/Tz9sL\n"
    "o4nqLWPYMwKBgFmyRpoWJrTasp7VzVCT85flkOk7eGhRNv8DL56XB+TQTP7d/fys\n"
    "EG8PAgTeW3kCeMILw1K9Is2LH38NpR03eYPHXTh8+wNU7hAKYATdK6P0/dlGQ3te\n"
    "0h/DCE5gj7rU6ZV88KwF9VMZZ0Zi49ThUQW5XSsqlm6sNClCyhhmvKZ3AoGAJFqz\n"
    "jKpAoJhAhDr2s1bl0PUsHW9OxMO57HZtO20l0mj5072ebjk2jn0ifs0TcxVu1+7t\n"
    "24cxt7ylXJ9ew16ycTMJVYBbRMj84DFFP2eC5kzFJnDQIyCKledA94oZGIMc3nFZ\n"
    "MwoTYHA+Myw1FJVAowDJUuMAaRwJcRoQwSJMY4MCgYEA3YFEye650oD6M4yteKE0\n"
    "9ySEVscnN6go8JpQFjlvqrjYWyKHlQghka0i7u9PGTNoZ3tXYPA38V7dWuSRyk3A\n"
    "eduOHpHZq+JEY9q0vvEPc6Twmahk8ZUSJenNtXa4HmC1kf4Tw5pK+uBZ9+NmIVNx\n"
    "9fBynRpxC6cplzylKHHBVkM=\n"
    "-----END PRIVATE KEY-----\n";

/* The token endpoint's settings and what it saw; shared with the daemon's thread under `lock`. */
static struct {
    pthread_mutex_t lock;
    unsigned status;         /* answer with this status (200: a token) */
    const char *answer_body; /* instead of {"access_token":"tok-N",...} when set */
    int requests;
    int64_t last_iat;
    char problem[256]; /* the first check a request failed; "" while all passed */
} endpoint = {.lock = PTHREAD_MUTEX_INITIALIZER, .status = 200};

static EVP_PKEY *public_key; /* the public half only, as Google would hold it */
static char *private_pem;    /* the private half, as a key file carries it */
static struct MHD_Daemon *daemon_;
static char token_uri[64];
static char dir[] = "/tmp/trackd-fcm-auth-XXXXXX";
static char paths[16][128];
static int path_count;

/* ---- the token endpoint ---- */

/* The percent-decoded value of `name` in a form body, a new string, or NULL when absent. */
static char *form_value(const char *body, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, name_len) != 0 || p[name_len] != '=')
            continue;
        const char *v = p + name_len + 1;
        size_t len = strcspn(v, "&");
        char *out = malloc(len + 1), *o = out;
        for (size_t i = 0; out && i < len; i++) {
            unsigned hex;
            if (v[i] == '%' && i + 2 < len && sscanf(v + i + 1, "%2x", &hex) == 1) {
                *o++ = (char)hex;
                i += 2;
            } else {
                *o++ = v[i] == '+' ? ' ' : v[i];
            }
        }
        if (out)
            *o = '\0';
        return out;
    }
    return NULL;
}

static bool string_member_is(json_object *doc, const char *name, const char *expected)
{
    json_object *v;
    return json_object_object_get_ex(doc, name, &v) && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), expected) == 0;
}

static bool int_member(json_object *doc, const char *name, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(doc, name, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

/* Checks a token request as Google would; returns NULL or what is wrong. Sets *iat. */
static const char *check_request(struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *body, int64_t *iat)
{
    const char *problem = NULL;
    char *grant = NULL, *assertion = NULL;
    unsigned char *header = NULL, *claims = NULL, *sig = NULL;
    json_object *header_doc = NULL, *claims_doc = NULL;
    EVP_MD_CTX *ctx = NULL;

    const char *type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (strcmp(method, "POST") != 0 || strcmp(url, "/token") != 0) {
        problem = "not a POST to /token";
        goto done;
    }
    if (type == NULL || strncmp(type, "application/x-www-form-urlencoded", 33) != 0) {
        problem = "not a form";
        goto done;
    }
    grant = form_value(body, "grant_type");
    assertion = form_value(body, "assertion");
    if (grant == NULL || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0) {
        problem = "wrong grant_type";
        goto done;
    }
    const char *dot1 = assertion ? strchr(assertion, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        problem = "assertion is not three dot-separated parts";
        goto done;
    }
    size_t header_len, claims_len, sig_len;
    header = base64url_decode(assertion, (size_t)(dot1 - assertion), &header_len);
    claims = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims_len);
    sig = base64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    if (!header || !claims || !sig) {
        problem = "a part is not unpadded base64url";
        goto done;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, public_key) != 1 ||
        EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)assertion,
                         (size_t)(dot2 - assertion)) != 1) {
        problem = "the RS256 signature does not verify";
        goto done;
    }

    header_doc = json_tokener_parse((const char *)header);
    claims_doc = json_tokener_parse((const char *)claims);
    int64_t exp;
    if (!header_doc || !string_member_is(header_doc, "alg", "RS256") ||
        !string_member_is(header_doc, "typ", "JWT")) {
        problem = "header is not {\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    } else if (!claims_doc || !string_member_is(claims_doc, "iss", CLIENT_EMAIL)) {
        problem = "wrong iss";
    } else if (!string_member_is(claims_doc, "aud", token_uri)) {
        problem = "wrong aud";
    } else if (!string_member_is(claims_doc, "scope", FCM_SCOPE)) {
        problem = "wrong scope";
    } else if (!int_member(claims_doc, "iat", iat) || !int_member(claims_doc, "exp", &exp) ||
               exp - *iat != 3600) {
        problem = "iat and exp are not an hour apart";
    }

done:
    EVP_MD_CTX_free(ctx);
    json_object_put(header_doc);
    json_object_put(claims_doc);
    free(header);
    free(claims);
    free(sig);
    free(grant);
    free(assertion);
    return problem;
}

struct upload {
    char data[MAX_UPLOAD + 1];
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") ==
        MHD_YES)
        ret = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return ret;
}

/* The three phases: allocate the upload, consume the body, answer. */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    (void)cls, (void)version;
    struct upload *upload = *req_cls;
    if (upload == NULL) {
        upload = calloc(1, sizeof *upload);
        *req_cls = upload;
        return upload ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size != 0) {
        if (*upload_data_size > MAX_UPLOAD - upload->len)
            return MHD_NO;
        memcpy(upload->data + upload->len, upload_data, *upload_data_size);
        upload->len += *upload_data_size;
        upload->data[upload->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    int64_t iat = 0;
    const char *problem = check_request(conn, url, method, upload->data, &iat);
    pthread_mutex_lock(&endpoint.lock);
    int n = ++endpoint.requests;
    unsigned status = endpoint.status;
    const char *answer_body = endpoint.answer_body;
    if (problem && endpoint.problem[0] == '\0')
        snprintf(endpoint.problem, sizeof endpoint.problem, "request %d: %s", n, problem);
    if (problem == NULL)
        endpoint.last_iat = iat;
    pthread_mutex_unlock(&endpoint.lock);

    if (problem)
        return reply(conn, 400, "{\"error\":\"invalid_grant\"}");
    if (status != 200)
        return reply(conn, status, "{\"error\":\"internal_failure\"}");
    if (answer_body)
        return reply(conn, 200, answer_body);
    char body[96];
    snprintf(body, sizeof body, "{\"access_token\":\"tok-%d\",\"expires_in\":3600}", n);
    return reply(conn, 200, body);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    free(*req_cls);
    *req_cls = NULL;
}

static int requests_seen(void)
{
    pthread_mutex_lock(&endpoint.lock);
    int n = endpoint.requests;
    pthread_mutex_unlock(&endpoint.lock);
    return n;
}

static int64_t last_iat(void)
{
    pthread_mutex_lock(&endpoint.lock);
    int64_t iat = endpoint.last_iat;
    pthread_mutex_unlock(&endpoint.lock);
    return iat;
}

static void expect_no_bad_request(void)
{
    pthread_mutex_lock(&endpoint.lock);
    char problem[sizeof endpoint.problem];
    memcpy(problem, endpoint.problem, sizeof problem);
    pthread_mutex_unlock(&endpoint.lock);
    cr_assert_str_empty(problem, "the token endpoint refused: %s", problem);
}

/* ---- keys and key files ---- */

static char *private_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_not_null(bio);
    cr_assert_eq(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    cr_assert_gt(len, 0);
    /* Not strndup: the BIO's data has no terminator, and ASan's strict_string_checks (the
     * TRACKD_SANITIZE tests) insists that strndup's argument be a whole string. */
    char *pem = malloc((size_t)len + 1);
    cr_assert_not_null(pem);
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
    BIO_free(bio);
    return pem;
}

/* A service-account key as the Google Cloud console downloads it; the caller puts it. */
static json_object *service_account(void)
{
    json_object *doc = json_object_new_object();
    json_object_object_add(doc, "type", json_object_new_string("service_account"));
    json_object_object_add(doc, "project_id", json_object_new_string(PROJECT_ID));
    json_object_object_add(doc, "private_key_id", json_object_new_string("0123abcd"));
    json_object_object_add(doc, "private_key", json_object_new_string(private_pem));
    json_object_object_add(doc, "client_email", json_object_new_string(CLIENT_EMAIL));
    json_object_object_add(doc, "client_id", json_object_new_string("1234567890"));
    json_object_object_add(doc, "auth_uri",
                           json_object_new_string("https://accounts.google.com/o/oauth2/auth"));
    json_object_object_add(doc, "token_uri", json_object_new_string(token_uri));
    return doc;
}

/* Writes `text` to `name` in the temp dir; returns the path (removed by teardown). */
static const char *write_file(const char *name, const char *text)
{
    cr_assert_lt(path_count, 16);
    char *path = paths[path_count++];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* Writes `doc` as a key file and puts it. */
static const char *write_key_file(const char *name, json_object *doc)
{
    const char *path =
        write_file(name, json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY));
    json_object_put(doc);
    return path;
}

static void setup(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    cr_assert_not_null(mkdtemp(dir));

    BIO *bio = BIO_new_mem_buf(TEST_KEY_PEM, -1);
    cr_assert_not_null(bio);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(key);
    private_pem = private_key_pem(key);
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(key, &der);
    cr_assert_gt(der_len, 0);
    const unsigned char *p = der;
    public_key = d2i_PUBKEY(NULL, &p, der_len);
    cr_assert_not_null(public_key);
    OPENSSL_free(der);
    EVP_PKEY_free(key);

    struct sockaddr_in loopback = {.sin_family = AF_INET, .sin_port = 0};
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         handle_request, NULL, MHD_OPTION_SOCK_ADDR, &loopback,
                         MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
    cr_assert_not_null(daemon_);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert(info != NULL && info->port != 0);
    snprintf(token_uri, sizeof token_uri, "http://127.0.0.1:%u/token", (unsigned)info->port);
}

static void teardown(void)
{
    if (daemon_ != NULL)
        MHD_stop_daemon(daemon_);
    for (int i = 0; i < path_count; i++)
        unlink(paths[i]);
    rmdir(dir);
    EVP_PKEY_free(public_key);
    free(private_pem);
    curl_global_cleanup();
}

TestSuite(fcm_auth, .init = setup, .fini = teardown);

/* ---- tests ---- */

Test(fcm_auth, fetches_a_token_then_reuses_it_until_a_minute_before_it_expires)
{
    char error[512] = "";
    struct fcm_auth *auth =
        fcm_auth_new(NULL, write_key_file("key.json", service_account()), error, sizeof error);
    cr_assert_not_null(auth, "%s", error);
    cr_assert_str_eq(fcm_auth_project_id(auth), PROJECT_ID);

    const char *token = fcm_auth_token(auth, NOW, error, sizeof error);
    cr_assert_not_null(token, "%s", error);
    expect_no_bad_request();
    cr_assert_str_eq(token, "tok-1");
    cr_assert_eq(requests_seen(), 1);
    cr_assert_eq(last_iat(), NOW);

    /* Within the hour, down to exactly FCM_AUTH_MIN_VALIDITY_S left: the cached token. */
    int64_t later[] = {NOW + 1, NOW + 1800, NOW + 3600 - FCM_AUTH_MIN_VALIDITY_S};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        token = fcm_auth_token(auth, later[i], error, sizeof error);
        cr_assert_not_null(token, "%s", error);
        cr_assert_str_eq(token, "tok-1", "at now+%lld", (long long)(later[i] - NOW));
    }
    cr_assert_eq(requests_seen(), 1);

    /* Ten seconds before expiry: a new token, asserted with a new iat, then cached in turn. */
    token = fcm_auth_token(auth, NOW + 3590, error, sizeof error);
    cr_assert_not_null(token, "%s", error);
    expect_no_bad_request();
    cr_assert_str_eq(token, "tok-2");
    cr_assert_eq(requests_seen(), 2);
    cr_assert_eq(last_iat(), NOW + 3590);
    token = fcm_auth_token(auth, NOW + 3600, error, sizeof error);
    cr_assert_str_eq(token, "tok-2");
    cr_assert_eq(requests_seen(), 2);

    /* A clock that went back before the fetch does not trust the cached expiry. */
    token = fcm_auth_token(auth, NOW, error, sizeof error);
    cr_assert_not_null(token, "%s", error);
    cr_assert_str_eq(token, "tok-3");
    fcm_auth_free(auth);
}

Test(fcm_auth, static_token_is_returned_as_is)
{
    char error[512] = "";
    struct fcm_auth *auth = fcm_auth_new("ya29.static-Token_1/2+3=", NULL, error, sizeof error);
    cr_assert_not_null(auth, "%s", error);
    cr_assert_null(fcm_auth_project_id(auth));
    cr_assert_str_eq(fcm_auth_token(auth, NOW, error, sizeof error), "ya29.static-Token_1/2+3=");
    cr_assert_str_eq(fcm_auth_token(auth, NOW + 86400 * 365, error, sizeof error),
                     "ya29.static-Token_1/2+3=");
    cr_assert_eq(requests_seen(), 0);
    fcm_auth_free(auth);
    fcm_auth_free(NULL);
}

Test(fcm_auth, static_token_that_could_break_the_header_is_refused)
{
    char error[512] = "";
    cr_assert_null(fcm_auth_new("abc\r\nX-Evil: 1", NULL, error, sizeof error));
    cr_assert_not_null(strstr(error, "TRACKD_FCM_TOKEN"), "%s", error);
}

Test(fcm_auth, neither_or_both_settings_name_both_variables)
{
    const char *key_path = write_key_file("key.json", service_account());
    struct {
        const char *token, *path;
    } cases[] = {{NULL, NULL}, {"", ""}, {"tok", key_path}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char error[512] = "";
        cr_assert_null(fcm_auth_new(cases[i].token, cases[i].path, error, sizeof error));
        cr_assert_not_null(strstr(error, "TRACKD_FCM_TOKEN"), "case %zu: %s", i, error);
        cr_assert_not_null(strstr(error, "TRACKD_FCM_CREDENTIALS"), "case %zu: %s", i, error);
    }
}

/* A bad key file is refused at start, with a message naming the file and the problem. */
struct bad_key_case {
    const char *name;
    const char *remove;    /* delete this member */
    const char *set;       /* or set this member ... */
    const char *set_value; /* ... to this string */
    bool ec_key;           /* or replace private_key with an EC key */
    const char *raw;       /* or write this text instead of a key */
    const char *expected;  /* in the message, beside the path */
};

static const struct bad_key_case bad_key_files_cases[] = {
    {"no-private-key", .remove = "private_key", .expected = "\"private_key\""},
    {"no-client-email", .remove = "client_email", .expected = "\"client_email\""},
    {"no-token-uri", .remove = "token_uri", .expected = "\"token_uri\""},
    {"no-project-id", .remove = "project_id", .expected = "\"project_id\""},
    {"empty-email", .set = "client_email", .set_value = "", .expected = "\"client_email\""},
    {"garbage-pem", .set = "private_key", .set_value = "-----BEGIN PRIVATE KEY-----\nnope\n",
     .expected = "\"private_key\" is not"},
    {"ec-key", .ec_key = true, .expected = "RSA"},
    {"ftp-token-uri", .set = "token_uri", .set_value = "ftp://x/token", .expected = "token_uri"},
    {"user-credentials", .set = "type", .set_value = "authorized_user",
     .expected = "service_account"},
    {"null-type", .raw = "{\"type\": null}", .expected = "service_account"},
    {"not-json", .raw = "{\"client_email\": ", .expected = "not a JSON object"},
    {"json-array", .raw = "[]", .expected = "not a JSON object"},
};

Test(fcm_auth, bad_key_files_are_refused_naming_file_and_problem)
{
    for (size_t i = 0; i < sizeof bad_key_files_cases / sizeof bad_key_files_cases[0]; i++) {
        const struct bad_key_case *c = &bad_key_files_cases[i];
        const char *path;
        if (c->raw) {
            path = write_file(c->name, c->raw);
        } else {
            json_object *doc = service_account();
            if (c->remove)
                json_object_object_del(doc, c->remove);
            if (c->set)
                json_object_object_add(doc, c->set, json_object_new_string(c->set_value));
            if (c->ec_key) {
                EVP_PKEY *ec = EVP_EC_gen("P-256");
                cr_assert_not_null(ec);
                char *pem = private_key_pem(ec);
                json_object_object_add(doc, "private_key", json_object_new_string(pem));
                free(pem);
                EVP_PKEY_free(ec);
            }
            path = write_key_file(c->name, doc);
        }
        char error[512] = "";
        cr_assert_null(fcm_auth_new(NULL, path, error, sizeof error), "%s", c->name);
        cr_assert_not_null(strstr(error, path), "%s: %s", c->name, error);
        cr_assert_not_null(strstr(error, c->expected), "%s: %s", c->name, error);
    }
}

Test(fcm_auth, missing_key_file_is_named)
{
    char path[160], error[512] = "";
    snprintf(path, sizeof path, "%s/absent.json", dir);
    cr_assert_null(fcm_auth_new(NULL, path, error, sizeof error));
    cr_assert_not_null(strstr(error, path), "%s", error);
    cr_assert_not_null(strstr(error, "No such file"), "%s", error);
}

Test(fcm_auth, token_endpoint_error_is_reported_with_its_status_and_not_cached)
{
    char error[512] = "";
    struct fcm_auth *auth =
        fcm_auth_new(NULL, write_key_file("key.json", service_account()), error, sizeof error);
    cr_assert_not_null(auth, "%s", error);
    pthread_mutex_lock(&endpoint.lock);
    endpoint.status = 500;
    pthread_mutex_unlock(&endpoint.lock);

    cr_assert_null(fcm_auth_token(auth, NOW, error, sizeof error));
    cr_assert_not_null(strstr(error, "500"), "%s", error);
    cr_assert_not_null(strstr(error, token_uri), "%s", error);
    cr_assert_not_null(strstr(error, "internal_failure"), "%s", error);
    cr_assert_null(fcm_auth_token(auth, NOW + 1, error, sizeof error));
    cr_assert_eq(requests_seen(), 2);

    pthread_mutex_lock(&endpoint.lock);
    endpoint.status = 200;
    pthread_mutex_unlock(&endpoint.lock);
    const char *token = fcm_auth_token(auth, NOW + 2, error, sizeof error);
    cr_assert_not_null(token, "%s", error);
    cr_assert_str_eq(token, "tok-3");
    expect_no_bad_request();
    fcm_auth_free(auth);
}

Test(fcm_auth, unusable_token_answers_are_refused_naming_the_field)
{
    struct {
        const char *body, *expected;
    } cases[] = {
        {"{\"expires_in\":3600}", "\"access_token\""},
        {"{\"access_token\":\"\",\"expires_in\":3600}", "\"access_token\""},
        {"{\"access_token\":\"a\\nb\",\"expires_in\":3600}", "\"access_token\""},
        {"{\"access_token\":\"tok\"}", "\"expires_in\""},
        {"{\"access_token\":\"tok\",\"expires_in\":\"3600\"}", "\"expires_in\""},
        {"{\"access_token\":\"tok\",\"expires_in\":30}", "\"expires_in\": 30"},
        {"{\"access_token\":\"tok\",\"expires_in\":3600,\"token_type\":\"MAC\"}", "\"token_type\""},
        {"{\"access_token\":\"tok\",\"expires_in\":3600,\"token_type\":null}", "\"token_type\""},
        {"<html>", "JSON"},
    };
    char error[512] = "";
    struct fcm_auth *auth =
        fcm_auth_new(NULL, write_key_file("key.json", service_account()), error, sizeof error);
    cr_assert_not_null(auth, "%s", error);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pthread_mutex_lock(&endpoint.lock);
        endpoint.answer_body = cases[i].body;
        pthread_mutex_unlock(&endpoint.lock);
        cr_assert_null(fcm_auth_token(auth, NOW, error, sizeof error), "%s", cases[i].body);
        cr_assert_not_null(strstr(error, cases[i].expected), "%s: %s", cases[i].body, error);
    }
    expect_no_bad_request();
    fcm_auth_free(auth);
}

Test(fcm_auth, unreachable_token_endpoint_is_a_failure_naming_it)
{
    char error[512] = "";
    /* Nothing listens on the daemon's port once it is stopped. */
    struct fcm_auth *auth =
        fcm_auth_new(NULL, write_key_file("key.json", service_account()), error, sizeof error);
    cr_assert_not_null(auth, "%s", error);
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    cr_assert_null(fcm_auth_token(auth, NOW, error, sizeof error));
    cr_assert_not_null(strstr(error, token_uri), "%s", error);
    cr_assert_not_null(strstr(error, "failed"), "%s", error);
    fcm_auth_free(auth);
}
