/*
 * APNs: the ES256 provider token (signed with a key made here, verified with its public half the
 * way Apple does), when it is reused and re-signed, the device tokens that may go in a URL, and
 * the verdict on Apple's answers.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery/base64url.h"
#include "delivery/apns.h"
#include "delivery/apns_token.h"

#define NOW INT64_C(1790000000)
#define KEY_ID "ABC123DEFG"
#define TEAM_ID "DEF123GHIJ"

static char dir[] = "/tmp/trackd-apns-XXXXXX";
static char key_path[128];
static EVP_PKEY *key; /* the pair; the file holds the private half */

/* Writes `pkey` as unencrypted PKCS#8 PEM (what Apple's .p8 files hold) to dir/name. */
static void write_key(EVP_PKEY *pkey, const char *name, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *name, const char *text, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    key = EVP_EC_gen("P-256");
    cr_assert_not_null(key);
    write_key(key, "AuthKey.p8", key_path, sizeof key_path);
}

static void teardown(void)
{
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq(system(command), 0);
    EVP_PKEY_free(key);
}

TestSuite(apns, .init = setup, .fini = teardown);

/* A JWT taken apart: header and claims parsed, signature checked against `public_key`. */
struct jwt {
    json_object *header;
    json_object *claims;
    bool signature_ok;
};

static struct jwt open_jwt(const char *token, EVP_PKEY *public_key)
{
    struct jwt j = {0};
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    cr_assert(dot1 && dot2 && !strchr(dot2 + 1, '.'), "three parts: %s", token);
    cr_assert_null(strchr(token, '='), "no padding: %s", token);
    size_t len;
    unsigned char *part = base64url_decode(token, (size_t)(dot1 - token), &len);
    cr_assert_not_null(part);
    j.header = json_tokener_parse((char *)part);
    free(part);
    part = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
    cr_assert_not_null(part);
    j.claims = json_tokener_parse((char *)part);
    free(part);
    cr_assert(j.header && j.claims);

    /* JWS carries raw r || s; OpenSSL verifies DER. */
    unsigned char *raw = base64url_decode(dot2 + 1, strlen(dot2 + 1), &len);
    cr_assert_not_null(raw);
    cr_assert_eq(len, 64, "ES256 signatures are 64 bytes, not %zu", len);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    cr_assert_eq(ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)), 1);
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    cr_assert_gt(der_len, 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, public_key), 1);
    j.signature_ok = EVP_DigestVerify(ctx, der, (size_t)der_len, (const unsigned char *)token,
                                      (size_t)(dot2 - token)) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    free(raw);
    return j;
}

static void close_jwt(struct jwt *j)
{
    json_object_put(j->header);
    json_object_put(j->claims);
}

/* The public half only, as Apple holds it. */
static EVP_PKEY *public_half(EVP_PKEY *pair)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pair, &der);
    cr_assert_gt(len, 0);
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    cr_assert_not_null(pub);
    return pub;
}

Test(apns, the_token_is_es256_with_kid_iss_and_iat_and_verifies_with_the_public_key)
{
    char why[256];
    struct apns_token *token = apns_token_new(key_path, KEY_ID, TEAM_ID, why, sizeof why);
    cr_assert_not_null(token, "%s", why);
    uint64_t generation = 0;
    const char *jwt = apns_token_get(token, NOW, &generation, why, sizeof why);
    cr_assert_not_null(jwt, "%s", why);
    cr_assert_eq(generation, 1);
    EVP_PKEY *pub = public_half(key);
    struct jwt j = open_jwt(jwt, pub);
    cr_assert(j.signature_ok, "the signature verifies with the public key");
    json_object *expected = json_tokener_parse("{\"alg\":\"ES256\",\"kid\":\"" KEY_ID "\"}");
    cr_assert(json_object_equal(j.header, expected), "header %s",
              json_object_to_json_string(j.header));
    json_object_put(expected);
    expected = json_tokener_parse("{\"iss\":\"" TEAM_ID "\",\"iat\":1790000000}");
    cr_assert(json_object_equal(j.claims, expected), "claims %s",
              json_object_to_json_string(j.claims));
    json_object_put(expected);
    close_jwt(&j);

    /* Another key's public half does not verify it. */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    j = open_jwt(jwt, other);
    cr_assert_not(j.signature_ok);
    close_jwt(&j);
    EVP_PKEY_free(other);
    EVP_PKEY_free(pub);
    apns_token_free(token);
}

/* The iat of a token. */
static int64_t iat_of(const char *jwt)
{
    EVP_PKEY *pub = public_half(key);
    struct jwt j = open_jwt(jwt, pub);
    cr_assert(j.signature_ok);
    int64_t iat = json_object_get_int64(json_object_object_get(j.claims, "iat"));
    close_jwt(&j);
    EVP_PKEY_free(pub);
    return iat;
}

Test(apns, the_token_is_reused_for_40_minutes_then_signed_again)
{
    char why[256];
    struct apns_token *token = apns_token_new(key_path, KEY_ID, TEAM_ID, why, sizeof why);
    cr_assert_not_null(token, "%s", why);
    uint64_t generation = 0;
    char *first = strdup(apns_token_get(token, NOW, &generation, why, sizeof why));
    const char *again =
        apns_token_get(token, NOW + APNS_TOKEN_REFRESH_S - 1, &generation, why, sizeof why);
    cr_assert_str_eq(again, first, "reused just before 40 minutes");
    cr_assert_eq(generation, 1);
    cr_assert_eq(APNS_TOKEN_REFRESH_S, 2400);
    cr_assert(APNS_TOKEN_REFRESH_S >= 20 * 60 && APNS_TOKEN_REFRESH_S < 60 * 60,
              "between Apple's 20-minute floor and its 60-minute limit");

    const char *renewed =
        apns_token_get(token, NOW + APNS_TOKEN_REFRESH_S, &generation, why, sizeof why);
    cr_assert_str_neq(renewed, first, "signed again at 40 minutes");
    cr_assert_eq(generation, 2);
    cr_assert_eq(iat_of(renewed), NOW + APNS_TOKEN_REFRESH_S);

    /* A clock that went back before the iat gets a new token rather than one from its future. */
    cr_assert_eq(iat_of(apns_token_get(token, NOW + 100, &generation, why, sizeof why)), NOW + 100);
    cr_assert_eq(generation, 3);
    free(first);
    apns_token_free(token);
}

Test(apns, an_expired_token_is_signed_again_once_however_many_pushes_report_it)
{
    char why[256];
    struct apns_token *token = apns_token_new(key_path, KEY_ID, TEAM_ID, why, sizeof why);
    cr_assert_not_null(token, "%s", why);
    uint64_t used = 0, renewed = 0;
    char *first = strdup(apns_token_get(token, NOW, &used, why, sizeof why));
    apns_token_expire(token, used);
    /* Within the same second: the new token has the same iat, and is still told apart. */
    char *second = strdup(apns_token_get(token, NOW, &renewed, why, sizeof why));
    cr_assert_str_neq(second, first);
    cr_assert_neq(renewed, used);
    /* Other pushes that carried the first token come back expired too: no third signing. */
    apns_token_expire(token, used);
    apns_token_expire(token, used);
    uint64_t now_used = 0;
    cr_assert_str_eq(apns_token_get(token, NOW + 1, &now_used, why, sizeof why), second);
    cr_assert_eq(now_used, renewed);
    /* The new one expiring in turn is signed again. */
    apns_token_expire(token, renewed);
    cr_assert_str_neq(apns_token_get(token, NOW + 2, &now_used, why, sizeof why), second);
    free(first);
    free(second);
    apns_token_free(token);
}

Test(apns, key_files_that_are_not_p256_keys_are_named_as_such)
{
    char why[256], path[128];
    cr_assert(apns_token_check_key(key_path, why, sizeof why), "%s", why);

    cr_assert_not(apns_token_check_key("/nonexistent/AuthKey.p8", why, sizeof why));
    cr_assert_str_eq(why, "cannot read: No such file or directory");
    cr_assert_not(apns_token_check_key(dir, why, sizeof why));
    cr_assert_str_eq(why, "cannot read: Is a directory");

    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    write_key(p384, "p384.p8", path, sizeof path);
    EVP_PKEY_free(p384);
    cr_assert_not(apns_token_check_key(path, why, sizeof why));
    cr_assert_str_eq(why, "not an EC P-256 private key (PKCS#8 PEM .p8)");

    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    write_key(ed, "ed25519.p8", path, sizeof path);
    EVP_PKEY_free(ed);
    cr_assert_not(apns_token_check_key(path, why, sizeof why));
    cr_assert_str_eq(why, "not an EC P-256 private key (PKCS#8 PEM .p8)");

    write_text("garbage.p8", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", path,
               sizeof path);
    cr_assert_not(apns_token_check_key(path, why, sizeof why));
    cr_assert_str_eq(why, "not an EC P-256 private key (PKCS#8 PEM .p8)");

    /* An encrypted key is refused, never prompted for. */
    snprintf(path, sizeof path, "%s/encrypted.p8", dir);
    FILE *f = fopen(path, "w");
    cr_assert_eq(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_128_cbc(), "secret", 6, NULL, NULL), 1);
    fclose(f);
    cr_assert_not(apns_token_check_key(path, why, sizeof why));
    cr_assert_str_eq(why, "not an EC P-256 private key (PKCS#8 PEM .p8)");
    cr_assert_null(apns_token_new(path, KEY_ID, TEAM_ID, why, sizeof why));
}

Test(apns, only_tokens_that_need_no_escaping_go_into_the_url)
{
    cr_assert(
        apns_device_token_ok("8f1e0d2c3b4a59687706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100"));
    cr_assert(apns_device_token_ok("ABCDEF0123"));
    cr_assert_not(apns_device_token_ok(""));
    cr_assert_not(apns_device_token_ok("../../3/device/x"));
    cr_assert_not(apns_device_token_ok("abc def"));
    cr_assert_not(apns_device_token_ok("dQw4w9WgXcQ:APA91bH-fcm-token"), "an FCM token");
    cr_assert_not(apns_device_token_ok("abc?x=1"));
    char longest[APNS_DEVICE_TOKEN_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[APNS_DEVICE_TOKEN_MAX] = '\0';
    cr_assert(apns_device_token_ok(longest));
    longest[APNS_DEVICE_TOKEN_MAX] = 'a';
    longest[APNS_DEVICE_TOKEN_MAX + 1] = '\0';
    cr_assert_not(apns_device_token_ok(longest));
}

Test(apns, answers_are_classified_with_apples_reason)
{
    struct {
        long status;
        const char *body;
        enum delivery_verdict verdict;
        const char *reason;
    } cases[] = {
        {200, "", DELIVERY_SENT, ""},
        {410, "{\"reason\":\"Unregistered\",\"timestamp\":1790000000000}", DELIVERY_GONE,
         "Unregistered"},
        {400, "{\"reason\":\"BadDeviceToken\"}", DELIVERY_GONE, "BadDeviceToken"},
        {400, "{\"reason\":\"DeviceTokenNotForTopic\"}", DELIVERY_DEAD, "DeviceTokenNotForTopic"},
        {400, "{\"reason\":\"PayloadEmpty\"}", DELIVERY_DEAD, "PayloadEmpty"},
        {403, "{\"reason\":\"ExpiredProviderToken\"}", DELIVERY_RETRY, "ExpiredProviderToken"},
        {403, "{\"reason\":\"InvalidProviderToken\"}", DELIVERY_DEAD, "InvalidProviderToken"},
        {413, "{\"reason\":\"PayloadTooLarge\"}", DELIVERY_DEAD, "PayloadTooLarge"},
        {429, "{\"reason\":\"TooManyRequests\"}", DELIVERY_RETRY, "TooManyRequests"},
        {500, "{\"reason\":\"InternalServerError\"}", DELIVERY_RETRY, "InternalServerError"},
        {503, "{\"reason\":\"ServiceUnavailable\"}", DELIVERY_RETRY, "ServiceUnavailable"},
        {0, "", DELIVERY_RETRY, ""},
        {404, "not json", DELIVERY_DEAD, ""},
        {400, "{\"reason\":\"bad\\nline\"}", DELIVERY_DEAD, "bad?line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char reason[64] = "x";
        cr_assert_eq(apns_classify(cases[i].status, cases[i].body, reason, sizeof reason),
                     cases[i].verdict, "case %zu (status %ld)", i, cases[i].status);
        cr_assert_str_eq(reason, cases[i].reason, "case %zu", i);
    }
}
