#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "store/store_internal.h"

/* What may fire (SPEC §5): eligible (attributed to a person within 72 hours of its timestamp),
 * not inherited by a profile merge, and still within 72 hours of now. */
const struct store_statement store_evaluations_statements[] = {
    /* The queue rows are claimed first (a locking CTE is materialized), so the joins touch
     * only the claimed events whatever the planner thinks of the tables' sizes. An event
     * gone since it was queued (its month dropped by retention) comes back unable to fire,
     * and so its queue row is consumed. */
    /* The batch is also cut at $3 bytes of properties, attributes and relations as text (but never
     * below one event), so that the evaluator's memory is bounded by bytes, not by a count of
     * events whose text may be large. Rows claimed and cut stay queued for the next batch. */
    {"evaluation_claim",
     "WITH q AS (SELECT event_id, workspace_id FROM pending_evaluations"
     "           WHERE event_id > $2::bigint"
     "           ORDER BY event_id LIMIT $1::integer FOR UPDATE SKIP LOCKED),"
     " j AS (SELECT q.event_id, q.workspace_id, coalesce(e.person_id, 0) AS person_id,"
     "       coalesce(e.type, '') AS type, coalesce(e.name, '') AS name,"
     "       coalesce(e.properties, '{}')::text AS properties,"
     "       coalesce(e.eligible_at IS NOT NULL AND e.origin <> 'profile_merge'"
     "                AND p.id IS NOT NULL AND now() - e.\"timestamp\" <= trackd_trigger_window(),"
     "                false) AS may_fire,"
     "       p.customer_id, p.email, coalesce(p.attributes, '{}')::text AS attributes,"
     "       trackd_person_relations(p.id) AS relations"
     "       FROM q LEFT JOIN events e ON e.id = q.event_id"
     "       LEFT JOIN people p ON p.id = e.person_id),"
     " s AS (SELECT j.*,"
     "       octet_length(properties) + octet_length(attributes) + octet_length(relations) AS size,"
     "       sum(octet_length(properties) + octet_length(attributes) + octet_length(relations))"
     "         OVER (ORDER BY event_id) AS running FROM j)"
     " SELECT event_id, workspace_id, person_id, type, name, properties, may_fire, customer_id,"
     " email, attributes, relations FROM s WHERE running - size < $3::bigint ORDER BY event_id"},
    {"evaluation_fire",
     "SELECT trackd_fire($1::bigint, $2::bigint, $3::bigint, $4::bigint, $5,"
     " $6::bigint * interval '1 microsecond', $7::bigint * interval '1 microsecond', $8::jsonb,"
     " $9, $10::jsonb)"},
    {"evaluation_journey_event",
     "SELECT trackd_journey_event($1::bigint, $2::bigint, $3::bigint, $4)"},
    {"evaluation_exit", "SELECT trackd_exit($1::bigint, $2::bigint, $3)"},
    {"evaluation_convert", "SELECT trackd_convert($1::bigint, $2::bigint, $3::bigint,"
                           " $4::bigint * interval '1 microsecond')"},
    {"rules_test_history",
     "SELECT e.id, to_char(e.\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
     " to_char(e.\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD'), e.name,"
     " coalesce(e.properties, '{}')::text, p.id, p.customer_id, p.email, p.attributes::text,"
     " (extract(epoch FROM e.\"timestamp\") * 1000000)::bigint, trackd_person_relations(p.id)"
     " FROM events e JOIN people p ON p.id = e.person_id"
     " WHERE e.workspace_id = $1::bigint AND e.name = $2 AND e.type = $3"
     " AND e.\"timestamp\" >= now() - $4::bigint * interval '1 microsecond'"
     " AND ($5::text IS NULL OR p.customer_id = $5 OR lower(p.email) = lower($5) OR p.cio_id = $5)"
     " ORDER BY e.\"timestamp\", e.id LIMIT $6::bigint"},
    {"evaluation_done", "DELETE FROM pending_evaluations WHERE event_id = ANY($1::bigint[])"},
};
const size_t store_evaluations_statement_count =
    sizeof store_evaluations_statements / sizeof store_evaluations_statements[0];

void store_abort(struct store *store)
{
    if (PQtransactionStatus(store->conn) != PQTRANS_IDLE)
        PQclear(PQexec(store->conn, "ROLLBACK"));
}

enum store_status
store_claim_evaluations(struct store *store, unsigned limit, int64_t after_event_id,
                        void (*each)(void *cls, const struct store_pending_event *event), void *cls)
{
    if (!store_exec_command(store, "BEGIN"))
        return STORE_HARD_ERROR;
    char text[16], after[24], budget[24];
    snprintf(text, sizeof text, "%u", limit);
    snprintf(after, sizeof after, "%" PRId64, after_event_id);
    snprintf(budget, sizeof budget, "%d", STORE_EVALUATION_BATCH_BYTES);
    const char *params[3] = {text, after, budget};
    PGresult *res = PQexecPrepared(store->conn, "evaluation_claim", 3, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "claiming evaluations", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        store_abort(store);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_pending_event event = {
            .event_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .workspace_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .person_id = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .type = PQgetvalue(res, i, 3),
            .name = PQgetvalue(res, i, 4),
            .properties = PQgetvalue(res, i, 5),
            .may_fire = PQgetvalue(res, i, 6)[0] == 't',
            .customer_id = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
            .email = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8),
            .attributes = PQgetvalue(res, i, 9),
            .relations = PQgetvalue(res, i, 10),
        };
        each(cls, &event);
    }
    PQclear(res);
    return (enum store_status)rows;
}

enum store_status store_fire(struct store *store, int64_t workspace_id, int64_t rule_id,
                             int64_t person_id, int64_t event_id, const char *frequency,
                             int64_t interval_us, int64_t delay_us, const char *action,
                             const char *window_timezone, const char *trigger, bool *fired)
{
    char ws[24], rule[24], person[24], event[24], interval[24], delay[24];
    snprintf(ws, sizeof ws, "%" PRId64, workspace_id);
    snprintf(rule, sizeof rule, "%" PRId64, rule_id);
    snprintf(person, sizeof person, "%" PRId64, person_id);
    snprintf(event, sizeof event, "%" PRId64, event_id);
    snprintf(interval, sizeof interval, "%" PRId64, interval_us);
    snprintf(delay, sizeof delay, "%" PRId64, delay_us);
    const char *params[10] = {ws,       rule,  person, event,           frequency,
                              interval, delay, action, window_timezone, trigger};
    PGresult *res = PQexecPrepared(store->conn, "evaluation_fire", 10, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "recording a firing", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    *fired = strcmp(PQgetvalue(res, 0, 0), "fired") == 0;
    PQclear(res);
    return STORE_ONE_RESULT;
}

/* Runs one of the counting statements above; *count gets its number. */
static enum store_status run_count(struct store *store, const char *name, int n,
                                   const char *const *params, const char *what, long *count)
{
    PGresult *res = PQexecPrepared(store->conn, name, n, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        store_set_error(store, what, res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    *count = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return STORE_ONE_RESULT;
}

enum store_status store_exit(struct store *store, int64_t rule_id, int64_t person_id,
                             const char *event_name, long *count)
{
    char rule[24], person[24];
    snprintf(rule, sizeof rule, "%" PRId64, rule_id);
    snprintf(person, sizeof person, "%" PRId64, person_id);
    const char *params[3] = {rule, person, event_name};
    return run_count(store, "evaluation_exit", 3, params, "recording an exit", count);
}

enum store_status store_journey_event(struct store *store, int64_t rule_id, int64_t person_id,
                                      int64_t event_id, const char *event_name, long *count)
{
    char rule[24], person[24], event[24];
    snprintf(rule, sizeof rule, "%" PRId64, rule_id);
    snprintf(person, sizeof person, "%" PRId64, person_id);
    snprintf(event, sizeof event, "%" PRId64, event_id);
    const char *params[4] = {rule, person, event, event_name};
    return run_count(store, "evaluation_journey_event", 4, params, "recording a journey event",
                     count);
}

enum store_status store_convert(struct store *store, int64_t rule_id, int64_t person_id,
                                int64_t event_id, int64_t within_us, long *count)
{
    char rule[24], person[24], event[24], within[24];
    snprintf(rule, sizeof rule, "%" PRId64, rule_id);
    snprintf(person, sizeof person, "%" PRId64, person_id);
    snprintf(event, sizeof event, "%" PRId64, event_id);
    snprintf(within, sizeof within, "%" PRId64, within_us);
    const char *params[4] = {rule, person, event, within};
    return run_count(store, "evaluation_convert", 4, params, "recording a conversion", count);
}

enum store_status store_finish_evaluations(struct store *store, const int64_t *event_ids,
                                           size_t count)
{
    char *array = store_int8_array_literal(event_ids, count);
    if (array == NULL)
        return STORE_HARD_ERROR;
    const char *params[1] = {array};
    PGresult *res = PQexecPrepared(store->conn, "evaluation_done", 1, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        store_set_error(store, "finishing evaluations", res);
    enum store_status status = ok ? STORE_ONE_RESULT : store_failure_status(res);
    PQclear(res);
    free(array);
    if (ok && !store_exec_command(store, "COMMIT"))
        status = STORE_HARD_ERROR;
    if (!ok)
        store_abort(store);
    return status;
}

enum store_status
store_list_history(struct store *store, int64_t workspace_id, const char *event, const char *type,
                   int64_t since_us, const char *person, long limit,
                   void (*each)(void *cls, const struct store_history_event *event), void *cls)
{
    char ws[24], since[24], limit_text[24];
    snprintf(ws, sizeof ws, "%" PRId64, workspace_id);
    snprintf(since, sizeof since, "%" PRId64, since_us);
    snprintf(limit_text, sizeof limit_text, "%ld", limit);
    const char *params[6] = {ws, event, type, since, person, limit_text};
    PGresult *res = PQexecPrepared(store->conn, "rules_test_history", 6, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "reading stored events", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_history_event e = {
            .event_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .timestamp = PQgetvalue(res, i, 1),
            .day = PQgetvalue(res, i, 2),
            .name = PQgetvalue(res, i, 3),
            .properties = PQgetvalue(res, i, 4),
            .person_id = strtoll(PQgetvalue(res, i, 5), NULL, 10),
            .customer_id = PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6),
            .email = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
            .attributes = PQgetvalue(res, i, 8),
            .timestamp_us = strtoll(PQgetvalue(res, i, 9), NULL, 10),
            .relations = PQgetvalue(res, i, 10),
        };
        each(cls, &e);
    }
    PQclear(res);
    return (enum store_status)rows;
}
