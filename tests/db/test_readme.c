/* Every SQL block of the README's "Admin SQL" runs against a migrated database with data in it,
 * so the documented queries stay true as the schema moves. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "teststore.h"

static struct teststore t;

static void setup(void)
{
    teststore_open(&t);
    /* Some rows for the queries to meet. */
    teststore_pipelines(&t, NULL, PIPELINES_TRACK, "{\"userId\":\"u1\",\"event\":\"E\"}");
    teststore_pipelines(&t, NULL, PIPELINES_TRACK, "{\"anonymousId\":\"a1\",\"event\":\"A\"}");
    teststore_pipelines(&t, NULL, PIPELINES_IDENTIFY, "{\"userId\":\"u2\",\"anonymousId\":\"a2\"}");
}

static void teardown(void)
{
    teststore_close(&t);
}

TestSuite(readme, .init = setup, .fini = teardown, .timeout = 60);

/* The README's text (caller frees). */
static char *read_readme(void)
{
    FILE *f = fopen(README_PATH, "rb");
    cr_assert_not_null(f, "cannot open %s", README_PATH);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

Test(readme, every_admin_sql_block_runs)
{
    char *text = read_readme();
    const char *section = strstr(text, "## Admin SQL");
    cr_assert_not_null(section, "the README has an Admin SQL section");
    const char *end = strstr(section + 1, "\n## ");
    PGconn *conn = PQconnectdb(t.url);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK);
    int blocks = 0;
    for (const char *p = strstr(section, "```sql\n"); p != NULL && (end == NULL || p < end);
         p = strstr(p, "```sql\n")) {
        p += strlen("```sql\n");
        const char *close = strstr(p, "```");
        cr_assert_not_null(close);
        char *sql = strndup(p, (size_t)(close - p));
        /* psql runs the statements of a block one after the other; so does PQexec. */
        PGresult *res = PQexec(conn, sql);
        ExecStatusType st = PQresultStatus(res);
        cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "README query failed: %s\n%s",
                  PQresultErrorMessage(res), sql);
        PQclear(res);
        free(sql);
        blocks++;
        p = close + 3;
    }
    cr_assert_geq(blocks, 1, "the Admin SQL section has SQL blocks");
    PQfinish(conn);
    free(text);
}

Test(readme, every_admin_view_is_commented)
{
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                     " ON n.oid = c.relnamespace AND n.nspname = 'public'"
                                     " WHERE c.relkind = 'v' AND obj_description(c.oid) IS NULL"),
                 0);
    cr_assert_eq(
        teststore_count(&t, "SELECT count(*) FROM pg_attribute a JOIN pg_class c"
                            " ON c.oid = a.attrelid AND c.relkind = 'v'"
                            " JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " AND n.nspname = 'public'"
                            " WHERE a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL"),
        0);
    cr_assert_eq(teststore_count(&t, "SELECT count(*) FROM pg_views WHERE schemaname = 'public'"
                                     " AND viewname LIKE 'admin\\_%'"),
                 8);
}
