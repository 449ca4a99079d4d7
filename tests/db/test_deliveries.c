/*
 * The delivery outbox against a real PostgreSQL: what a claim hands the worker, and how delivery
 * metrics find their delivery (by public id from anyone, by number only with the delivery's own
 * workspace key) and what they record.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/pipelines.h"
#include "api/track_v1.h"
#include "store/store_engine.h"
#include "testdb.h"
#include "teststore.h"

static struct teststore t;

static void setup(void)
{
    teststore_open(&t);
}

static void teardown(void)
{
    teststore_close(&t);
}

TestSuite(deliveries, .init = setup, .fini = teardown, .timeout = 60);

/* Inserts a rule, a firing and a delivery of workspace `workspace` (to `device_id` when not 0),
 * as trackd_fire would; returns the delivery's id. */
static long make_delivery(int64_t workspace, const char *action, long device_id)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO rules (workspace_id, name, definition, trigger_event, trigger_type)"
             " VALUES (%lld, 'r' || (SELECT count(*) FROM rules), '{}', 'e', 'event')",
             (long long)workspace);
    testdb_exec(t.url, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO firings (workspace_id, rule_id, event_id)"
             " VALUES (%lld, (SELECT max(id) FROM rules), 1)",
             (long long)workspace);
    testdb_exec(t.url, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO deliveries (workspace_id, rule_id, firing_id, device_id, action,"
             " next_attempt_at) VALUES (%lld, (SELECT max(id) FROM rules),"
             " (SELECT max(id) FROM firings), nullif(%ld, 0), '%s', now())",
             (long long)workspace, device_id, action);
    testdb_exec(t.url, sql);
    return teststore_count(&t, "SELECT max(id) FROM deliveries");
}

/* What claims handed over, copied. */
struct claimed {
    int count;
    long id[4];
    char public_id[4][64];
    char platform[4][16];
};

static void collect(void *cls, const struct store_delivery *d)
{
    struct claimed *c = cls;
    cr_assert_lt(c->count, 4);
    c->id[c->count] = (long)d->id;
    snprintf(c->public_id[c->count], sizeof c->public_id[0], "%s", d->public_id);
    snprintf(c->platform[c->count], sizeof c->platform[0], "%s", d->platform);
    c->count++;
}

Test(deliveries, a_claim_carries_the_public_id_and_the_devices_platform)
{
    teststore_pipelines(&t, NULL, PIPELINES_TRACK,
                        "{\"userId\":\"ios-user\",\"event\":\"Device Created or Updated\","
                        "\"context\":{\"device\":{\"token\":\"abcdef0123\",\"type\":\"ios\"}}}");
    long device = teststore_count(&t, "SELECT id FROM devices");
    cr_assert_gt(device, 0);
    long push = make_delivery(t.workspace_id, "{\"type\":\"push\"}", device);
    long hook = make_delivery(t.workspace_id, "{\"type\":\"webhook\"}", 0);

    struct claimed c = {0};
    cr_assert_eq(store_claim_deliveries(t.store, 10, 60, "UTC", collect, &c), 2, "%s",
                 store_last_error(t.store));
    for (int i = 0; i < c.count; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT public_id FROM deliveries WHERE id = %ld", c.id[i]);
        teststore_expect(&t, sql, c.public_id[i]);
        cr_assert_eq(strlen(c.public_id[i]), 22, "%s", c.public_id[i]);
        cr_assert_eq(strspn(c.public_id[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789-_"),
                     22, "base64url: %s", c.public_id[i]);
        cr_assert_str_eq(c.platform[i], c.id[i] == push ? "ios" : "", "delivery %ld", c.id[i]);
    }
    cr_assert(c.id[0] == hook || c.id[1] == hook);
    cr_assert_str_neq(c.public_id[0], c.public_id[1], "each delivery its own id");
}

/* Reports `metric` for `delivery_id` through POST /api/v1/metrics with the key of `workspace`
 * (0: without credentials). */
static void report(int64_t workspace, const char *delivery_id, const char *metric,
                   const char *extra)
{
    char body[512];
    snprintf(body, sizeof body, "{\"delivery_id\":\"%s\",\"metric\":\"%s\"%s}", delivery_id, metric,
             extra);
    int64_t own = t.workspace_id;
    t.workspace_id = workspace;
    teststore_track_v1(&t, TRACK_V1_METRIC, NULL, body);
    t.workspace_id = own;
}

Test(deliveries, metrics_find_a_delivery_by_public_id_or_by_number_with_its_own_key)
{
    long id = make_delivery(t.workspace_id, "{\"type\":\"webhook\"}", 0);
    char number[24], sql[256];
    snprintf(number, sizeof number, "%ld", id);
    char *public_id = testdb_query_value(t.url, "SELECT public_id FROM deliveries");
    testdb_exec(t.url, "INSERT INTO workspaces (name, site_id) VALUES ('other', 'other-site')");
    int64_t other = teststore_count(&t, "SELECT id FROM workspaces WHERE name = 'other'");

    /* Without credentials, the number is not enough, and unknown ids leave no trace. */
    report(0, number, "opened", "");
    report(0, "made-up", "opened", "");
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM delivery_metrics"), 0);
    teststore_expect(&t, "SELECT opened_at FROM deliveries", NULL);

    /* Another workspace's key cannot reach it by number, and names no delivery of its own:
     * nothing is kept. */
    report(other, number, "clicked", "");
    report(other, "made-up", "clicked", "");
    teststore_expect(&t, "SELECT clicked_at FROM deliveries", NULL);
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM delivery_metrics"), 0);

    /* Its own key by number, and anyone by public id, land on it, under its workspace. */
    report(t.workspace_id, number, "delivered", ",\"timestamp\":1790000000");
    report(0, public_id, "opened", "");
    teststore_expect(
        &t, "SELECT delivered_at IS NOT NULL AND opened_at IS NOT NULL FROM deliveries", "t");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM delivery_metrics WHERE workspace_id = %lld"
             " AND metric IN ('delivered', 'opened')",
             (long long)t.workspace_id);
    cr_assert_eq(teststore_count(&t, sql), 2);

    /* The first of each kind wins; repeats are counted, not stored again. */
    char *first = testdb_query_value(t.url, "SELECT opened_at FROM deliveries");
    for (int i = 0; i < 3; i++)
        report(0, public_id, "opened", "");
    teststore_expect(&t, "SELECT opened_at FROM deliveries", first);
    teststore_expect(&t, "SELECT repeats FROM delivery_metrics WHERE metric = 'opened'", "3");
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM delivery_metrics"), 2);
    /* A later report of another kind is still recorded. */
    report(0, public_id, "clicked", "");
    teststore_expect(&t, "SELECT clicked_at IS NOT NULL FROM deliveries", "t");
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM delivery_metrics"), 3);
    free(first);
    free(public_id);
}

Test(deliveries, metric_times_are_clamped_between_the_send_and_five_minutes_after_receipt)
{
    make_delivery(t.workspace_id, "{\"type\":\"webhook\"}", 0);
    testdb_exec(t.url, "UPDATE deliveries SET created_at = now() - interval '2 hours',"
                       " sent_at = now() - interval '1 hour'");
    char *public_id = testdb_query_value(t.url, "SELECT public_id FROM deliveries");
    long long now = (long long)time(NULL);
    char extra[64];
    snprintf(extra, sizeof extra, ",\"timestamp\":%lld", now + 86400);
    report(0, public_id, "opened", extra);
    report(0, public_id, "clicked", ",\"timestamp\":1000000000");
    snprintf(extra, sizeof extra, ",\"timestamp\":%lld", now - 1800);
    report(0, public_id, "converted", extra);
    teststore_expect(&t,
                     "SELECT occurred_at = received_at + interval '5 minutes' FROM delivery_metrics"
                     " WHERE metric = 'opened'",
                     "t");
    teststore_expect(&t,
                     "SELECT m.occurred_at = d.sent_at FROM delivery_metrics m"
                     " JOIN deliveries d ON d.id = m.delivery_ref WHERE m.metric = 'clicked'",
                     "t");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT converted_at = to_timestamp(%lld) AND clicked_at = sent_at"
             " AND opened_at > now() FROM deliveries",
             now - 1800);
    teststore_expect(&t, sql, "t");
    free(public_id);
}
