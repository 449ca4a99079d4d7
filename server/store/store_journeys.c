/* The journey runners' side of the database: claiming due runs and moving them on, in one
 * transaction per batch (so a run's step and the deliveries it wrote commit together). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "store/store_internal.h"

const struct store_statement store_journeys_statements[] = {
    /* Only runs of the rules the runner has ($2, its cache: the enabled ones that parse), so
     * that a rule disabled, or loaded since the cache was, waits where it is. The run's
     * columns are read by the locking statement itself: a row updated since the statement's
     * snapshot (an event recorded on it) is locked and returned as it is now, where a second
     * read of the table would see it as it was. */
    {"journey_claim",
     "WITH c AS (SELECT j.id, j.workspace_id, j.rule_id, j.person_id, j.step,"
     "           j.trigger_event, j.done_events FROM journey_runs j"
     "           WHERE j.status = 'active' AND j.due_at <= now()"
     "             AND j.rule_id = ANY ($2::bigint[])"
     "           ORDER BY j.due_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)"
     " SELECT c.id, c.workspace_id, c.rule_id, coalesce(c.person_id, 0), c.step,"
     " coalesce(c.trigger_event->>'name', ''),"
     " coalesce(c.trigger_event->'properties', '{}')::text, to_json(c.done_events)::text,"
     " p.customer_id, p.email, coalesce(p.attributes, '{}')::text, trackd_person_relations(p.id)"
     " FROM c LEFT JOIN people p ON p.id = c.person_id"},
    {"journey_send",
     "SELECT trackd_journey_send($1::bigint[], $2::bigint[]::integer[], $3::jsonb[],"
     " ($4::text[])[1])"},
    {"journey_move",
     "UPDATE journey_runs j SET step = x.step::integer, step_path = x.path, status = x.status,"
     " due_at = CASE WHEN x.status = 'active' THEN now() + x.wait_us * interval '1 microsecond'"
     " END,"
     " waiting_for = x.waiting, updated_at = now(),"
     " ended_at = CASE WHEN x.status <> 'active' THEN now() END, end_reason = x.reason"
     " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],"
     "             $7::text[]) AS x (id, step, path, status, wait_us, waiting, reason)"
     " WHERE j.id = x.id"},
};
const size_t store_journeys_statement_count =
    sizeof store_journeys_statements / sizeof store_journeys_statements[0];

enum store_status
store_claim_journey_runs(struct store *store, unsigned limit, const int64_t *rule_ids,
                         size_t rule_count,
                         void (*each)(void *cls, const struct store_journey_run *run), void *cls)
{
    char *rules = store_int8_array_literal(rule_ids, rule_count);
    if (rules == NULL)
        return STORE_HARD_ERROR;
    if (!store_exec_command(store, "BEGIN")) {
        free(rules);
        return STORE_HARD_ERROR;
    }
    char text[16];
    snprintf(text, sizeof text, "%u", limit);
    const char *params[2] = {text, rules};
    PGresult *res = PQexecPrepared(store->conn, "journey_claim", 2, params, NULL, NULL, 0);
    free(rules);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "claiming journey runs", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        store_abort(store);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_journey_run run = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .workspace_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .rule_id = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .person_id = strtoll(PQgetvalue(res, i, 3), NULL, 10),
            .step = strtol(PQgetvalue(res, i, 4), NULL, 10),
            .event_name = PQgetvalue(res, i, 5),
            .properties = PQgetvalue(res, i, 6),
            .done_events = PQgetvalue(res, i, 7),
            .customer_id = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8),
            .email = PQgetisnull(res, i, 9) ? NULL : PQgetvalue(res, i, 9),
            .attributes = PQgetvalue(res, i, 10),
            .relations = PQgetvalue(res, i, 11),
        };
        each(cls, &run);
    }
    PQclear(res);
    return (enum store_status)rows;
}

/* Sends a statement of arrays and reads its one result. */
static enum store_status run_arrays(struct store *store, const char *name,
                                    struct store_array *arrays, size_t n, const char *what)
{
    if (!store_arrays_send(store->conn, name, arrays, n)) {
        store_set_error(store, what, NULL);
        return STORE_HARD_ERROR;
    }
    enum store_status status = STORE_ONE_RESULT;
    PGresult *res;
    while ((res = PQgetResult(store->conn)) != NULL) {
        ExecStatusType result = PQresultStatus(res);
        if (status >= 0 && result != PGRES_TUPLES_OK && result != PGRES_COMMAND_OK) {
            store_set_error(store, what, res);
            status = store_failure_status(res);
        }
        PQclear(res);
    }
    return status;
}

enum store_status store_journey_send(struct store *store, const int64_t *run_ids, const long *steps,
                                     const char *const *actions, size_t count,
                                     const char *window_timezone)
{
    if (count == 0)
        return STORE_ONE_RESULT;
    struct store_array arrays[4];
    store_array_begin(&arrays[0], STORE_OID_INT8);
    store_array_begin(&arrays[1], STORE_OID_INT8);
    store_array_begin(&arrays[2], STORE_OID_JSONB);
    store_array_begin(&arrays[3], STORE_OID_TEXT);
    for (size_t i = 0; i < count; i++) {
        store_array_add_int8(&arrays[0], run_ids[i]);
        store_array_add_int8(&arrays[1], steps[i]);
        store_array_add_jsonb(&arrays[2], actions[i]);
    }
    store_array_add_text(&arrays[3], window_timezone);
    enum store_status status =
        run_arrays(store, "journey_send", arrays, 4, "writing a journey's deliveries");
    for (size_t i = 0; i < 4; i++)
        store_array_free(&arrays[i]);
    return status;
}

enum store_status store_journey_move(struct store *store, const struct store_journey_move *moves,
                                     size_t count)
{
    if (count == 0)
        return STORE_ONE_RESULT;
    struct store_array arrays[7];
    const uint32_t types[7] = {STORE_OID_INT8, STORE_OID_INT8, STORE_OID_TEXT, STORE_OID_TEXT,
                               STORE_OID_INT8, STORE_OID_TEXT, STORE_OID_TEXT};
    for (size_t i = 0; i < 7; i++)
        store_array_begin(&arrays[i], types[i]);
    for (size_t i = 0; i < count; i++) {
        store_array_add_int8(&arrays[0], moves[i].run_id);
        store_array_add_int8(&arrays[1], moves[i].step);
        store_array_add_text(&arrays[2], moves[i].step_path);
        store_array_add_text(&arrays[3], moves[i].status);
        store_array_add_int8(&arrays[4], moves[i].wait_us);
        store_array_add_text(&arrays[5], moves[i].waiting_for);
        store_array_add_text(&arrays[6], moves[i].end_reason);
    }
    enum store_status status = run_arrays(store, "journey_move", arrays, 7, "moving journeys on");
    for (size_t i = 0; i < 7; i++)
        store_array_free(&arrays[i]);
    return status;
}

enum store_status store_journey_commit(struct store *store)
{
    return store_exec_command(store, "COMMIT") ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}
