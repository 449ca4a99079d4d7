#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "store/store_internal.h"

const struct store_statement store_rules_statements[] = {
    {"workspace_by_name", "SELECT id FROM workspaces WHERE name = $1"},
    {"rule_upsert",
     "INSERT INTO rules (workspace_id, name, definition, enabled, trigger_event, trigger_type,"
     " watch_events)"
     " VALUES ($1::bigint, $2, $3::jsonb, $4::boolean, $5, $6,"
     " ARRAY(SELECT jsonb_array_elements_text($7::jsonb)))"
     " ON CONFLICT (workspace_id, name) DO UPDATE SET definition = excluded.definition,"
     " enabled = excluded.enabled, trigger_event = excluded.trigger_event,"
     " trigger_type = excluded.trigger_type, watch_events = excluded.watch_events,"
     " updated_at = now()"},
    {"rule_list", "SELECT id, workspace_id, name, definition::text, enabled, updated_at FROM rules"
                  " WHERE ($1::bigint = 0 AND enabled) OR workspace_id = $1::bigint"
                  " ORDER BY workspace_id, name"},
    {"rules_version", "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM rules"},
};
const size_t store_rules_statement_count =
    sizeof store_rules_statements / sizeof store_rules_statements[0];

/* Runs a prepared statement expected to succeed; returns its result or NULL (error recorded). */
static PGresult *run(struct store *store, const char *name, int n, const char *const *params,
                     ExecStatusType expected)
{
    PGresult *res = PQexecPrepared(store->conn, name, n, params, NULL, NULL, 0);
    if (PQresultStatus(res) != expected) {
        store_set_error(store, name, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

enum store_status store_find_workspace(struct store *store, const char *name, int64_t *id)
{
    const char *params[1] = {name};
    PGresult *res = run(store, "workspace_by_name", 1, params, PGRES_TUPLES_OK);
    if (res == NULL)
        return STORE_HARD_ERROR;
    enum store_status status = STORE_NO_RESULTS;
    if (PQntuples(res) == 1) {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        status = STORE_ONE_RESULT;
    }
    PQclear(res);
    return status;
}

enum store_status store_upsert_rules(struct store *store, int64_t workspace_id,
                                     const struct store_rule_input *rules, size_t count)
{
    PGresult *res = PQexec(store->conn, "BEGIN");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    char ws[24];
    snprintf(ws, sizeof ws, "%" PRId64, workspace_id);
    for (size_t i = 0; ok && i < count; i++) {
        const char *params[7] = {ws,
                                 rules[i].name,
                                 rules[i].definition,
                                 rules[i].enabled ? "t" : "f",
                                 rules[i].trigger_event,
                                 rules[i].trigger_type,
                                 rules[i].watch_events ? rules[i].watch_events : "[]"};
        PGresult *row = run(store, "rule_upsert", 7, params, PGRES_COMMAND_OK);
        ok = row != NULL;
        PQclear(row);
    }
    res = PQexec(store->conn, ok ? "COMMIT" : "ROLLBACK");
    if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_set_error(store, "committing rules", res);
        ok = false;
    }
    PQclear(res);
    return ok ? (enum store_status)count : STORE_HARD_ERROR;
}

enum store_status store_list_rules(struct store *store, int64_t workspace_id,
                                   void (*each)(void *cls, const struct store_rule_row *rule),
                                   void *cls)
{
    char ws[24];
    snprintf(ws, sizeof ws, "%" PRId64, workspace_id);
    const char *params[1] = {ws};
    PGresult *res = run(store, "rule_list", 1, params, PGRES_TUPLES_OK);
    if (res == NULL)
        return STORE_HARD_ERROR;
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_rule_row row = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .workspace_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .name = PQgetvalue(res, i, 2),
            .definition = PQgetvalue(res, i, 3),
            .enabled = PQgetvalue(res, i, 4)[0] == 't',
            .updated_at = PQgetvalue(res, i, 5),
        };
        each(cls, &row);
    }
    PQclear(res);
    return (enum store_status)rows;
}

enum store_status store_rules_version(struct store *store, char *out, size_t out_size)
{
    PGresult *res = run(store, "rules_version", 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return STORE_HARD_ERROR;
    snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return STORE_ONE_RESULT;
}
