#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/pipelines.h"
#include "common/timeutil.h"
#include "common/utf8.h"

/* 2026-11-28T09:50:00Z, the receive time of every case. */
#define RECEIVED_US (INT64_C(1795859400) * TIMEUTIL_US_PER_SEC)

static struct api_result parse(enum pipelines_endpoint endpoint, const char *body)
{
    struct api_result result;
    pipelines_parse_request(endpoint, body, strlen(body), RECEIVED_US, &result);
    return result;
}

/* One validation rule: a body, and the field named when it is refused (NULL: accepted). */
struct rule_case {
    enum pipelines_endpoint endpoint;
    const char *body;
    const char *field;   /* NULL when the call is valid */
    const char *message; /* a part of the message */
    enum trackd_error code;
};

static struct rule_case validates_each_field_cases[] = {
    /* accepted */
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_TRACK, "{\"anonymousId\":\"a1\",\"event\":\"E\",\"properties\":null}", NULL, NULL,
     TRACKD_ERR_OK},
    {PIPELINES_IDENTIFY, "{\"userId\":\"u1\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_PAGE, "{\"userId\":\"u1\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_SCREEN, "{\"userId\":\"u1\",\"name\":\"Home\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_GROUP, "{\"userId\":\"u1\",\"groupId\":\"g1\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_ALIAS, "{\"userId\":\"u1\",\"previousId\":\"a1\"}", NULL, NULL, TRACKD_ERR_OK},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":{\"n\":1e300}}", NULL,
     NULL, TRACKD_ERR_OK},
    /* whole body */
    {PIPELINES_TRACK, "{\"userId\":", "body", "not valid JSON", TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "[1,2]", "body", "must be a JSON object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "null", "body", "JSON object", TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\"} x", "body", "not valid JSON",
     TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "{\"userId\":\"u\\u00zz\"}", "body", "not valid JSON",
     TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"\xc3\x28\"}", "body", "not valid JSON",
     TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":{\"n\":NaN}}",
     "properties.n", "out of range", TRACKD_ERR_INVALID_FIELD},
    /* identifiers */
    {PIPELINES_TRACK, "{\"event\":\"E\"}", "userId", "userId or anonymousId is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"\",\"anonymousId\":\"  \",\"event\":\"E\"}", "userId",
     "userId or anonymousId is required", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":42,\"event\":\"E\"}", "userId", "userId must be a string",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"anonymousId\":{},\"event\":\"E\"}", "anonymousId",
     "anonymousId must be a string", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"messageId\":7}", "messageId",
     "messageId must be a string", TRACKD_ERR_INVALID_FIELD},
    /* event */
    {PIPELINES_TRACK, "{\"userId\":\"u1\"}", "event", "event is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"   \"}", "event", "event is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":[\"E\"]}", "event", "event must be a string",
     TRACKD_ERR_INVALID_FIELD},
    /* objects */
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":[]}", "properties",
     "properties must be an object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":\"x\"}", "properties",
     "properties must be an object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"context\":1}", "context",
     "context must be an object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"integrations\":true}", "integrations",
     "integrations must be an object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":\"pro\"}", "traits",
     "traits must be an object", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_GROUP, "{\"userId\":\"u1\",\"groupId\":\"g\",\"traits\":[]}", "traits",
     "traits must be an object", TRACKD_ERR_INVALID_FIELD},
    /* values jsonb cannot hold */
    {PIPELINES_TRACK,
     "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":{\"a\":{\"b\":\"x\\u0000\"}}}", "body",
     "NUL", TRACKD_ERR_INVALID_JSON},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"properties\":{\"n\":1e999}}",
     "properties.n", "out of range", TRACKD_ERR_INVALID_FIELD},
    /* timestamps */
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"timestamp\":\"yesterday\"}",
     "timestamp", "ISO-8601", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"timestamp\":1700000000}", "timestamp",
     "ISO-8601", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK,
     "{\"userId\":\"u1\",\"event\":\"E\",\"timestamp\":\"2026-11-28T09:00:00Z\","
     "\"sentAt\":\"soon\"}",
     "sentAt", "ISO-8601", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\",\"originalTimestamp\":\"x\"}",
     "originalTimestamp", "ISO-8601", TRACKD_ERR_INVALID_FIELD},
    /* group and alias */
    {PIPELINES_GROUP, "{\"userId\":\"u1\"}", "groupId", "groupId is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_ALIAS, "{\"userId\":\"u1\"}", "previousId", "previousId is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_ALIAS, "{\"previousId\":\"a1\"}", "userId", "userId is required",
     TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_ALIAS, "{\"anonymousId\":\"a2\",\"previousId\":\"a1\"}", "userId",
     "userId is required", TRACKD_ERR_INVALID_FIELD},
    /* identify traits */
    {PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"email\":5}}", "traits.email",
     "traits.email must be a string", TRACKD_ERR_INVALID_FIELD},
    {PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"\":1}}", "traits.", "attribute name",
     TRACKD_ERR_INVALID_FIELD},
};

static void check_validates_each_field(const struct rule_case *c)
{
    struct api_result r = parse(c->endpoint, c->body);
    if (c->field == NULL) {
        cr_assert_eq(r.problem_count, 0, "%s: refused: %s", c->body,
                     r.problem_count ? r.problems[0].message : "");
        cr_assert_eq(r.command_count, 1);
    } else {
        cr_assert_eq(r.command_count, 0, "%s should be refused", c->body);
        cr_assert_eq(r.problem_count, 1);
        cr_assert(r.whole_request_invalid);
        cr_assert_str_eq(r.problems[0].field, c->field, "%s", c->body);
        cr_assert(strstr(r.problems[0].message, c->message) != NULL, "'%s' lacks '%s'",
                  r.problems[0].message, c->message);
        cr_assert_eq(r.problems[0].code, c->code);
        cr_assert_eq(r.problems[0].batch_index, -1);
        if (utf8_valid(c->body, strlen(c->body)))
            cr_assert_str_eq(r.problems[0].payload, c->body, "the payload is kept for the record");
        else
            cr_assert_eq(strlen(r.problems[0].payload), strlen(c->body),
                         "invalid bytes are replaced, not dropped");
    }
    api_result_free(&r);
}

Test(pipelines, validates_each_field)
{
    for (size_t i = 0; i < sizeof validates_each_field_cases / sizeof validates_each_field_cases[0];
         i++)
        check_validates_each_field(&validates_each_field_cases[i]);
}

/* A string of `n` copies of `c`. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Parses `fmt` with its %s filled by `n` copies of 'x'; expects acceptance when `field` is NULL,
 * else a refusal whose field starts with `field` and whose message contains `message`. */
static void expect_limit(enum pipelines_endpoint endpoint, const char *fmt, size_t n,
                         const char *field, const char *message)
{
    char *fill = repeat('x', n);
    char *body = malloc(strlen(fmt) + n + 1);
    sprintf(body, fmt, fill);
    struct api_result r = parse(endpoint, body);
    if (field == NULL) {
        cr_assert_eq(r.problem_count, 0, "refused at %zu: %s", n,
                     r.problem_count ? r.problems[0].message : "");
    } else {
        cr_assert_eq(r.problem_count, 1, "accepted at %zu", n);
        cr_assert(strncmp(r.problems[0].field, field, strlen(field)) == 0, "field %s",
                  r.problems[0].field);
        cr_assert(strstr(r.problems[0].message, message) != NULL, "%s", r.problems[0].message);
    }
    api_result_free(&r);
    free(body);
    free(fill);
}

Test(pipelines, enforces_size_limits_at_their_boundaries)
{
    const char *user = "{\"userId\":\"%s\",\"event\":\"E\"}";
    expect_limit(PIPELINES_TRACK, user, 150, NULL, NULL);
    expect_limit(PIPELINES_TRACK, user, 151, "userId", "cannot be longer than 150 bytes");
    const char *event = "{\"userId\":\"u\",\"event\":\"%s\"}";
    expect_limit(PIPELINES_TRACK, event, 100, NULL, NULL);
    expect_limit(PIPELINES_TRACK, event, 101, "event", "cannot be longer than 100 bytes");
    const char *name = "{\"userId\":\"u\",\"traits\":{\"%s\":1}}";
    expect_limit(PIPELINES_IDENTIFY, name, 150, NULL, NULL);
    expect_limit(PIPELINES_IDENTIFY, name, 151, "traits.xxx", "attribute name");
    const char *value = "{\"userId\":\"u\",\"traits\":{\"v\":\"%s\"}}";
    expect_limit(PIPELINES_IDENTIFY, value, 1000, NULL, NULL);
    expect_limit(PIPELINES_IDENTIFY, value, 1001, "traits.v", "cannot be longer than 1000 bytes");
    const char *big = "{\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"p\":\"%s\"}}";
    expect_limit(PIPELINES_TRACK, big, 32000, NULL, NULL);
    expect_limit(PIPELINES_TRACK, big, 32768, "body", "cannot be larger than 32768 bytes");
    /* A page without a name is named by its URL, which is then held to the view name limit. */
    const char *url = "{\"userId\":\"u\",\"properties\":{\"url\":\"%s\"}}";
    expect_limit(PIPELINES_PAGE, url, 2048, NULL, NULL);
    expect_limit(PIPELINES_PAGE, url, 2049, "properties.url", "cannot be longer than 2048 bytes");
}

Test(pipelines, refuses_more_than_300_traits)
{
    char body[16384] = "{\"userId\":\"u\",\"traits\":{";
    for (int i = 0; i < 301; i++)
        sprintf(body + strlen(body), "%s\"t%d\":%d", i ? "," : "", i, i);
    strcat(body, "}}");
    struct api_result r = parse(PIPELINES_IDENTIFY, body);
    cr_assert_eq(r.problem_count, 1);
    cr_assert_str_eq(r.problems[0].field, "traits");
    cr_assert(strstr(r.problems[0].message, "more than 300") != NULL);
    api_result_free(&r);
}

Test(pipelines, identify_splits_traits_into_set_and_removed)
{
    struct api_result r =
        parse(PIPELINES_IDENTIFY,
              "{\"userId\":\"u1\",\"anonymousId\":\"a1\",\"messageId\":\"m1\","
              "\"traits\":{\"email\":\"A@x.com\",\"plan\":\"pro\",\"old\":null,\"n\":{\"k\":1}}}");
    cr_assert_eq(r.command_count, 1);
    const struct command *c = &r.commands[0];
    cr_assert_eq(c->kind, COMMAND_IDENTIFY);
    cr_assert_str_eq(c->person.value, "u1");
    cr_assert_eq(c->person.type, IDENTIFIER_ID);
    cr_assert_str_eq(c->anonymous_id, "a1");
    cr_assert_str_eq(c->message_id, "m1");
    cr_assert_str_eq(c->email, "A@x.com");
    cr_assert_not(c->clear_email);
    cr_assert_str_eq(c->properties, "{\"email\":\"A@x.com\",\"plan\":\"pro\",\"n\":{\"k\":1}}");
    cr_assert_str_eq(c->unset_keys, "[\"old\"]");
    api_result_free(&r);

    r = parse(PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"email\":null}}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_null(r.commands[0].email);
    cr_assert(r.commands[0].clear_email);
    cr_assert_str_eq(r.commands[0].unset_keys, "[\"email\"]");
    api_result_free(&r);
}

Test(pipelines, track_trims_the_event_name_and_keeps_properties)
{
    struct api_result r =
        parse(PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"  purchase \","
                               "\"properties\":{\"price\":\"4.99\",\"url\":\"a/b\"}}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_eq(r.commands[0].kind, COMMAND_TRACK);
    cr_assert_eq(r.commands[0].event_type, EVENT_TYPE_EVENT);
    cr_assert_str_eq(r.commands[0].name, "purchase");
    cr_assert_str_eq(r.commands[0].properties, "{\"price\":\"4.99\",\"url\":\"a/b\"}");
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US, "no timestamp means the receive time");
    api_result_free(&r);
}

Test(pipelines, page_without_a_name_is_named_by_its_url)
{
    struct api_result r =
        parse(PIPELINES_PAGE, "{\"userId\":\"u1\",\"properties\":{\"url\":\"https://x/p\"}}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_eq(r.commands[0].event_type, EVENT_TYPE_PAGE);
    cr_assert_str_eq(r.commands[0].name, "https://x/p");
    api_result_free(&r);
}

Test(pipelines, sent_at_corrects_client_clock_skew)
{
    /* The client's clock runs 1 hour fast: it stamped the event 10 s before sending. */
    struct api_result r = parse(PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\","
                                                 "\"timestamp\":\"2026-11-28T10:49:50Z\","
                                                 "\"sentAt\":\"2026-11-28T10:50:00Z\"}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US - 10 * TIMEUTIL_US_PER_SEC);
    api_result_free(&r);

    r = parse(PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\","
                               "\"timestamp\":\"2026-01-01T00:00:00+01:00\"}");
    cr_assert_eq(r.commands[0].timestamp_us, INT64_C(1767222000) * TIMEUTIL_US_PER_SEC,
                 "without sentAt the timestamp is taken as sent");
    api_result_free(&r);
}

Test(pipelines, batch_stores_valid_items_and_names_each_invalid_one)
{
    struct api_result r =
        parse(PIPELINES_BATCH, "{\"batch\":["
                               "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"A\"},"
                               "{\"type\":\"track\",\"userId\":\"u1\"},"
                               "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{}},"
                               "{\"userId\":\"u1\"},"
                               "{\"type\":\"nope\",\"userId\":\"u1\"},"
                               "7]}");
    cr_assert_not(r.whole_request_invalid);
    cr_assert_eq(r.command_count, 2);
    cr_assert_eq(r.commands[0].batch_index, 0);
    cr_assert_eq(r.commands[1].batch_index, 2);
    cr_assert_eq(r.problem_count, 4);
    long indexes[] = {1, 3, 4, 5};
    const char *fields[] = {"event", "type", "type", "batch"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(r.problems[i].batch_index, indexes[i]);
        cr_assert_str_eq(r.problems[i].field, fields[i]);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "batch[%ld]: ", indexes[i]);
        cr_assert(strncmp(r.problems[i].message, prefix, strlen(prefix)) == 0, "%s",
                  r.problems[i].message);
    }
    cr_assert_str_eq(r.problems[0].payload, "{\"type\":\"track\",\"userId\":\"u1\"}",
                     "the refused item alone is kept");
    api_result_free(&r);
}

Test(pipelines, batch_context_and_sent_at_apply_to_every_item)
{
    struct api_result r =
        parse(PIPELINES_BATCH, "{\"sentAt\":\"2026-11-28T10:50:00Z\","
                               "\"context\":{\"app\":\"shop\",\"locale\":\"en\"},"
                               "\"batch\":[{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"E\","
                               "\"timestamp\":\"2026-11-28T10:49:00Z\","
                               "\"context\":{\"locale\":\"fr\"}}]}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_str_eq(r.commands[0].context, "{\"app\":\"shop\",\"locale\":\"fr\"}");
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US - 60 * TIMEUTIL_US_PER_SEC);
    api_result_free(&r);
}

Test(pipelines, batch_without_items_is_refused_whole)
{
    const char *bodies[] = {"{}", "{\"batch\":[]}", "{\"batch\":{}}", "{\"batch\":null}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct api_result r = parse(PIPELINES_BATCH, bodies[i]);
        cr_assert(r.whole_request_invalid, "%s", bodies[i]);
        cr_assert_eq(r.problem_count, 1);
        cr_assert_str_eq(r.problems[0].field, "batch");
        api_result_free(&r);
    }
}

Test(pipelines, batch_item_over_32_kb_is_refused_alone)
{
    char *fill = repeat('x', 33000);
    char *body = malloc(34000);
    sprintf(
        body,
        "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\","
        "\"properties\":{\"p\":\"%s\"}},{\"type\":\"track\",\"userId\":\"u\",\"event\":\"F\"}]}",
        fill);
    struct api_result r = parse(PIPELINES_BATCH, body);
    cr_assert_eq(r.command_count, 1);
    cr_assert_str_eq(r.commands[0].name, "F");
    cr_assert_eq(r.problem_count, 1);
    cr_assert_eq(r.problems[0].code, TRACKD_ERR_ITEM_TOO_LARGE);
    cr_assert_eq(r.problems[0].batch_index, 0);
    cr_assert_eq(strlen(r.problems[0].payload), API_REJECTED_PAYLOAD_MAX, "payload is capped");
    api_result_free(&r);
    free(body);
    free(fill);
}

Test(pipelines, rejections_become_commands_for_the_record)
{
    struct api_result r =
        parse(PIPELINES_BATCH, "{\"batch\":[{\"type\":\"track\"},"
                               "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}]}");
    cr_assert(api_result_add_rejections(&r, 7, "/v1/batch", RECEIVED_US));
    cr_assert_eq(r.command_count, 2);
    const struct command *reject = &r.commands[1];
    cr_assert_eq(reject->kind, COMMAND_REJECT);
    cr_assert_eq(reject->workspace_id, 7);
    cr_assert_str_eq(reject->endpoint, "/v1/batch");
    cr_assert_str_eq(reject->reason, "invalid_field");
    cr_assert(strstr(reject->message, "batch[0]") != NULL);
    cr_assert_str_eq(reject->payload, "{\"type\":\"track\"}");
    api_result_free(&r);
}

Test(pipelines, an_implausible_sent_at_is_not_used_to_correct)
{
    struct api_result r = parse(PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\","
                                                 "\"timestamp\":\"2026-11-28T09:00:00Z\","
                                                 "\"sentAt\":\"0001-01-01T00:00:00Z\"}");
    cr_assert_eq(r.command_count, 1);
    cr_assert_eq(r.commands[0].timestamp_us, RECEIVED_US - 50 * 60 * TIMEUTIL_US_PER_SEC,
                 "the timestamp is taken as sent");
    api_result_free(&r);
}

Test(pipelines, the_batch_context_is_checked_and_counted_in_each_item)
{
    struct api_result r =
        parse(PIPELINES_BATCH, "{\"context\":{\"n\":1e-99999},\"batch\":[{\"type\":\"track\","
                               "\"userId\":\"u\",\"event\":\"E\"}]}");
    cr_assert(r.whole_request_invalid);
    cr_assert_str_eq(r.problems[0].field, "context.n");
    api_result_free(&r);

    char *big = repeat('x', 30000);
    char *body = malloc(40000);
    sprintf(body,
            "{\"context\":{\"pad\":\"%s\"},\"batch\":[{\"type\":\"track\",\"userId\":"
            "\"u\",\"event\":\"E\",\"properties\":{\"p\":\"%.3000s\"}}]}",
            big, big);
    r = parse(PIPELINES_BATCH, body);
    cr_assert_eq(r.command_count, 0);
    cr_assert_eq(r.problems[0].code, TRACKD_ERR_ITEM_TOO_LARGE);
    api_result_free(&r);
    free(body);
    free(big);
}

Test(pipelines, refusals_beyond_the_cap_are_counted_not_listed)
{
    char *body = malloc(8192);
    strcpy(body, "{\"batch\":[");
    for (int i = 0; i < 300; i++)
        strcat(body, i ? ",1" : "1");
    strcat(body, "]}");
    struct api_result r = parse(PIPELINES_BATCH, body);
    cr_assert_eq(r.problem_count, API_PROBLEMS_MAX);
    cr_assert_eq(r.problems_omitted, 300 - API_PROBLEMS_MAX);
    cr_assert(api_result_add_rejections(&r, 1, "/v1/batch", RECEIVED_US));
    cr_assert_eq(r.command_count, API_PROBLEMS_MAX + 1, "one summary record for the rest");
    cr_assert(strstr(r.commands[API_PROBLEMS_MAX].message, "200 more") != NULL);
    api_result_free(&r);
    free(body);
}
