#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "testdb: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* Appends key='value' with the value quoted as conninfo requires. */
static void append_option(char *out, size_t size, const char *key, const char *value)
{
    size_t used = strlen(out);
    used += (size_t)snprintf(out + used, size - used, "%s%s='", used ? " " : "", key);
    for (const char *p = value; *p && used + 3 < size; p++) {
        if (*p == '\'' || *p == '\\')
            out[used++] = '\\';
        out[used++] = *p;
    }
    snprintf(out + used, size - used, "'");
}

char *testdb_url_for(const char *dbname)
{
    const char *base = getenv("TRACKD_TEST_DATABASE_URL");
    if (base == NULL || *base == '\0')
        die("TRACKD_TEST_DATABASE_URL is not set", "run the tests with `make test`");
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(base, &error);
    if (options == NULL)
        die("cannot parse TRACKD_TEST_DATABASE_URL", error);
    char *out = calloc(1, 4096);
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val != NULL && *o->val != '\0' && strcmp(o->keyword, "dbname") != 0)
            append_option(out, 4096, o->keyword, o->val);
    }
    append_option(out, 4096, "dbname", dbname);
    PQconninfoFree(options);
    return out;
}

long testdb_exec(const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK)
        die("connect", PQerrorMessage(conn));
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(res));
    long rows = st == PGRES_TUPLES_OK ? PQntuples(res) : atol(PQcmdTuples(res));
    PQclear(res);
    PQfinish(conn);
    return rows;
}

char *testdb_query_value(const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK)
        die("connect", PQerrorMessage(conn));
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(res));
    char *value = NULL;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        value = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return value;
}

char *testdb_create(void)
{
    static int counter;
    char name[64], sql[160];
    snprintf(name, sizeof name, "trackd_test_%d_%d", (int)getpid(), counter++);
    char *admin = testdb_url_for("postgres");
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    testdb_exec(admin, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE " TESTDB_TEMPLATE, name);
    testdb_exec(admin, sql);
    free(admin);
    return testdb_url_for(name);
}

void testdb_drop(char *url)
{
    if (url == NULL)
        return;
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(url, &error);
    if (options == NULL)
        die("cannot parse a test database url", error);
    char sql[200] = "";
    for (PQconninfoOption *o = options; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
            snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", o->val);
    PQconninfoFree(options);
    char *admin = testdb_url_for("postgres");
    testdb_exec(admin, sql);
    free(admin);
    free(url);
}
