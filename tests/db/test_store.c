/* The store against a real PostgreSQL: each test gets its own database cloned from the
 * migrated template (tests/support/testdb.c). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/pipelines.h"
#include "common/timeutil.h"
#include "store/store.h"
#include "store/store_ingest.h"
#include "store/store_migrations.h"
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

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static enum outcome write_call(enum pipelines_endpoint endpoint, const char *body)
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

Test(store, migrate_is_idempotent_and_recorded)
{
    char error[256];
    cr_assert_eq(store_migrate(t.url, stdout, error, sizeof error), 0, "%s", error);
    cr_assert_eq(store_schema_is_current(t.store), STORE_ONE_RESULT);
    cr_assert_eq(count("SELECT count(*) FROM schema_migrations"), (long)store_migration_count);
}

Test(store, every_table_and_column_is_commented)
{
    cr_assert_eq(count("SELECT count(*) FROM information_schema.columns c"
                       " JOIN pg_class t ON t.relname = c.table_name"
                       " JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'"
                       " WHERE c.table_schema = 'public' AND t.relkind IN ('r', 'p')"
                       /* a partition's columns are its table's, commented there */
                       " AND NOT t.relispartition"
                       " AND col_description(t.oid, c.ordinal_position) IS NULL"),
                 0);
    cr_assert_eq(count("SELECT count(*) FROM pg_class t JOIN pg_namespace n"
                       " ON n.oid = t.relnamespace WHERE n.nspname = 'public'"
                       " AND t.relkind IN ('r', 'p') AND obj_description(t.oid) IS NULL"),
                 0);
}

Test(store, workspace_keys_are_stored_hashed_and_names_unique)
{
    struct store_workspace again;
    char api_key[41], write_key[41];
    cr_assert_eq(store_create_workspace(t.store, "test", &again, api_key, write_key),
                 STORE_NO_RESULTS);
    struct store_workspace other;
    cr_assert_eq(store_create_workspace(t.store, "other", &other, api_key, write_key),
                 STORE_ONE_RESULT);
    cr_assert_eq(strlen(api_key), 40);
    cr_assert_str_neq(api_key, write_key);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM workspaces w WHERE w::text LIKE '%%%s%%'"
             " OR w::text LIKE '%%%s%%') + (SELECT count(*) FROM workspace_keys k"
             " WHERE k::text LIKE '%%%s%%' OR k::text LIKE '%%%s%%')",
             write_key, api_key, write_key, api_key);
    cr_assert_eq(count(sql), 0, "the plain keys appear nowhere");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM workspace_keys k JOIN workspaces w ON w.id = k.workspace_id"
             " WHERE w.name = 'other' AND ((k.kind = 'write' AND k.key_hash = sha256('%s'::bytea))"
             " OR (k.kind = 'api' AND k.key_hash = sha256('%s'::bytea)))",
             write_key, api_key);
    cr_assert_eq(count(sql), 2, "each key is stored as its SHA-256, with its kind");
}

Test(store, track_stores_an_event_for_a_new_person)
{
    cr_assert_eq(write_call(PIPELINES_TRACK,
                            "{\"userId\":\"u1\",\"event\":\"purchase\",\"messageId\":\"m1\","
                            "\"properties\":{\"price\":\"4.99\"},"
                            "\"timestamp\":\"2026-11-28T09:50:00Z\","
                            "\"context\":{\"library\":{\"name\":\"t\"}}}"),
                 OUTCOME_STORED);
    expect_value("SELECT p.customer_id || ' ' || e.type || ' ' || e.name || ' ' ||"
                 " (e.properties->>'price') || ' ' || e.origin || ' ' ||"
                 " (e.context->'library'->>'name') || ' ' ||"
                 " to_char(e.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
                 " FROM events e JOIN people p ON p.id = e.person_id",
                 "u1 event purchase 4.99 direct t 2026-11-28 09:50:00");
    expect_value("SELECT length(cio_id)::text FROM people", "20");
}

Test(store, cio_ids_and_environment_ids_are_random_not_derived_from_internal_ids)
{
    /* Two people made one after the other get unrelated ids: no counter shows through. */
    for (int i = 0; i < 50; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"userId\":\"r%d\",\"event\":\"E\"}", i);
        cr_assert_eq(write_call(PIPELINES_TRACK, body), OUTCOME_STORED);
    }
    expect_value("SELECT count(DISTINCT cio_id)::text FROM people", "50");
    expect_value("SELECT bool_and(cio_id ~ '^[0-9a-f]{20}$')::text FROM people", "true");
    /* Neighbours in id order share no long prefix, as multiples of a constant would. */
    expect_value("SELECT (count(*) FILTER (WHERE left(a, 4) = left(b, 4)) < 3)::text FROM"
                 " (SELECT cio_id AS a, lead(cio_id) OVER (ORDER BY id) AS b FROM people) p"
                 " WHERE b IS NOT NULL",
                 "true");
    expect_value("SELECT (environment_id <> id AND environment_id >= 100000)::text FROM workspaces"
                 " ORDER BY id LIMIT 1",
                 "true");
}

Test(store, a_repeated_message_id_is_stored_once)
{
    const char *body = "{\"userId\":\"u1\",\"event\":\"E\",\"messageId\":\"same\"}";
    cr_assert_eq(write_call(PIPELINES_TRACK, body), OUTCOME_STORED);
    cr_assert_eq(write_call(PIPELINES_TRACK, body), OUTCOME_DUPLICATE);
    cr_assert_eq(write_call(PIPELINES_BATCH,
                            "{\"batch\":[{\"type\":\"page\",\"userId\":\"u1\",\"messageId\":\"p\"},"
                            "{\"type\":\"page\",\"userId\":\"u1\",\"messageId\":\"p\"}]}"),
                 OUTCOME_STORED);
    cr_assert_eq(count("SELECT count(*) FROM events"), 2);
    cr_assert_eq(count("SELECT count(*) FROM message_ids"), 2);
}

Test(store, anonymous_events_are_stored_without_a_person)
{
    write_call(PIPELINES_TRACK, "{\"anonymousId\":\"anon-1\",\"event\":\"Viewed\"}");
    cr_assert_eq(count("SELECT count(*) FROM events WHERE person_id IS NULL"
                       " AND anonymous_id = 'anon-1'"),
                 1);
    cr_assert_eq(count("SELECT count(*) FROM people"), 0);
}

Test(store, identify_merges_attributes_and_removes_nulls)
{
    cr_assert_eq(write_call(PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"email\":"
                                                "\"A@Example.com\",\"plan\":\"free\",\"age\":3}}"),
                 OUTCOME_STORED);
    cr_assert_eq(write_call(PIPELINES_IDENTIFY,
                            "{\"userId\":\"u1\",\"traits\":{\"plan\":\"pro\",\"age\":null}}"),
                 OUTCOME_STORED);
    expect_value("SELECT email || ' ' || attributes::text FROM people WHERE customer_id = 'u1'",
                 "A@Example.com {\"plan\": \"pro\", \"email\": \"A@Example.com\"}");
    write_call(PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"email\":null}}");
    expect_value("SELECT email FROM people WHERE customer_id = 'u1'", NULL);
    cr_assert_eq(count("SELECT count(*) FROM people"), 1);
}

Test(store, a_new_id_never_renames_a_person_who_has_one)
{
    write_call(PIPELINES_IDENTIFY, "{\"userId\":\"alice\",\"traits\":{\"email\":\"a@x.com\"}}");
    cr_assert_eq(
        write_call(PIPELINES_IDENTIFY, "{\"userId\":\"bob\",\"traits\":{\"email\":\"A@x.com\"}}"),
        OUTCOME_CONFLICT);
    expect_value("SELECT string_agg(customer_id, ',') FROM people", "alice");
}

Test(store, identify_by_email_finds_the_person_whatever_the_case)
{
    write_call(PIPELINES_IDENTIFY, "{\"anonymousId\":\"a\",\"traits\":{\"email\":\"b@x.com\"}}");
    write_call(PIPELINES_IDENTIFY, "{\"userId\":\"u2\",\"traits\":{\"email\":\"B@X.com\"}}");
    cr_assert_eq(count("SELECT count(*) FROM people"), 1);
    expect_value("SELECT customer_id FROM people", "u2");
}

Test(store, identify_that_would_steal_an_email_changes_nothing)
{
    write_call(PIPELINES_IDENTIFY, "{\"userId\":\"u1\",\"traits\":{\"email\":\"a@x.com\"}}");
    write_call(PIPELINES_IDENTIFY, "{\"userId\":\"u2\",\"traits\":{\"plan\":\"x\"}}");
    cr_assert_eq(
        write_call(PIPELINES_IDENTIFY,
                   "{\"userId\":\"u2\",\"traits\":{\"email\":\"A@x.com\",\"plan\":\"y\"}}"),
        OUTCOME_CONFLICT);
    expect_value("SELECT attributes->>'plan' FROM people WHERE customer_id = 'u2'", "x");
    expect_value("SELECT email FROM people WHERE customer_id = 'u2'", NULL);
}

Test(store, identify_without_person_group_and_alias_are_recorded)
{
    write_call(PIPELINES_IDENTIFY, "{\"anonymousId\":\"a1\",\"traits\":{\"plan\":\"x\"}}");
    write_call(PIPELINES_GROUP, "{\"userId\":\"u1\",\"groupId\":\"g1\",\"traits\":{\"n\":1}}");
    write_call(PIPELINES_ALIAS, "{\"userId\":\"u1\",\"previousId\":\"a1\"}");
    expect_value("SELECT string_agg(type || ':' || coalesce(customer_id, '-') || ':' ||"
                 " coalesce(group_id, previous_id, anonymous_id), ',' ORDER BY id)"
                 " FROM identity_calls",
                 "identify:-:a1,group:u1:g1,alias:u1:a1");
}

Test(store, a_refused_value_fails_only_its_own_write)
{
    struct command good = {.kind = COMMAND_TRACK,
                           .workspace_id = t.workspace_id,
                           .name = "ok",
                           .properties = "{}",
                           .endpoint = "/t"};
    /* The adapter never lets this through; the store must still fail cleanly. */
    struct command bad = good;
    bad.properties = "{not json";
    struct command *commands[] = {&good, &bad};
    enum outcome outcomes[2];
    struct store_write_failure failure;
    /* The two events go in one set-based statement: its failure cannot be pinned on either,
     * so the writer will write the requests one by one. */
    cr_assert_eq(store_write_commands(t.store, commands, 2, outcomes, &failure), STORE_HARD_ERROR);
    cr_assert_eq(failure.command_index, SIZE_MAX);
    cr_assert_not(failure.data_error);
    cr_assert_not(failure.maybe_committed);
    cr_assert_eq(count("SELECT count(*) FROM events"), 0, "nothing of the group committed");
    cr_assert_eq(store_write_commands(t.store, commands, 1, outcomes, &failure), 1,
                 "the connection is usable again: %s", store_last_error(t.store));
    cr_assert_eq(count("SELECT count(*) FROM events"), 1);
    /* Alone, the bad one is pinned on its values. */
    cr_assert_eq(store_write_commands(t.store, &commands[1], 1, outcomes, &failure),
                 STORE_HARD_ERROR);
    cr_assert_eq(failure.command_index, 0);
    cr_assert(failure.data_error);
    cr_assert_eq(count("SELECT count(*) FROM events"), 1);
}

Test(store, a_large_group_commits_in_one_transaction)
{
    enum { N = 1000 };
    static struct command commands[N];
    static struct command *pointers[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "u%d", i % 37);
        commands[i] = (struct command){.kind = COMMAND_TRACK,
                                       .workspace_id = t.workspace_id,
                                       .person = {IDENTIFIER_ID, names[i]},
                                       .name = "E",
                                       .properties = "{}",
                                       .endpoint = "/t",
                                       .timestamp_us = timeutil_now_us(),
                                       .received_us = timeutil_now_us()};
        pointers[i] = &commands[i];
    }
    static enum outcome outcomes[N];
    struct store_write_failure failure;
    cr_assert_eq(store_write_commands(t.store, pointers, N, outcomes, &failure), N, "%s",
                 store_last_error(t.store));
    cr_assert_eq(count("SELECT count(*) FROM events"), N);
    cr_assert_eq(count("SELECT count(*) FROM people"), 37);
}

/* Two connections identify the same new people at once. */
struct racer {
    const char *url;
    int offset;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char error[256];
    struct store *s = store_connect(r->url, error, sizeof error);
    if (s == NULL)
        return (void *)1;
    intptr_t failures = 0;
    for (int i = 0; i < 200; i++) {
        char id[16], attr[16];
        snprintf(id, sizeof id, "p%d", i);
        snprintf(attr, sizeof attr, "{\"k%d\":1}", r->offset);
        struct command c = {.kind = COMMAND_IDENTIFY,
                            .workspace_id = t.workspace_id,
                            .person = {IDENTIFIER_ID, id},
                            .properties = attr,
                            .unset_keys = "[]",
                            .endpoint = "/t",
                            .timestamp_us = timeutil_now_us(),
                            .received_us = timeutil_now_us()};
        struct command *p = &c;
        enum outcome outcome;
        struct store_write_failure failure;
        enum store_status st = STORE_SOFT_ERROR;
        for (int attempt = 0; attempt < 5 && st == STORE_SOFT_ERROR; attempt++)
            st = store_write_commands(s, &p, 1, &outcome, &failure);
        if (st != 1)
            failures++;
    }
    store_close(s);
    return (void *)failures;
}

Test(store, concurrent_identifies_neither_duplicate_nor_lose_updates)
{
    pthread_t a, b;
    struct racer ra = {t.url, 1}, rb = {t.url, 2};
    pthread_create(&a, NULL, race, &ra);
    pthread_create(&b, NULL, race, &rb);
    void *fa, *fb;
    pthread_join(a, &fa);
    pthread_join(b, &fb);
    cr_assert_eq((intptr_t)fa + (intptr_t)fb, 0, "every write succeeded");
    cr_assert_eq(count("SELECT count(*) FROM people"), 200);
    cr_assert_eq(count("SELECT count(*) FROM people WHERE attributes ? 'k1'"
                       " AND attributes ? 'k2'"),
                 200, "both attribute updates landed on every person");
}

Test(store, errors_name_the_sqlstate_and_never_quote_the_values_refused)
{
    /* Commands built by hand skip the API's checks, so PostgreSQL refuses the JSON; what it
     * says about it (detail and context quote the text) must not reach logs. */
    struct command cmd = {
        .kind = COMMAND_TRACK,
        .workspace_id = t.workspace_id,
        .person = {IDENTIFIER_ID, strdup("u-secret")},
        .event_type = EVENT_TYPE_EVENT,
        .name = strdup("E"),
        .properties = strdup("{\"email\": \"very-secret@example.com\", oops}"),
        .timestamp_us = timeutil_now_us(),
        .received_us = timeutil_now_us(),
        .endpoint = "/v1/track",
        .batch_index = -1,
    };
    struct command *list[1] = {&cmd};
    enum outcome outcome;
    struct store_write_failure failure;
    cr_assert_lt(store_write_commands(t.store, list, 1, &outcome, &failure), 0);
    const char *error = store_last_error(t.store);
    cr_assert(strstr(error, "SQLSTATE 22P02") != NULL, "%s", error);
    cr_assert_null(strstr(error, "very-secret"), "%s", error);
    cr_assert_null(strstr(error, "oops"), "%s", error);
    command_clear(&cmd);
}
