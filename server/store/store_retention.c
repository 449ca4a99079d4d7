#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/timeutil.h"

#include "store/store_internal.h"

const struct store_statement store_retention_statements[] = {
    {"purge_expired", "SELECT trackd_purge_expired($1::integer)"},
    {"create_event_partitions", "SELECT trackd_create_event_partitions(now(), $1::integer)"},
    {"purge_rejections", "SELECT trackd_purge_rejections($1::integer, $2::integer)"},
    {"rejection_summary",
     "INSERT INTO rejected_requests (workspace_id, endpoint, reason, message, received_at)"
     " VALUES (nullif($1::bigint, 0), '*', 'rate_limited', $2, $3::timestamptz)"},
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

enum store_status store_purge_rejections(struct store *store, unsigned days, unsigned limit,
                                         long *deleted)
{
    char days_text[16], limit_text[16];
    snprintf(days_text, sizeof days_text, "%u", days);
    snprintf(limit_text, sizeof limit_text, "%u", limit);
    const char *params[2] = {days_text, limit_text};
    PGresult *res = PQexecPrepared(store->conn, "purge_rejections", 2, params, NULL, NULL, 0);
    enum store_status status;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "purging refused requests", res);
        status = store_failure_status(res);
    } else {
        *deleted = atol(PQgetvalue(res, 0, 0));
        status = *deleted > 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    }
    PQclear(res);
    return status;
}

enum store_status store_record_rejection_summary(struct store *store, int64_t workspace_id,
                                                 int64_t minute_us, uint64_t dropped)
{
    char workspace[24], message[200], minute[TIMEUTIL_FORMAT_SIZE];
    snprintf(workspace, sizeof workspace, "%" PRId64, workspace_id);
    snprintf(message, sizeof message,
             "%" PRIu64 " more refused calls in this minute were counted but not kept one by one "
             "(%s)",
             dropped,
             workspace_id == 0 ? "sent without a valid key: never kept"
                               : "over TRACKD_REJECTIONS_PER_MINUTE");
    timeutil_format(minute_us, minute);
    const char *params[3] = {workspace, message, minute};
    PGresult *res = PQexecPrepared(store->conn, "rejection_summary", 3, params, NULL, NULL, 0);
    enum store_status status = STORE_ONE_RESULT;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_set_error(store, "recording a summary of refused calls", res);
        status = store_failure_status(res);
    }
    PQclear(res);
    return status;
}
