/*
 * Google's OAuth 2.0 flow for service accounts, as FCM HTTP v1 needs it: a JWT whose claims name
 * the account, the FCM scope and the token endpoint, signed RS256 with the account's private key,
 * is exchanged at token_uri for an access token (grant type jwt-bearer). The token is cached
 * with its expiry; the key never leaves this file.
 */
#include "delivery/fcm_auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/small_file.h"
#include "delivery/base64url.h"
#include "delivery/outbound_tls.h"

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define JWT_BEARER_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
/* The grant type as a form value: ':' percent-encoded (the JWT itself needs no encoding, since
 * base64url and '.' are unreserved characters). */
#define FORM_PREFIX "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
#define JWT_HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
/* Google accepts assertions valid for at most an hour. */
#define JWT_LIFETIME_S 3600
/* Real key files are about 2.3 KB and token answers a few hundred bytes. */
#define KEY_FILE_MAX_BYTES (64 * 1024)
#define ANSWER_MAX_BYTES (64 * 1024)
#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 10000L

struct fcm_auth {
    char *static_token; /* TRACKD_FCM_TOKEN; NULL when a key file is used */
    /* From the key file; all NULL with a static token. */
    char *client_email;
    char *token_uri;
    char *project_id;
    EVP_PKEY *key;
    const struct outbound_tls *tls; /* extra CAs, lent; NULL: none */
    /* The last access token fetched (NULL before the first), the `now_s` of that fetch and the
     * time it expires: fetched_s + expires_in, so never later than the real expiry. */
    char *token;
    int64_t token_fetched_s;
    int64_t token_expires_s;
};

/* The body of the token endpoint's answer, capped at ANSWER_MAX_BYTES, NUL-terminated. */
struct answer {
    char *data;
    size_t len;
    bool too_big;
};

static void set_error(char *error, size_t error_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *error, size_t error_size, const char *fmt, ...)
{
    if (error == NULL || error_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, error_size, fmt, ap);
    va_end(ap);
}

/* Describes the newest error on this thread's OpenSSL error queue and empties the queue, so that
 * a stale entry cannot confuse the next OpenSSL user on this thread (libcurl's TLS among them). */
static const char *openssl_reason(void)
{
    unsigned long code = ERR_peek_last_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    ERR_clear_error();
    return reason ? reason : "unknown OpenSSL error";
}

/* Overwrites a secret before freeing it, so it lingers neither in freed memory nor in a core. */
static void free_secret(char *secret)
{
    if (secret == NULL)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

/* True when every byte is visible ASCII: safe to put in an Authorization header as is. */
static bool is_header_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* Copies text from a remote answer into `out`, replacing control bytes, for an error message. */
static void copy_printable(char *out, size_t out_size, const char *in)
{
    size_t i = 0;
    for (; in[i] && i + 1 < out_size; i++)
        out[i] = ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) ? '?' : in[i];
    out[i] = '\0';
}

/* ---- the key file ---- */

/* The non-empty string member `name` of `doc`, lent by json-c; NULL with a message otherwise. */
static const char *key_field(json_object *doc, const char *name, const char *path, char *error,
                             size_t error_size)
{
    json_object *value;
    if (!json_object_object_get_ex(doc, name, &value) ||
        !json_object_is_type(value, json_type_string)) {
        set_error(error, error_size, "TRACKD_FCM_CREDENTIALS file '%s' has no \"%s\" string", path,
                  name);
        return NULL;
    }
    if (json_object_get_string_len(value) == 0) {
        set_error(error, error_size, "TRACKD_FCM_CREDENTIALS file '%s': \"%s\" is empty", path,
                  name);
        return NULL;
    }
    return json_object_get_string(value);
}

/* Refuses passphrase-protected keys instead of letting OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf, (void)size, (void)rwflag, (void)userdata;
    return -1;
}

/* Parses the PEM RSA private key `pem`; NULL with a message naming the file otherwise. */
static EVP_PKEY *parse_private_key(const char *pem, size_t len, const char *path, char *error,
                                   size_t error_size)
{
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(pem, (int)len); /* len <= KEY_FILE_MAX_BYTES */
    if (bio == NULL) {
        set_error(error, error_size, "TRACKD_FCM_CREDENTIALS file '%s': %s", path,
                  openssl_reason());
        return NULL;
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (key == NULL) {
        set_error(error, error_size,
                  "TRACKD_FCM_CREDENTIALS file '%s': \"private_key\" is not an unencrypted PEM "
                  "private key (%s)",
                  path, openssl_reason());
        return NULL;
    }
    if (!EVP_PKEY_is_a(key, "RSA")) {
        set_error(error, error_size,
                  "TRACKD_FCM_CREDENTIALS file '%s': \"private_key\" holds a key of type %s; "
                  "RS256 needs RSA",
                  path, EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "non-RSA");
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* Fills the key-file half of `auth` from the service-account key at `path`. */
static bool load_key_file(struct fcm_auth *auth, const char *path, char *error, size_t error_size)
{
    bool ok = false;
    json_object *doc = NULL;
    size_t len = 0;
    char why[256];
    char *text = small_file_read(path, KEY_FILE_MAX_BYTES, &len, why, sizeof why);
    if (text == NULL) {
        set_error(error, error_size, "TRACKD_FCM_CREDENTIALS file '%s': %s", path, why);
        return false;
    }

    enum json_tokener_error jerr = json_tokener_success;
    doc = json_tokener_parse_verbose(text, &jerr);
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        set_error(error, error_size,
                  "TRACKD_FCM_CREDENTIALS file '%s' is not a JSON object (%s); expected a "
                  "service-account key",
                  path, doc ? "another JSON value" : json_tokener_error_desc(jerr));
        goto cleanup;
    }
    /* An "authorized_user" file (gcloud's application-default login) is a common mix-up. */
    json_object *type;
    if (json_object_object_get_ex(doc, "type", &type) &&
        !(json_object_is_type(type, json_type_string) &&
          strcmp(json_object_get_string(type), "service_account") == 0)) {
        char shown[64];
        copy_printable(shown, sizeof shown, json_object_to_json_string(type));
        set_error(error, error_size,
                  "TRACKD_FCM_CREDENTIALS file '%s' has \"type\": %s; expected a "
                  "\"service_account\" key",
                  path, shown);
        goto cleanup;
    }

    const char *client_email = key_field(doc, "client_email", path, error, error_size);
    const char *private_key =
        client_email ? key_field(doc, "private_key", path, error, error_size) : NULL;
    const char *token_uri =
        private_key ? key_field(doc, "token_uri", path, error, error_size) : NULL;
    const char *project_id =
        token_uri ? key_field(doc, "project_id", path, error, error_size) : NULL;
    if (project_id == NULL)
        goto cleanup;
    if (strncasecmp(token_uri, "https://", 8) != 0 && strncasecmp(token_uri, "http://", 7) != 0) {
        set_error(error, error_size,
                  "TRACKD_FCM_CREDENTIALS file '%s': \"token_uri\" is not an http(s) URL", path);
        goto cleanup;
    }

    auth->key = parse_private_key(private_key, strlen(private_key), path, error, error_size);
    /* The PEM is in the key now; wipe the copy json-c holds (a heap buffer it owns). */
    OPENSSL_cleanse((char *)private_key, strlen(private_key));
    if (auth->key == NULL)
        goto cleanup;
    auth->client_email = strdup(client_email);
    auth->token_uri = strdup(token_uri);
    auth->project_id = strdup(project_id);
    if (!auth->client_email || !auth->token_uri || !auth->project_id) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    ok = true;

cleanup:
    json_object_put(doc);
    small_file_free(text, len);
    return ok;
}

/* ---- the JWT ---- */

/* Signs `len` bytes with RSASSA-PKCS1-v1_5 over SHA-256 (RS256). Returns a new buffer of
 * *sig_len bytes the caller frees, or NULL with a message. */
static unsigned char *sign_rs256(EVP_PKEY *key, const char *data, size_t len, size_t *sig_len,
                                 char *error, size_t error_size)
{
    unsigned char *sig = NULL;
    ERR_clear_error();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* The first Final only reports the signature's size; the second signs. */
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSignUpdate(ctx, data, len) != 1 || EVP_DigestSignFinal(ctx, NULL, sig_len) != 1) {
        set_error(error, error_size, "cannot sign the token request: %s", openssl_reason());
        goto cleanup;
    }
    sig = malloc(*sig_len);
    if (sig == NULL) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    if (EVP_DigestSignFinal(ctx, sig, sig_len) != 1) {
        set_error(error, error_size, "cannot sign the token request: %s", openssl_reason());
        free(sig);
        sig = NULL;
    }

cleanup:
    EVP_MD_CTX_free(ctx); /* accepts NULL */
    return sig;
}

static bool add_claim(json_object *claims, const char *name, json_object *value)
{
    if (value == NULL)
        return false;
    if (json_object_object_add(claims, name, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* The signed assertion for a token request at `now_s`, a new string the caller frees, or NULL
 * with a message. */
static char *make_jwt(const struct fcm_auth *auth, int64_t now_s, char *error, size_t error_size)
{
    char *jwt = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    json_object *claims = json_object_new_object();
    if (claims == NULL || !add_claim(claims, "iss", json_object_new_string(auth->client_email)) ||
        !add_claim(claims, "scope", json_object_new_string(FCM_SCOPE)) ||
        !add_claim(claims, "aud", json_object_new_string(auth->token_uri)) ||
        !add_claim(claims, "iat", json_object_new_int64(now_s)) ||
        !add_claim(claims, "exp", json_object_new_int64(now_s + JWT_LIFETIME_S))) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    const char *claims_json = json_object_to_json_string_ext(
        claims, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (claims_json == NULL) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }

    /* header.claims, then .signature appended in place; each BASE64URL_SIZE counts a NUL, which
     * leaves room for the two dots and the final NUL. */
    size_t header_len = strlen(JWT_HEADER);
    size_t claims_len = strlen(claims_json);
    size_t max_sig = (size_t)EVP_PKEY_get_size(auth->key);
    jwt = malloc(BASE64URL_SIZE(header_len) + BASE64URL_SIZE(claims_len) + BASE64URL_SIZE(max_sig));
    if (jwt == NULL) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    size_t len = base64url_encode((const unsigned char *)JWT_HEADER, header_len, jwt);
    jwt[len++] = '.';
    len += base64url_encode((const unsigned char *)claims_json, claims_len, jwt + len);

    sig = sign_rs256(auth->key, jwt, len, &sig_len, error, error_size);
    if (sig == NULL || sig_len > max_sig) {
        if (sig != NULL)
            set_error(error, error_size, "cannot sign the token request: signature too long");
        free(jwt);
        jwt = NULL;
        goto cleanup;
    }
    jwt[len++] = '.';
    base64url_encode(sig, sig_len, jwt + len);

cleanup:
    free(sig);
    json_object_put(claims);
    return jwt;
}

/* ---- the exchange ---- */

static size_t collect_answer(char *data, size_t size, size_t count, void *userdata)
{
    struct answer *answer = userdata;
    size_t n = size * count;
    if (n > ANSWER_MAX_BYTES - answer->len) {
        answer->too_big = true;
        return 0; /* anything but n makes libcurl abort the transfer */
    }
    char *grown = realloc(answer->data, answer->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + answer->len, data, n);
    answer->data = grown;
    answer->len += n;
    answer->data[answer->len] = '\0';
    return n;
}

/* Describes a non-2xx answer: the status, plus OAuth's "error" and "error_description" when the
 * body carries them ("invalid_grant (Invalid JWT Signature.)"). */
static void describe_refusal(const struct fcm_auth *auth, long status, const struct answer *answer,
                             char *error, size_t error_size)
{
    char detail[300] = "";
    json_object *doc = answer->data ? json_tokener_parse(answer->data) : NULL;
    json_object *code, *description;
    if (doc && json_object_is_type(doc, json_type_object) &&
        json_object_object_get_ex(doc, "error", &code) &&
        json_object_is_type(code, json_type_string)) {
        char shown_code[64], shown_description[200] = "";
        copy_printable(shown_code, sizeof shown_code, json_object_get_string(code));
        if (json_object_object_get_ex(doc, "error_description", &description) &&
            json_object_is_type(description, json_type_string))
            copy_printable(shown_description, sizeof shown_description,
                           json_object_get_string(description));
        snprintf(detail, sizeof detail, ": %s%s%s%s", shown_code, *shown_description ? " (" : "",
                 shown_description, *shown_description ? ")" : "");
    }
    json_object_put(doc);
    set_error(error, error_size, "token endpoint %s answered HTTP %ld%s", auth->token_uri, status,
              detail);
}

/* Reads {"access_token","expires_in","token_type"} into the cache of `auth`. */
static bool accept_answer(struct fcm_auth *auth, int64_t now_s, const struct answer *answer,
                          char *error, size_t error_size)
{
    bool ok = false;
    json_object *doc = answer->data ? json_tokener_parse(answer->data) : NULL;
    json_object *token, *expires_in, *token_type;
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        set_error(error, error_size,
                  "token endpoint %s answered with something other than a "
                  "JSON object",
                  auth->token_uri);
        goto cleanup;
    }
    if (!json_object_object_get_ex(doc, "access_token", &token) ||
        !json_object_is_type(token, json_type_string) ||
        !is_header_token(json_object_get_string(token))) {
        set_error(error, error_size,
                  "token endpoint %s answered without a usable \"access_token\" (a non-empty "
                  "string of visible ASCII)",
                  auth->token_uri);
        goto cleanup;
    }
    if (!json_object_object_get_ex(doc, "expires_in", &expires_in) ||
        !json_object_is_type(expires_in, json_type_int)) {
        set_error(error, error_size, "token endpoint %s answered without an integer \"expires_in\"",
                  auth->token_uri);
        goto cleanup;
    }
    int64_t lifetime = json_object_get_int64(expires_in);
    /* A token that would already be too old to hand out would be fetched again on every call. */
    if (lifetime <= FCM_AUTH_MIN_VALIDITY_S || lifetime > INT32_MAX) {
        set_error(error, error_size,
                  "token endpoint %s answered \"expires_in\": %lld; expected more than %d seconds",
                  auth->token_uri, (long long)lifetime, FCM_AUTH_MIN_VALIDITY_S);
        goto cleanup;
    }
    if (json_object_object_get_ex(doc, "token_type", &token_type) &&
        !(json_object_is_type(token_type, json_type_string) &&
          strcasecmp(json_object_get_string(token_type), "Bearer") == 0)) {
        char shown[64];
        copy_printable(shown, sizeof shown, json_object_to_json_string(token_type));
        set_error(error, error_size,
                  "token endpoint %s answered \"token_type\": %s; expected \"Bearer\"",
                  auth->token_uri, shown);
        goto cleanup;
    }

    char *copy = strdup(json_object_get_string(token));
    if (copy == NULL) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    free_secret(auth->token);
    auth->token = copy;
    auth->token_fetched_s = now_s;
    auth->token_expires_s = now_s + lifetime;
    ok = true;

cleanup:
    json_object_put(doc);
    return ok;
}

/* POSTs a fresh assertion to token_uri and caches the access token it answers with. */
static bool fetch_token(struct fcm_auth *auth, int64_t now_s, char *error, size_t error_size)
{
    bool ok = false;
    char *body = NULL;
    CURL *curl = NULL;
    struct answer answer = {0};
    char curl_error[CURL_ERROR_SIZE] = "";

    char *jwt = make_jwt(auth, now_s, error, error_size);
    if (jwt == NULL)
        goto cleanup;
    size_t body_len = strlen(FORM_PREFIX) + strlen(jwt);
    body = malloc(body_len + 1);
    if (body == NULL) {
        set_error(error, error_size, "out of memory");
        goto cleanup;
    }
    snprintf(body, body_len + 1, "%s%s", FORM_PREFIX, jwt);

    curl = curl_easy_init();
    if (curl == NULL) {
        set_error(error, error_size, "cannot start a libcurl handle for the token request");
        goto cleanup;
    }
    /* POSTFIELDS sends Content-Type: application/x-www-form-urlencoded. Redirects are not
     * followed: the assertion is meant for token_uri only. NOSIGNAL because workers are threads. */
    CURLcode rc;
    if ((rc = curl_easy_setopt(curl, CURLOPT_URL, auth->token_uri)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len)) !=
            CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_answer)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer)) != CURLE_OK ||
        (rc = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error)) != CURLE_OK ||
        (rc = outbound_tls_apply(auth->tls, curl) ? CURLE_OK : CURLE_NOT_BUILT_IN) != CURLE_OK) {
        set_error(error, error_size, "cannot set up the token request to %s: %s", auth->token_uri,
                  curl_easy_strerror(rc));
        goto cleanup;
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        if (answer.too_big)
            set_error(error, error_size, "token endpoint %s answered more than %d bytes",
                      auth->token_uri, ANSWER_MAX_BYTES);
        else
            set_error(error, error_size, "token request to %s failed: %s", auth->token_uri,
                      *curl_error ? curl_error : curl_easy_strerror(rc));
        goto cleanup;
    }
    long status = 0;
    rc = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        set_error(error, error_size, "token request to %s: %s", auth->token_uri,
                  curl_easy_strerror(rc));
        goto cleanup;
    }
    if (status < 200 || status > 299) {
        describe_refusal(auth, status, &answer, error, error_size);
        goto cleanup;
    }
    ok = accept_answer(auth, now_s, &answer, error, error_size);

cleanup:
    curl_easy_cleanup(curl); /* accepts NULL */
    if (answer.data != NULL) /* it holds the access token */
        OPENSSL_cleanse(answer.data, answer.len);
    free(answer.data);
    free(body);
    free(jwt);
    return ok;
}

/* ---- the interface ---- */

struct fcm_auth *fcm_auth_new(const char *static_token, const char *credentials_path, char *error,
                              size_t error_size)
{
    bool has_token = static_token != NULL && *static_token != '\0';
    bool has_key = credentials_path != NULL && *credentials_path != '\0';
    if (!has_token && !has_key) {
        set_error(error, error_size,
                  "push needs TRACKD_FCM_TOKEN (a bearer token) or TRACKD_FCM_CREDENTIALS (a "
                  "service-account key file); neither is set");
        return NULL;
    }
    if (has_token && has_key) {
        set_error(error, error_size,
                  "set only one of TRACKD_FCM_TOKEN and TRACKD_FCM_CREDENTIALS, not both");
        return NULL;
    }
    if (has_token && !is_header_token(static_token)) {
        set_error(error, error_size,
                  "TRACKD_FCM_TOKEN may hold only visible ASCII characters (no spaces or line "
                  "breaks)");
        return NULL;
    }

    struct fcm_auth *auth = calloc(1, sizeof *auth);
    if (auth == NULL) {
        set_error(error, error_size, "out of memory");
        return NULL;
    }
    if (has_token) {
        auth->static_token = strdup(static_token);
        if (auth->static_token == NULL) {
            set_error(error, error_size, "out of memory");
            fcm_auth_free(auth);
            return NULL;
        }
    } else if (!load_key_file(auth, credentials_path, error, error_size)) {
        fcm_auth_free(auth);
        return NULL;
    }
    return auth;
}

const char *fcm_auth_token(struct fcm_auth *auth, int64_t now_s, char *error, size_t error_size)
{
    if (auth->static_token != NULL)
        return auth->static_token;
    /* A clock that went back past the fetch makes the cached expiry meaningless: fetch again. */
    if (auth->token != NULL && now_s >= auth->token_fetched_s &&
        auth->token_expires_s - now_s >= FCM_AUTH_MIN_VALIDITY_S)
        return auth->token;
    if (!fetch_token(auth, now_s, error, error_size))
        return NULL;
    return auth->token;
}

void fcm_auth_use_tls(struct fcm_auth *auth, const struct outbound_tls *tls)
{
    auth->tls = tls;
}

const char *fcm_auth_project_id(const struct fcm_auth *auth)
{
    return auth->project_id;
}

void fcm_auth_free(struct fcm_auth *auth)
{
    if (auth == NULL)
        return;
    free_secret(auth->static_token);
    free_secret(auth->token);
    free(auth->client_email);
    free(auth->token_uri);
    free(auth->project_id);
    EVP_PKEY_free(auth->key);
    free(auth);
}
