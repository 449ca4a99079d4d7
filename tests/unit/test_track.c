#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_fields.h"
#include "api/track_v1.h"
#include "api/track_v2.h"
#include "common/timeutil.h"

/* 2026-11-28T09:50:00Z, the receive time of every case. */
#define RECEIVED_US (INT64_C(1795859400) * TIMEUTIL_US_PER_SEC)
/* 2023-11-14T22:13:20Z, the unix-seconds timestamp the cases send. */
#define SENT_US (INT64_C(1700000000) * TIMEUTIL_US_PER_SEC)

/* The path parameters the HTTP layer passes: decoded {identifier} (and {token}), or none. */
static const char *const PERSON_U1[] = {"u1", NULL};
static const char *const NO_PARAMS[] = {NULL, NULL};

/* Whether a v1 endpoint names its person in the path. */
static bool has_person_path(enum track_v1_endpoint endpoint)
{
    return endpoint != TRACK_V1_ANONYMOUS_EVENT && endpoint != TRACK_V1_MERGE &&
           endpoint != TRACK_V1_METRIC && endpoint != TRACK_V1_PUSH_EVENT;
}

static struct api_result v1_with(enum track_v1_endpoint endpoint, const char *const *params,
                                 const char *body)
{
    struct api_result result;
    track_v1_parse_request(endpoint, params, body, strlen(body), RECEIVED_US, &result);
    return result;
}

/* A v1 call as the HTTP layer makes it: person endpoints get "u1" in the path, others nothing. */
static struct api_result v1(enum track_v1_endpoint endpoint, const char *body)
{
    return v1_with(endpoint, has_person_path(endpoint) ? PERSON_U1 : NO_PARAMS, body);
}

static struct api_result v2(enum track_v2_endpoint endpoint, const char *body)
{
    struct api_result result;
    track_v2_parse_request(endpoint, body, strlen(body), RECEIVED_US, &result);
    return result;
}

/* A string of `n` copies of `c`. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* `fmt` with its one %s filled by `n` copies of `c`. */
static char *fill(const char *fmt, char c, size_t n)
{
    char *pad = repeat(c, n);
    char *s = malloc(strlen(fmt) + n + 1);
    cr_assert_not_null(s);
    sprintf(s, fmt, pad);
    free(pad);
    return s;
}

/* Asserts that `r` holds exactly one accepted command and no problem. */
static void expect_one_command(const struct api_result *r, const char *what)
{
    cr_assert_eq(r->problem_count, 0, "%s: refused (%s): %s", what,
                 r->problem_count ? r->problems[0].field : "",
                 r->problem_count ? r->problems[0].message : "");
    cr_assert_eq(r->command_count, 1, "%s", what);
    cr_assert_not(r->whole_request_invalid, "%s", what);
}

/* Asserts that `r` is one refusal of the whole request naming `field`, whose message contains
 * `message` (or equals it when `exact`). */
static void expect_refusal(const struct api_result *r, const char *what, const char *field,
                           const char *message, bool exact, enum trackd_error code)
{
    cr_assert_eq(r->command_count, 0, "%s should be refused", what);
    cr_assert_eq(r->problem_count, 1, "%s", what);
    cr_assert(r->whole_request_invalid, "%s", what);
    const struct api_problem *p = &r->problems[0];
    cr_assert_str_eq(p->field, field, "%s: field", what);
    if (exact)
        cr_assert_str_eq(p->message, message, "%s: message", what);
    else
        cr_assert(strstr(p->message, message) != NULL, "%s: '%s' lacks '%s'", what, p->message,
                  message);
    cr_assert_eq(p->code, code, "%s: code %d", what, (int)p->code);
    cr_assert_eq(p->batch_index, -1, "%s", what);
}

/* ---- Shared readers: identifiers and timestamps ------------------------------------------- */

/* An identifier in a path segment: refused when `value` is NULL. */
struct path_case {
    const char *text;
    enum identifier_type type;
    const char *value;   /* NULL when refused */
    const char *message; /* part of the refusal */
};

static const struct path_case path_identifier_cases[] = {
    {"u1", IDENTIFIER_ID, "u1", NULL},
    {"a@x.com", IDENTIFIER_EMAIL, "a@x.com", NULL},
    {"A@X.com", IDENTIFIER_EMAIL, "A@X.com", NULL}, /* case is the store's business */
    {"cio_abc", IDENTIFIER_CIO_ID, "abc", NULL},
    {"cio_03000001", IDENTIFIER_CIO_ID, "03000001", NULL},
    {"+15551234567", IDENTIFIER_ID, "+15551234567", NULL}, /* a phone in the path is an id */
    {"a b&c+d", IDENTIFIER_ID, "a b&c+d", NULL},           /* already percent-decoded */
    {"user_cio_1", IDENTIFIER_ID, "user_cio_1", NULL},
    {"cio_", IDENTIFIER_NONE, NULL, "cio_ must be followed by a cio_id"},
    {"cio_ ", IDENTIFIER_NONE, NULL, "cio_ must be followed by a cio_id"},
    {"cio_\t \n", IDENTIFIER_NONE, NULL, "cio_ must be followed by a cio_id"},
    {"", IDENTIFIER_NONE, NULL, "identifier cannot be blank"},
    {"   ", IDENTIFIER_NONE, NULL, "identifier cannot be blank"},
    {"\t\n", IDENTIFIER_NONE, NULL, "identifier cannot be blank"},
};

static void check_path_identifier(const char *text, enum identifier_type type, const char *value,
                                  const char *message)
{
    struct identifier id = {IDENTIFIER_ID, (char *)"stale"};
    struct api_error e = {0};
    bool ok = api_path_identifier(text, "identifier", &id, &e);
    if (value != NULL) {
        cr_assert(ok, "'%.20s' (%zu bytes) refused: %s", text, strlen(text), e.message);
        cr_assert_eq(id.type, type, "'%.20s'", text);
        cr_assert_str_eq(id.value, value);
    } else {
        cr_assert_not(ok, "'%.20s' (%zu bytes) accepted", text, strlen(text));
        cr_assert_null(id.value, "'%.20s': no value on refusal", text);
        cr_assert_eq(e.code, TRACKD_ERR_INVALID_FIELD);
        cr_assert_str_eq(e.field, "identifier");
        cr_assert(strstr(e.message, message) != NULL, "'%s' lacks '%s'", e.message, message);
    }
    free(id.value);
}

Test(track_identifiers, a_path_identifier_takes_its_type_from_its_shape)
{
    for (size_t i = 0; i < sizeof path_identifier_cases / sizeof path_identifier_cases[0]; i++) {
        const struct path_case *c = &path_identifier_cases[i];
        check_path_identifier(c->text, c->type, c->value, c->message);
    }
}

Test(track_identifiers, a_path_identifier_may_have_150_bytes_and_no_more)
{
    char *ok = repeat('x', 150);
    check_path_identifier(ok, IDENTIFIER_ID, ok, NULL);
    char *too_long = repeat('x', 151);
    check_path_identifier(too_long, IDENTIFIER_NONE, NULL,
                          "identifier cannot be longer than 150 bytes");
    /* The prefix counts: cio_ and 146 more is 150 bytes. */
    char *cio = fill("cio_%s", 'a', 146);
    check_path_identifier(cio, IDENTIFIER_CIO_ID, cio + 4, NULL);
    char *cio_long = fill("cio_%s", 'a', 147);
    check_path_identifier(cio_long, IDENTIFIER_NONE, NULL, "cannot be longer than 150 bytes");
    free(ok);
    free(too_long);
    free(cio);
    free(cio_long);
}

/* An identifiers object (JSON text, or NULL for an absent one) read as field "primary". */
struct object_case {
    const char *json;
    enum identifier_type type;
    const char *value; /* NULL when refused */
    const char *field; /* the field named when refused */
    const char *message;
};

static const struct object_case identifier_object_cases[] = {
    {"{\"id\":\"u1\"}", IDENTIFIER_ID, "u1", NULL, NULL},
    {"{\"email\":\"a@x.com\"}", IDENTIFIER_EMAIL, "a@x.com", NULL, NULL},
    {"{\"cio_id\":\"abc\"}", IDENTIFIER_CIO_ID, "abc", NULL, NULL},
    {"{\"cio_id\":\"a3000001\"}", IDENTIFIER_CIO_ID, "a3000001", NULL, NULL}, /* raw, no cio_ */
    {"{\"id\":42}", IDENTIFIER_ID, "42", NULL, NULL},
    {"{\"id\":-7}", IDENTIFIER_ID, "-7", NULL, NULL},
    {"{\"id\":12345678901234}", IDENTIFIER_ID, "12345678901234", NULL, NULL},
    /* not exactly one key */
    {"{}", IDENTIFIER_NONE, NULL, "primary", "exactly one of id, email, cio_id"},
    {"{\"id\":\"u1\",\"email\":\"a@x.com\"}", IDENTIFIER_NONE, NULL, "primary",
     "exactly one of id, email, cio_id"},
    {"{\"email\":\"a@x.com\",\"cio_id\":\"abc\"}", IDENTIFIER_NONE, NULL, "primary",
     "exactly one of id, email, cio_id"},
    {"{\"phone\":\"+15551234567\"}", IDENTIFIER_NONE, NULL, "primary",
     "exactly one of id, email, cio_id"},
    {"{\"id\":null}", IDENTIFIER_NONE, NULL, "primary", "exactly one of id, email, cio_id"},
    {"\"u1\"", IDENTIFIER_NONE, NULL, "primary", "must be an object"},
    {"[\"u1\"]", IDENTIFIER_NONE, NULL, "primary", "must be an object"},
    {NULL, IDENTIFIER_NONE, NULL, "primary", "must be an object"},
    /* wrong types */
    {"{\"id\":true}", IDENTIFIER_NONE, NULL, "primary.id", "primary.id must be a string"},
    {"{\"id\":1.5}", IDENTIFIER_NONE, NULL, "primary.id", "primary.id must be a string"},
    {"{\"id\":[\"u1\"]}", IDENTIFIER_NONE, NULL, "primary.id", "primary.id must be a string"},
    {"{\"email\":{}}", IDENTIFIER_NONE, NULL, "primary.email", "primary.email must be a string"},
    {"{\"cio_id\":false}", IDENTIFIER_NONE, NULL, "primary.cio_id",
     "primary.cio_id must be a string"},
    /* blank */
    {"{\"id\":\"\"}", IDENTIFIER_NONE, NULL, "primary.id", "primary.id cannot be blank"},
    {"{\"cio_id\":\"  \"}", IDENTIFIER_NONE, NULL, "primary.cio_id", "cannot be blank"},
};

static void check_identifier_object(const char *json, enum identifier_type type, const char *value,
                                    const char *field, const char *message)
{
    json_object *object = json ? json_tokener_parse(json) : NULL;
    cr_assert(json == NULL || object != NULL, "case %s does not parse", json);
    struct identifier id = {IDENTIFIER_ID, (char *)"stale"};
    struct api_error e = {0};
    bool ok = api_identifier_object(object, "primary", &id, &e);
    const char *what = json ? json : "(absent)";
    if (value != NULL) {
        cr_assert(ok, "%.40s refused: %s", what, e.message);
        cr_assert_eq(id.type, type, "%.40s", what);
        cr_assert_str_eq(id.value, value, "%.40s", what);
    } else {
        cr_assert_not(ok, "%.40s accepted", what);
        cr_assert_eq(id.type, IDENTIFIER_NONE, "%.40s", what);
        cr_assert_null(id.value, "%.40s", what);
        cr_assert_eq(e.code, TRACKD_ERR_INVALID_FIELD);
        cr_assert_str_eq(e.field, field, "%.40s", what);
        cr_assert(strstr(e.message, message) != NULL, "%.40s: '%s' lacks '%s'", what, e.message,
                  message);
    }
    free(id.value);
    json_object_put(object);
}

Test(track_identifiers, an_identifier_object_holds_exactly_one_of_id_email_cio_id)
{
    for (size_t i = 0; i < sizeof identifier_object_cases / sizeof identifier_object_cases[0];
         i++) {
        const struct object_case *c = &identifier_object_cases[i];
        check_identifier_object(c->json, c->type, c->value, c->field, c->message);
    }
    char *ok = fill("{\"id\":\"%s\"}", 'x', 150);
    char *too_long = fill("{\"id\":\"%s\"}", 'x', 151);
    char *expected = repeat('x', 150);
    check_identifier_object(ok, IDENTIFIER_ID, expected, NULL, NULL);
    check_identifier_object(too_long, IDENTIFIER_NONE, NULL, "primary.id",
                            "primary.id cannot be longer than 150 bytes");
    free(ok);
    free(too_long);
    free(expected);
}

/* A unix-seconds field: `accepted` says whether it is read, `us` what it becomes. */
struct time_case {
    const char *json;
    bool accepted;
    int64_t us; /* the result; the initial value when the field is absent */
};

static const struct time_case unix_time_cases[] = {
    {"{\"t\":1700000000}", true, SENT_US},
    {"{\"t\":1700000000.25}", true, SENT_US + 250000},
    {"{\"t\":0}", true, 0},
    {"{\"t\":-86400}", true, -86400 * TIMEUTIL_US_PER_SEC},
    {"{\"t\":253402300799}", true, INT64_C(253402300799) * TIMEUTIL_US_PER_SEC},
    {"{}", true, 1},                     /* absent: left alone */
    {"{\"t\":null}", true, 1},           /* null is absent */
    {"{\"t\":1700000000000}", false, 0}, /* milliseconds */
    {"{\"t\":253402300800}", false, 0},  /* after year 9999 */
    {"{\"t\":\"1700000000\"}", false, 0},
    {"{\"t\":\"2023-11-14T22:13:20Z\"}", false, 0},
    {"{\"t\":true}", false, 0},
    {"{\"t\":{}}", false, 0},
};

Test(track_identifiers, a_timestamp_is_unix_seconds_and_never_milliseconds)
{
    for (size_t i = 0; i < sizeof unix_time_cases / sizeof unix_time_cases[0]; i++) {
        const struct time_case *c = &unix_time_cases[i];
        json_object *object = json_tokener_parse(c->json);
        cr_assert_not_null(object, "%s", c->json);
        int64_t us = 1;
        struct api_error e = {0};
        bool ok = api_unix_time(object, "t", &us, &e);
        if (c->accepted) {
            cr_assert(ok, "%s refused: %s", c->json, e.message);
            cr_assert_eq(us, c->us, "%s: %lld", c->json, (long long)us);
        } else {
            cr_assert_not(ok, "%s accepted", c->json);
            cr_assert_eq(us, 1, "%s: a refused timestamp leaves the value alone", c->json);
            cr_assert_str_eq(e.field, "t");
            cr_assert(strstr(e.message, "unix timestamp in seconds") != NULL, "%s", e.message);
        }
        json_object_put(object);
    }
}

/* ---- Track API v1: validation rules --------------------------------------------------------- */

/* One v1 request: accepted when `field` is NULL, else refused naming `field`. */
struct v1_case {
    enum track_v1_endpoint endpoint;
    const char *body;
    const char *field;
    const char *message; /* Customer.io's text when `exact`, else a part of it */
    bool exact;
    enum trackd_error code;
};

#define OK_V1(endpoint, body)                                                                      \
    {                                                                                              \
        endpoint, body, NULL, NULL, false, TRACKD_ERR_OK                                           \
    }
#define BAD_V1(endpoint, body, field, message)                                                     \
    {                                                                                              \
        endpoint, body, field, message, false, TRACKD_ERR_INVALID_FIELD                            \
    }
#define EXACT_V1(endpoint, body, field, message)                                                   \
    {                                                                                              \
        endpoint, body, field, message, true, TRACKD_ERR_INVALID_FIELD                             \
    }

static const struct v1_case v1_cases[] = {
    /* identify */
    OK_V1(TRACK_V1_IDENTIFY, ""),
    OK_V1(TRACK_V1_IDENTIFY, "{}"),
    OK_V1(TRACK_V1_IDENTIFY, "{\"plan\":\"pro\",\"n\":1,\"ok\":true,\"gone\":null}"),
    OK_V1(TRACK_V1_IDENTIFY, "{\"id\":null}"),
    EXACT_V1(TRACK_V1_IDENTIFY, "{\"id\":42}", "id", "id attribute must be a string value"),
    EXACT_V1(TRACK_V1_IDENTIFY, "{\"id\":true}", "id", "id attribute must be a string value"),
    EXACT_V1(TRACK_V1_IDENTIFY, "{\"id\":{}}", "id", "id attribute must be a string value"),
    EXACT_V1(TRACK_V1_IDENTIFY, "{\"id\":\"\"}", "id", "id attribute cannot be an empty string"),
    EXACT_V1(TRACK_V1_IDENTIFY, "{\"id\":\"   \"}", "id", "id attribute cannot be an empty string"),
    BAD_V1(TRACK_V1_IDENTIFY, "{\"email\":5}", "attributes.email",
           "attributes.email must be a string"),
    BAD_V1(TRACK_V1_IDENTIFY, "{\"anonymous_id\":5}", "anonymous_id",
           "anonymous_id must be a string"),
    BAD_V1(TRACK_V1_IDENTIFY, "{\"\":1}", "attributes.", "attribute name cannot be blank"),
    EXACT_V1(TRACK_V1_IDENTIFY, "[1]", "body", "body must be a JSON object"),
    EXACT_V1(TRACK_V1_IDENTIFY, "\"plan\"", "body", "body must be a JSON object"),
    {TRACK_V1_IDENTIFY, "{\"plan\":", "body", "not valid JSON", false, TRACKD_ERR_INVALID_JSON},
    {TRACK_V1_IDENTIFY, "{\"plan\":1,}", "body", "not valid JSON", false, TRACKD_ERR_INVALID_JSON},
    {TRACK_V1_IDENTIFY, "{\"plan\":1} {}", "body", "not valid JSON", false,
     TRACKD_ERR_INVALID_JSON},
    {TRACK_V1_IDENTIFY, "null", "body", "JSON object", false, TRACKD_ERR_INVALID_JSON},
    /* event */
    OK_V1(TRACK_V1_EVENT, "{\"name\":\"purchase\"}"),
    OK_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":null}"),
    OK_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":{}}"),
    EXACT_V1(TRACK_V1_EVENT, "", "name", "event name must not be blank"),
    EXACT_V1(TRACK_V1_EVENT, "{}", "name", "event name must not be blank"),
    EXACT_V1(TRACK_V1_EVENT, "{\"name\":\"\"}", "name", "event name must not be blank"),
    EXACT_V1(TRACK_V1_EVENT, "{\"name\":\"  \\t \"}", "name", "event name must not be blank"),
    EXACT_V1(TRACK_V1_EVENT, "{\"name\":5}", "name", "event name must not be blank"),
    EXACT_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":\"\"}", "data",
             "event data must be a hash (e.g., send \"data\":{} instead of \"data\":\"\")"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":[]}", "data", "event data must be a hash"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":7}", "data", "event data must be a hash"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"timestamp\":1700000000000}", "timestamp",
           "not milliseconds"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"timestamp\":\"1700000000\"}", "timestamp",
           "timestamp must be a unix timestamp in seconds"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"timestamp\":false}", "timestamp",
           "timestamp must be a unix timestamp in seconds"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"id\":7}", "id", "id must be a string"),
    BAD_V1(TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":{\"n\":1e999}}", "data.n", "out of range"),
    {TRACK_V1_EVENT, "{\"name\":\"E\",\"data\":{\"s\":\"a\\u0000b\"}}", "body", "NUL", false,
     TRACKD_ERR_INVALID_JSON},
    /* anonymous event: no path, so no person */
    OK_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"E\",\"anonymous_id\":\"a1\"}"),
    OK_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"invite\",\"data\":{\"recipient\":\"x@y.com\"}}"),
    BAD_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"invite\"}", "anonymous_id",
           "anonymous_id is required (or data.recipient for an invite event)"),
    BAD_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"E\",\"anonymous_id\":\"  \"}", "anonymous_id",
           "anonymous_id is required"),
    BAD_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"E\",\"data\":{\"plan\":\"pro\"}}", "anonymous_id",
           "anonymous_id is required"),
    BAD_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"E\",\"anonymous_id\":7}", "anonymous_id",
           "anonymous_id must be a string"),
    EXACT_V1(TRACK_V1_ANONYMOUS_EVENT, "{\"anonymous_id\":\"a1\"}", "name",
             "event name must not be blank"),
    /* devices */
    OK_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\",\"platform\":\"ios\"}}"),
    OK_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\",\"platform\":\"android\"}}"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{}", "device", "device is required and must be an object"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "", "device", "device is required"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":\"tok\"}", "device", "must be an object"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"platform\":\"ios\"}}", "device.id",
           "is required and must be a non-empty string"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\" \",\"platform\":\"ios\"}}", "device.id",
           "is required"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":5,\"platform\":\"ios\"}}", "device.id",
           "must be a string"),
    /* v1 names the token `id`; `token` is v2's name */
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"token\":\"tok\",\"platform\":\"ios\"}}",
           "device.id", "is required"),
    BAD_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\"}}", "device.platform", "is required"),
    EXACT_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\",\"platform\":\"windows\"}}",
             "device.platform", "device platform must be ios or android"),
    EXACT_V1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\",\"platform\":\"web\"}}",
             "device.platform", "device platform must be ios or android"),
    BAD_V1(TRACK_V1_ADD_DEVICE,
           "{\"device\":{\"id\":\"tok\",\"platform\":\"ios\",\"last_used\":1700000000000}}",
           "device.last_used", "not milliseconds"),
    BAD_V1(TRACK_V1_ADD_DEVICE,
           "{\"device\":{\"id\":\"tok\",\"platform\":\"ios\",\"attributes\":[]}}",
           "device.attributes", "must be an object"),
    /* merge */
    OK_V1(TRACK_V1_MERGE, "{\"primary\":{\"id\":\"u1\"},\"secondary\":{\"email\":\"b@x.com\"}}"),
    BAD_V1(TRACK_V1_MERGE, "", "primary", "exactly one of id, email, cio_id"),
    BAD_V1(TRACK_V1_MERGE, "{\"secondary\":{\"id\":\"u2\"}}", "primary",
           "primary must be an object with exactly one of id, email, cio_id"),
    BAD_V1(TRACK_V1_MERGE, "{\"primary\":{\"id\":\"u1\"}}", "secondary",
           "secondary must be an object with exactly one of id, email, cio_id"),
    BAD_V1(TRACK_V1_MERGE,
           "{\"primary\":{\"id\":\"u1\",\"email\":\"a@x.com\"},\"secondary\":{\"id\":\"u2\"}}",
           "primary", "exactly one of id, email, cio_id"),
    BAD_V1(TRACK_V1_MERGE, "{\"primary\":{},\"secondary\":{\"id\":\"u2\"}}", "primary",
           "exactly one of"),
    BAD_V1(TRACK_V1_MERGE, "{\"primary\":{\"id\":\"u1\"},\"secondary\":{}}", "secondary",
           "exactly one of"),
    BAD_V1(TRACK_V1_MERGE, "{\"primary\":\"u1\",\"secondary\":{\"id\":\"u2\"}}", "primary",
           "exactly one of"),
    BAD_V1(TRACK_V1_MERGE, "{\"primary\":{\"id\":\"u1\"},\"secondary\":{\"id\":true}}",
           "secondary.id", "secondary.id must be a string"),
    /* metrics */
    OK_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\",\"metric\":\"opened\"}"),
    BAD_V1(TRACK_V1_METRIC, "{\"metric\":\"opened\"}", "delivery_id",
           "delivery_id is required and must be a non-empty string"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"\",\"metric\":\"opened\"}", "delivery_id",
           "delivery_id is required"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":7,\"metric\":\"opened\"}", "delivery_id",
           "delivery_id must be a string"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\"}", "metric",
           "metric is required and must be a non-empty string"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\",\"metric\":\"read\"}", "metric",
           "metric must be one of sent, delivered, opened, clicked"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\",\"metric\":\"Opened\"}", "metric",
           "metric must be one of"),
    BAD_V1(TRACK_V1_METRIC,
           "{\"delivery_id\":\"d1\",\"metric\":\"opened\",\"timestamp\":1700000000000}",
           "timestamp", "not milliseconds"),
    BAD_V1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\",\"metric\":\"clicked\",\"href\":5}", "href",
           "href must be a string"),
    /* push events: only opened, converted, delivered */
    OK_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"opened\"}"),
    OK_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"converted\"}"),
    OK_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"delivered\"}"),
    EXACT_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"clicked\"}", "event",
             "event must be one of opened, converted, delivered"),
    EXACT_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"bounced\"}", "event",
             "event must be one of opened, converted, delivered"),
    BAD_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"read\"}", "event",
           "event must be one of"),
    BAD_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\"}", "event", "event is required"),
    BAD_V1(TRACK_V1_PUSH_EVENT, "{\"event\":\"opened\"}", "delivery_id", "delivery_id is required"),
    BAD_V1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"opened\",\"device_id\":5}",
           "device_id", "device_id must be a string"),
};

Test(track_v1, validates_each_field_with_customer_io_wording)
{
    for (size_t i = 0; i < sizeof v1_cases / sizeof v1_cases[0]; i++) {
        const struct v1_case *c = &v1_cases[i];
        char what[160];
        snprintf(what, sizeof what, "v1[%zu] %.120s", i, c->body);
        struct api_result r = v1(c->endpoint, c->body);
        if (c->field == NULL) {
            expect_one_command(&r, what);
        } else {
            expect_refusal(&r, what, c->field, c->message, c->exact, c->code);
            cr_assert_str_eq(r.problems[0].payload, c->body, "%s: the payload is kept", what);
        }
        api_result_free(&r);
    }
}

Test(track_v1, a_bad_path_identifier_refuses_every_person_endpoint)
{
    static const enum track_v1_endpoint endpoints[] = {
        TRACK_V1_IDENTIFY, TRACK_V1_DELETE,     TRACK_V1_EVENT,        TRACK_V1_ADD_DEVICE,
        TRACK_V1_SUPPRESS, TRACK_V1_UNSUPPRESS, TRACK_V1_DELETE_DEVICE};
    static const struct {
        const char *identifier;
        const char *message;
    } bad[] = {{"", "identifier cannot be blank"},
               {"  ", "identifier cannot be blank"},
               {"cio_", "cio_ must be followed by a cio_id"},
               {"cio_ ", "cio_ must be followed by a cio_id"}};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            const char *params[] = {bad[j].identifier, "tok", NULL};
            struct api_result r = v1_with(endpoints[i], params,
                                          "{\"name\":\"E\",\"device\":{\"id\":\"t\","
                                          "\"platform\":\"ios\"}}");
            char what[64];
            snprintf(what, sizeof what, "endpoint %d, identifier '%s'", (int)endpoints[i],
                     bad[j].identifier);
            expect_refusal(&r, what, "identifier", bad[j].message, false, TRACKD_ERR_INVALID_FIELD);
            api_result_free(&r);
        }
    }
    char *long_id = repeat('x', 151);
    const char *params[] = {long_id, NULL};
    struct api_result r = v1_with(TRACK_V1_IDENTIFY, params, "{}");
    expect_refusal(&r, "151-byte identifier", "identifier",
                   "identifier cannot be longer than 150 bytes", true, TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(long_id);
}

/* Runs a v1 request whose body is `fmt` filled with `n` copies of `c`; expects acceptance when
 * `field` is NULL, else a refusal whose field starts with `field` and whose message contains
 * `message`. */
static void expect_v1_limit(enum track_v1_endpoint endpoint, const char *fmt, char c, size_t n,
                            const char *field, const char *message)
{
    char *body = fill(fmt, c, n);
    struct api_result r = v1(endpoint, body);
    if (field == NULL) {
        cr_assert_eq(r.problem_count, 0, "%.60s (n=%zu) refused: %s", fmt, n,
                     r.problem_count ? r.problems[0].message : "");
        cr_assert_eq(r.command_count, 1);
    } else {
        cr_assert_eq(r.command_count, 0, "%.60s (n=%zu) accepted", fmt, n);
        cr_assert_eq(r.problem_count, 1);
        cr_assert(strncmp(r.problems[0].field, field, strlen(field)) == 0, "field %s",
                  r.problems[0].field);
        cr_assert(strstr(r.problems[0].message, message) != NULL, "'%s' lacks '%s'",
                  r.problems[0].message, message);
    }
    api_result_free(&r);
    free(body);
}

Test(track_v1, identify_enforces_limits_at_their_boundaries)
{
    expect_v1_limit(TRACK_V1_IDENTIFY, "{\"id\":\"%s\"}", 'x', 150, NULL, NULL);
    expect_v1_limit(TRACK_V1_IDENTIFY, "{\"id\":\"%s\"}", 'x', 151, "id",
                    "id attribute cannot be longer than 150 bytes");
    const char *name = "{\"%s\":1}";
    expect_v1_limit(TRACK_V1_IDENTIFY, name, 'n', 150, NULL, NULL);
    expect_v1_limit(TRACK_V1_IDENTIFY, name, 'n', 151, "attributes.nnn",
                    "attribute name cannot be longer than 150 bytes");
    /* A string value is measured by its own bytes, without the quotes. */
    const char *value = "{\"plan\":\"%s\"}";
    expect_v1_limit(TRACK_V1_IDENTIFY, value, 'v', 1000, NULL, NULL);
    expect_v1_limit(TRACK_V1_IDENTIFY, value, 'v', 1001, "attributes.plan",
                    "value for attribute 'plan' cannot be longer than 1000 bytes");
    /* Exact wording of the value and name limits. */
    char *body = fill("{\"plan\":\"%s\"}", 'v', 1200);
    struct api_result r = v1(TRACK_V1_IDENTIFY, body);
    expect_refusal(&r, "1200-byte value", "attributes.plan",
                   "value for attribute 'plan' cannot be longer than 1000 bytes", true,
                   TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(body);
    body = fill("{\"%s\":1}", 'n', 151);
    r = v1(TRACK_V1_IDENTIFY, body);
    cr_assert_eq(r.problem_count, 1);
    cr_assert_str_eq(r.problems[0].message, "attribute name cannot be longer than 150 bytes");
    api_result_free(&r);
    free(body);
}

/* An identify body of `count` attributes a0..a(count-1). */
static char *attributes_body(int count)
{
    char *body = malloc(16 + (size_t)count * 16);
    cr_assert_not_null(body);
    strcpy(body, "{");
    for (int i = 0; i < count; i++)
        sprintf(body + strlen(body), "%s\"a%d\":%d", i ? "," : "", i, i);
    strcat(body, "}");
    return body;
}

Test(track_v1, identify_takes_300_attributes_and_no_more)
{
    char *body = attributes_body(300);
    struct api_result r = v1(TRACK_V1_IDENTIFY, body);
    expect_one_command(&r, "300 attributes");
    json_object *set = json_tokener_parse(r.commands[0].properties);
    cr_assert_eq(json_object_object_length(set), 300);
    json_object_put(set);
    api_result_free(&r);
    free(body);

    body = attributes_body(301);
    r = v1(TRACK_V1_IDENTIFY, body);
    expect_refusal(&r, "301 attributes", "attributes",
                   "cannot identify more than 300 attributes in one request", true,
                   TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(body);
}

Test(track_v1, identify_splits_attributes_and_takes_out_instructions)
{
    struct api_result r =
        v1(TRACK_V1_IDENTIFY,
           "{\"id\":\"u-new\",\"email\":\"A@x.com\",\"plan\":\"pro\",\"old\":null,"
           "\"_update\":true,\"anonymous_id\":\"anon-1\",\"_timestamp\":1700000000,"
           "\"cio_relationships\":{\"action\":\"delete_relationships\",\"relationships\":"
           "[{\"identifiers\":{\"object_type_id\":2,\"object_id\":\"acme\"},"
           "\"relationship_attributes\":{\"role\":\"admin\"}},"
           "{\"identifiers\":{\"cio_object_id\":\"c1\"}}]},"
           "\"created_at\":1690000000,\"n\":{\"k\":[1,2]}}");
    expect_one_command(&r, "identify");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_IDENTIFY);
    cr_assert_eq(c->person.type, IDENTIFIER_ID);
    cr_assert_str_eq(c->person.value, "u1");
    cr_assert_str_eq(c->body_id, "u-new", "the body id is an instruction");
    cr_assert_str_eq(c->email, "A@x.com");
    cr_assert_not(c->clear_email);
    cr_assert(c->update_only);
    cr_assert_str_eq(c->anonymous_id, "anon-1");
    cr_assert_str_eq(c->properties,
                     "{\"email\":\"A@x.com\",\"plan\":\"pro\",\"created_at\":1690000000,"
                     "\"n\":{\"k\":[1,2]}}",
                     "id, _update, anonymous_id, _timestamp, cio_relationships are not stored");
    cr_assert_str_eq(c->unset_keys, "[\"old\"]");
    cr_assert_str_eq(c->relationships,
                     "[{\"object_type_id\":\"2\",\"object_id\":\"acme\",\"attributes\":"
                     "{\"role\":\"admin\"}},{\"cio_object_id\":\"c1\",\"attributes\":{}}]",
                     "the relationships are normalized");
    cr_assert_eq(c->relationships_add, 0);
    cr_assert(c->ordered, "_timestamp orders the update");
    cr_assert_eq(c->timestamp_us, INT64_C(1700000000) * 1000000);
    cr_assert_str_eq(c->attribute_times,
                     "{\"email\":1700000000.0,\"plan\":1700000000.0,\"old\":1700000000.0,"
                     "\"created_at\":1700000000.0,\"n\":1700000000.0}",
                     "each attribute set or removed is stamped with _timestamp");
    cr_assert_not(c->dotted_preferences);
    cr_assert_eq(c->received_us, RECEIVED_US);
    cr_assert_eq(c->batch_index, -1);
    cr_assert_null(c->message_id);
    api_result_free(&r);

    r = v1(TRACK_V1_IDENTIFY, "{\"email\":null,\"_update\":false}");
    expect_one_command(&r, "email null");
    c = &r.commands[0];
    cr_assert_null(c->email);
    cr_assert(c->clear_email, "a null email removes it");
    cr_assert_not(c->update_only);
    cr_assert_null(c->body_id);
    cr_assert_str_eq(c->properties, "{}");
    cr_assert_str_eq(c->unset_keys, "[\"email\"]");
    api_result_free(&r);
}

Test(track_v1, identify_with_an_empty_body_sets_no_attributes)
{
    static const char *const bodies[] = {"", "{}", "  {}  "};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct api_result r = v1(TRACK_V1_IDENTIFY, bodies[i]);
        expect_one_command(&r, bodies[i]);
        const struct command *c = &r.commands[0];
        cr_assert_eq(c->kind, COMMAND_IDENTIFY);
        cr_assert_str_eq(c->person.value, "u1");
        cr_assert_str_eq(c->properties, "{}");
        cr_assert_str_eq(c->unset_keys, "[]");
        cr_assert_null(c->email);
        cr_assert_not(c->clear_email);
        cr_assert_not(c->update_only);
        api_result_free(&r);
    }
}

Test(track_v1, identify_addresses_the_person_by_the_shape_of_the_path)
{
    static const struct {
        const char *path;
        enum identifier_type type;
        const char *value;
    } cases[] = {{"u1", IDENTIFIER_ID, "u1"},
                 {"a@x.com", IDENTIFIER_EMAIL, "a@x.com"},
                 {"cio_abc", IDENTIFIER_CIO_ID, "abc"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *params[] = {cases[i].path, NULL};
        struct api_result r = v1_with(TRACK_V1_IDENTIFY, params, "{\"id\":\"u2\"}");
        expect_one_command(&r, cases[i].path);
        cr_assert_eq(r.commands[0].person.type, cases[i].type, "%s", cases[i].path);
        cr_assert_str_eq(r.commands[0].person.value, cases[i].value);
        cr_assert_str_eq(r.commands[0].body_id, "u2");
        api_result_free(&r);
    }
}

/* ---- Track API v1: events ------------------------------------------------------------------- */

Test(track_v1, event_reads_name_id_timestamp_and_data)
{
    struct api_result r =
        v1(TRACK_V1_EVENT, "{\"name\":\"  purchase \",\"type\":\"event\",\"id\":\"01HULID\","
                           "\"timestamp\":1700000000,"
                           "\"data\":{\"price\":23,\"recipient\":\"x@y.com\",\"url\":\"a/b\"}}");
    expect_one_command(&r, "event");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_TRACK);
    cr_assert_eq(c->event_type, EVENT_TYPE_EVENT);
    cr_assert_eq(c->person.type, IDENTIFIER_ID);
    cr_assert_str_eq(c->person.value, "u1");
    cr_assert_str_eq(c->name, "purchase", "the name is trimmed");
    cr_assert_str_eq(c->message_id, "01HULID", "id is the deduplication key");
    cr_assert_eq(c->timestamp_us, SENT_US);
    cr_assert_eq(c->received_us, RECEIVED_US);
    cr_assert_str_eq(c->properties, "{\"price\":23,\"recipient\":\"x@y.com\",\"url\":\"a/b\"}");
    cr_assert_null(c->anonymous_id);
    cr_assert_eq(c->batch_index, -1);
    api_result_free(&r);

    r = v1(TRACK_V1_EVENT, "{\"name\":\"E\"}");
    expect_one_command(&r, "bare event");
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US, "no timestamp means the receive time");
    cr_assert_null(r.commands[0].message_id);
    cr_assert_str_eq(r.commands[0].properties, "{}");
    api_result_free(&r);

    r = v1(TRACK_V1_EVENT, "{\"name\":\"E\",\"timestamp\":1700000000.5}");
    expect_one_command(&r, "fractional timestamp");
    cr_assert_eq(r.commands[0].timestamp_us, SENT_US + 500000);
    api_result_free(&r);
}

Test(track_v1, event_type_is_page_screen_or_event)
{
    static const struct {
        const char *body;
        enum event_type type;
    } cases[] = {
        {"{\"name\":\"E\"}", EVENT_TYPE_EVENT},
        {"{\"name\":\"E\",\"type\":\"event\"}", EVENT_TYPE_EVENT},
        {"{\"name\":\"/home\",\"type\":\"page\"}", EVENT_TYPE_PAGE},
        {"{\"name\":\"Home\",\"type\":\"screen\"}", EVENT_TYPE_SCREEN},
        {"{\"name\":\"E\",\"type\":\"other\"}", EVENT_TYPE_EVENT},
        {"{\"name\":\"E\",\"type\":\"Page\"}", EVENT_TYPE_EVENT},
        {"{\"name\":\"E\",\"type\":5}", EVENT_TYPE_EVENT},
        {"{\"name\":\"E\",\"type\":null}", EVENT_TYPE_EVENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_result r = v1(TRACK_V1_EVENT, cases[i].body);
        expect_one_command(&r, cases[i].body);
        cr_assert_eq(r.commands[0].kind, COMMAND_TRACK);
        cr_assert_eq(r.commands[0].event_type, cases[i].type, "%s", cases[i].body);
        api_result_free(&r);
    }
}

Test(track_v1, event_enforces_name_and_data_limits_at_their_boundaries)
{
    const char *event = "{\"name\":\"%s\"}";
    expect_v1_limit(TRACK_V1_EVENT, event, 'e', 100, NULL, NULL);
    expect_v1_limit(TRACK_V1_EVENT, event, 'e', 101, "name",
                    "event name cannot be longer than 100 bytes");
    /* Trimming comes first: 100 bytes between spaces is fine. */
    expect_v1_limit(TRACK_V1_EVENT, "{\"name\":\"  %s  \"}", 'e', 100, NULL, NULL);
    char *body = fill(event, 'e', 101);
    struct api_result r = v1(TRACK_V1_EVENT, body);
    expect_refusal(&r, "101-byte name", "name", "event name cannot be longer than 100 bytes", true,
                   TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(body);

    /* Page names are URLs and may be long. */
    body = fill("{\"name\":\"https://example.com/%s\",\"type\":\"page\"}", 'p', 480);
    r = v1(TRACK_V1_EVENT, body);
    expect_one_command(&r, "500-byte page URL");
    cr_assert_eq(r.commands[0].event_type, EVENT_TYPE_PAGE);
    cr_assert_eq(strlen(r.commands[0].name), 500);
    api_result_free(&r);
    free(body);
    expect_v1_limit(TRACK_V1_EVENT, "{\"name\":\"%s\",\"type\":\"screen\"}", 's', 500, NULL, NULL);
    expect_v1_limit(TRACK_V1_EVENT, "{\"name\":\"%s\",\"type\":\"page\"}", 'p', 5000, "name",
                    "event name cannot be longer than");

    /* data is measured as JSON: {"p":"..."} is 8 bytes and the fill. */
    const char *data = "{\"name\":\"E\",\"data\":{\"p\":\"%s\"}}";
    expect_v1_limit(TRACK_V1_EVENT, data, 'd', 100000 - 8, NULL, NULL);
    body = fill(data, 'd', 100000 - 7);
    r = v1(TRACK_V1_EVENT, body);
    expect_refusal(&r, "100001-byte data", "data", "event data cannot be longer than 100000 bytes",
                   true, TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(body);
}

Test(track_v1, anonymous_event_has_no_person_and_keeps_its_anonymous_id)
{
    struct api_result r = v1(TRACK_V1_ANONYMOUS_EVENT,
                             "{\"name\":\"viewed\",\"anonymous_id\":\"anon-1\",\"id\":\"m1\","
                             "\"timestamp\":1700000000,\"data\":{\"k\":\"v\"}}");
    expect_one_command(&r, "anonymous event");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_TRACK);
    cr_assert_eq(c->person.type, IDENTIFIER_NONE);
    cr_assert_null(c->person.value);
    cr_assert_str_eq(c->anonymous_id, "anon-1");
    cr_assert_str_eq(c->name, "viewed");
    cr_assert_str_eq(c->message_id, "m1");
    cr_assert_eq(c->timestamp_us, SENT_US);
    cr_assert_str_eq(c->properties, "{\"k\":\"v\"}");
    api_result_free(&r);

    r = v1(TRACK_V1_ANONYMOUS_EVENT, "{\"name\":\"invite\",\"data\":{\"recipient\":\"x@y.com\"}}");
    expect_one_command(&r, "invite");
    cr_assert_null(r.commands[0].anonymous_id);
    cr_assert_eq(r.commands[0].person.type, IDENTIFIER_NONE);
    cr_assert_str_eq(r.commands[0].properties, "{\"recipient\":\"x@y.com\"}");
    api_result_free(&r);
}

/* ---- Track API v1: devices, deletes, merge, metrics ---------------------------------------- */

Test(track_v1, add_device_reads_token_platform_last_use_and_attributes)
{
    struct api_result r =
        v1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok\",\"platform\":\"ios\","
                                "\"last_used\":1700000000,\"attributes\":{\"device_os\":\"17.1\","
                                "\"push_enabled\":\"true\"}}}");
    expect_one_command(&r, "add device");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_ADD_DEVICE);
    cr_assert_str_eq(c->person.value, "u1");
    cr_assert_str_eq(c->device_token, "tok");
    cr_assert_str_eq(c->platform, "ios");
    cr_assert_eq(c->timestamp_us, SENT_US, "last_used is the device's last use");
    cr_assert_str_eq(c->properties, "{\"device_os\":\"17.1\",\"push_enabled\":\"true\"}");
    api_result_free(&r);

    r = v1(TRACK_V1_ADD_DEVICE, "{\"device\":{\"id\":\"tok2\",\"platform\":\"android\"}}");
    expect_one_command(&r, "android");
    c = &r.commands[0];
    cr_assert_str_eq(c->platform, "android");
    cr_assert_eq(c->timestamp_us, RECEIVED_US, "last_used defaults to the request time");
    cr_assert_str_eq(c->properties, "{}");
    api_result_free(&r);
}

Test(track_v1, delete_device_takes_the_token_from_the_path)
{
    const char *params[] = {"a@x.com", "tok-1", NULL};
    struct api_result r = v1_with(TRACK_V1_DELETE_DEVICE, params, "");
    expect_one_command(&r, "delete device");
    cr_assert_eq(r.commands[0].kind, COMMAND_DELETE_DEVICE);
    cr_assert_eq(r.commands[0].person.type, IDENTIFIER_EMAIL);
    cr_assert_str_eq(r.commands[0].person.value, "a@x.com");
    cr_assert_str_eq(r.commands[0].device_token, "tok-1");
    api_result_free(&r);

    static const char *const bad_tokens[] = {NULL, "", "  "};
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
        const char *bad[] = {"u1", bad_tokens[i], NULL};
        r = v1_with(TRACK_V1_DELETE_DEVICE, bad, "");
        expect_refusal(&r, bad_tokens[i] ? bad_tokens[i] : "(none)", "device_id",
                       "device_id cannot be blank", true, TRACKD_ERR_INVALID_FIELD);
        api_result_free(&r);
    }

    /* A token in the path is held to the same limit as one in a body. */
    char *longest = repeat('t', 1000), *too_long = repeat('t', 1001);
    const char *fits[] = {"u1", longest, NULL};
    r = v1_with(TRACK_V1_DELETE_DEVICE, fits, "");
    expect_one_command(&r, "a 1000-byte token");
    api_result_free(&r);
    const char *over[] = {"u1", too_long, NULL};
    r = v1_with(TRACK_V1_DELETE_DEVICE, over, "");
    expect_refusal(&r, "a 1001-byte token", "device_id",
                   "device_id cannot be longer than 1000 bytes", true, TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
    free(longest);
    free(too_long);
}

Test(track_v1, deletes_and_suppressions_ignore_any_body)
{
    static const struct {
        enum track_v1_endpoint endpoint;
        enum command_kind kind;
    } endpoints[] = {{TRACK_V1_DELETE, COMMAND_DELETE_PERSON},
                     {TRACK_V1_SUPPRESS, COMMAND_SUPPRESS},
                     {TRACK_V1_UNSUPPRESS, COMMAND_UNSUPPRESS},
                     {TRACK_V1_DELETE_DEVICE, COMMAND_DELETE_DEVICE}};
    static const char *const bodies[] = {"",     "{}",         "{\"", "[1,2]", "not json at all",
                                         "null", "{\"id\":42}"};
    const char *params[] = {"cio_abc", "tok", NULL};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        for (size_t j = 0; j < sizeof bodies / sizeof bodies[0]; j++) {
            char what[64];
            snprintf(what, sizeof what, "endpoint %d, body '%s'", (int)endpoints[i].endpoint,
                     bodies[j]);
            struct api_result r = v1_with(endpoints[i].endpoint, params, bodies[j]);
            expect_one_command(&r, what);
            cr_assert_eq(r.commands[0].kind, endpoints[i].kind, "%s", what);
            cr_assert_eq(r.commands[0].person.type, IDENTIFIER_CIO_ID, "%s", what);
            cr_assert_str_eq(r.commands[0].person.value, "abc", "%s", what);
            cr_assert_eq(r.commands[0].received_us, RECEIVED_US);
            api_result_free(&r);
        }
    }
}

Test(track_v1, merge_reads_primary_and_secondary)
{
    static const struct {
        const char *body;
        enum identifier_type primary_type;
        const char *primary;
        enum identifier_type secondary_type;
        const char *secondary;
    } cases[] = {
        {"{\"primary\":{\"id\":\"u1\"},\"secondary\":{\"id\":\"u2\"}}", IDENTIFIER_ID, "u1",
         IDENTIFIER_ID, "u2"},
        {"{\"primary\":{\"email\":\"a@x.com\"},\"secondary\":{\"cio_id\":\"a3000001\"}}",
         IDENTIFIER_EMAIL, "a@x.com", IDENTIFIER_CIO_ID, "a3000001"},
        {"{\"primary\":{\"cio_id\":\"abc\"},\"secondary\":{\"email\":\"b@x.com\"}}",
         IDENTIFIER_CIO_ID, "abc", IDENTIFIER_EMAIL, "b@x.com"},
        {"{\"primary\":{\"id\":42},\"secondary\":{\"id\":\"u2\"}}", IDENTIFIER_ID, "42",
         IDENTIFIER_ID, "u2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_result r = v1(TRACK_V1_MERGE, cases[i].body);
        expect_one_command(&r, cases[i].body);
        const struct command *c = &r.commands[0];
        cr_assert_eq(c->kind, COMMAND_MERGE);
        cr_assert_eq(c->person.type, cases[i].primary_type, "%s", cases[i].body);
        cr_assert_str_eq(c->person.value, cases[i].primary);
        cr_assert_eq(c->secondary.type, cases[i].secondary_type, "%s", cases[i].body);
        cr_assert_str_eq(c->secondary.value, cases[i].secondary);
        api_result_free(&r);
    }
}

Test(track_v1, metrics_read_every_field_and_every_allowed_metric)
{
    struct api_result r =
        v1(TRACK_V1_METRIC, "{\"delivery_id\":\"d1\",\"metric\":\"clicked\",\"timestamp\":"
                            "1700000000,\"recipient\":\"x@y.com\",\"reason\":\"why\","
                            "\"href\":\"https://x.com/a\"}");
    expect_one_command(&r, "metric");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_METRIC);
    cr_assert_eq(c->person.type, IDENTIFIER_NONE);
    cr_assert_str_eq(c->delivery_id, "d1");
    cr_assert_str_eq(c->metric, "clicked");
    cr_assert_str_eq(c->recipient, "x@y.com");
    cr_assert_str_eq(c->metric_reason, "why");
    cr_assert_str_eq(c->href, "https://x.com/a");
    cr_assert_eq(c->timestamp_us, SENT_US);
    api_result_free(&r);

    static const char *const metrics[] = {
        "sent",    "delivered", "opened",   "clicked", "converted",    "bounced",
        "spammed", "dropped",   "deferred", "failed",  "unsubscribed", "undeliverable"};
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"delivery_id\":\"d1\",\"metric\":\"%s\"}", metrics[i]);
        r = v1(TRACK_V1_METRIC, body);
        expect_one_command(&r, body);
        cr_assert_str_eq(r.commands[0].metric, metrics[i]);
        cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US);
        cr_assert_null(r.commands[0].recipient);
        api_result_free(&r);
    }
}

Test(track_v1, push_events_are_metrics_of_a_device)
{
    struct api_result r =
        v1(TRACK_V1_PUSH_EVENT, "{\"delivery_id\":\"d1\",\"event\":\"opened\","
                                "\"device_id\":\"tok\",\"timestamp\":1700000000}");
    expect_one_command(&r, "push event");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_METRIC);
    cr_assert_eq(c->person.type, IDENTIFIER_NONE);
    cr_assert_str_eq(c->delivery_id, "d1");
    cr_assert_str_eq(c->metric, "opened");
    cr_assert_str_eq(c->device_token, "tok");
    cr_assert_eq(c->timestamp_us, SENT_US);
    api_result_free(&r);
}

/* ---- Track API v2 ---------------------------------------------------------------------------- */

/* One v2 entity accepted as a command of `kind` about `type`/`value`. */
struct v2_action_case {
    const char *body;
    enum command_kind kind;
    enum identifier_type type;
    const char *value;
};

static const struct v2_action_case v2_action_cases[] = {
    {"{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}",
     COMMAND_IDENTIFY, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"delete\",\"identifiers\":{\"email\":\"a@x.com\"}}",
     COMMAND_DELETE_PERSON, IDENTIFIER_EMAIL, "a@x.com"},
    {"{\"type\":\"person\",\"action\":\"event\",\"identifiers\":{\"cio_id\":\"abc\"},"
     "\"name\":\"E\"}",
     COMMAND_TRACK, IDENTIFIER_CIO_ID, "abc"},
    {"{\"type\":\"person\",\"action\":\"page\",\"identifiers\":{\"id\":\"u1\"},"
     "\"name\":\"/home\"}",
     COMMAND_TRACK, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"screen\",\"identifiers\":{\"id\":\"u1\"},"
     "\"name\":\"Home\"}",
     COMMAND_TRACK, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"add_device\",\"identifiers\":{\"id\":\"u1\"},"
     "\"device\":{\"token\":\"tok\",\"platform\":\"ios\"}}",
     COMMAND_ADD_DEVICE, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"delete_device\",\"identifiers\":{\"id\":\"u1\"},"
     "\"device\":{\"token\":\"tok\"}}",
     COMMAND_DELETE_DEVICE, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"merge\",\"primary\":{\"id\":\"u1\"},"
     "\"secondary\":{\"id\":\"u2\"}}",
     COMMAND_MERGE, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"suppress\",\"identifiers\":{\"id\":\"u1\"}}",
     COMMAND_SUPPRESS, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"person\",\"action\":\"unsuppress\",\"identifiers\":{\"id\":\"u1\"}}",
     COMMAND_UNSUPPRESS, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"id\":\"d1\"},"
     "\"name\":\"opened\"}",
     COMMAND_METRIC, IDENTIFIER_NONE, NULL},
    {"{\"type\":\"person\",\"action\":\"add_relationships\",\"identifiers\":{\"id\":\"u1\"},"
     "\"cio_relationships\":[{\"identifiers\":{\"object_type_id\":\"1\",\"object_id\":\"a\"}}]}",
     COMMAND_RELATIONSHIPS, IDENTIFIER_ID, "u1"},
    {"{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"object_type_id\":\"1\","
     "\"object_id\":\"acme\"}}",
     COMMAND_OBJECT_IDENTIFY, IDENTIFIER_NONE, NULL},
    {"{\"type\":\"object\",\"action\":\"delete\",\"identifiers\":{\"cio_object_id\":\"c\"}}",
     COMMAND_DELETE_OBJECT, IDENTIFIER_NONE, NULL},
    {"{\"type\":\"object\",\"action\":\"delete_relationships\",\"identifiers\":"
     "{\"cio_object_id\":\"c\"},\"cio_relationships\":[{\"identifiers\":{\"email\":\"a@x.com\"}}]}",
     COMMAND_RELATIONSHIPS, IDENTIFIER_NONE, NULL},
};

Test(track_v2, an_entity_becomes_one_command_of_its_action)
{
    for (size_t i = 0; i < sizeof v2_action_cases / sizeof v2_action_cases[0]; i++) {
        const struct v2_action_case *c = &v2_action_cases[i];
        struct api_result r = v2(TRACK_V2_ENTITY, c->body);
        expect_one_command(&r, c->body);
        const struct command *cmd = &r.commands[0];
        cr_assert_eq(cmd->kind, c->kind, "%s", c->body);
        cr_assert_eq(cmd->person.type, c->type, "%s", c->body);
        if (c->value != NULL)
            cr_assert_str_eq(cmd->person.value, c->value, "%s", c->body);
        else
            cr_assert_null(cmd->person.value, "%s", c->body);
        cr_assert_eq(cmd->batch_index, -1, "%s", c->body);
        cr_assert_eq(cmd->received_us, RECEIVED_US, "%s", c->body);
        api_result_free(&r);
    }
}

Test(track_v2, identify_reads_attributes_like_v1)
{
    struct api_result r =
        v2(TRACK_V2_ENTITY,
           "{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":"
           "{\"cio_id\":\"abc\"},\"attributes\":{\"id\":\"u9\",\"email\":\"a@x.com\","
           "\"plan\":\"pro\",\"old\":null,\"_update\":true,\"anonymous_id\":\"a1\"}}");
    expect_one_command(&r, "v2 identify");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_IDENTIFY);
    cr_assert_eq(c->person.type, IDENTIFIER_CIO_ID);
    cr_assert_str_eq(c->person.value, "abc", "identifiers.cio_id is raw");
    cr_assert_str_eq(c->body_id, "u9");
    cr_assert_str_eq(c->email, "a@x.com");
    cr_assert(c->update_only);
    cr_assert_str_eq(c->anonymous_id, "a1");
    cr_assert_str_eq(c->properties, "{\"email\":\"a@x.com\",\"plan\":\"pro\"}");
    cr_assert_str_eq(c->unset_keys, "[\"old\"]");
    api_result_free(&r);

    r = v2(TRACK_V2_ENTITY,
           "{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}");
    expect_one_command(&r, "v2 identify without attributes");
    cr_assert_str_eq(r.commands[0].properties, "{}");
    cr_assert_str_eq(r.commands[0].unset_keys, "[]");
    api_result_free(&r);
}

Test(track_v2, identify_takes_cio_relationships_and_timestamp)
{
    struct api_result r =
        v2(TRACK_V2_ENTITY,
           "{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"},"
           "\"timestamp\":1700000000,\"attributes\":{\"plan\":\"pro\"},\"cio_relationships\":"
           "[{\"identifiers\":{\"object_type_id\":\"1\",\"object_id\":\"acme\"},"
           "\"relationship_attributes\":{\"role\":\"admin\",\"gone\":null}}]}");
    expect_one_command(&r, "v2 identify with relationships");
    const struct command *c = &r.commands[0];
    cr_assert(c->ordered);
    cr_assert_eq(c->timestamp_us, INT64_C(1700000000) * 1000000);
    cr_assert_eq(c->relationships_add, 1, "identify adds relationships");
    cr_assert_str_eq(c->relationships,
                     "[{\"object_type_id\":\"1\",\"object_id\":\"acme\",\"attributes\":"
                     "{\"role\":\"admin\",\"gone\":null}}]",
                     "a null relationship attribute stays, to remove it");
    api_result_free(&r);

    r = v2(TRACK_V2_ENTITY,
           "{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}");
    expect_one_command(&r, "v2 identify without timestamp");
    cr_assert_not(r.commands[0].ordered, "without a timestamp, arrival orders updates");
    cr_assert_null(r.commands[0].relationships);
    api_result_free(&r);
}

Test(track_v2, object_operations_name_the_object_and_the_people)
{
    struct api_result r =
        v2(TRACK_V2_BATCH,
           "{\"batch\":["
           "{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"object_type_id\":3,"
           "\"object_id\":42},\"attributes\":{\"name\":\"Acme\",\"old\":null},"
           "\"cio_relationships\":[{\"identifiers\":{\"id\":\"u1\"}},{\"identifiers\":{\"email\":"
           "\"a@x.com\"},\"relationship_attributes\":{\"role\":\"owner\"}},"
           "{\"identifiers\":{\"cio_id\":\"abc\"}}]},"
           "{\"type\":\"object\",\"action\":\"identify_anonymous\",\"identifiers\":"
           "{\"cio_object_id\":\"c9\"},\"cio_relationships\":[{\"identifiers\":{\"anonymous_id\":"
           "\"anon-1\"}}]},"
           "{\"type\":\"object\",\"action\":\"delete_relationships\",\"identifiers\":"
           "{\"object_type_id\":\"1\",\"object_id\":\"acme\"},\"cio_relationships\":"
           "[{\"identifiers\":{\"id\":\"u2\"}}]},"
           "{\"type\":\"person\",\"action\":\"delete_relationships\",\"identifiers\":"
           "{\"email\":\"b@x.com\"},\"cio_relationships\":[{\"identifiers\":{\"cio_object_id\":"
           "\"c9\"}}]}"
           "]}");
    cr_assert_eq(r.command_count, 4, "%zu problems", r.problem_count);
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_OBJECT_IDENTIFY);
    cr_assert_str_eq(c->object_type_id, "3", "a numeric type is read as its digits");
    cr_assert_str_eq(c->group_id, "42");
    cr_assert_null(c->cio_object_id);
    cr_assert_str_eq(c->properties, "{\"name\":\"Acme\",\"old\":null}");
    cr_assert_str_eq(c->relationships,
                     "[{\"id\":\"u1\",\"attributes\":{}},{\"email\":\"a@x.com\",\"attributes\":"
                     "{\"role\":\"owner\"}},{\"cio_id\":\"abc\",\"attributes\":{}}]");
    c = &r.commands[1];
    cr_assert_eq(c->kind, COMMAND_OBJECT_IDENTIFY);
    cr_assert_str_eq(c->cio_object_id, "c9");
    cr_assert_null(c->group_id);
    cr_assert_str_eq(c->relationships, "[{\"anonymous_id\":\"anon-1\",\"attributes\":{}}]");
    c = &r.commands[2];
    cr_assert_eq(c->kind, COMMAND_RELATIONSHIPS);
    cr_assert_eq(c->relationships_add, 0);
    cr_assert_eq(c->person.type, IDENTIFIER_NONE);
    cr_assert_str_eq(c->group_id, "acme");
    c = &r.commands[3];
    cr_assert_eq(c->kind, COMMAND_RELATIONSHIPS);
    cr_assert_eq(c->relationships_add, 0);
    cr_assert_eq(c->person.type, IDENTIFIER_EMAIL);
    cr_assert_str_eq(c->relationships, "[{\"cio_object_id\":\"c9\",\"attributes\":{}}]");
    api_result_free(&r);
}

Test(track_v2, event_page_and_screen_read_name_id_timestamp_and_attributes)
{
    static const struct {
        const char *action;
        enum event_type type;
    } actions[] = {
        {"event", EVENT_TYPE_EVENT}, {"page", EVENT_TYPE_PAGE}, {"screen", EVENT_TYPE_SCREEN}};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        char body[320];
        snprintf(body, sizeof body,
                 "{\"type\":\"person\",\"action\":\"%s\",\"identifiers\":{\"id\":\"u1\"},"
                 "\"name\":\" checkout \",\"id\":\"01HULID\",\"timestamp\":1700000000,"
                 "\"attributes\":{\"price\":5}}",
                 actions[i].action);
        struct api_result r = v2(TRACK_V2_ENTITY, body);
        expect_one_command(&r, body);
        const struct command *c = &r.commands[0];
        cr_assert_eq(c->kind, COMMAND_TRACK);
        cr_assert_eq(c->event_type, actions[i].type, "%s", actions[i].action);
        cr_assert_str_eq(c->name, "checkout");
        cr_assert_str_eq(c->message_id, "01HULID");
        cr_assert_eq(c->timestamp_us, SENT_US);
        cr_assert_str_eq(c->properties, "{\"price\":5}");
        api_result_free(&r);
    }
}

Test(track_v2, devices_use_device_token)
{
    struct api_result r = v2(
        TRACK_V2_ENTITY, "{\"type\":\"person\",\"action\":\"add_device\",\"identifiers\":"
                         "{\"id\":\"u1\"},\"device\":{\"token\":\"tok\",\"platform\":"
                         "\"android\",\"last_used\":1700000000,\"attributes\":{\"app\":\"1\"}}}");
    expect_one_command(&r, "add_device");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_ADD_DEVICE);
    cr_assert_str_eq(c->device_token, "tok");
    cr_assert_str_eq(c->platform, "android");
    cr_assert_eq(c->timestamp_us, SENT_US);
    cr_assert_str_eq(c->properties, "{\"app\":\"1\"}");
    api_result_free(&r);

    r = v2(TRACK_V2_ENTITY, "{\"type\":\"person\",\"action\":\"delete_device\",\"identifiers\":"
                            "{\"email\":\"a@x.com\"},\"device\":{\"token\":\"tok\"}}");
    expect_one_command(&r, "delete_device");
    cr_assert_eq(r.commands[0].kind, COMMAND_DELETE_DEVICE);
    cr_assert_str_eq(r.commands[0].device_token, "tok");
    api_result_free(&r);
}

Test(track_v2, merge_reads_primary_and_secondary_without_identifiers)
{
    struct api_result r =
        v2(TRACK_V2_ENTITY, "{\"type\":\"person\",\"action\":\"merge\",\"primary\":"
                            "{\"email\":\"a@x.com\"},\"secondary\":{\"cio_id\":\"a3000001\"}}");
    expect_one_command(&r, "merge");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_MERGE);
    cr_assert_eq(c->person.type, IDENTIFIER_EMAIL);
    cr_assert_str_eq(c->person.value, "a@x.com");
    cr_assert_eq(c->secondary.type, IDENTIFIER_CIO_ID);
    cr_assert_str_eq(c->secondary.value, "a3000001");
    api_result_free(&r);
}

Test(track_v2, a_delivery_event_is_a_metric_of_the_delivery)
{
    struct api_result r =
        v2(TRACK_V2_ENTITY, "{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":"
                            "{\"id\":\"d1\"},\"name\":\"converted\",\"timestamp\":1700000000,"
                            "\"attributes\":{\"device_token\":\"tok\"}}");
    expect_one_command(&r, "delivery event");
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_METRIC);
    cr_assert_eq(c->person.type, IDENTIFIER_NONE);
    cr_assert_str_eq(c->delivery_id, "d1");
    cr_assert_str_eq(c->metric, "converted");
    cr_assert_str_eq(c->device_token, "tok");
    cr_assert_eq(c->timestamp_us, SENT_US);
    api_result_free(&r);

    r = v2(TRACK_V2_ENTITY, "{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":"
                            "{\"id\":\"d2\"},\"name\":\"opened\"}");
    expect_one_command(&r, "delivery event without timestamp");
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US);
    cr_assert_null(r.commands[0].device_token);
    api_result_free(&r);
}

/* One refused v2 entity. */
struct v2_bad_case {
    const char *body;
    const char *field;
    const char *message; /* a part of the message */
    enum trackd_error code;
};

#define BAD_V2(body, field, message)                                                               \
    {                                                                                              \
        body, field, message, TRACKD_ERR_INVALID_FIELD                                             \
    }
#define PERSON_OP(action, rest)                                                                    \
    "{\"type\":\"person\",\"action\":\"" action "\",\"identifiers\":{\"id\":\"u1\"}" rest "}"

static const struct v2_bad_case v2_bad_cases[] = {
    /* the body */
    {"", "body", "not valid JSON", TRACKD_ERR_INVALID_JSON},
    {"{\"type\":", "body", "not valid JSON", TRACKD_ERR_INVALID_JSON},
    {"null", "body", "JSON object", TRACKD_ERR_INVALID_JSON},
    BAD_V2("[]", "body", "body must be a JSON object"),
    BAD_V2("\"person\"", "body", "body must be a JSON object"),
    /* type and action */
    BAD_V2("{\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}", "type", "type is required"),
    BAD_V2("{\"type\":\"campaign\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}",
           "type", "type must be person, object or delivery"),
    BAD_V2("{\"type\":5,\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"}}", "type",
           "type must be a string"),
    BAD_V2("{\"type\":\"person\",\"identifiers\":{\"id\":\"u1\"}}", "action", "action is required"),
    BAD_V2(PERSON_OP("fly", ""), "action", "action must be one of identify, delete, event"),
    BAD_V2(PERSON_OP("add_relationships", ""), "cio_relationships",
           "cio_relationships is required"),
    BAD_V2(PERSON_OP("delete_relationships", ",\"cio_relationships\":[]"), "cio_relationships",
           "non-empty array"),
    BAD_V2(PERSON_OP("add_relationships",
                     ",\"cio_relationships\":[{\"identifiers\":{\"object_id\":\"acme\"}}]"),
           "cio_relationships.0.identifiers", "both object_type_id and object_id"),
    BAD_V2(PERSON_OP("add_relationships",
                     ",\"cio_relationships\":[{\"identifiers\":{\"object_type_id\":\"0\","
                     "\"object_id\":\"acme\"}}]"),
           "cio_relationships.0.identifiers.object_type_id", "whole number from 1"),
    BAD_V2(PERSON_OP("add_relationships",
                     ",\"cio_relationships\":[{\"identifiers\":{\"object_type_id\":\"1\","
                     "\"object_id\":\"acme\"},\"relationship_attributes\":[]}]"),
           "cio_relationships.0.relationship_attributes", "must be an object"),
    BAD_V2(PERSON_OP("identify", ",\"cio_relationships\":\"acme\""), "cio_relationships",
           "must be {\"action\""),
    BAD_V2(PERSON_OP("identify", ",\"timestamp\":1700000000000"), "timestamp", "not milliseconds"),
    /* objects */
    BAD_V2("{\"type\":\"object\",\"action\":\"fly\",\"identifiers\":{\"cio_object_id\":\"c\"}}",
           "action", "(for an object)"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify\"}", "identifiers",
           "identifiers is required"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"object_id\":\"a\","
           "\"object_type_id\":\"1\",\"cio_object_id\":\"c\"}}",
           "identifiers", "or by cio_object_id alone"),
    BAD_V2("{\"type\":\"object\",\"action\":\"delete\",\"identifiers\":{\"object_id\":\" \","
           "\"object_type_id\":\"1\"}}",
           "identifiers.object_id", "cannot be blank"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"object_id\":\"a\","
           "\"object_type_id\":\"one\"}}",
           "identifiers.object_type_id", "whole number from 1"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"cio_object_id\":\"c\"},"
           "\"attributes\":{\"\":1}}",
           "attributes", "attribute names must be 1 to 150 bytes"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify\",\"identifiers\":{\"cio_object_id\":\"c\"},"
           "\"cio_relationships\":[{\"identifiers\":{\"id\":\"u1\",\"email\":\"a@x.com\"}}]}",
           "cio_relationships.0.identifiers", "exactly one of id, email, cio_id"),
    BAD_V2("{\"type\":\"object\",\"action\":\"identify_anonymous\",\"identifiers\":"
           "{\"cio_object_id\":\"c\"},\"cio_relationships\":[{\"identifiers\":{\"id\":\"u1\"}}]}",
           "cio_relationships.0.identifiers", "must hold anonymous_id"),
    BAD_V2("{\"type\":\"object\",\"action\":\"add_relationships\",\"identifiers\":"
           "{\"cio_object_id\":\"c\"}}",
           "cio_relationships", "cio_relationships is required"),
    BAD_V2(PERSON_OP("Identify", ""), "action", "action must be one of"),
    /* identifiers */
    BAD_V2("{\"type\":\"person\",\"action\":\"identify\"}", "identifiers",
           "identifiers must be an object with exactly one of id, email, cio_id"),
    BAD_V2("{\"type\":\"person\",\"action\":\"delete\",\"identifiers\":{}}", "identifiers",
           "exactly one of"),
    BAD_V2("{\"type\":\"person\",\"action\":\"event\",\"name\":\"E\",\"identifiers\":"
           "{\"id\":\"u1\",\"email\":\"a@x.com\"}}",
           "identifiers", "exactly one of"),
    BAD_V2("{\"type\":\"person\",\"action\":\"suppress\",\"identifiers\":\"u1\"}", "identifiers",
           "exactly one of"),
    BAD_V2("{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":true}}",
           "identifiers.id", "identifiers.id must be a string"),
    BAD_V2("{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"phone\":\"+1555\"}}",
           "identifiers", "exactly one of"),
    /* identify */
    BAD_V2(PERSON_OP("identify", ",\"attributes\":[]"), "attributes",
           "attributes must be an object"),
    BAD_V2(PERSON_OP("identify", ",\"attributes\":{\"id\":7}"), "id",
           "id attribute must be a string value"),
    /* events */
    BAD_V2(PERSON_OP("event", ""), "name", "event name must not be blank"),
    BAD_V2(PERSON_OP("page", ",\"name\":\" \""), "name", "event name must not be blank"),
    BAD_V2(PERSON_OP("event", ",\"name\":\"E\",\"attributes\":\"\""), "attributes",
           "event data must be a hash"),
    BAD_V2(PERSON_OP("event", ",\"name\":\"E\",\"timestamp\":1700000000000"), "timestamp",
           "not milliseconds"),
    /* devices */
    BAD_V2(PERSON_OP("add_device", ""), "device", "device is required and must be an object"),
    BAD_V2(PERSON_OP("add_device", ",\"device\":{\"id\":\"tok\",\"platform\":\"ios\"}"),
           "device.token", "is required"),
    BAD_V2(PERSON_OP("add_device", ",\"device\":{\"token\":\"tok\"}"), "device.platform",
           "is required"),
    BAD_V2(PERSON_OP("add_device", ",\"device\":{\"token\":\"tok\",\"platform\":\"web\"}"),
           "device.platform", "device platform must be ios or android"),
    BAD_V2(PERSON_OP("delete_device", ""), "device", "device is required"),
    BAD_V2(PERSON_OP("delete_device", ",\"device\":{}"), "device.token",
           "device.token is required"),
    BAD_V2(PERSON_OP("delete_device", ",\"device\":{\"token\":5}"), "device.token",
           "device.token is required"),
    /* merge */
    BAD_V2("{\"type\":\"person\",\"action\":\"merge\",\"secondary\":{\"id\":\"u2\"}}", "primary",
           "exactly one of"),
    BAD_V2("{\"type\":\"person\",\"action\":\"merge\",\"primary\":{\"id\":\"u1\"}}", "secondary",
           "exactly one of"),
    BAD_V2("{\"type\":\"person\",\"action\":\"merge\",\"identifiers\":{\"id\":\"u1\"}}", "primary",
           "exactly one of"),
    /* delivery */
    BAD_V2("{\"type\":\"delivery\",\"action\":\"event\",\"name\":\"opened\"}", "identifiers.id",
           "identifiers.id (the delivery id) is required"),
    BAD_V2("{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"email\":\"a@x.com\"},"
           "\"name\":\"opened\"}",
           "identifiers.id", "delivery id"),
    BAD_V2("{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"id\":\"d1\"}}", "name",
           "name is required"),
    BAD_V2("{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"id\":\"d1\"},"
           "\"name\":\"read\"}",
           "name", "must be one of"),
    BAD_V2("{\"type\":\"delivery\",\"action\":\"open\",\"identifiers\":{\"id\":\"d1\"},"
           "\"name\":\"opened\"}",
           "action", "action of a delivery must be event"),
    BAD_V2("{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"id\":\"d1\"},"
           "\"name\":\"opened\",\"attributes\":[]}",
           "attributes", "attributes must be an object"),
    /* values jsonb cannot hold */
    BAD_V2(PERSON_OP("event", ",\"name\":\"E\",\"attributes\":{\"n\":1e999}"), "attributes.n",
           "out of range"),
};

Test(track_v2, an_entity_is_refused_naming_its_field)
{
    for (size_t i = 0; i < sizeof v2_bad_cases / sizeof v2_bad_cases[0]; i++) {
        const struct v2_bad_case *c = &v2_bad_cases[i];
        char what[200];
        snprintf(what, sizeof what, "v2[%zu] %.160s", i, c->body);
        struct api_result r = v2(TRACK_V2_ENTITY, c->body);
        expect_refusal(&r, what, c->field, c->message, false, c->code);
        cr_assert_str_eq(r.problems[0].payload, c->body, "%s: the payload is kept", what);
        api_result_free(&r);
    }
}

Test(track_v2, a_batch_keeps_the_good_operations_and_names_each_bad_one)
{
    struct api_result r =
        v2(TRACK_V2_BATCH,
           "{\"batch\":["
           "{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{\"id\":\"u1\"},"
           "\"attributes\":{\"plan\":\"pro\"}},"
           "{\"type\":\"person\",\"action\":\"fly\",\"identifiers\":{\"id\":\"u1\"}},"
           "{\"type\":\"person\",\"action\":\"event\",\"identifiers\":{\"email\":\"a@x.com\"},"
           "\"name\":\"E\"},"
           "{\"type\":\"person\",\"action\":\"event\",\"identifiers\":{\"id\":\"u1\"}},"
           "7,"
           "{\"type\":\"thing\",\"action\":\"event\"},"
           "{\"type\":\"delivery\",\"action\":\"event\",\"identifiers\":{\"id\":\"d1\"},"
           "\"name\":\"opened\"}"
           "]}");
    cr_assert_not(r.whole_request_invalid);
    cr_assert_eq(r.command_count, 3);
    static const long good[] = {0, 2, 6};
    static const enum command_kind kinds[] = {COMMAND_IDENTIFY, COMMAND_TRACK, COMMAND_METRIC};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(r.commands[i].batch_index, good[i], "command %zu", i);
        cr_assert_eq(r.commands[i].kind, kinds[i], "command %zu", i);
        cr_assert_eq(r.commands[i].received_us, RECEIVED_US);
    }
    cr_assert_str_eq(r.commands[0].properties, "{\"plan\":\"pro\"}");
    cr_assert_str_eq(r.commands[1].person.value, "a@x.com");
    cr_assert_str_eq(r.commands[2].delivery_id, "d1");

    cr_assert_eq(r.problem_count, 4);
    static const long bad[] = {1, 3, 4, 5};
    static const char *const fields[] = {"action", "name", "batch", "type"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(r.problems[i].batch_index, bad[i], "problem %zu", i);
        cr_assert_str_eq(r.problems[i].field, fields[i], "problem %zu", i);
        cr_assert_eq(r.problems[i].code, TRACKD_ERR_INVALID_FIELD, "problem %zu", i);
    }
    cr_assert_str_eq(r.problems[0].payload,
                     "{\"type\":\"person\",\"action\":\"fly\",\"identifiers\":{\"id\":\"u1\"}}",
                     "the refused operation alone is kept");
    cr_assert_str_eq(r.problems[1].message, "event name must not be blank");
    cr_assert_str_eq(r.problems[2].message, "an operation must be a JSON object");
    cr_assert_str_eq(r.problems[2].payload, "7");
    api_result_free(&r);
}

Test(track_v2, a_batch_without_operations_is_refused_whole)
{
    static const char *const bodies[] = {"{}", "{\"batch\":[]}", "{\"batch\":{}}",
                                         "{\"batch\":null}", "{\"batch\":\"ops\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct api_result r = v2(TRACK_V2_BATCH, bodies[i]);
        expect_refusal(&r, bodies[i], "batch", "batch is required and must be a non-empty array",
                       true, TRACKD_ERR_INVALID_FIELD);
        api_result_free(&r);
    }
    struct api_result r = v2(TRACK_V2_BATCH, "{\"batch\":[");
    expect_refusal(&r, "truncated batch", "body", "not valid JSON", false, TRACKD_ERR_INVALID_JSON);
    api_result_free(&r);
    r = v2(TRACK_V2_BATCH, "[{\"type\":\"person\"}]");
    expect_refusal(&r, "array body", "body", "body must be a JSON object", true,
                   TRACKD_ERR_INVALID_FIELD);
    api_result_free(&r);
}

/* An event operation padded so that its text is exactly `size` bytes. */
static char *operation_of_size(size_t size)
{
    const char *fmt = "{\"type\":\"person\",\"action\":\"event\",\"identifiers\":{\"id\":\"u1\"},"
                      "\"name\":\"E\",\"attributes\":{\"p\":\"%s\"}}";
    size_t fixed = strlen(fmt) - 2;
    cr_assert_gt(size, fixed);
    char *op = fill(fmt, 'x', size - fixed);
    cr_assert_eq(strlen(op), size);
    return op;
}

Test(track_v2, an_operation_may_have_32_kb_and_no_more)
{
    char *op = operation_of_size(API_CALL_MAX_BYTES);
    struct api_result r = v2(TRACK_V2_ENTITY, op);
    expect_one_command(&r, "32768-byte entity");
    api_result_free(&r);
    free(op);

    op = operation_of_size(API_CALL_MAX_BYTES + 1);
    r = v2(TRACK_V2_ENTITY, op);
    expect_refusal(&r, "32769-byte entity", "body", "cannot be larger than 32768 bytes", false,
                   TRACKD_ERR_ITEM_TOO_LARGE);
    cr_assert_eq(strlen(r.problems[0].payload), API_REJECTED_PAYLOAD_MAX, "payload is capped");
    api_result_free(&r);
    free(op);

    /* In a batch, the large operation alone is refused. */
    static const size_t sizes[] = {API_CALL_MAX_BYTES, API_CALL_MAX_BYTES + 1, 40000};
    static const bool accepted[] = {true, false, false};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        op = operation_of_size(sizes[i]);
        char *body = malloc(strlen(op) + 200);
        sprintf(body,
                "{\"batch\":[%s,{\"type\":\"person\",\"action\":\"delete\",\"identifiers\":"
                "{\"id\":\"u2\"}}]}",
                op);
        r = v2(TRACK_V2_BATCH, body);
        cr_assert_not(r.whole_request_invalid, "%zu", sizes[i]);
        if (accepted[i]) {
            cr_assert_eq(r.problem_count, 0, "%zu-byte op refused: %s", sizes[i],
                         r.problem_count ? r.problems[0].message : "");
            cr_assert_eq(r.command_count, 2);
        } else {
            cr_assert_eq(r.command_count, 1, "%zu", sizes[i]);
            cr_assert_eq(r.commands[0].kind, COMMAND_DELETE_PERSON);
            cr_assert_eq(r.commands[0].batch_index, 1);
            cr_assert_eq(r.problem_count, 1);
            cr_assert_eq(r.problems[0].code, TRACKD_ERR_ITEM_TOO_LARGE);
            cr_assert_eq(r.problems[0].batch_index, 0);
            cr_assert_str_eq(r.problems[0].field, "batch");
            cr_assert(strstr(r.problems[0].message, "cannot be larger than 32768 bytes") != NULL,
                      "%s", r.problems[0].message);
        }
        api_result_free(&r);
        free(body);
        free(op);
    }
}

/* ---- Regressions: bugs this suite found in the adapters, now fixed --------------------------- */

/*
 * v2 page and screen names were once held to the 100-byte event-name limit, because the event
 * type was read from the operation's "type" field ("person" in v2). A page's name is its URL;
 * a 500-byte URL must be accepted, as in v1.
 */
Test(track_regressions, v2_page_and_screen_names_may_be_long_urls)
{
    static const char *const actions[] = {"page", "screen"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        char fmt[200];
        snprintf(fmt, sizeof fmt,
                 "{\"type\":\"person\",\"action\":\"%s\",\"identifiers\":{\"id\":\"u1\"},"
                 "\"name\":\"https://example.com/%%s\"}",
                 actions[i]);
        char *body = fill(fmt, 'p', 480);
        struct api_result r = v2(TRACK_V2_ENTITY, body);
        cr_expect_eq(r.problem_count, 0, "v2 %s with a 500-byte name refused: %s", actions[i],
                     r.problem_count ? r.problems[0].message : "");
        if (r.command_count == 1)
            cr_expect_eq(strlen(r.commands[0].name), 500);
        api_result_free(&r);
        free(body);
    }
}

/*
 * Sizes were once measured with '/' escaped as "\/" although it is stored unescaped, so values
 * full of slashes (URLs, paths) counted up to twice their size: a 600-byte attribute value, 60 KB
 * of event data and a 20 KB batch operation were refused. They must be measured as stored.
 */
Test(track_regressions, sizes_are_measured_without_escaping_slashes)
{
    char *body = fill("{\"path\":\"%s\"}", '/', 600);
    struct api_result r = v1(TRACK_V1_IDENTIFY, body);
    cr_expect_eq(r.problem_count, 0, "a 600-byte attribute value refused: %s",
                 r.problem_count ? r.problems[0].message : "");
    api_result_free(&r);
    free(body);

    body = fill("{\"name\":\"E\",\"data\":{\"path\":\"%s\"}}", '/', 60000);
    r = v1(TRACK_V1_EVENT, body);
    cr_expect_eq(r.problem_count, 0, "60 KB of event data refused: %s",
                 r.problem_count ? r.problems[0].message : "");
    api_result_free(&r);
    free(body);

    const char *op = "{\"type\":\"person\",\"action\":\"event\",\"identifiers\":{\"id\":\"u1\"},"
                     "\"name\":\"E\",\"attributes\":{\"path\":\"%s\"}}";
    body = fill(op, '/', 20000);
    r = v2(TRACK_V2_ENTITY, body);
    cr_assert_eq(r.problem_count, 0, "a 20 KB entity is accepted");
    api_result_free(&r);
    char *batch = malloc(strlen(body) + 16);
    sprintf(batch, "{\"batch\":[%s]}", body);
    r = v2(TRACK_V2_BATCH, batch);
    cr_expect_eq(r.problem_count, 0, "the same 20 KB operation refused in a batch: %s",
                 r.problem_count ? r.problems[0].message : "");
    cr_expect_eq(r.command_count, 1);
    api_result_free(&r);
    free(batch);
    free(body);
}
