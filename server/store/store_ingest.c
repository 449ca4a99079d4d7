#include "store/store_ingest.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "common/timeutil.h"
#include "store/store_internal.h"

/*
 * A group is sent whole, BEGIN to COMMIT and one pipeline sync, before any result is read: one
 * round trip however many commands. Neither side can block the other meanwhile: while libpq
 * waits to write, it reads what the server answers into its own buffer. A run of consecutive
 * events is cut into calls of at most EVENTS_PER_CALL events.
 */
#define EVENTS_PER_CALL 256

/* Each command's statement returns its outcome number (see core/outcome.h); a run of events, one
 * per event. */
const struct store_statement store_ingest_statements[] = {
    {"ingest_events",
     "SELECT * FROM trackd_ingest_events($1::bigint[], $2::text[], $3::text[], $4::text[],"
     " $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[],"
     " $11::timestamptz[])"},
    {"ingest_identify",
     "SELECT trackd_outcome(trackd_identify($1::bigint, $2, $3, $4, $5, $6, $7::boolean,"
     " $8::boolean, $9::jsonb, ARRAY(SELECT jsonb_array_elements_text($10::jsonb)), $11,"
     " $12::jsonb, $13::timestamptz, $14::timestamptz, $15::boolean, $16::jsonb,"
     " $17::boolean, $18::jsonb, $19::boolean))"},
    {"ingest_group",
     "SELECT trackd_outcome(trackd_group($1::bigint, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb,"
     " $9::jsonb, $10::timestamptz, $11::timestamptz))"},
    {"ingest_alias", "SELECT trackd_outcome(trackd_alias($1::bigint, $2, $3, $4, $5::jsonb,"
                     " $6::timestamptz, $7::timestamptz))"},
    {"ingest_delete_person", "SELECT trackd_outcome(trackd_delete_person($1::bigint, $2, $3))"},
    {"ingest_suppress", "SELECT trackd_outcome(trackd_suppress($1::bigint, $2, $3))"},
    {"ingest_unsuppress", "SELECT trackd_outcome(trackd_unsuppress($1::bigint, $2, $3))"},
    {"ingest_add_device", "SELECT trackd_outcome(trackd_add_device($1::bigint, $2, $3, $4, $5,"
                          " $6::jsonb, $7::timestamptz))"},
    {"ingest_delete_device", "SELECT trackd_outcome(trackd_delete_device($1::bigint, $2, $3, $4))"},
    {"ingest_merge", "SELECT trackd_outcome(trackd_merge($1::bigint, $2, $3, $4, $5))"},
    {"ingest_metric",
     "SELECT trackd_outcome(trackd_record_metric(nullif($1, '0')::bigint, $2, $3, $4, $5, $6,"
     " $7, $8::timestamptz, $9::timestamptz))"},
    {"ingest_prepare_people",
     "SELECT trackd_prepare_people($1::bigint[], $2::text[], $3::boolean[], $4::boolean[])"},
    {"ingest_unsubscribe", "SELECT trackd_outcome(trackd_unsubscribe(nullif($1, '0')::bigint, $2,"
                           " $3::boolean, $4::timestamptz))"},
    {"ingest_segment", "SELECT trackd_outcome(trackd_segment_members($1::bigint, $2::integer,"
                       " $3::boolean, $4, $5::jsonb))"},
    {"ingest_delete_relationship",
     "SELECT trackd_outcome(trackd_delete_relationship($1::bigint, $2, $3, $4, $5, $6))"},
    {"ingest_delete_object", "SELECT trackd_outcome(trackd_delete_object($1::bigint, $2, $3, $4))"},
    {"ingest_object_identify",
     "SELECT trackd_outcome(trackd_object_identify($1::bigint, $2, $3, $4, $5::jsonb,"
     " $6::jsonb))"},
    {"ingest_relationships",
     "SELECT trackd_outcome(trackd_relationships($1::bigint, $2::boolean, $3, $4, $5, $6, $7,"
     " $8::jsonb))"},
    {"ingest_reject",
     "INSERT INTO rejected_requests (workspace_id, endpoint, reason, message, payload,"
     " received_at) VALUES (nullif($1, '0')::bigint, $2, $3, $4, $5, $6::timestamptz)"
     " RETURNING trackd_outcome('recorded')"},
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

static bool send_events(PGconn *conn, struct command *const *commands, size_t count);

/* Sends the statement that carries out `cmd`; every command kind maps to one SQL function of
 * sql/functions/, whose word the statement turns into an outcome number. */
static bool send_command(PGconn *conn, struct command *cmd)
{
    struct param_text t;
    snprintf(t.workspace, sizeof t.workspace, "%" PRId64, cmd->workspace_id);
    timeutil_format(cmd->timestamp_us, t.timestamp);
    timeutil_format(cmd->received_us, t.received);
    const char *person_type = command_identifier_type_name(cmd->person.type);
    const char *person = cmd->person.value;

    switch (cmd->kind) {
    case COMMAND_TRACK:
        return send_events(conn, &cmd, 1); /* events are written set-based, even one */
    case COMMAND_IDENTIFY:
        SEND(conn, "ingest_identify", t.workspace, cmd->message_id, person_type, person,
             cmd->body_id, cmd->email, cmd->clear_email ? "t" : "f", cmd->update_only ? "t" : "f",
             cmd->properties, cmd->unset_keys, cmd->anonymous_id, cmd->context, t.timestamp,
             t.received, cmd->ordered ? "t" : "f", cmd->attribute_times,
             cmd->dotted_preferences ? "t" : "f", cmd->relationships,
             cmd->relationships_add ? "t" : "f");
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
    case COMMAND_UNSUBSCRIBE:
        SEND(conn, "ingest_unsubscribe", t.workspace, cmd->delivery_id,
             cmd->unsubscribe < 0 ? NULL
             : cmd->unsubscribe   ? "true"
                                  : "false",
             t.received);
    case COMMAND_SEGMENT: {
        char segment[24];
        snprintf(segment, sizeof segment, "%" PRId64, cmd->segment_id);
        SEND(conn, "ingest_segment", t.workspace, segment, cmd->segment_add ? "true" : "false",
             command_identifier_type_name(cmd->id_type), cmd->ids);
    }
    case COMMAND_DELETE_RELATIONSHIP:
        SEND(conn, "ingest_delete_relationship", t.workspace, person_type, person,
             cmd->anonymous_id, cmd->object_type_id, cmd->group_id);
    case COMMAND_DELETE_OBJECT:
        SEND(conn, "ingest_delete_object", t.workspace, cmd->object_type_id, cmd->group_id,
             cmd->cio_object_id);
    case COMMAND_OBJECT_IDENTIFY:
        SEND(conn, "ingest_object_identify", t.workspace, cmd->object_type_id, cmd->group_id,
             cmd->cio_object_id, cmd->properties, cmd->relationships);
    case COMMAND_RELATIONSHIPS:
        SEND(conn, "ingest_relationships", t.workspace, cmd->relationships_add ? "t" : "f",
             person_type, person, cmd->object_type_id, cmd->group_id, cmd->cio_object_id,
             cmd->relationships);
    case COMMAND_REJECT:
        SEND(conn, "ingest_reject", t.workspace, cmd->endpoint, cmd->reason, cmd->message,
             cmd->payload, t.received);
    }
    return false;
}

/* The columns of trackd_ingest_events, in its order. */
enum event_column {
    EVENT_WORKSPACE,
    EVENT_MESSAGE_ID,
    EVENT_PERSON_TYPE,
    EVENT_PERSON,
    EVENT_ANONYMOUS_ID,
    EVENT_TYPE,
    EVENT_NAME,
    EVENT_PROPERTIES,
    EVENT_CONTEXT,
    EVENT_TIMESTAMP,
    EVENT_RECEIVED,
    EVENT_COLUMNS
};

static const uint32_t event_column_oids[EVENT_COLUMNS] = {
    STORE_OID_INT8,  STORE_OID_TEXT,        STORE_OID_TEXT,        STORE_OID_TEXT,
    STORE_OID_TEXT,  STORE_OID_TEXT,        STORE_OID_TEXT,        STORE_OID_JSONB,
    STORE_OID_JSONB, STORE_OID_TIMESTAMPTZ, STORE_OID_TIMESTAMPTZ,
};

/* Sends a run of track commands as one trackd_ingest_events call: one binary array per column. */
static bool send_events(PGconn *conn, struct command *const *commands, size_t count)
{
    struct store_array columns[EVENT_COLUMNS];
    for (size_t c = 0; c < EVENT_COLUMNS; c++)
        store_array_begin(&columns[c], event_column_oids[c]);
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        store_array_add_int8(&columns[EVENT_WORKSPACE], cmd->workspace_id);
        store_array_add_text(&columns[EVENT_MESSAGE_ID], cmd->message_id);
        store_array_add_text(&columns[EVENT_PERSON_TYPE],
                             command_identifier_type_name(cmd->person.type));
        store_array_add_text(&columns[EVENT_PERSON], cmd->person.value);
        store_array_add_text(&columns[EVENT_ANONYMOUS_ID], cmd->anonymous_id);
        store_array_add_text(&columns[EVENT_TYPE], command_event_type_name(cmd->event_type));
        store_array_add_text(&columns[EVENT_NAME], cmd->name);
        store_array_add_jsonb(&columns[EVENT_PROPERTIES], cmd->properties);
        store_array_add_jsonb(&columns[EVENT_CONTEXT], cmd->context);
        store_array_add_timestamptz(&columns[EVENT_TIMESTAMP], cmd->timestamp_us);
        store_array_add_timestamptz(&columns[EVENT_RECEIVED], cmd->received_us);
    }
    bool ok = store_arrays_send(conn, "ingest_events", columns, EVENT_COLUMNS);
    for (size_t c = 0; c < EVENT_COLUMNS; c++)
        store_array_free(&columns[c]);
    return ok;
}

/*
 * Sends trackd_prepare_people for the people a group will create anyway (events and plain
 * identifies by id), with a lock flag for those its identifies will update. Sends nothing
 * (and returns true) when there are none, or when the group is one run of events:
 * trackd_ingest_events creates their people itself, in the same order. An identify by id that
 * carries an email or a body id, or `_update`, may not create anyone (that depends on what it
 * finds), but if the person exists it updates them: they are locked up front with the others
 * (lock only), so that groups never lock people in opposite orders.
 */
static bool send_people_to_prepare(PGconn *conn, struct command *const *commands, size_t count,
                                   bool *sent)
{
    *sent = false;
    size_t events = 0;
    while (events < count && commands[events]->kind == COMMAND_TRACK)
        events++;
    if (events == count && count <= EVENTS_PER_CALL)
        return true; /* one run of events: one trackd_ingest_events call */
    enum { WORKSPACE, CUSTOMER, LOCK, LOCK_ONLY, PEOPLE_COLUMNS };
    struct store_array columns[PEOPLE_COLUMNS];
    store_array_begin(&columns[WORKSPACE], STORE_OID_INT8);
    store_array_begin(&columns[CUSTOMER], STORE_OID_TEXT);
    store_array_begin(&columns[LOCK], STORE_OID_BOOL);
    store_array_begin(&columns[LOCK_ONLY], STORE_OID_BOOL);
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        bool identify = cmd->kind == COMMAND_IDENTIFY;
        if (cmd->person.type != IDENTIFIER_ID || (cmd->kind != COMMAND_TRACK && !identify))
            continue;
        bool plain_identify =
            identify && cmd->email == NULL && cmd->body_id == NULL && !cmd->update_only;
        store_array_add_int8(&columns[WORKSPACE], cmd->workspace_id);
        store_array_add_text(&columns[CUSTOMER], cmd->person.value);
        store_array_add_bool(&columns[LOCK], identify);
        store_array_add_bool(&columns[LOCK_ONLY], identify && !plain_identify);
    }
    bool ok = true;
    if (columns[WORKSPACE].count > 0) {
        ok = store_arrays_send(conn, "ingest_prepare_people", columns, PEOPLE_COLUMNS);
        *sent = ok;
    }
    for (size_t c = 0; c < PEOPLE_COLUMNS; c++)
        store_array_free(&columns[c]);
    return ok;
}

/* The outcome a statement returned (a number of trackd_outcome). */
static enum outcome outcome_of(const char *number)
{
    long n = strtol(number, NULL, 10);
    return n >= OUTCOME_STORED && n <= OUTCOME_NOT_FOUND ? (enum outcome)n : OUTCOME_STORED;
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
    enum outcome *outcomes;
    struct store_write_failure *failure;
    enum store_status status; /* STORE_NO_RESULTS while all is well */
    bool commit_sent;
    bool result_read; /* a result of this write came back (so the server ran something) */
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
        /* An error the server sent as the answer to the write's first statement (BEGIN) means
         * it ran nothing of it: it had stopped before (a connection it closed while idle reads
         * this way) or stopped in BEGIN. Only then is the outcome known without a COMMIT. */
        bool stopped_at_begin = res != NULL && !run->result_read;
        run->failure->maybe_committed = run->commit_sent && !stopped_at_begin;
    }
}

/* What one query of the group stands for: `count` commands from `first` (a run of events sent
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

/* Reads the results of the `sent` queries of the group and the closing sync. */
static void read_results(struct write_run *run, const struct query_slot *slots, size_t sent)
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
        if (st != PGRES_FATAL_ERROR)
            run->result_read = true;
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
                                       size_t count, enum outcome *outcomes,
                                       struct store_write_failure *failure)
{
    PGconn *conn = store->conn;
    *failure = (struct store_write_failure){.command_index = SIZE_MAX};
    struct write_run run = {store, outcomes, failure, STORE_NO_RESULTS, false, false};
    for (size_t i = 0; i < count; i++)
        outcomes[i] = OUTCOME_PENDING;
    /* Whether a `trackd tail` listens is asked about once a second, outside the group. */
    bool tail = PQstatus(conn) == CONNECTION_OK && store_tail_wants(commands, count) &&
                store_tail_attached(store);
    if (PQstatus(conn) != CONNECTION_OK || !PQenterPipelineMode(conn)) {
        fail_run(&run, NULL, SIZE_MAX, "starting a write");
        return run.status;
    }

    /* BEGIN, the people, one query per command at most, the tail's record, COMMIT */
    struct query_slot *slots = malloc((count + 4) * sizeof *slots);
    size_t sent = 0;
    bool ok = slots != NULL && PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    if (ok)
        slots[sent++] = CONTROL_SLOT;
    bool people_sent = false;
    ok = ok && send_people_to_prepare(conn, commands, count, &people_sent);
    if (people_sent)
        slots[sent++] = CONTROL_SLOT;
    size_t next = 0;
    while (ok && next < count) {
        if (commands[next]->kind == COMMAND_REJECT && commands[next]->counted_only) {
            outcomes[next++] = OUTCOME_IGNORED; /* counted by ingest/, not kept */
            continue;
        }
        size_t run_length = 1;
        if (commands[next]->kind == COMMAND_TRACK) {
            while (next + run_length < count && run_length < EVENTS_PER_CALL &&
                   commands[next + run_length]->kind == COMMAND_TRACK)
                run_length++;
            ok = send_events(conn, commands + next, run_length);
        } else {
            ok = send_command(conn, commands[next]);
        }
        slots[sent++] = (struct query_slot){next, run_length};
        next += run_length;
    }
    if (ok && tail) {
        ok = store_tail_send_record(conn, commands, count);
        slots[sent++] = CONTROL_SLOT;
    }
    if (ok) {
        ok = PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        slots[sent++] = CONTROL_SLOT;
        run.commit_sent = ok;
    }
    if (ok && PQpipelineSync(conn))
        read_results(&run, slots, sent);
    else
        fail_run(&run, NULL, SIZE_MAX, "sending a write");
    free(slots);
    if (!PQexitPipelineMode(conn)) {
        /* Results are still pending (a broken read): the connection cannot be trusted. */
        PQfinish(store->conn);
        store->conn = NULL;
        if (run.status == STORE_NO_RESULTS)
            fail_run(&run, NULL, SIZE_MAX, "leaving pipeline mode");
        for (size_t i = 0; i < count; i++)
            outcomes[i] = OUTCOME_PENDING;
        return run.status;
    }
    if (run.status != STORE_NO_RESULTS) {
        if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
            PQclear(PQexec(conn, "ROLLBACK"));
        for (size_t i = 0; i < count; i++)
            outcomes[i] = OUTCOME_PENDING;
        return run.status;
    }
    return (enum store_status)count;
}
