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
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
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
static bool apply_one(PGconn *conn, const struct store_migration *m, char *error, size_t error_size)
{
    char detail[400] = "";
    if (!exec_ok(conn, "BEGIN", detail, sizeof detail))
        goto failed;
    if (!exec_ok(conn, m->sql, detail, sizeof detail)) {
        PQclear(PQexec(conn, "ROLLBACK"));
        goto failed;
    }
    const char *params[1] = {m->version};
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
    snprintf(error, error_size, "migration %s failed: %s", m->version, detail);
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
        const struct store_migration *m = &store_migrations[i];
        bool applied = false;
        if (!is_applied(conn, m->version, &applied, error, error_size) ||
            (!applied && !apply_one(conn, m, error, error_size))) {
            applied_count = -1;
            goto cleanup;
        }
        if (!applied) {
            fprintf(out, "applied %s\n", m->version);
            applied_count++;
        }
    }
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
            store_migration_count ? store_migrations[store_migration_count - 1].version : "";
        status = strcmp(latest, wanted) >= 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    }
    PQclear(res);
    return status;
}
