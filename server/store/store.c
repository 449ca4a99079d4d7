#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void store_set_error(struct store *store, const char *what, const PGresult *result)
{
    /* What PostgreSQL says about a statement can quote the values it was given (an email in a
     * unique violation's detail, a body in a JSON error's context), and this text goes to logs
     * and rejected_requests: only the primary message is kept, and for data and integrity
     * errors (classes 22 and 23, whose primary messages quote values too) only the SQLSTATE. */
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
        snprintf(store->last_error, sizeof store->last_error,
                 "%s: PostgreSQL refused a value (SQLSTATE %s)", what, state);
        return;
    }
    const char *primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail =
        result ? (primary ? primary : PQresultErrorMessage(result)) : PQerrorMessage(store->conn);
    snprintf(store->last_error, sizeof store->last_error, "%s: %s%s%s%s", what,
             detail && *detail ? detail : "unknown error", state ? " (SQLSTATE " : "",
             state ? state : "", state ? ")" : "");
    /* libpq messages end in a newline; logs want one line. */
    size_t len = strlen(store->last_error);
    while (len > 0 && (store->last_error[len - 1] == '\n' || store->last_error[len - 1] == ' '))
        store->last_error[--len] = '\0';
}

bool store_exec_command(struct store *store, const char *sql)
{
    PGresult *res = PQexec(store->conn, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        store_set_error(store, sql, res);
    PQclear(res);
    return ok;
}

enum store_status store_failure_status(const PGresult *result)
{
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    /* A unique violation can only come from two transactions creating the same person or
     * identifier at once: the functions check for existing rows first, so running again
     * finds the winner's row. */
    if (state != NULL &&
        (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "23505") == 0))
        return STORE_SOFT_ERROR;
    return STORE_HARD_ERROR;
}

static bool prepare_list(struct store *store, const struct store_statement *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        PGresult *res = PQprepare(store->conn, list[i].name, list[i].sql, 0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            char what[160];
            snprintf(what, sizeof what,
                     "preparing statement %s (is the schema migrated? run "
                     "`trackd migrate`)",
                     list[i].name);
            store_set_error(store, what, res);
        }
        PQclear(res);
        if (!ok)
            return false;
    }
    return true;
}

/* Seconds a connection attempt may take, unless the URL sets connect_timeout itself. */
#define CONNECT_TIMEOUT "5"

static bool apply_statement_timeout(struct store *store)
{
    /* A number of milliseconds, passed as a parameter: no SQL is built from values. */
    char value[16];
    snprintf(value, sizeof value, "%u", store->statement_timeout_s * 1000);
    const char *params[1] = {value};
    PGresult *res = PQexecParams(store->conn, "SELECT set_config('statement_timeout', $1, false)",
                                 1, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        store_set_error(store, "setting statement_timeout", res);
    PQclear(res);
    return ok;
}

/* Messages the server sends outside any result: notices of DDL during migrate, and the error a
 * server sends an idle connection it is closing (read by store_check_connection). Logged
 * through our log with the SQLSTATE only, never the text (it may quote values). */
static void log_server_message(void *arg, const PGresult *message)
{
    (void)arg;
    const char *severity = PQresultErrorField(message, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = PQresultErrorField(message, PG_DIAG_SQLSTATE);
    bool error =
        severity != NULL && (strcmp(severity, "ERROR") == 0 || strcmp(severity, "FATAL") == 0 ||
                             strcmp(severity, "PANIC") == 0);
    if (error)
        LOG_WARN("store", "PostgreSQL sent %s (SQLSTATE %s) outside a query", severity,
                 state ? state : "?");
    else
        LOG_DEBUG("store", "PostgreSQL sent %s (SQLSTATE %s)", severity ? severity : "a notice",
                  state ? state : "?");
}

/* Opens the connection and prepares every statement of every store file. */
static bool open_statements(struct store *store)
{
    PQfinish(store->conn);
    /* With expand_dbname the URL is expanded in place of "dbname"; keywords before it are
     * defaults that the URL may override. */
    const char *keywords[] = {"connect_timeout", "dbname", NULL};
    const char *values[] = {CONNECT_TIMEOUT, store->url, NULL};
    store->conn = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(store->conn) != CONNECTION_OK) {
        store_set_error(store, "connecting to the database", NULL);
        return false;
    }
    PQsetNoticeReceiver(store->conn, log_server_message, NULL);
    if (store->statement_timeout_s > 0 && !apply_statement_timeout(store))
        return false;
    return prepare_list(store, store_ingest_statements, store_ingest_statement_count) &&
           prepare_list(store, store_workspace_statements, store_workspace_statement_count) &&
           prepare_list(store, store_retention_statements, store_retention_statement_count) &&
           prepare_list(store, store_rules_statements, store_rules_statement_count) &&
           prepare_list(store, store_evaluations_statements, store_evaluations_statement_count) &&
           prepare_list(store, store_deliveries_statements, store_deliveries_statement_count) &&
           prepare_list(store, store_journeys_statements, store_journeys_statement_count) &&
           prepare_list(store, store_tail_statements, store_tail_statement_count) &&
           prepare_list(store, store_migrate_statements, store_migrate_statement_count);
}

/* Like open_statements, but a connection that could not be set up completely is closed, so that
 * store_is_connected() never reports a session without its statements as usable. */
static bool open_connection(struct store *store)
{
    if (open_statements(store))
        return true;
    PQfinish(store->conn);
    store->conn = NULL;
    return false;
}

struct store *store_connect(const char *url, char *error, size_t error_size)
{
    struct store *store = calloc(1, sizeof *store);
    if (store == NULL || (store->url = strdup(url)) == NULL) {
        snprintf(error, error_size, "out of memory");
        free(store);
        return NULL;
    }
    if (!open_connection(store)) {
        snprintf(error, error_size, "%s", store->last_error);
        store_close(store);
        return NULL;
    }
    return store;
}

bool store_set_statement_timeout(struct store *store, unsigned seconds)
{
    store->statement_timeout_s = seconds;
    return apply_statement_timeout(store);
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    PQfinish(store->conn);
    free(store->url);
    free(store);
}

bool store_is_connected(const struct store *store)
{
    return store->conn != NULL && PQstatus(store->conn) == CONNECTION_OK;
}

bool store_check_connection(struct store *store)
{
    /* libpq's socket is non-blocking underneath: these read only what has arrived. A server
     * closing an idle connection sends an error, then end of file; one read takes the error
     * (PQisBusy then hands it to log_server_message), only a second sees the end of file and
     * turns the status bad. */
    for (int read = 0; read < 2; read++) {
        if (!store_is_connected(store) || PQtransactionStatus(store->conn) != PQTRANS_IDLE)
            break;
        if (PQconsumeInput(store->conn))
            (void)PQisBusy(store->conn);
    }
    return store_is_connected(store);
}

bool store_reconnect(struct store *store)
{
    bool ok = open_connection(store);
    if (ok)
        LOG_INFO("store", "reconnected to the database");
    return ok;
}

const char *store_last_error(const struct store *store)
{
    return store->last_error;
}
