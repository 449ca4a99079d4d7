/*
 * The set-based write path against the one-at-a-time path it replaced. Random groups of
 * Pipelines calls (identifies with and without emails and anonymous ids, events by user, by
 * anonymous id or both, old and fresh timestamps, message ids repeated within and across
 * groups, suppressed people, links made, reused and refused) are parsed once; each group is
 * written to database "grouped" with store_write_commands, as the server writes it, and to
 * database "single" one command at a time, each event through trackd_ingest_event. Outcomes
 * must agree call by call, and in the end the rows must be the same.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/pipelines.h"
#include "common/textbuf.h"
#include "common/timeutil.h"
#include "testdb.h"
#include "teststore.h"

static struct teststore grouped;
static struct teststore single;
static PGconn *single_conn; /* for the per-event function */

static void setup(void)
{
    teststore_open(&grouped);
    teststore_open(&single);
    single_conn = PQconnectdb(single.url);
    cr_assert_eq(PQstatus(single_conn), CONNECTION_OK, "%s", PQerrorMessage(single_conn));
    /* The same rule, suppressions and a person known by email only, in both. */
    const char *prepare =
        "INSERT INTO rules (workspace_id, name, definition, trigger_event, trigger_type)"
        " SELECT id, 'r', '{}', 'Buy', 'event' FROM workspaces;"
        "SELECT trackd_suppress(id, 'id', 'u13') FROM workspaces;"
        "SELECT trackd_suppress(id, 'id', 'u14') FROM workspaces;";
    testdb_exec(grouped.url, prepare);
    testdb_exec(single.url, prepare);
}

static void teardown(void)
{
    PQfinish(single_conn);
    teststore_close(&grouped);
    teststore_close(&single);
}

TestSuite(differential, .init = setup, .fini = teardown, .timeout = 120);

/* A small deterministic generator (xorshift), so a failing seed can be replayed. */
static uint64_t rng_state;

static unsigned pick(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static unsigned message_counter;
static unsigned group_counter;

/* Appends one random call of a group to `b`. */
static void append_call(struct textbuf *b, unsigned group)
{
    char user[16], anonymous[16], message[32], text[512];
    snprintf(user, sizeof user, "u%u", pick(15));           /* u13 and u14 are suppressed */
    snprintf(anonymous, sizeof anonymous, "a%u", pick(20)); /* shared: links get refused */
    unsigned key = pick(8);
    if (key == 0) /* repeated across groups */
        snprintf(message, sizeof message, "dup%u", pick(30));
    else if (key == 1) /* repeated within this group */
        snprintf(message, sizeof message, "g%u-dup%u", group, pick(4));
    else
        snprintf(message, sizeof message, "m%u", message_counter++);
    const char *timestamp = pick(5) == 0 ? ",\"timestamp\":\"2020-01-01T00:00:00Z\"" : "";
    unsigned shape = pick(10);
    if (shape < 3) {
        char traits[64] = "", link[48] = "";
        if (pick(3) > 0) /* shared emails: conflicts */
            snprintf(traits, sizeof traits, ",\"traits\":{\"email\":\"p%u@example.com\"}", pick(8));
        if (pick(2) > 0)
            snprintf(link, sizeof link, ",\"anonymousId\":\"%s\"", anonymous);
        snprintf(text, sizeof text,
                 "{\"type\":\"identify\",\"userId\":\"%s\"%s%s,\"messageId\":\"%s\"}", user, link,
                 traits, message);
    } else {
        const char *name = pick(2) ? "Buy" : "Look";
        unsigned properties = pick(100);
        unsigned who = pick(3);
        char people[64];
        if (who == 0)
            snprintf(people, sizeof people, "\"userId\":\"%s\"", user);
        else if (who == 1)
            snprintf(people, sizeof people, "\"anonymousId\":\"%s\"", anonymous);
        else
            snprintf(people, sizeof people, "\"userId\":\"%s\",\"anonymousId\":\"%s\"", user,
                     anonymous);
        snprintf(text, sizeof text,
                 "{\"type\":\"track\",%s,\"event\":\"%s\",\"messageId\":\"%s\","
                 "\"properties\":{\"n\":%u}%s}",
                 people, name, message, properties, timestamp);
    }
    textbuf_append_str(b, text);
}

/* Writes one event through the per-event function, as the writer did before events were
 * written set-based; returns its outcome number. */
static enum outcome write_event_alone(const struct command *cmd)
{
    char workspace[24], stamp[TIMEUTIL_FORMAT_SIZE], received[TIMEUTIL_FORMAT_SIZE];
    snprintf(workspace, sizeof workspace, "%" PRId64, cmd->workspace_id);
    timeutil_format(cmd->timestamp_us, stamp);
    timeutil_format(cmd->received_us, received);
    const char *params[] = {workspace,
                            cmd->message_id,
                            command_identifier_type_name(cmd->person.type),
                            cmd->person.value,
                            cmd->anonymous_id,
                            command_event_type_name(cmd->event_type),
                            cmd->name,
                            cmd->properties,
                            cmd->context,
                            stamp,
                            received};
    PGresult *res =
        PQexecParams(single_conn,
                     "SELECT trackd_outcome(trackd_ingest_event($1::bigint, $2, $3, $4, $5, $6, $7,"
                     " $8::jsonb, $9::jsonb, $10::timestamptz, $11::timestamptz))",
                     11, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(single_conn));
    enum outcome outcome = (enum outcome)atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return outcome;
}

/* Writes one group both ways and checks the outcomes agree. */
static void write_group_both_ways(const char *body)
{
    struct api_result r;
    pipelines_parse_request(PIPELINES_BATCH, body, strlen(body), timeutil_now_us(), &r);
    cr_assert_eq(r.problem_count, 0, "%s: %s", body, r.problem_count ? r.problems[0].message : "");
    size_t n = r.command_count;
    struct command **commands = calloc(n, sizeof *commands);
    enum outcome *outcomes = calloc(n, sizeof *outcomes);
    cr_assert(commands != NULL && outcomes != NULL);
    for (size_t i = 0; i < n; i++) {
        r.commands[i].workspace_id = grouped.workspace_id;
        r.commands[i].endpoint = "/test";
        commands[i] = &r.commands[i];
    }
    struct store_write_failure failure;
    cr_assert_eq(store_write_commands(grouped.store, commands, n, outcomes, &failure),
                 (enum store_status)n, "%s", store_last_error(grouped.store));

    for (size_t i = 0; i < n; i++) {
        struct command *cmd = commands[i];
        cmd->workspace_id = single.workspace_id;
        enum outcome alone;
        if (cmd->kind == COMMAND_TRACK) {
            alone = write_event_alone(cmd);
        } else {
            cr_assert_eq(store_write_commands(single.store, &cmd, 1, &alone, &failure), 1, "%s",
                         store_last_error(single.store));
        }
        if (outcomes[i] != alone)
            fprintf(stderr, "%s\n", body);
        cr_assert_eq(outcomes[i], alone,
                     "group %u, call %zu (kind %d, message id %s, person %s, anonymous id %s):"
                     " grouped %d, one at a time %d",
                     group_counter, i, (int)cmd->kind, cmd->message_id ? cmd->message_id : "-",
                     cmd->person.value ? cmd->person.value : "-",
                     cmd->anonymous_id ? cmd->anonymous_id : "-", outcomes[i], alone);
    }
    free(commands);
    free(outcomes);
    api_result_free(&r);
}

/* What both databases must hold alike: people by customer_id (ids and cio_ids are drawn
 * differently), events by message id, links, keys, queued evaluations, suppressions. */
static const char *const comparisons[] = {
    "SELECT string_agg(concat_ws('|', customer_id, email, attributes::text), E'\\n'"
    " ORDER BY customer_id) FROM people",
    "SELECT string_agg(concat_ws('|', e.message_id, p.customer_id, e.anonymous_id, e.type,"
    " e.name, e.properties::text, e.context::text, e.\"timestamp\", e.received_at, e.origin,"
    " e.eligible_at IS NOT NULL), E'\\n' ORDER BY e.message_id)"
    " FROM events e LEFT JOIN people p ON p.id = e.person_id",
    "SELECT string_agg(concat_ws('|', a.anonymous_id, p.customer_id, a.refused_links),"
    " E'\\n' ORDER BY a.anonymous_id) FROM anonymous_ids a LEFT JOIN people p"
    " ON p.id = a.person_id",
    "SELECT string_agg(message_id, ',' ORDER BY message_id) FROM message_ids",
    "SELECT string_agg(e.message_id, ',' ORDER BY e.message_id) FROM pending_evaluations q"
    " JOIN events e ON e.id = q.event_id",
    "SELECT string_agg(identifier_type || ':' || identifier, ',' ORDER BY identifier)"
    " FROM suppressions",
};

static void expect_same_rows(void)
{
    for (size_t i = 0; i < sizeof comparisons / sizeof comparisons[0]; i++) {
        char *a = testdb_query_value(grouped.url, comparisons[i]);
        char *b = testdb_query_value(single.url, comparisons[i]);
        cr_assert_str_eq(a ? a : "(none)", b ? b : "(none)", "%s", comparisons[i]);
        free(a);
        free(b);
    }
}

static void run_seed(uint64_t seed, unsigned groups)
{
    rng_state = seed;
    for (unsigned g = 0; g < groups; g++) {
        struct textbuf body = {0};
        textbuf_append_str(&body, "{\"batch\":[");
        unsigned calls = 1 + pick(pick(4) == 0 ? 300 : 12); /* some past one chunk of 256 */
        for (unsigned c = 0; c < calls; c++) {
            if (c > 0)
                textbuf_append_str(&body, ",");
            append_call(&body, group_counter);
        }
        textbuf_append_str(&body, "]}");
        cr_assert(!body.failed);
        write_group_both_ways(body.data);
        group_counter++;
        free(body.data);
    }
    expect_same_rows();
}

Test(differential, random_groups_give_the_same_rows_and_outcomes_both_ways)
{
    static const uint64_t seeds[] = {0x9e3779b97f4a7c15u, 0x2545f4914f6cdd1du, 42u};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
        run_seed(seeds[s], 40);
    cr_assert_gt(teststore_count(&grouped, "SELECT count(*) FROM events"), 500,
                 "the groups stored events");
    cr_assert_gt(teststore_count(&grouped, "SELECT sum(refused_links) FROM anonymous_ids"), 0,
                 "some links were refused");
    cr_assert_gt(teststore_count(&grouped, "SELECT count(*) FROM events WHERE origin ="
                                           " 'anonymous_merge'"),
                 0, "some anonymous events joined a person");
}

Test(differential, outcome_numbers_agree_with_core)
{
    static const struct {
        const char *word;
        enum outcome outcome;
    } words[] = {
        {"stored", OUTCOME_STORED},
        {"stored;link_refused", OUTCOME_LINK_REFUSED},
        {"duplicate", OUTCOME_DUPLICATE},
        {"repeat", OUTCOME_DUPLICATE},
        {"conflict", OUTCOME_CONFLICT},
        {"suppressed", OUTCOME_IGNORED},
        {"not_found", OUTCOME_IGNORED},
        {"skipped", OUTCOME_IGNORED},
        {"primary_not_found", OUTCOME_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char sql[128], expected[8];
        snprintf(sql, sizeof sql, "SELECT trackd_outcome('%s')", words[i].word);
        snprintf(expected, sizeof expected, "%d", (int)words[i].outcome);
        teststore_expect(&grouped, sql, expected);
    }
}
