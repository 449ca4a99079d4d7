#include <stdio.h>
#include <stdlib.h>

#include "store/store_internal.h"

const struct store_statement store_retention_statements[] = {
    {"purge_expired", "SELECT trackd_purge_expired($1::integer)"},
    {"create_event_partitions", "SELECT trackd_create_event_partitions(now(), $1::integer)"},
    {"drop_event_partitions",
     "SELECT trackd_drop_event_partitions(now() - $1::integer * interval '1 day')"},
};
const size_t store_retention_statement_count =
    sizeof store_retention_statements / sizeof store_retention_statements[0];

enum store_status store_purge_expired(struct store *store, unsigned limit, long *deleted)
{
    char text[16];
    snprintf(text, sizeof text, "%u", limit);
    const char *params[1] = {text};
    PGresult *res = PQexecPrepared(store->conn, "purge_expired", 1, params, NULL, NULL, 0);
    enum store_status status;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "purging expired rows", res);
        status = store_failure_status(res);
    } else {
        *deleted = atol(PQgetvalue(res, 0, 0));
        status = *deleted > 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    }
    PQclear(res);
    return status;
}

/* Runs one partition statement that returns a count. */
static enum store_status run_partition_statement(struct store *store, const char *name,
                                                 unsigned arg, int *count)
{
    char text[16];
    snprintf(text, sizeof text, "%u", arg);
    const char *params[1] = {text};
    PGresult *res = PQexecPrepared(store->conn, name, 1, params, NULL, NULL, 0);
    enum store_status status = STORE_ONE_RESULT;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, name, res);
        status = store_failure_status(res);
    } else {
        *count = atoi(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return status;
}

enum store_status store_maintain_event_partitions(struct store *store, unsigned months_ahead,
                                                  unsigned retention_days, int *created,
                                                  int *dropped)
{
    *created = *dropped = 0;
    enum store_status status =
        run_partition_statement(store, "create_event_partitions", months_ahead, created);
    if (status >= 0 && retention_days > 0)
        status = run_partition_statement(store, "drop_event_partitions", retention_days, dropped);
    return status;
}
