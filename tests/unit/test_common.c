#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/randomkey.h"
#include "common/sha256.h"

/* ---- sha256: FIPS 180-4 vectors plus every padding boundary ---- */

struct digest_case {
    char fill;
    size_t len;
    const char *text; /* used instead of fill when set */
    const char *hex;
};

static struct digest_case matches_reference_digests_cases[] = {
    {0, 0, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {0, 0, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {0, 0, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {'a', 55, NULL, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {'a', 56, NULL, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {'a', 64, NULL, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    {'a', 1000, NULL, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"},
};

static void check_matches_reference_digests(const struct digest_case *c)
{
    char buf[1000];
    const char *data = c->text;
    size_t len = c->text ? strlen(c->text) : c->len;
    if (data == NULL) {
        memset(buf, c->fill, c->len);
        data = buf;
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(data, len, digest);
    char hex[2 * SHA256_DIGEST_SIZE + 1];
    randomkey_to_hex(digest, sizeof digest, hex);
    cr_assert_str_eq(hex, c->hex, "digest of %zu bytes", len);
}

Test(sha256, matches_reference_digests)
{
    for (size_t i = 0;
         i < sizeof matches_reference_digests_cases / sizeof matches_reference_digests_cases[0];
         i++)
        check_matches_reference_digests(&matches_reference_digests_cases[i]);
}

Test(sha256, equal_compares_whole_digests)
{
    uint8_t a[SHA256_DIGEST_SIZE] = {0}, b[SHA256_DIGEST_SIZE] = {0};
    cr_assert(sha256_equal(a, b));
    b[SHA256_DIGEST_SIZE - 1] = 1;
    cr_assert_not(sha256_equal(a, b));
}

Test(randomkey, gives_distinct_hex_keys)
{
    char a[41], b[41];
    cr_assert(randomkey_hex(20, a));
    cr_assert(randomkey_hex(20, b));
    cr_assert_eq(strlen(a), 40);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 40);
    cr_assert_str_neq(a, b);
}

/* ---- the error registry ---- */

Test(errors, every_code_has_a_status_reason_and_hint)
{
    for (int e = 0; e < TRACKD_ERR_COUNT_; e++) {
        unsigned status = errors_http_status((enum trackd_error)e);
        cr_assert(e == TRACKD_ERR_OK ? status == 200 : status >= 400 && status < 600,
                  "code %d has status %u", e, status);
        cr_assert(strlen(errors_reason((enum trackd_error)e)) > 0);
        cr_assert(strlen(errors_hint((enum trackd_error)e)) > 0);
        for (int other = 0; other < e; other++)
            cr_assert_str_neq(errors_reason((enum trackd_error)e),
                              errors_reason((enum trackd_error)other), "reasons must be unique");
    }
    cr_assert_eq(errors_http_status(TRACKD_ERR_UNAUTHORIZED), 401);
    cr_assert_eq(errors_http_status(TRACKD_ERR_BODY_TOO_LARGE), 413);
    cr_assert_eq(errors_http_status(TRACKD_ERR_OVERLOADED), 503);
    cr_assert_str_eq(errors_reason((enum trackd_error)9999), "internal");
}

/* ---- configuration ---- */

static const char *const *fake_env;

static const char *fake_lookup(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

static int load_with(const char *const *env, bool need_db, struct config *cfg, char *errors,
                     size_t size)
{
    fake_env = env;
    FILE *out = fmemopen(errors, size, "w");
    int invalid = config_load(cfg, fake_lookup, need_db, out);
    fclose(out);
    return invalid;
}

Test(config, defaults_apply_when_nothing_is_set)
{
    static const char *const env[] = {"DATABASE_URL", "postgresql:///x", NULL};
    struct config cfg;
    char errors[512] = "";
    cr_assert_eq(load_with(env, true, &cfg, errors, sizeof errors), 0, "%s", errors);
    cr_assert_str_eq(cfg.listen_host, "127.0.0.1");
    cr_assert_eq(cfg.listen_port, 8080);
    cr_assert_eq(cfg.log_level, LOG_LEVEL_INFO);
    cr_assert_eq(cfg.write_timeout, 5);
    cr_assert_eq(cfg.connection_timeout, 30);
    cr_assert_eq(cfg.read_timeout, 30);
    cr_assert_eq(cfg.receive_max_bytes, 32u * 1024 * 1024);
    config_free(&cfg);
}

Test(config, every_invalid_setting_is_named)
{
    static const char *const env[] = {"TRACKD_LISTEN",
                                      "nowhere",
                                      "TRACKD_LOG_LEVEL",
                                      "loud",
                                      "TRACKD_MAX_CONNECTIONS",
                                      "-3",
                                      "TRACKD_READ_TIMEOUT",
                                      "0",
                                      "TRACKD_RECEIVE_MAX_BYTES",
                                      "1000",
                                      NULL};
    struct config cfg;
    char errors[1024] = "";
    cr_assert_eq(load_with(env, true, &cfg, errors, sizeof errors), 6, "%s", errors);
    cr_assert(strstr(errors, "TRACKD_READ_TIMEOUT=0") != NULL, "%s", errors);
    cr_assert(strstr(errors, "TRACKD_RECEIVE_MAX_BYTES=1000 is invalid: expected an integer from "
                             "1048576") != NULL,
              "%s", errors);
    cr_assert(strstr(errors, "DATABASE_URL") != NULL, "%s", errors);
    cr_assert(strstr(errors, "TRACKD_LISTEN=nowhere") != NULL, "%s", errors);
    cr_assert(strstr(errors, "TRACKD_LOG_LEVEL=loud") != NULL, "%s", errors);
    cr_assert(strstr(errors, "TRACKD_MAX_CONNECTIONS=-3") != NULL, "%s", errors);
    config_free(&cfg);
}

Test(config, database_url_is_optional_when_not_needed)
{
    static const char *const env[] = {NULL};
    struct config cfg;
    char errors[256] = "";
    cr_assert_eq(load_with(env, false, &cfg, errors, sizeof errors), 0, "%s", errors);
    cr_assert_null(cfg.database_url);
    config_free(&cfg);
}

Test(config, masks_passwords_in_every_form_of_connection_string)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"postgresql://user:secret@db:5432/trackd", "postgresql://user:***@db:5432/trackd"},
        {"postgres://u:p%40ss@db/x", "postgres://u:***@db/x"},
        {"postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"},
        {"postgresql://trackd@/trackd?host=/tmp", "postgresql://trackd@/trackd?host=/tmp"},
        {"postgresql://db/x?user=u&password=sec%20ret&sslmode=require",
         "postgresql://db/x?user=u&password=***&sslmode=require"},
        {"postgresql://u:pw@db/x?password=two#frag", "postgresql://u:***@db/x?password=***#frag"},
        {"host=db password=secret dbname=x", "host=db password=*** dbname=x"},
        {"host=db password='sec ret' dbname=x", "host=db password=*** dbname=x"},
        {"host=db password = spaced dbname=x", "host=db password = *** dbname=x"},
        {"password='it\\'s \\\\ here' host=db", "password=*** host=db"},
        {"password=back\\ slash host=db", "password=*** host=db"},
        {"  PASSWORD=upper", "  PASSWORD=***"},
        {"host=db", "host=db"},
        {"", ""},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_mask_url(cases[i].in, out, sizeof out);
        cr_assert_str_eq(out, cases[i].out, "masking [%s]", cases[i].in);
        cr_assert_null(strstr(out, "sec"), "[%s] leaks", cases[i].in);
    }
    /* A buffer too small cuts the copy, never overruns it. */
    char small[12];
    config_mask_url("host=db password=secret", small, sizeof small);
    cr_assert_str_eq(small, "host=db pas");
}

/* ---- JSON hygiene ---- */

struct json_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    bool parses;
    bool storable;
    const char *bad_path;
};

static struct json_case refuses_what_postgresql_would_cases[] = {
    {"{\"a\":1}", 0, true, true, NULL},
    {"{\"a\":{\"b\":[1,\"x\\u0000y\"]}}", 0, false, false, NULL},
    {"{\"a\\u0000b\":1}", 0, false, false, NULL},
    {"{\"a\":\"\\\\u0000\"}", 0, true, true, NULL},
    {"{\"a\":1e-99999}", 0, true, false, "a"},
    {"{\"a\":1e-999}", 0, true, false, "a"},
    {"{\"a\":[0, 1e-300, 0e-999]}", 0, true, true, NULL},
    {"{\"a\":1.}", 0, false, false, NULL},
    {"{\"a\":-1.}", 0, false, false, NULL},
    {"{\"a\":1.e5}", 0, false, false, NULL},
    {"{\"a\":-.5}", 0, false, false, NULL},
    {"{\"a\":.5}", 0, false, false, NULL},
    {"{\"a\":01}", 0, false, false, NULL},
    {"{\"a\":1e}", 0, false, false, NULL},
    {"{\"a\":[-0, 0.5, 1E+2, -1e-2, 10]}", 0, true, true, NULL},
    {"{\"a\":\"1. -.5 01\"}", 0, true, true, NULL},
    {"{\"a\":1.2345678901234567890123456789012345678901}", 0, true, false, "a"},
    {"{\"a\":1.234567890123456789012345678901234567890}", 0, true, true, NULL},
    {"{\"a\":1.5e300}", 0, true, true, NULL},
    {"{\"a\":-123456789012345678901234567890}", 0, true, false, "a"},
    {"{\"a\":1e400}", 0, true, false, "a"},
    {"{\"a\":-1e400}", 0, true, false, "a"},
    {"{\"a\":123456789012345678901234567890}", 0, true, false, "a"},
    {"{\"a\":9223372036854775806}", 0, true, true, NULL},
    {"{\"a\":[0,{\"b\":[1,1e400]}]}", 0, true, false, "a[1].b[1]"},
    {"{\"a\":\"x\\\\\",\"b\":1.}", 0, false, false, NULL},
    {"{\"a\":NaN}", 0, true, false, "a"},
    {"{\"a\":1,}", 0, false, false, NULL},
    {"{\"a\":\"\xff\"}", 0, false, false, NULL},
    {"{\"a\":1} trailing", 0, false, false, NULL},
    {"{\"a\":1}\n", 0, true, true, NULL},
    {"{\"a\":1}\0{}", 10, false, false, NULL},
    {"null", 0, false, false, NULL},
    {"", 0, false, false, NULL},
    {"{\"a\":", 0, false, false, NULL},
};

static void check_refuses_what_postgresql_would(const struct json_case *c)
{
    char error[160] = "";
    size_t len = c->len ? c->len : strlen(c->text);
    json_object *root = json_check_parse(c->text, len, error, sizeof error);
    cr_assert_eq(root != NULL, c->parses, "parse of %s: %s", c->text, error);
    if (root == NULL) {
        cr_assert(strlen(error) > 0, "a refusal says why");
        return;
    }
    char path[96], message[200];
    bool ok = json_check_storable(root, "", path, sizeof path, message, sizeof message);
    cr_assert_eq(ok, c->storable, "storable %s", c->text);
    if (!ok)
        cr_assert_str_eq(path, c->bad_path);
    json_object_put(root);
}

Test(json_check, refuses_what_postgresql_would)
{
    for (size_t i = 0; i < sizeof refuses_what_postgresql_would_cases /
                               sizeof refuses_what_postgresql_would_cases[0];
         i++)
        check_refuses_what_postgresql_would(&refuses_what_postgresql_would_cases[i]);
}

/* Each thread reuses one parser: a body it refused halfway leaves nothing behind for the next. */
Test(json_check, parses_again_after_a_refusal)
{
    const char *bodies[] = {"{\"a\":[1,{\"b\":", "{\"a\":1,\"a\":2}", "[[[", "{\"c\":[true]}"};
    char error[160];
    for (size_t i = 0; i < 3; i++)
        cr_assert_null(json_check_parse(bodies[i], strlen(bodies[i]), error, sizeof error));
    json_object *root = json_check_parse(bodies[3], strlen(bodies[3]), error, sizeof error);
    cr_assert_not_null(root, "%s", error);
    cr_assert_str_eq(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), bodies[3]);
    json_object_put(root);
}

/* A path longer than the caller's buffer is cut, not overrun. */
Test(json_check, cuts_a_long_path_to_the_buffer)
{
    const char *text = "{\"properties\":{\"a_rather_long_key\":{\"another_long_key\":[1e400]}}}";
    char error[160];
    json_object *root = json_check_parse(text, strlen(text), error, sizeof error);
    cr_assert_not_null(root, "%s", error);
    char path[16], message[200];
    cr_assert_not(json_check_storable(root, "", path, sizeof path, message, sizeof message));
    cr_assert_str_eq(path, "properties.a_ra");
    json_object_put(root);
}

Test(json_check, refuses_nesting_deeper_than_the_limit)
{
    char deep[2 * (JSON_CHECK_MAX_DEPTH + 10) + 1];
    size_t n = JSON_CHECK_MAX_DEPTH + 10;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    char error[160];
    cr_assert_null(json_check_parse(deep, 2 * n, error, sizeof error));
}

/* A key written twice in one object is refused, naming the object; equal keys in different
 * objects, and colons inside strings, are not duplicates. */
static const struct {
    const char *text;
    const char *error; /* NULL: accepted */
} duplicate_key_cases[] = {
    {"{\"userId\":\"a\",\"userId\":\"b\"}", "body has a duplicate key"},
    {"{\"properties\":{\"a\":1,\"b\":{},\"a\":2}}", "properties has a duplicate key"},
    {"{\"batch\":[{\"x\":1},{\"x\":1,\"y\":{\"k\":1,\"k\":1}}]}", "batch[1].y has a duplicate key"},
    {"{\"a\":{\"k\":1},\"b\":{\"k\":1},\"c\":[{\"k\":\"x:y\"}]}", NULL},
    {"{\"a\\\"b:\":1,\"a\\\"b\":2}", NULL},
    {"{\"a\":{\"k\":{\"z\":1},\"k\":{\"z\":2}},\"b\":{\"m\":1}}", "a has a duplicate key"},
    {"{\"\\u0061\":1,\"a\":2}", "body has a duplicate key"},
};

Test(json_check, refuses_duplicate_keys_naming_the_object)
{
    for (size_t i = 0; i < sizeof duplicate_key_cases / sizeof duplicate_key_cases[0]; i++) {
        const char *text = duplicate_key_cases[i].text;
        char error[160] = "";
        json_object *root = json_check_parse(text, strlen(text), error, sizeof error);
        if (duplicate_key_cases[i].error == NULL) {
            cr_assert_not_null(root, "%s: %s", text, error);
            json_object_put(root);
        } else {
            cr_assert_null(root, "%s was accepted", text);
            cr_assert_str_eq(error, duplicate_key_cases[i].error, "%s", text);
        }
    }
}
