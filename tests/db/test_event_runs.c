/* Events written a run at a time (trackd_ingest_events) and the monthly partitions of events,
 * against a real PostgreSQL through the real adapters and store. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

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

TestSuite(runs, .init = setup, .fini = teardown, .timeout = 60);

/* Writes a Pipelines batch: all its events go to the store as one run. */
static void batch(const char *items)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"batch\":[%s]}", items);
    teststore_pipelines(&t, NULL, PIPELINES_BATCH, body);
}

static long count(const char *sql)
{
    return teststore_count(&t, sql);
}

static void expect_value(const char *sql, const char *expected)
{
    teststore_expect(&t, sql, expected);
}

static void run(const char *sql)
{
    testdb_exec(t.url, sql);
}

Test(runs, a_repeated_message_id_keeps_its_first_event)
{
    batch("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"First\",\"messageId\":\"m1\"},"
          "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Second\",\"messageId\":\"m1\"},"
          "{\"type\":\"track\",\"anonymousId\":\"a9\",\"event\":\"Third\",\"messageId\":\"m2\"}");
    expect_value("SELECT string_agg(name, ',' ORDER BY name) FROM events", "First,Third");
    batch("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Again\",\"messageId\":\"m2\"}");
    cr_assert_eq(count("SELECT count(*) FROM events"), 2, "a key seen before is a duplicate");
}

Test(runs, anonymous_events_around_a_link_in_the_same_run_join_the_person)
{
    batch("{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Before\"},"
          "{\"type\":\"track\",\"userId\":\"u1\",\"anonymousId\":\"a1\",\"event\":\"Linking\"},"
          "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"After\"}");
    /* The run's linking event is written first (see trackd_ingest_events): ids within a run
     * need not follow the order sent. */
    expect_value("SELECT string_agg(e.name || ':' || e.origin, ',' ORDER BY e.name) FROM events e"
                 " JOIN people p ON p.id = e.person_id AND p.customer_id = 'u1'",
                 "After:anonymous_merge,Before:anonymous_merge,Linking:direct");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE eligible_at IS NULL"), 0);
}

Test(runs, a_refused_link_and_a_suppressed_person_mix_with_simple_events)
{
    batch("{\"type\":\"track\",\"userId\":\"owner\",\"anonymousId\":\"shared\",\"event\":\"E\"}");
    run("INSERT INTO suppressions (workspace_id, identifier_type, identifier)"
        " SELECT id, 'id', 'gone' FROM workspaces");
    batch("{\"type\":\"track\",\"userId\":\"gone\",\"event\":\"Dropped\"},"
          "{\"type\":\"track\",\"userId\":\"other\",\"anonymousId\":\"shared\",\"event\":\"Mine\"},"
          "{\"type\":\"track\",\"userId\":\"owner\",\"anonymousId\":\"shared\",\"event\":\"Own\"}");
    expect_value("SELECT string_agg(p.customer_id || ':' || e.name, ',' ORDER BY e.name)"
                 " FROM events e JOIN people p ON p.id = e.person_id",
                 "owner:E,other:Mine,owner:Own");
    expect_value("SELECT refused_links FROM anonymous_ids WHERE anonymous_id = 'shared'", "1");
    cr_assert_eq(count("SELECT count(*) FROM people WHERE customer_id = 'gone'"), 0);
}

Test(runs, eligible_events_named_by_a_rule_are_queued)
{
    run("INSERT INTO rules (workspace_id, name, definition, trigger_event, trigger_type)"
        " SELECT id, 'r', '{}', 'Buy', 'event' FROM workspaces");
    batch("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Buy\"},"
          "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Buy\"},"
          "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Look\"},"
          "{\"type\":\"track\",\"userId\":\"u2\",\"event\":\"Buy\","
          "\"timestamp\":\"2020-01-01T00:00:00Z\"}");
    expect_value("SELECT string_agg(e.name || ':' || p.customer_id, ',') FROM pending_evaluations q"
                 " JOIN events e ON e.id = q.event_id JOIN people p ON p.id = e.person_id",
                 "Buy:u1");
}

/* The partition that holds events received at `when` (a Unix time). */
static void month_partition(time_t when, char out[32])
{
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 32, "events_%Y_%m", &tm);
}

Test(runs, events_are_stored_in_the_partition_of_their_month)
{
    batch("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Now\"}");
    char expected[32];
    month_partition(time(NULL), expected);
    expect_value("SELECT tableoid::regclass::text FROM events", expected);
    cr_assert_eq(count("SELECT count(*) FROM pg_class WHERE relname ~ '^events_[0-9]{4}_[0-9]{2}$'"
                       " AND relkind = 'r'"),
                 3, "this month and two ahead");
}

Test(runs, a_missing_month_is_created_and_its_strays_moved_in)
{
    run("INSERT INTO events (workspace_id, type, name, \"timestamp\", received_at)"
        " SELECT id, 'event', 'Future', now(), now() + interval '150 days' FROM workspaces");
    expect_value("SELECT tableoid::regclass::text FROM events", "events_default");
    int created = 0, dropped = 0;
    cr_assert_geq(store_maintain_event_partitions(t.store, 7, 0, &created, &dropped), 0, "%s",
                  store_last_error(t.store));
    cr_assert_geq(created, 4);
    cr_assert_eq(dropped, 0);
    char expected[32];
    month_partition(time(NULL) + 150 * 86400, expected);
    expect_value("SELECT tableoid::regclass::text FROM events", expected);
    cr_assert_eq(count("SELECT count(*) FROM events_default"), 0);
}

Test(runs, retention_drops_whole_months_with_their_queue_rows)
{
    run("SELECT trackd_create_event_partitions(now() - interval '100 days', 0)");
    batch("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Recent\"}");
    run("INSERT INTO events (workspace_id, person_id, type, name, \"timestamp\", received_at)"
        " SELECT workspace_id, id, 'event', 'Old', now(), now() - interval '100 days' FROM people");
    run("INSERT INTO pending_evaluations (event_id, workspace_id)"
        " SELECT id, workspace_id FROM events");
    int created = 0, dropped = 0;
    cr_assert_geq(store_maintain_event_partitions(t.store, 2, 60, &created, &dropped), 0, "%s",
                  store_last_error(t.store));
    cr_assert_geq(dropped, 1);
    expect_value("SELECT string_agg(e.name, ',') FROM pending_evaluations q"
                 " JOIN events e ON e.id = q.event_id",
                 "Recent");
    cr_assert_eq(count("SELECT count(*) FROM pending_evaluations"), 1);
    char old[32];
    month_partition(time(NULL) - 100 * 86400, old);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_class WHERE relname = '%s'", old);
    cr_assert_eq(count(sql), 0, "%s was dropped", old);
}
