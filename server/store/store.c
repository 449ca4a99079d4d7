#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void store_set_error(struct store *store, const char *what, const PGresult *result)
{
    const char *detail = result ? PQresultErrorMessage(result) : PQerrorMessage(store->conn);
    snprintf(store->last_error, sizeof store->last_error, "%s: %s", what,
             detail && *detail ? detail : "unknown error");
    /* libpq messages end in a newline; logs want one line. */
    size_t len = strlen(store->last_error);
    while (len > 0 && (store->last_error[len - 1] == '\n' || store->last_error[len - 1] == ' '))
        store->last_error[--len] = '\0';
}

enum store_status store_failure_status(const PGresult *result)
{
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
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

/* Opens the connection and prepares every statement of every store file. */
static bool open_connection(struct store *store)
{
    PQfinish(store->conn);
    store->conn = PQconnectdb(store->url);
    if (PQstatus(store->conn) != CONNECTION_OK) {
        store_set_error(store, "connecting to the database", NULL);
        return false;
    }
    return prepare_list(store, store_ingest_statements, store_ingest_statement_count) &&
           prepare_list(store, store_workspace_statements, store_workspace_statement_count) &&
           prepare_list(store, store_migrate_statements, store_migrate_statement_count);
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
