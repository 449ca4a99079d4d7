#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "store/store_internal.h"

const struct store_statement store_deliveries_statements[] = {
    {"delivery_claim", "SELECT * FROM trackd_claim_deliveries($1::integer, $2::integer, $3)"},
    {"deliveries_sent",
     "UPDATE deliveries d SET status = 'sent', sent_at = now(), response_code = s.code,"
     " lease_until = NULL, last_error = NULL"
     " FROM unnest($1::bigint[], $2::integer[]) AS s (id, code)"
     " WHERE d.id = s.id AND d.status <> 'cancelled'"},
    {"delivery_failed",
     "UPDATE deliveries SET status = CASE WHEN $4::bigint >= 0 THEN 'retrying' ELSE 'dead' END,"
     " next_attempt_at = CASE WHEN $4::bigint >= 0"
     "   THEN now() + $4::bigint * interval '1 millisecond' END,"
     " response_code = nullif($2::integer, 0), last_error = left($3, 1000), lease_until = NULL"
     " WHERE id = $1::bigint AND status <> 'cancelled'"},
    {"delivery_apply_attributes",
     "WITH target AS (SELECT d.id, d.person_id, d.action FROM deliveries d WHERE d.id = "
     "$1::bigint),"
     " applied AS (UPDATE people p SET attributes = p.attributes || (t.action->'attributes'),"
     "   updated_at = now() FROM target t WHERE p.id = t.person_id RETURNING p.id)"
     " UPDATE deliveries SET"
     "   status = CASE WHEN EXISTS (SELECT 1 FROM applied) THEN 'sent' ELSE 'cancelled' END,"
     "   sent_at = CASE WHEN EXISTS (SELECT 1 FROM applied) THEN now() END, lease_until = NULL,"
     "   last_error = CASE WHEN EXISTS (SELECT 1 FROM applied) THEN NULL"
     "     ELSE 'the person no longer exists' END"
     " WHERE id = $1::bigint"},
    {"device_delete", "DELETE FROM devices WHERE id = $1::bigint"},
    {"delivery_recheck_facts",
     "SELECT r.definition::text, coalesce(e.name, ''), coalesce(e.properties, '{}')::text,"
     " p.customer_id, p.email, coalesce(p.attributes, '{}')::text, trackd_person_relations(p.id)"
     " FROM deliveries d JOIN rules r ON r.id = d.rule_id"
     " LEFT JOIN events e ON e.id = d.event_id LEFT JOIN people p ON p.id = d.person_id"
     " WHERE d.id = $1::bigint"},
    {"delivery_skip",
     "UPDATE deliveries SET status = 'skipped', last_error = $2, lease_until = NULL"
     " WHERE id = $1::bigint AND status <> 'cancelled'"},
};
const size_t store_deliveries_statement_count =
    sizeof store_deliveries_statements / sizeof store_deliveries_statements[0];

static enum store_status command(struct store *store, const char *name, int n,
                                 const char *const *params)
{
    PGresult *res = PQexecPrepared(store->conn, name, n, params, NULL, NULL, 0);
    enum store_status status;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_set_error(store, name, res);
        status = store_failure_status(res);
    } else {
        status = (enum store_status)atoi(PQcmdTuples(res));
    }
    PQclear(res);
    return status;
}

enum store_status
store_claim_deliveries(struct store *store, unsigned limit, unsigned lease_s,
                       const char *default_timezone,
                       void (*each)(void *cls, const struct store_delivery *delivery), void *cls)
{
    char limit_text[16], lease_text[16];
    snprintf(limit_text, sizeof limit_text, "%u", limit);
    snprintf(lease_text, sizeof lease_text, "%u", lease_s);
    const char *params[3] = {limit_text, lease_text, default_timezone ? default_timezone : "UTC"};
    PGresult *res = PQexecPrepared(store->conn, "delivery_claim", 3, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "claiming deliveries", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_delivery d = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .workspace_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .person_id = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .device_id = strtoll(PQgetvalue(res, i, 3), NULL, 10),
            .attempts = atoi(PQgetvalue(res, i, 4)),
            .action = PQgetvalue(res, i, 5),
            .public_id = PQgetvalue(res, i, 6),
            .platform = PQgetvalue(res, i, 7),
            .unsubscribe_token = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8),
        };
        each(cls, &d);
    }
    PQclear(res);
    return (enum store_status)rows;
}

/* An array literal of numbers ("{1,2,3}"), built from integers only, never from input text. */
static char *number_array(const int64_t *values, const int *ints, size_t count)
{
    size_t size = count * 22 + 3;
    char *text = malloc(size);
    if (text == NULL)
        return NULL;
    size_t used = (size_t)snprintf(text, size, "{");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%" PRId64, i ? "," : "",
                                 values ? values[i] : (int64_t)ints[i]);
    snprintf(text + used, size - used, "}");
    return text;
}

enum store_status store_deliveries_sent(struct store *store, const int64_t *ids,
                                        const int *response_codes, size_t count)
{
    char *id_array = number_array(ids, NULL, count);
    char *code_array = number_array(NULL, response_codes, count);
    enum store_status status = STORE_HARD_ERROR;
    if (id_array != NULL && code_array != NULL) {
        const char *params[2] = {id_array, code_array};
        status = command(store, "deliveries_sent", 2, params);
    }
    free(id_array);
    free(code_array);
    return status;
}

enum store_status store_delivery_failed(struct store *store, int64_t id, int response_code,
                                        const char *error, int64_t retry_in_ms)
{
    char id_text[24], code[16], retry[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    snprintf(code, sizeof code, "%d", response_code);
    snprintf(retry, sizeof retry, "%" PRId64, retry_in_ms);
    const char *params[4] = {id_text, code, error, retry};
    return command(store, "delivery_failed", 4, params);
}

enum store_status store_delivery_apply_attributes(struct store *store, int64_t id)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    const char *params[1] = {id_text};
    return command(store, "delivery_apply_attributes", 1, params);
}

enum store_status store_delete_device(struct store *store, int64_t device_id)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, device_id);
    const char *params[1] = {id_text};
    return command(store, "device_delete", 1, params);
}

enum store_status
store_delivery_recheck_facts(struct store *store, int64_t id,
                             void (*each)(void *cls, const struct store_recheck_facts *facts),
                             void *cls)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    const char *params[1] = {id_text};
    PGresult *res = PQexecPrepared(store->conn, "delivery_recheck_facts", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "reading a delivery's rule and facts", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    int rows = PQntuples(res);
    if (rows == 1) {
        struct store_recheck_facts facts = {
            .rule_definition = PQgetvalue(res, 0, 0),
            .event_name = PQgetvalue(res, 0, 1),
            .event_properties = PQgetvalue(res, 0, 2),
            .customer_id = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3),
            .email = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4),
            .person_attributes = PQgetvalue(res, 0, 5),
            .person_relations = PQgetvalue(res, 0, 6),
        };
        each(cls, &facts);
    }
    PQclear(res);
    return (enum store_status)rows;
}

enum store_status store_delivery_skip(struct store *store, int64_t id, const char *reason)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    const char *params[2] = {id_text, reason};
    return command(store, "delivery_skip", 2, params);
}
