#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "store/store_migrations.h"

/* Serializes concurrent `trackd migrate` runs (two containers starting at once). */
#define MIGRATION_LOCK_KEY "7420183"

const struct store_statement store_migrate_statements[] = {
    {"schema_latest_version", "SELECT max(version) FROM schema_migrations"},
};
const size_t store_migrate_statement_count =
    sizeof store_migrate_statements / sizeof store_migrate_statements[0];

static bool exec_ok(PGconn *conn, const char *sql, char *error, size_t error_size)
{
    PGresult *res = PQexec(conn, sql);
    /* A migration whose statements moved to sql/ holds comments only: an empty query. */
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK ||
              PQresultStatus(res) == PGRES_EMPTY_QUERY;
    if (!ok)
        snprintf(error, error_size, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

static bool is_applied(PGconn *conn, const char *version, bool *applied, char *error,
                       size_t error_size)
{
    const char *params[1] = {version};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (ok)
        *applied = PQntuples(res) > 0;
    else
        snprintf(error, error_size, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* Runs one migration file and records it, in one transaction. */
static bool apply_one(PGconn *conn, const struct store_sql_file *m, char *error, size_t error_size)
{
    char detail[400] = "";
    if (!exec_ok(conn, "BEGIN", detail, sizeof detail))
        goto failed;
    if (!exec_ok(conn, m->sql, detail, sizeof detail)) {
        PQclear(PQexec(conn, "ROLLBACK"));
        goto failed;
    }
    const char *params[1] = {m->name};
    PGresult *res = PQexecParams(conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
                                 NULL, params, NULL, NULL, 0);
    bool recorded = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!recorded)
        snprintf(detail, sizeof detail, "%s", PQresultErrorMessage(res));
    PQclear(res);
    if (!recorded) {
        PQclear(PQexec(conn, "ROLLBACK"));
        goto failed;
    }
    if (exec_ok(conn, "COMMIT", detail, sizeof detail))
        return true;
failed:
    snprintf(error, error_size, "migration %s failed: %s", m->name, detail);
    return false;
}

/*
 * After the definitions are applied, drops the functions named trackd_* and the views named
 * admin_* that no file defines any more (or defined with other arguments). What this transaction
 * created or replaced carries its id as xmin; anything else is stale. Views go first: a stale
 * view may call a stale function.
 */
static const char drop_stale_definitions[] =
    "DO $$\n"
    "DECLARE\n"
    "    v_this_xact bigint := txid_current() % 4294967296;\n"
    "    v_stale record;\n"
    "BEGIN\n"
    "    FOR v_stale IN SELECT c.oid::regclass AS name FROM pg_class c\n"
    "                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v'\n"
    "                     AND c.relname LIKE 'admin\\_%' AND c.xmin::text::bigint <> v_this_xact\n"
    "    LOOP\n"
    "        EXECUTE format('DROP VIEW %s', v_stale.name);\n"
    "    END LOOP;\n"
    "    FOR v_stale IN SELECT p.oid::regprocedure AS name FROM pg_proc p\n"
    "                   WHERE p.pronamespace = 'public'::regnamespace\n"
    "                     AND p.proname LIKE 'trackd\\_%' AND p.xmin::text::bigint <> v_this_xact\n"
    "    LOOP\n"
    "        EXECUTE format('DROP FUNCTION %s', v_stale.name);\n"
    "    END LOOP;\n"
    "END\n"
    "$$";

/*
 * Applies every definition of sql/ (functions, then views) and drops the stale ones, in one
 * transaction, so that each function and view is exactly as its file says, however the database
 * got here. Function bodies are not checked while the files apply, so that they may call each
 * other in any order; the views, created after them, are.
 */
static bool apply_definitions(PGconn *conn, char *error, size_t error_size)
{
    char detail[400] = "";
    const char *failed_at = "starting the definitions";
    const char *failed_file = "";
    if (!exec_ok(conn, "BEGIN", detail, sizeof detail) ||
        !exec_ok(conn, "SET LOCAL check_function_bodies = off", detail, sizeof detail))
        goto failed;
    for (size_t i = 0; i < store_definition_count; i++) {
        const struct store_sql_file *d = &store_definitions[i];
        if (strncmp(d->name, "views/", 6) == 0 &&
            !exec_ok(conn, "SET LOCAL check_function_bodies = on", detail, sizeof detail))
            goto failed;
        if (!exec_ok(conn, d->sql, detail, sizeof detail)) {
            failed_file = "sql/";
            failed_at = d->name;
            goto failed;
        }
    }
    failed_at = "dropping stale definitions";
    if (!exec_ok(conn, drop_stale_definitions, detail, sizeof detail))
        goto failed;
    /* The months around now, and those of events a migration left in events_default. */
    failed_at = "creating the events partitions";
    if (!exec_ok(conn,
                 "SELECT trackd_create_event_partitions("
                 " coalesce((SELECT min(received_at) FROM events_default), now()), 2)",
                 detail, sizeof detail))
        goto failed;
    if (exec_ok(conn, "COMMIT", detail, sizeof detail))
        return true;
failed:
    PQclear(PQexec(conn, "ROLLBACK"));
    snprintf(error, error_size, "%s%s failed: %s", failed_file, failed_at, detail);
    return false;
}

int store_migrate(const char *url, FILE *out, char *error, size_t error_size)
{
    int applied_count = -1;
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(error, error_size, "connecting to the database: %s", PQerrorMessage(conn));
        goto cleanup;
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    if (!exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", error, error_size) ||
        !exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version text PRIMARY KEY,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 error, error_size))
        goto cleanup;
    applied_count = 0;
    for (size_t i = 0; i < store_migration_count; i++) {
        const struct store_sql_file *m = &store_migrations[i];
        bool applied = false;
        if (!is_applied(conn, m->name, &applied, error, error_size) ||
            (!applied && !apply_one(conn, m, error, error_size))) {
            applied_count = -1;
            goto cleanup;
        }
        if (!applied) {
            fprintf(out, "applied %s\n", m->name);
            applied_count++;
        }
    }
    if (!apply_definitions(conn, error, error_size))
        applied_count = -1;
cleanup:
    PQfinish(conn); /* also releases the advisory lock */
    return applied_count;
}

enum store_status store_schema_is_current(struct store *store)
{
    PGresult *res = PQexecPrepared(store->conn, "schema_latest_version", 0, NULL, NULL, NULL, 0);
    enum store_status status;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "reading schema_migrations", res);
        status = store_failure_status(res);
    } else {
        const char *latest = PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);
        const char *wanted =
            store_migration_count ? store_migrations[store_migration_count - 1].name : "";
        status = strcmp(latest, wanted) >= 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    }
    PQclear(res);
    return status;
}
