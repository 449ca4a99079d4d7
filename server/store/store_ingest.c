#include "store/store_ingest.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <stdlib.h>

#include "common/timeutil.h"
#include "store/store_internal.h"

/*
 * Commands are sent in chunks, each closed by a pipeline sync and read back before the next is
 * sent: the results waiting in the socket stay small, so neither side can block the other.
 * A sync inside BEGIN ... COMMIT does not end the transaction.
 */
#define CHUNK_COMMANDS 256

const struct store_statement store_ingest_statements[] = {
    {"ingest_event",
     "SELECT trackd_ingest_event($1::bigint, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb,"
     " $10::timestamptz, $11::timestamptz)"},
    {"ingest_identify",
     "SELECT trackd_identify($1::bigint, $2, $3, $4, $5, $6, $7::boolean, $8::boolean, $9::jsonb,"
     " ARRAY(SELECT jsonb_array_elements_text($10::jsonb)), $11, $12::jsonb, $13::timestamptz,"
     " $14::timestamptz)"},
    {"ingest_group",
     "SELECT trackd_group($1::bigint, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb,"
     " $10::timestamptz, $11::timestamptz)"},
    {"ingest_alias", "SELECT trackd_alias($1::bigint, $2, $3, $4, $5::jsonb, $6::timestamptz,"
                     " $7::timestamptz)"},
    {"ingest_delete_person", "SELECT trackd_delete_person($1::bigint, $2, $3)"},
    {"ingest_suppress", "SELECT trackd_suppress($1::bigint, $2, $3)"},
    {"ingest_unsuppress", "SELECT trackd_unsuppress($1::bigint, $2, $3)"},
    {"ingest_add_device",
     "SELECT trackd_add_device($1::bigint, $2, $3, $4, $5, $6::jsonb, $7::timestamptz)"},
    {"ingest_delete_device", "SELECT trackd_delete_device($1::bigint, $2, $3, $4)"},
    {"ingest_merge", "SELECT trackd_merge($1::bigint, $2, $3, $4, $5)"},
    {"ingest_metric", "SELECT trackd_record_metric(nullif($1, '0')::bigint, $2, $3, $4, $5, $6, $7,"
                      " $8::timestamptz, $9::timestamptz)"},
    {"ingest_prepare_people", "SELECT trackd_prepare_people($1::jsonb)"},
    {"ingest_events", "SELECT outcome FROM trackd_ingest_events($1::jsonb)"},
    {"ingest_reject",
     "INSERT INTO rejected_requests (workspace_id, endpoint, reason, message, payload,"
     " received_at) VALUES (nullif($1, '0')::bigint, $2, $3, $4, $5, $6::timestamptz)"
     " RETURNING 'recorded'"},
};
const size_t store_ingest_statement_count =
    sizeof store_ingest_statements / sizeof store_ingest_statements[0];

/* Text forms of a command's numbers and instants, alive while its statement is sent. */
struct param_text {
    char workspace[24];
    char timestamp[TIMEUTIL_FORMAT_SIZE];
    char received[TIMEUTIL_FORMAT_SIZE];
};

#define SEND(conn, name, ...)                                                                      \
    do {                                                                                           \
        const char *params_[] = {__VA_ARGS__};                                                     \
        return PQsendQueryPrepared((conn), (name), (int)(sizeof params_ / sizeof params_[0]),      \
                                   params_, NULL, NULL, 0);                                        \
    } while (0)

/* Sends the statement that carries out `cmd`; every command kind maps to one SQL function of the
 * migrations, which returns one word saying what it did (see outcome_of). */
static bool send_command(PGconn *conn, const struct command *cmd)
{
    struct param_text t;
    snprintf(t.workspace, sizeof t.workspace, "%" PRId64, cmd->workspace_id);
    timeutil_format(cmd->timestamp_us, t.timestamp);
    timeutil_format(cmd->received_us, t.received);
    const char *person_type = command_identifier_type_name(cmd->person.type);
    const char *person = cmd->person.value;

    switch (cmd->kind) {
    case COMMAND_TRACK:
        SEND(conn, "ingest_event", t.workspace, cmd->message_id, person_type, person,
             cmd->anonymous_id, command_event_type_name(cmd->event_type), cmd->name,
             cmd->properties, cmd->context, t.timestamp, t.received);
    case COMMAND_IDENTIFY:
        SEND(conn, "ingest_identify", t.workspace, cmd->message_id, person_type, person,
             cmd->body_id, cmd->email, cmd->clear_email ? "t" : "f", cmd->update_only ? "t" : "f",
             cmd->properties, cmd->unset_keys, cmd->anonymous_id, cmd->context, t.timestamp,
             t.received);
    case COMMAND_GROUP:
        SEND(conn, "ingest_group", t.workspace, cmd->message_id, person, cmd->anonymous_id,
             cmd->object_type_id, cmd->group_id, cmd->properties, cmd->relationship, cmd->context,
             t.timestamp, t.received);
    case COMMAND_ALIAS:
        SEND(conn, "ingest_alias", t.workspace, cmd->message_id, person, cmd->previous_id,
             cmd->context, t.timestamp, t.received);
    case COMMAND_DELETE_PERSON:
        SEND(conn, "ingest_delete_person", t.workspace, person_type, person);
    case COMMAND_SUPPRESS:
        SEND(conn, "ingest_suppress", t.workspace, person_type, person);
    case COMMAND_UNSUPPRESS:
        SEND(conn, "ingest_unsuppress", t.workspace, person_type, person);
    case COMMAND_ADD_DEVICE:
        /* A device sent by an anonymous id goes to the person that id is linked to. */
        if (cmd->person.type == IDENTIFIER_NONE)
            SEND(conn, "ingest_add_device", t.workspace, "anonymous", cmd->anonymous_id,
                 cmd->device_token, cmd->platform, cmd->properties, t.timestamp);
        SEND(conn, "ingest_add_device", t.workspace, person_type, person, cmd->device_token,
             cmd->platform, cmd->properties, t.timestamp);
    case COMMAND_DELETE_DEVICE:
        SEND(conn, "ingest_delete_device", t.workspace, person_type, person, cmd->device_token);
    case COMMAND_MERGE:
        SEND(conn, "ingest_merge", t.workspace, person_type, person,
             command_identifier_type_name(cmd->secondary.type), cmd->secondary.value);
    case COMMAND_METRIC:
        SEND(conn, "ingest_metric", t.workspace, cmd->delivery_id, cmd->metric, cmd->device_token,
             cmd->recipient, cmd->metric_reason, cmd->href, t.timestamp, t.received);
    case COMMAND_REJECT:
        SEND(conn, "ingest_reject", t.workspace, cmd->endpoint, cmd->reason, cmd->message,
             cmd->payload, t.received);
    }
    return false;
}

/* Sends a run of track commands as one trackd_ingest_events call. */
static bool send_events(PGconn *conn, struct command *const *commands, size_t count)
{
    char *events = store_events_json(commands, count);
    if (events == NULL)
        return false;
    const char *params[1] = {events};
    bool ok = PQsendQueryPrepared(conn, "ingest_events", 1, params, NULL, NULL, 0);
    free(events);
    return ok;
}

/*
 * The people a group will create anyway (events and plain identifies by id), with a lock flag
 * for those its identifies will update, as JSON for trackd_prepare_people. NULL when there are
 * none, or when the group holds only events: trackd_ingest_events creates their people itself,
 * in the same order. An identify by id that carries an email or a body id, or `_update`, may not
 * create anyone (that depends on what it finds), but if the person exists it updates them: they
 * are locked up front with the others ("x": lock only), so that groups never lock people in
 * opposite orders.
 */
static char *people_to_prepare(struct command *const *commands, size_t count)
{
    size_t events = 0;
    while (events < count && commands[events]->kind == COMMAND_TRACK)
        events++;
    if (events == count && count <= CHUNK_COMMANDS)
        return NULL; /* one run of events: one trackd_ingest_events call */
    json_object *list = json_object_new_array();
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        if (cmd->person.type != IDENTIFIER_ID)
            continue;
        bool identify = cmd->kind == COMMAND_IDENTIFY;
        bool plain_identify =
            identify && cmd->email == NULL && cmd->body_id == NULL && !cmd->update_only;
        if (cmd->kind != COMMAND_TRACK && !identify)
            continue;
        json_object *entry = json_object_new_object();
        json_object_object_add(entry, "w", json_object_new_int64(cmd->workspace_id));
        json_object_object_add(entry, "c", json_object_new_string(cmd->person.value));
        json_object_object_add(entry, "l", json_object_new_boolean(identify));
        if (identify && !plain_identify)
            json_object_object_add(entry, "x", json_object_new_boolean(true));
        json_object_array_add(list, entry);
    }
    char *text = NULL;
    if (json_object_array_length(list) > 0)
        text = strdup(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN));
    json_object_put(list);
    return text;
}

static enum store_outcome outcome_of(const char *word)
{
    if (strstr(word, ";link_refused") != NULL)
        return STORE_OUTCOME_LINK_REFUSED;
    if (strcmp(word, "duplicate") == 0 || strcmp(word, "repeat") == 0)
        return STORE_OUTCOME_DUPLICATE;
    if (strcmp(word, "conflict") == 0)
        return STORE_OUTCOME_CONFLICT;
    if (strcmp(word, "primary_not_found") == 0)
        return STORE_OUTCOME_NOT_FOUND;
    if (strcmp(word, "suppressed") == 0 || strcmp(word, "not_found") == 0 ||
        strcmp(word, "skipped") == 0)
        return STORE_OUTCOME_IGNORED;
    /* stored, created, updated, recorded, deleted, merged, unsuppressed */
    return STORE_OUTCOME_STORED;
}

static bool is_data_error(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
                             strncmp(state, "54", 2) == 0);
}

/* The state of one pipelined transaction. */
struct write_run {
    struct store *store;
    enum store_outcome *outcomes;
    struct store_write_failure *failure;
    enum store_status status; /* STORE_NO_RESULTS while all is well */
    bool commit_sent;
};

/* Marks the run failed by `res` (NULL: the connection broke) at command `index`. */
static void fail_run(struct write_run *run, const PGresult *res, size_t index, const char *what)
{
    if (run->status != STORE_NO_RESULTS)
        return; /* keep the first failure */
    store_set_error(run->store, what, res);
    run->status = res ? store_failure_status(res) : STORE_HARD_ERROR;
    run->failure->command_index = index;
    run->failure->data_error = res != NULL && index != SIZE_MAX && is_data_error(res);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    run->failure->timed_out = state != NULL && strcmp(state, "57014") == 0;
    /* libpq reports a lost connection as an error result too: whatever the result, a
     * connection that is gone after COMMIT was sent leaves the outcome unknown. */
    if (PQstatus(run->store->conn) != CONNECTION_OK || res == NULL ||
        (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
        run->status = STORE_HARD_ERROR;
        run->failure->data_error = false;
        run->failure->maybe_committed = run->commit_sent;
    }
}

/* What one query of a chunk stands for: `count` commands from `first` (a run of events sent
 * as one trackd_ingest_events call has several), or none for BEGIN, COMMIT and the people. */
struct query_slot {
    size_t first;
    size_t count;
};

#define CONTROL_SLOT ((struct query_slot){SIZE_MAX, 0})

/* The command index to blame for a failed query: only a query of a single command can be
 * blamed on it (SIZE_MAX otherwise, and the caller writes the requests one by one). */
static size_t blamed_command(struct query_slot slot)
{
    return slot.count == 1 ? slot.first : SIZE_MAX;
}

/* Reads the results of the `sent` queries of a chunk and the closing sync. */
static void read_chunk(struct write_run *run, const struct query_slot *slots, size_t sent)
{
    PGconn *conn = run->store->conn;
    for (size_t q = 0; q < sent; q++) {
        struct query_slot slot = slots[q];
        PGresult *res = PQgetResult(conn);
        if (res == NULL) {
            fail_run(run, NULL, blamed_command(slot), "reading a write result");
            return;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK && slot.count > 0) {
            if (PQntuples(res) == (int)slot.count) {
                for (size_t i = 0; i < slot.count; i++)
                    run->outcomes[slot.first + i] = outcome_of(PQgetvalue(res, (int)i, 0));
            } else {
                fail_run(run, res, SIZE_MAX, "reading write outcomes (wrong count)");
            }
        } else if (st == PGRES_FATAL_ERROR) {
            fail_run(run, res, blamed_command(slot), "writing");
        }
        PQclear(res);
        /* Each query's results end with a NULL. */
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
    }
    PGresult *sync = PQgetResult(conn);
    if (sync == NULL || PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        fail_run(run, sync, SIZE_MAX, "reading the pipeline sync");
    PQclear(sync);
}

enum store_status store_write_commands(struct store *store, struct command *const *commands,
                                       size_t count, enum store_outcome *outcomes,
                                       struct store_write_failure *failure)
{
    PGconn *conn = store->conn;
    *failure = (struct store_write_failure){.command_index = SIZE_MAX};
    struct write_run run = {store, outcomes, failure, STORE_NO_RESULTS, false};
    for (size_t i = 0; i < count; i++)
        outcomes[i] = STORE_OUTCOME_PENDING;
    if (PQstatus(conn) != CONNECTION_OK || !PQenterPipelineMode(conn)) {
        fail_run(&run, NULL, SIZE_MAX, "starting a write");
        return run.status;
    }

    size_t next = 0;
    bool begin_sent = false;
    while (run.status == STORE_NO_RESULTS && !run.commit_sent) {
        struct query_slot slots[CHUNK_COMMANDS + 3]; /* BEGIN, people, commands, COMMIT */
        size_t sent = 0;
        size_t chunk_commands = 0;
        bool ok = true;
        if (!begin_sent) {
            ok = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
            slots[sent++] = CONTROL_SLOT;
            begin_sent = true;
            char *people = people_to_prepare(commands, count);
            if (ok && people != NULL) {
                const char *params[1] = {people};
                ok = PQsendQueryPrepared(conn, "ingest_prepare_people", 1, params, NULL, NULL, 0);
                slots[sent++] = CONTROL_SLOT;
            }
            free(people);
        }
        while (ok && next < count && chunk_commands < CHUNK_COMMANDS) {
            if (commands[next]->kind == COMMAND_REJECT && commands[next]->counted_only) {
                outcomes[next++] = STORE_OUTCOME_IGNORED; /* counted by ingest/, not kept */
                continue;
            }
            size_t run_length = 1;
            if (commands[next]->kind == COMMAND_TRACK) {
                while (next + run_length < count && chunk_commands + run_length < CHUNK_COMMANDS &&
                       commands[next + run_length]->kind == COMMAND_TRACK)
                    run_length++;
                ok = send_events(conn, commands + next, run_length);
            } else {
                ok = send_command(conn, commands[next]);
            }
            slots[sent++] = (struct query_slot){next, run_length};
            next += run_length;
            chunk_commands += run_length;
        }
        if (ok && next == count) {
            ok = PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
            slots[sent++] = CONTROL_SLOT;
            run.commit_sent = ok;
        }
        if (!ok || !PQpipelineSync(conn)) {
            fail_run(&run, NULL, SIZE_MAX, "sending a write");
            break;
        }
        read_chunk(&run, slots, sent);
    }
    if (!PQexitPipelineMode(conn)) {
        /* Results are still pending (a broken read): the connection cannot be trusted. */
        PQfinish(store->conn);
        store->conn = NULL;
        if (run.status == STORE_NO_RESULTS)
            fail_run(&run, NULL, SIZE_MAX, "leaving pipeline mode");
        for (size_t i = 0; i < count; i++)
            outcomes[i] = STORE_OUTCOME_PENDING;
        return run.status;
    }
    if (run.status != STORE_NO_RESULTS) {
        if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
            PQclear(PQexec(conn, "ROLLBACK"));
        for (size_t i = 0; i < count; i++)
            outcomes[i] = STORE_OUTCOME_PENDING;
        return run.status;
    }
    return (enum store_status)count;
}
