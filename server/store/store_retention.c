#include <stdio.h>
#include <stdlib.h>

#include "store/store_internal.h"

const struct store_statement store_retention_statements[] = {
    {"purge_expired", "SELECT trackd_purge_expired($1::integer)"},
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
