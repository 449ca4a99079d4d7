/* Anonymous activity, linking, semantic events, groups, races and retention, against a real
 * PostgreSQL through the real adapters and store. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

TestSuite(identity, .init = setup, .fini = teardown, .timeout = 120);

static enum outcome pipelines(enum pipelines_endpoint endpoint, const char *body)
{
    return teststore_pipelines(&t, NULL, endpoint, body);
}

static long count(const char *sql)
{
    return teststore_count(&t, sql);
}

static void expect_value(const char *sql, const char *expected)
{
    teststore_expect(&t, sql, expected);
}

/* Runs a statement whose result does not matter (test set-up). */
static void run(const char *sql)
{
    testdb_exec(t.url, sql);
}

Test(identity, anonymous_events_join_person_on_identify)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a1\",\"event\":\"Viewed\"}");
    pipelines(PIPELINES_PAGE, "{\"anonymousId\":\"a1\",\"name\":\"Home\"}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE person_id IS NULL"), 2);
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"anonymousId\":\"a1\"}");
    cr_assert_eq(count("SELECT count(*) FROM events e JOIN people p ON p.id = e.person_id"
                       " WHERE p.customer_id = 'u1' AND e.origin = 'anonymous_merge'"
                       " AND e.eligible_at IS NOT NULL"),
                 2);
    expect_value("SELECT p.customer_id FROM anonymous_ids a JOIN people p ON p.id = a.person_id"
                 " WHERE a.anonymous_id = 'a1'",
                 "u1");
}

Test(identity, track_with_both_ids_links_and_v1_anonymous_id_links)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a2\",\"event\":\"Before\"}");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"u2\",\"anonymousId\":\"a2\",\"event\":\"With\"}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE person_id IS NULL"), 0);
    teststore_track_v1(&t, TRACK_V1_ANONYMOUS_EVENT, NULL,
                       "{\"name\":\"Browse\",\"anonymous_id\":\"a3\"}");
    teststore_track_v1(&t, TRACK_V1_IDENTIFY, "u3", "{\"anonymous_id\":\"a3\"}");
    expect_value("SELECT p.customer_id FROM events e JOIN people p ON p.id = e.person_id"
                 " WHERE e.name = 'Browse'",
                 "u3");
    expect_value("SELECT attributes::text FROM people WHERE customer_id = 'u3'", "{}");
}

Test(identity, alias_links_previous_id)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a4\",\"event\":\"E\"}");
    pipelines(PIPELINES_ALIAS, "{\"userId\":\"u4\",\"previousId\":\"a4\"}");
    expect_value("SELECT p.customer_id FROM events e JOIN people p ON p.id = e.person_id", "u4");
}

Test(identity, only_the_last_30_days_join)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a5\",\"event\":\"Old\"}");
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a5\",\"event\":\"New\"}");
    run("UPDATE events SET received_at = now() - interval '31 days' WHERE name = 'Old'");
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u5\",\"anonymousId\":\"a5\"}");
    expect_value("SELECT string_agg(name || ':' || coalesce(person_id::text, 'none'), ',' "
                 "ORDER BY name) FROM events",
                 "New:1,Old:none");
}

Test(identity, events_up_to_5_minutes_after_the_link_join_later_ones_do_not)
{
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u6\",\"anonymousId\":\"a6\"}");
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a6\",\"event\":\"Soon\"}");
    run("UPDATE anonymous_ids SET linked_at = now() - interval '6 minutes'");
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a6\",\"event\":\"Late\"}");
    expect_value("SELECT string_agg(name || ':' || (person_id IS NOT NULL)::text || ':' || origin,"
                 " ',' ORDER BY name) FROM events",
                 "Late:false:direct,Soon:true:anonymous_merge");
}

Test(identity, a_linked_anonymous_id_is_never_relinked)
{
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u7\",\"anonymousId\":\"a7\"}");
    cr_assert_eq(pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u8\",\"anonymousId\":\"a7\"}"),
                 OUTCOME_LINK_REFUSED);
    expect_value("SELECT p.customer_id || ':' || a.refused_links FROM anonymous_ids a"
                 " JOIN people p ON p.id = a.person_id",
                 "u7:1");
    cr_assert_eq(count("SELECT count(*) FROM people"), 2, "the call itself still counted");
}

Test(identity, placeholder_anonymous_ids_are_never_linked)
{
    const char *junk[] = {"undefined", "null", "NULL", "anonymous", "0", " "};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char body[160];
        snprintf(body, sizeof body, "{\"userId\":\"u%zu\",\"anonymousId\":\"%s\",\"event\":\"E\"}",
                 i, junk[i]);
        pipelines(PIPELINES_TRACK, body);
    }
    cr_assert_eq(count("SELECT count(*) FROM anonymous_ids"), 0);
}

Test(identity, eligibility_follows_the_72_hour_rule)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a9\",\"event\":\"Recent\","
                               "\"timestamp\":\"2099-01-01T00:00:00Z\"}");
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"a9\",\"event\":\"Stale\","
                               "\"timestamp\":\"2020-01-01T00:00:00Z\"}");
    run("UPDATE events SET \"timestamp\" = now() - interval '1 hour' WHERE name = 'Recent'");
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"u9\",\"anonymousId\":\"a9\"}");
    expect_value("SELECT string_agg(name || ':' || (eligible_at IS NOT NULL)::text, ','"
                 " ORDER BY name) FROM events",
                 "Recent:true,Stale:false");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"u10\",\"event\":\"Mine\"}");
    teststore_track_v1(&t, TRACK_V1_MERGE, NULL,
                       "{\"primary\":{\"id\":\"u9\"},\"secondary\":{\"id\":\"u10\"}}");
    expect_value("SELECT origin || ':' || (eligible_at IS NOT NULL)::text FROM events"
                 " WHERE name = 'Mine'",
                 "profile_merge:false");
}

Test(identity, semantic_events_act_and_are_not_stored)
{
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"s1\",\"traits\":{\"email\":\"s1@x.com\"}}");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"s1\",\"event\":\"Device Created or Updated\","
                               "\"properties\":{\"app_version\":\"2.0\"},"
                               "\"context\":{\"device\":{\"token\":\"tok-1\",\"type\":\"ios\"}}}");
    expect_value("SELECT platform || ':' || (attributes->>'app_version') FROM devices", "ios:2.0");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"s1\",\"event\":\"Device Deleted\","
                               "\"context\":{\"device\":{\"token\":\"tok-1\"}}}");
    cr_assert_eq(count("SELECT count(*) FROM devices"), 0);
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"d-1\",\"event\":\"Report Delivery Event\","
                               "\"properties\":{\"deliveryId\":\"d-1\",\"metric\":\"opened\"}}");
    /* A report naming no delivery is answered but not kept (db_deliveries: ones that do). */
    cr_assert_eq(count("SELECT count(*) FROM delivery_metrics"), 0);
    cr_assert_eq(count("SELECT count(*) FROM events"), 0);
    pipelines(PIPELINES_TRACK, "{\"userId\":\"s1\",\"event\":\"User Suppressed\"}");
    cr_assert_eq(count("SELECT count(*) FROM people"), 0);
    cr_assert_eq(count("SELECT count(*) FROM suppressions"), 2);
    pipelines(PIPELINES_TRACK, "{\"userId\":\"s1\",\"event\":\"Unsuppress Person\"}");
    cr_assert_eq(count("SELECT count(*) FROM suppressions"), 0);
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"s2\"}");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"s2\",\"event\":\"Delete Person\"}");
    cr_assert_eq(count("SELECT count(*) FROM people"), 0);
    cr_assert_eq(count("SELECT count(*) FROM events"), 0, "semantic events are not stored");
}

Test(identity, groups_store_objects_and_relationships)
{
    pipelines(PIPELINES_GROUP, "{\"userId\":\"g1\",\"groupId\":\"acme\",\"traits\":{\"name\":"
                               "\"Acme\",\"relationshipAttributes\":{\"role\":\"admin\"}}}");
    pipelines(PIPELINES_GROUP, "{\"anonymousId\":\"ga\",\"groupId\":\"acme\","
                               "\"traits\":{\"plan\":\"pro\",\"object_type_id\":2}}");
    expect_value("SELECT attributes::text FROM objects WHERE object_type_id = '1'",
                 "{\"name\": \"Acme\"}");
    expect_value("SELECT p.customer_id || ':' || (r.attributes->>'role') FROM relationships r"
                 " JOIN people p ON p.id = r.person_id",
                 "g1:admin");
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"g2\",\"anonymousId\":\"ga\"}");
    expect_value("SELECT string_agg(p.customer_id || '@' || r.object_type_id, ','"
                 " ORDER BY p.customer_id) FROM relationships r JOIN people p"
                 " ON p.id = r.person_id",
                 "g1@1,g2@2");
}

Test(identity, retention_purges_only_expired_unlinked_rows)
{
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"r1\",\"event\":\"Gone\",\"messageId\":\"m1\"}");
    pipelines(PIPELINES_TRACK, "{\"anonymousId\":\"r2\",\"event\":\"Kept\",\"messageId\":\"m2\"}");
    pipelines(PIPELINES_TRACK, "{\"userId\":\"r3\",\"event\":\"Mine\",\"messageId\":\"m3\"}");
    run("UPDATE events SET received_at = now() - interval '31 days' WHERE name IN ('Gone', "
        "'Mine')");
    run("UPDATE message_ids SET received_at = now() - interval '31 days' WHERE message_id = 'm1'");
    long deleted = 0;
    cr_assert_geq(store_purge_expired(t.store, 1000, &deleted), 0, "%s", store_last_error(t.store));
    expect_value("SELECT string_agg(name, ',' ORDER BY name) FROM events", "Kept,Mine");
    expect_value("SELECT string_agg(message_id, ',' ORDER BY message_id) FROM message_ids",
                 "m2,m3");
}

/* ---- races, each repeated so that interleavings vary ---- */

#define RACE_ROUNDS 20

struct racer {
    const char *body;
    enum pipelines_endpoint endpoint;
    int repeat;
    intptr_t failures;
    bool merge;  /* a Track v1 merge_customers body instead of a Pipelines call */
    size_t slot; /* set by run_racers: which connection */
};

/* One connection per racer, opened once and kept across rounds: opening 40 connections per
 * round would make the test measure fork() rather than the race. */
static struct store *connections[64];

static void *race(void *arg)
{
    struct racer *r = arg;
    struct store *s = connections[r->slot];
    for (int i = 0; i < r->repeat; i++) {
        enum outcome outcome;
        enum store_status status =
            r->merge ? teststore_try_track_v1(&t, s, TRACK_V1_MERGE, NULL, r->body, &outcome)
                     : teststore_try_pipelines(&t, s, r->endpoint, r->body, &outcome);
        if (status < 0)
            r->failures++;
    }
    return NULL;
}

/* Runs the racers at once and asserts none failed. */
static void run_racers(struct racer *racers, size_t n)
{
    pthread_t threads[64];
    for (size_t i = 0; i < n; i++) {
        char error[256];
        if (connections[i] == NULL)
            connections[i] = store_connect(t.url, error, sizeof error);
        cr_assert_not_null(connections[i], "%s", error);
        racers[i].slot = i;
    }
    for (size_t i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, race, &racers[i]);
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(racers[i].failures, 0, "racer %zu failed", i);
}

Test(identity, forty_identifies_of_a_new_user_make_one_person_with_every_attribute)
{
    enum { RACERS = 40 };
    static char bodies[RACERS][128];
    for (int round = 0; round < RACE_ROUNDS; round++) {
        struct racer racers[RACERS];
        for (int i = 0; i < RACERS; i++) {
            snprintf(bodies[i], sizeof bodies[i], "{\"userId\":\"new-%d\",\"traits\":{\"k%d\":%d}}",
                     round, i, i);
            racers[i] = (struct racer){bodies[i], PIPELINES_IDENTIFY, 1, 0, false, 0};
        }
        run_racers(racers, RACERS);
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM people WHERE customer_id = 'new-%d'",
                 round);
        cr_assert_eq(count(sql), 1, "round %d made duplicates", round);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM people, jsonb_object_keys(attributes)"
                 " WHERE customer_id = 'new-%d'",
                 round);
        cr_assert_eq(count(sql), RACERS, "round %d lost an attribute update", round);
    }
}

Test(identity, anonymous_events_racing_the_link_are_never_left_behind)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char track[128], identify[128];
        snprintf(track, sizeof track, "{\"anonymousId\":\"race-%d\",\"event\":\"E\"}", round);
        snprintf(identify, sizeof identify, "{\"userId\":\"racer-%d\",\"anonymousId\":\"race-%d\"}",
                 round, round);
        struct racer racers[4] = {{track, PIPELINES_TRACK, 25, 0, false, 0},
                                  {track, PIPELINES_TRACK, 25, 0, false, 0},
                                  {track, PIPELINES_TRACK, 25, 0, false, 0},
                                  {identify, PIPELINES_IDENTIFY, 1, 0, false, 0}};
        run_racers(racers, 4);
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM events WHERE anonymous_id = 'race-%d' AND person_id IS NULL",
                 round);
        cr_assert_eq(count(sql), 0, "round %d left anonymous events behind", round);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE anonymous_id = 'race-%d'",
                 round);
        cr_assert_eq(count(sql), 75);
    }
}

Test(identity, merges_touching_the_same_person_stay_consistent)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char a[128], b[128];
        for (int i = 0; i < 3; i++) {
            char body[128];
            snprintf(body, sizeof body, "{\"userId\":\"m%d-%d\",\"event\":\"E%d\"}", round, i, i);
            pipelines(PIPELINES_TRACK, body);
        }
        /* m-1 into m-0 and m-1 into m-2 at once: m-1's events end up with exactly one of them. */
        snprintf(a, sizeof a, "{\"primary\":{\"id\":\"m%d-0\"},\"secondary\":{\"id\":\"m%d-1\"}}",
                 round, round);
        snprintf(b, sizeof b, "{\"primary\":{\"id\":\"m%d-2\"},\"secondary\":{\"id\":\"m%d-1\"}}",
                 round, round);
        struct racer racers[2] = {{a, PIPELINES_TRACK, 1, 0, true, 0},
                                  {b, PIPELINES_TRACK, 1, 0, true, 0}};
        run_racers(racers, 2);
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM people WHERE customer_id LIKE 'm%d-%%'",
                 round);
        cr_assert_eq(count(sql), 2, "round %d: m-1 was merged away exactly once", round);
    }
    cr_assert_eq(count("SELECT count(*) FROM events WHERE person_id IS NULL"), 0);
    cr_assert_eq(count("SELECT count(*) FROM events e WHERE NOT EXISTS"
                       " (SELECT 1 FROM people p WHERE p.id = e.person_id)"),
                 0);
}

/* Identifies with emails (as the SDKs send them) of the same existing people, in opposite
 * orders in two concurrent groups: the groups lock those people up front in one order, so
 * PostgreSQL never has a deadlock to break. */
struct identify_order {
    struct store *store;
    const char *body;
    intptr_t failures;
};

static void *identify_in_order(void *arg)
{
    struct identify_order *o = arg;
    for (int i = 0; i < 300; i++) {
        enum outcome outcome;
        if (teststore_try_pipelines(&t, o->store, PIPELINES_BATCH, o->body, &outcome) < 0)
            o->failures++;
    }
    return NULL;
}

Test(identity, identifies_of_the_same_people_in_opposite_orders_never_deadlock)
{
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"d1\",\"traits\":{\"email\":\"d1@example.com\"}}");
    pipelines(PIPELINES_IDENTIFY, "{\"userId\":\"d2\",\"traits\":{\"email\":\"d2@example.com\"}}");
    long before =
        count("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    struct identify_order orders[2] = {
        {.body =
             "{\"batch\":["
             "{\"type\":\"identify\",\"userId\":\"d1\",\"traits\":{\"email\":\"d1@example.com\","
             "\"n\":1}},"
             "{\"type\":\"identify\",\"userId\":\"d2\",\"traits\":{\"email\":\"d2@example.com\","
             "\"n\":1}}]}"},
        {.body =
             "{\"batch\":["
             "{\"type\":\"identify\",\"userId\":\"d2\",\"traits\":{\"email\":\"d2@example.com\","
             "\"n\":2}},"
             "{\"type\":\"identify\",\"userId\":\"d1\",\"traits\":{\"email\":\"d1@example.com\","
             "\"n\":2}}]}"},
    };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        char error[256];
        orders[i].store = store_connect(t.url, error, sizeof error);
        cr_assert_not_null(orders[i].store, "%s", error);
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, identify_in_order, &orders[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    /* A backend reports its statistics when it exits. */
    for (int i = 0; i < 2; i++)
        store_close(orders[i].store);
    long after = before;
    for (int wait = 0; wait < 20 && after == before; wait++) {
        usleep(50 * 1000);
        after = count("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    }
    cr_assert_eq(orders[0].failures + orders[1].failures, 0);
    cr_assert_eq(after, before, "%ld deadlocks", after - before);
    cr_assert_eq(count("SELECT count(*) FROM people WHERE customer_id IN ('d1', 'd2')"), 2);
}
