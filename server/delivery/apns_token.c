#include "delivery/apns_token.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/small_file.h"
#include "delivery/base64url.h"

/* Apple's .p8 files are about 250 bytes. */
#define KEY_FILE_MAX_BYTES (64 * 1024)
#define NOT_A_KEY "not an EC P-256 private key (PKCS#8 PEM .p8)"
/* ES256 signs with raw r || s, each a 32-byte big-endian number (RFC 7518 §3.4). */
#define ES256_HALF 32

struct apns_token {
    EVP_PKEY *key;
    char *key_id;
    char *team_id;
    char *jwt;           /* the current token, NULL before the first or after it expired */
    int64_t issued_s;    /* its iat */
    uint64_t generation; /* how many tokens were signed: the number of the current one */
};

/* Refuses passphrase-protected keys instead of letting OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *cls)
{
    (void)buf, (void)size, (void)rwflag, (void)cls;
    return -1;
}

/* Reads and parses the key of `path`; NULL with the reason in `why`. */
static EVP_PKEY *load_key(const char *path, char *why, size_t why_size)
{
    size_t len = 0;
    char *pem = small_file_read(path, KEY_FILE_MAX_BYTES, &len, why, why_size);
    if (pem == NULL)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error(); /* leave nothing on this thread's queue for libcurl to trip over */
    char group[64] = "";
    size_t group_len = 0;
    if (key != NULL && (!EVP_PKEY_is_a(key, "EC") ||
                        EVP_PKEY_get_group_name(key, group, sizeof group, &group_len) != 1 ||
                        OBJ_sn2nid(group) != NID_X9_62_prime256v1)) {
        EVP_PKEY_free(key);
        key = NULL;
        ERR_clear_error();
    }
    if (key == NULL)
        snprintf(why, why_size, NOT_A_KEY);
    small_file_free(pem, len);
    return key;
}

bool apns_token_check_key(const char *path, char *why, size_t why_size)
{
    EVP_PKEY *key = load_key(path, why, why_size);
    EVP_PKEY_free(key);
    return key != NULL;
}

struct apns_token *apns_token_new(const char *path, const char *key_id, const char *team_id,
                                  char *why, size_t why_size)
{
    struct apns_token *token = calloc(1, sizeof *token);
    if (token == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    token->key = load_key(path, why, why_size);
    token->key_id = strdup(key_id ? key_id : "");
    token->team_id = strdup(team_id ? team_id : "");
    if (token->key == NULL || token->key_id == NULL || token->team_id == NULL) {
        if (token->key != NULL)
            snprintf(why, why_size, "out of memory");
        apns_token_free(token);
        return NULL;
    }
    return token;
}

/* Signs `len` bytes ES256: SHA-256, ECDSA, and the DER signature OpenSSL makes turned into the
 * raw r || s that JWS wants. false with a message. */
static bool sign_es256(EVP_PKEY *key, const char *data, size_t len,
                       unsigned char raw[2 * ES256_HALF], char *error, size_t error_size)
{
    bool ok = false;
    unsigned char der[128]; /* a P-256 signature in DER is at most 72 bytes */
    size_t der_len = sizeof der;
    ECDSA_SIG *sig = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)data, len) != 1)
        goto cleanup;
    const unsigned char *p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r = NULL, *s = NULL;
    if (sig != NULL)
        ECDSA_SIG_get0(sig, &r, &s);
    ok = sig != NULL && BN_bn2binpad(r, raw, ES256_HALF) == ES256_HALF &&
         BN_bn2binpad(s, raw + ES256_HALF, ES256_HALF) == ES256_HALF;
cleanup:
    if (!ok) {
        unsigned long code = ERR_peek_last_error();
        snprintf(error, error_size, "cannot sign the APNs token: %s",
                 code && ERR_reason_error_string(code) ? ERR_reason_error_string(code)
                                                       : "unknown OpenSSL error");
    }
    ERR_clear_error();
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(ctx);
    return ok;
}

static const char *compact(json_object *object)
{
    return json_object_to_json_string_ext(object,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A new JWT for `now_s`, which the caller frees; NULL with a message. */
static char *make_jwt(const struct apns_token *token, int64_t now_s, char *error, size_t error_size)
{
    char *jwt = NULL;
    json_object *header = json_object_new_object();
    json_object *claims = json_object_new_object();
    if (header == NULL || claims == NULL ||
        json_object_object_add(header, "alg", json_object_new_string("ES256")) != 0 ||
        json_object_object_add(header, "kid", json_object_new_string(token->key_id)) != 0 ||
        json_object_object_add(claims, "iss", json_object_new_string(token->team_id)) != 0 ||
        json_object_object_add(claims, "iat", json_object_new_int64(now_s)) != 0)
        goto out_of_memory;
    const char *header_text = compact(header), *claims_text = compact(claims);
    if (header_text == NULL || claims_text == NULL)
        goto out_of_memory;
    size_t header_len = strlen(header_text), claims_len = strlen(claims_text);
    /* Each BASE64URL_SIZE counts a NUL: room for the two dots and the final NUL. */
    jwt = malloc(BASE64URL_SIZE(header_len) + BASE64URL_SIZE(claims_len) +
                 BASE64URL_SIZE(2 * ES256_HALF));
    if (jwt == NULL)
        goto out_of_memory;
    size_t len = base64url_encode((const unsigned char *)header_text, header_len, jwt);
    jwt[len++] = '.';
    len += base64url_encode((const unsigned char *)claims_text, claims_len, jwt + len);
    unsigned char signature[2 * ES256_HALF];
    if (!sign_es256(token->key, jwt, len, signature, error, error_size)) {
        free(jwt);
        jwt = NULL;
        goto cleanup;
    }
    jwt[len++] = '.';
    base64url_encode(signature, sizeof signature, jwt + len);
    goto cleanup;
out_of_memory:
    snprintf(error, error_size, "out of memory");
cleanup:
    json_object_put(header);
    json_object_put(claims);
    return jwt;
}

const char *apns_token_get(struct apns_token *token, int64_t now_s, uint64_t *generation,
                           char *error, size_t error_size)
{
    bool fresh = token->jwt != NULL && now_s >= token->issued_s &&
                 now_s - token->issued_s < APNS_TOKEN_REFRESH_S;
    if (!fresh) {
        char *jwt = make_jwt(token, now_s, error, error_size);
        if (jwt == NULL)
            return NULL;
        free(token->jwt);
        token->jwt = jwt;
        token->issued_s = now_s;
        token->generation++;
    }
    *generation = token->generation;
    return token->jwt;
}

void apns_token_expire(struct apns_token *token, uint64_t generation)
{
    if (token->jwt != NULL && token->generation == generation) {
        free(token->jwt);
        token->jwt = NULL;
    }
}

void apns_token_free(struct apns_token *token)
{
    if (token == NULL)
        return;
    EVP_PKEY_free(token->key);
    free(token->key_id);
    free(token->team_id);
    free(token->jwt);
    free(token);
}
