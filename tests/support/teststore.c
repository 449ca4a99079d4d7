#include "teststore.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "testdb.h"

void teststore_open(struct teststore *t)
{
    t->url = testdb_create();
    char error[512];
    t->store = store_connect(t->url, error, sizeof error);
    cr_assert_not_null(t->store, "%s", error);
    struct store_workspace ws;
    char api_key[41], write_key[41];
    cr_assert_eq(store_create_workspace(t->store, "test", &ws, api_key, write_key),
                 STORE_ONE_RESULT);
    t->workspace_id = ws.id;
}

void teststore_close(struct teststore *t)
{
    store_close(t->store);
    testdb_drop(t->url);
}

/* Writes every command of a parsed request and returns the first outcome. */
static enum outcome write_parsed(struct teststore *t, struct store *store, struct api_result *r,
                                 const char *body)
{
    cr_assert_eq(r->problem_count, 0, "%s: %s", body,
                 r->problem_count ? r->problems[0].message : "");
    struct command **commands = calloc(r->command_count, sizeof *commands);
    enum outcome *outcomes = calloc(r->command_count, sizeof *outcomes);
    for (size_t i = 0; i < r->command_count; i++) {
        r->commands[i].workspace_id = t->workspace_id;
        r->commands[i].endpoint = "/test";
        commands[i] = &r->commands[i];
    }
    struct store_write_failure failure;
    enum store_status status = STORE_SOFT_ERROR;
    for (int attempt = 0; attempt < 10 && status == STORE_SOFT_ERROR; attempt++)
        status = store_write_commands(store, commands, r->command_count, outcomes, &failure);
    cr_assert_eq(status, (enum store_status)r->command_count, "write of %s failed: %s", body,
                 store_last_error(store));
    enum outcome first = outcomes[0];
    free(commands);
    free(outcomes);
    api_result_free(r);
    return first;
}

enum outcome teststore_pipelines(struct teststore *t, struct store *store,
                                 enum pipelines_endpoint endpoint, const char *body)
{
    struct api_result r;
    pipelines_parse_request(endpoint, body, strlen(body), timeutil_now_us(), &r);
    return write_parsed(t, store ? store : t->store, &r, body);
}

/* Writes a parsed request without asserting; soft errors are retried. */
static enum store_status try_parsed(struct teststore *t, struct store *store, struct api_result *r,
                                    enum outcome *first)
{
    enum store_status status = STORE_HARD_ERROR;
    struct command **commands = calloc(r->command_count + 1, sizeof *commands);
    enum outcome *outcomes = calloc(r->command_count + 1, sizeof *outcomes);
    if (r->problem_count == 0 && commands != NULL && outcomes != NULL) {
        for (size_t i = 0; i < r->command_count; i++) {
            r->commands[i].workspace_id = t->workspace_id;
            r->commands[i].endpoint = "/test";
            commands[i] = &r->commands[i];
        }
        struct store_write_failure failure;
        status = STORE_SOFT_ERROR;
        for (int attempt = 0; attempt < 20 && status == STORE_SOFT_ERROR; attempt++)
            status = store_write_commands(store, commands, r->command_count, outcomes, &failure);
        *first = outcomes[0];
    }
    free(commands);
    free(outcomes);
    api_result_free(r);
    return status;
}

enum store_status teststore_try_pipelines(struct teststore *t, struct store *store,
                                          enum pipelines_endpoint endpoint, const char *body,
                                          enum outcome *first)
{
    struct api_result r;
    pipelines_parse_request(endpoint, body, strlen(body), timeutil_now_us(), &r);
    return try_parsed(t, store, &r, first);
}

enum store_status teststore_try_track_v1(struct teststore *t, struct store *store,
                                         enum track_v1_endpoint endpoint, const char *param,
                                         const char *body, enum outcome *first)
{
    struct api_result r;
    const char *params[2] = {param, NULL};
    track_v1_parse_request(endpoint, params, body, strlen(body), timeutil_now_us(), &r);
    return try_parsed(t, store, &r, first);
}

enum outcome teststore_track_v1(struct teststore *t, enum track_v1_endpoint endpoint,
                                const char *param, const char *body)
{
    struct api_result r;
    const char *params[2] = {param, NULL};
    track_v1_parse_request(endpoint, params, body, strlen(body), timeutil_now_us(), &r);
    return write_parsed(t, t->store, &r, body);
}

long teststore_count(struct teststore *t, const char *sql)
{
    char *value = testdb_query_value(t->url, sql);
    long n = value ? atol(value) : -1;
    free(value);
    return n;
}

void teststore_expect(struct teststore *t, const char *sql, const char *expected)
{
    char *value = testdb_query_value(t->url, sql);
    if (expected == NULL)
        cr_assert_null(value, "%s gave %s", sql, value);
    else
        cr_assert_str_eq(value ? value : "(null)", expected, "%s", sql);
    free(value);
}
