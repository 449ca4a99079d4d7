/*
 * `trackd tail`: the writers' side (record each transaction's calls while a tail is connected)
 * and the tail's side (wait for the notification, read the rows).
 *
 * A tail's session is named "trackd tail" (application_name); each writer asks about once a
 * second whether one is connected (trackd_tail_attached, which every tenth time also forgets
 * rows older than a minute), and only then adds trackd_tail_record to its transactions. So
 * nothing is written, and one tiny query a second is all it costs, while nobody watches.
 *
 * Row ids come from one sequence but two writers commit in either order: a tail that has read
 * up to id 40 may later see id 30 commit. Ids skipped over are kept as holes for a few seconds
 * and asked for again; an id that never appears (a rolled-back transaction) is forgotten then.
 */
#include <inttypes.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/utf8.h"
#include "store/store_internal.h"

/* How often a writer asks whether a tail is connected. */
#define ATTACHED_CHECK_US (1 * TIMEUTIL_US_PER_SEC)

/* Longest name recorded (page and screen names may be 2048 bytes). */
#define TAIL_NAME_MAX 2048

/* Every how many questions a writer also forgets old rows. */
#define FORGET_EVERY 10

/* Properties or traits larger than this are not copied for the tail. */
#define DETAIL_MAX 4096

/* How long an id skipped over is waited for. */
#define HOLE_WAIT_US (5 * TIMEUTIL_US_PER_SEC)

/* Most holes kept (the oldest go first), and most rows read per query. */
#define HOLES_MAX 100000
#define HOLE_GAP_MAX 10000
#define READ_LIMIT "5000"

const struct store_statement store_tail_statements[] = {
    {"tail_attached", "SELECT trackd_tail_attached($1::boolean)"},
    {"tail_record",
     "SELECT trackd_tail_record($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
     " $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::text[], $11::timestamptz[])"},
};
const size_t store_tail_statement_count =
    sizeof store_tail_statements / sizeof store_tail_statements[0];

/* ---- the writers' side ---- */

bool store_tail_attached(struct store *store)
{
    int64_t now = timeutil_monotonic_us();
    if (store->tail_checked_us != 0 && now - store->tail_checked_us < ATTACHED_CHECK_US)
        return store->tail_attached;
    store->tail_checked_us = now;
    /* Old rows are forgotten every few questions: often enough to keep a minute or so. */
    const char *params[1] = {store->tail_checks++ % FORGET_EVERY == 0 ? "true" : "false"};
    PGresult *res = PQexecPrepared(store->conn, "tail_attached", 1, params, NULL, NULL, 0);
    /* When the question fails, the write that follows will say why. */
    store->tail_attached = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                           strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return store->tail_attached;
}

/* The `type` a tail shows for a command. */
static const char *call_type(const struct command *cmd)
{
    switch (cmd->kind) {
    case COMMAND_TRACK:
        return cmd->event_type == EVENT_TYPE_PAGE     ? "page"
               : cmd->event_type == EVENT_TYPE_SCREEN ? "screen"
                                                      : "track";
    case COMMAND_IDENTIFY:
        return "identify";
    case COMMAND_GROUP:
        return "group";
    case COMMAND_ALIAS:
        return "alias";
    case COMMAND_DELETE_PERSON:
        return "delete_person";
    case COMMAND_SUPPRESS:
        return "suppress";
    case COMMAND_UNSUPPRESS:
        return "unsuppress";
    case COMMAND_ADD_DEVICE:
        return "add_device";
    case COMMAND_DELETE_DEVICE:
        return "delete_device";
    case COMMAND_MERGE:
        return "merge";
    case COMMAND_METRIC:
        return "metric";
    case COMMAND_UNSUBSCRIBE:
        return "unsubscribe";
    case COMMAND_SEGMENT:
        return cmd->segment_add ? "segment_add" : "segment_remove";
    case COMMAND_DELETE_RELATIONSHIP:
        return "delete_relationship";
    case COMMAND_DELETE_OBJECT:
        return "delete_object";
    case COMMAND_OBJECT_IDENTIFY:
        return "object_identify";
    case COMMAND_RELATIONSHIPS:
        return cmd->relationships_add ? "add_relationships" : "delete_relationships";
    case COMMAND_REJECT:
        return "rejected";
    }
    return "unknown";
}

/* What a tail shows as a command's name, in `out` (at most TAIL_NAME_MAX bytes, cut at a
 * character's boundary). A device token is a credential of sorts: only its first characters are
 * shown. */
static void call_name(const struct command *cmd, char *out, size_t size)
{
    const char *name = NULL;
    switch (cmd->kind) {
    case COMMAND_TRACK:
        name = cmd->name;
        break;
    case COMMAND_GROUP:
    case COMMAND_DELETE_RELATIONSHIP:
    case COMMAND_DELETE_OBJECT:
    case COMMAND_OBJECT_IDENTIFY:
    case COMMAND_RELATIONSHIPS:
        /* The object, by id or cio_object_id; a person's relationships name no one object. */
        name = cmd->group_id ? cmd->group_id : cmd->cio_object_id;
        break;
    case COMMAND_ALIAS:
        name = cmd->previous_id;
        break;
    case COMMAND_METRIC:
        name = cmd->metric;
        break;
    case COMMAND_UNSUBSCRIBE:
        name = cmd->unsubscribe > 0    ? "unsubscribed"
               : cmd->unsubscribe == 0 ? "resubscribed"
                                       : "link checked";
        break;
    case COMMAND_SEGMENT:
        snprintf(out, size, "segment %" PRId64, cmd->segment_id);
        return;
    case COMMAND_MERGE:
        name = cmd->secondary.value;
        break;
    case COMMAND_ADD_DEVICE:
    case COMMAND_DELETE_DEVICE:
        if (cmd->device_token != NULL) {
            snprintf(out, size, "%.8s...", cmd->device_token);
            utf8_sanitize(out, strlen(out)); /* the cut may split a character */
            return;
        }
        break;
    default:
        break;
    }
    snprintf(out, size, "%s", name ? name : "");
    utf8_sanitize(out, strlen(out));
}

/* Text as the tail's arrays take it: what is not valid UTF-8 (a cut message, say) would make
 * PostgreSQL refuse the whole write transaction, so it is left out instead. */
static const char *tail_text(const char *text)
{
    return text != NULL && utf8_valid(text, strlen(text)) ? text : NULL;
}

enum tail_column {
    TAIL_WORKSPACE,
    TAIL_TYPE,
    TAIL_ENDPOINT,
    TAIL_PERSON_TYPE,
    TAIL_PERSON,
    TAIL_ANONYMOUS_ID,
    TAIL_NAME,
    TAIL_DETAIL,
    TAIL_REASON,
    TAIL_MESSAGE,
    TAIL_RECEIVED,
    TAIL_COLUMNS
};

static const uint32_t tail_column_oids[TAIL_COLUMNS] = {
    STORE_OID_INT8, STORE_OID_TEXT, STORE_OID_TEXT,        STORE_OID_TEXT,
    STORE_OID_TEXT, STORE_OID_TEXT, STORE_OID_TEXT,        STORE_OID_JSONB,
    STORE_OID_TEXT, STORE_OID_TEXT, STORE_OID_TIMESTAMPTZ,
};

bool store_tail_wants(struct command *const *commands, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!(commands[i]->kind == COMMAND_REJECT && commands[i]->counted_only))
            return true;
    return false;
}

bool store_tail_send_record(PGconn *conn, struct command *const *commands, size_t count)
{
    struct store_array columns[TAIL_COLUMNS];
    for (size_t c = 0; c < TAIL_COLUMNS; c++)
        store_array_begin(&columns[c], tail_column_oids[c]);
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        if (cmd->kind == COMMAND_REJECT && cmd->counted_only)
            continue; /* over the per-minute limit: not kept, not shown */
        char name[TAIL_NAME_MAX + 1];
        call_name(cmd, name, sizeof name);
        bool detail = cmd->properties != NULL && strlen(cmd->properties) <= DETAIL_MAX;
        store_array_add_int8(&columns[TAIL_WORKSPACE], cmd->workspace_id);
        store_array_add_text(&columns[TAIL_TYPE], call_type(cmd));
        store_array_add_text(&columns[TAIL_ENDPOINT], cmd->endpoint ? cmd->endpoint : "");
        store_array_add_text(&columns[TAIL_PERSON_TYPE],
                             command_identifier_type_name(cmd->person.type));
        store_array_add_text(&columns[TAIL_PERSON], tail_text(cmd->person.value));
        store_array_add_text(&columns[TAIL_ANONYMOUS_ID], tail_text(cmd->anonymous_id));
        store_array_add_text(&columns[TAIL_NAME], name[0] ? name : NULL);
        store_array_add_jsonb(&columns[TAIL_DETAIL], detail ? cmd->properties : NULL);
        store_array_add_text(&columns[TAIL_REASON],
                             cmd->kind == COMMAND_REJECT ? cmd->reason : NULL);
        store_array_add_text(&columns[TAIL_MESSAGE],
                             cmd->kind == COMMAND_REJECT ? tail_text(cmd->message) : NULL);
        store_array_add_timestamptz(&columns[TAIL_RECEIVED], cmd->received_us);
    }
    bool ok = store_arrays_send(conn, "tail_record", columns, TAIL_COLUMNS);
    for (size_t c = 0; c < TAIL_COLUMNS; c++)
        store_array_free(&columns[c]);
    return ok;
}

/* ---- the tail's side ---- */

struct tail_hole {
    int64_t id;
    int64_t found_us; /* monotonic */
};

struct store_tail {
    PGconn *conn;
    char *url;
    int64_t workspace_id; /* 0: every workspace */
    int64_t cursor;       /* the highest id read */
    bool started;         /* cursor set (to the newest row when the tail began) */
    struct tail_hole *holes;
    size_t hole_count;
    uint64_t not_waited_for; /* ids skipped over without waiting (see read_rows) */
    bool catch_up;           /* read at the next wait whatever comes: just (re)connected */
    char last_error[512];
};

static void tail_error(struct store_tail *tail, const char *what, const PGresult *res)
{
    const char *message = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(tail->conn);
    snprintf(tail->last_error, sizeof tail->last_error, "%s: %s", what,
             message && *message ? message : "connection lost");
    size_t len = strlen(tail->last_error);
    while (len > 0 && tail->last_error[len - 1] == '\n')
        tail->last_error[--len] = '\0';
}

/* Runs `sql` with text parameters; the result, or NULL with the error kept. */
static PGresult *tail_query(struct store_tail *tail, const char *sql, int n,
                            const char *const *params, ExecStatusType expected)
{
    PGresult *res = PQexecParams(tail->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == expected)
        return res;
    tail_error(tail, "tail", res);
    PQclear(res);
    return NULL;
}

bool store_tail_reconnect(struct store_tail *tail)
{
    PQfinish(tail->conn);
    /* After dbname: an application_name in the URL must not hide the tail from the writers. */
    const char *keywords[] = {"connect_timeout", "dbname", "application_name", NULL};
    const char *values[] = {"5", tail->url, "trackd tail", NULL};
    tail->conn = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(tail->conn) != CONNECTION_OK) {
        tail_error(tail, "connecting to the database", NULL);
        return false;
    }
    PGresult *res = tail_query(tail, "LISTEN trackd_tail", 0, NULL, PGRES_COMMAND_OK);
    if (res == NULL)
        return false;
    PQclear(res);
    tail->catch_up = true; /* what was committed while it was away */
    if (!tail->started) {
        /* The newest row, or where the ids will go on from when the table is empty. */
        res = tail_query(tail,
                         "SELECT greatest((SELECT max(id) FROM tail_calls),"
                         " (SELECT last_value FROM pg_sequences WHERE sequencename ="
                         " 'tail_calls_id_seq' AND schemaname = current_schema()), 0)",
                         0, NULL, PGRES_TUPLES_OK);
        if (res == NULL)
            return false;
        tail->cursor = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        tail->started = true;
        PQclear(res);
    }
    return true;
}

struct store_tail *store_tail_open(const char *url, const char *workspace, char *error,
                                   size_t error_size)
{
    struct store_tail *tail = calloc(1, sizeof *tail);
    if (tail == NULL || (tail->url = strdup(url)) == NULL) {
        snprintf(error, error_size, "out of memory");
        free(tail);
        return NULL;
    }
    bool ok = store_tail_reconnect(tail);
    if (ok && workspace != NULL) {
        const char *params[1] = {workspace};
        PGresult *res = tail_query(tail, "SELECT id FROM workspaces WHERE name = $1", 1, params,
                                   PGRES_TUPLES_OK);
        ok = res != NULL && PQntuples(res) == 1;
        if (res != NULL && !ok)
            snprintf(tail->last_error, sizeof tail->last_error, "no workspace '%s'", workspace);
        if (ok)
            tail->workspace_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    if (!ok) {
        snprintf(error, error_size, "%s", tail->last_error);
        store_tail_close(tail);
        return NULL;
    }
    return tail;
}

void store_tail_close(struct store_tail *tail)
{
    if (tail == NULL)
        return;
    PQfinish(tail->conn);
    free(tail->holes);
    free(tail->url);
    free(tail);
}

uint64_t store_tail_not_waited_for(const struct store_tail *tail)
{
    return tail->not_waited_for;
}

const char *store_tail_last_error(const struct store_tail *tail)
{
    return tail->last_error;
}

/* True when a notification's payload ("1,3" or "*") concerns the tail's workspace. */
static bool concerns(const struct store_tail *tail, const char *payload)
{
    if (tail->workspace_id == 0 || strcmp(payload, "*") == 0)
        return true;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)tail->workspace_id);
    size_t len = strlen(id);
    for (const char *p = payload; (p = strstr(p, id)) != NULL; p += len)
        if ((p == payload || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* Waits up to timeout_ms for notifications; *relevant is set if one concerns the tail. False
 * when the connection is lost. */
static bool await_notifications(struct store_tail *tail, int timeout_ms, bool *relevant)
{
    struct pollfd pfd = {.fd = PQsocket(tail->conn), .events = POLLIN};
    if (pfd.fd < 0) {
        tail_error(tail, "waiting for calls", NULL);
        return false;
    }
    /* Notifications read along with the last query's results are waiting already. */
    PGnotify *early = PQnotifies(tail->conn);
    if (early != NULL) {
        *relevant = concerns(tail, early->extra);
        PQfreemem(early);
        timeout_ms = 0;
    }
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
        snprintf(tail->last_error, sizeof tail->last_error, "waiting for calls: poll failed");
        return false;
    }
    if (!PQconsumeInput(tail->conn) || PQstatus(tail->conn) != CONNECTION_OK) {
        tail_error(tail, "waiting for calls", NULL);
        return false;
    }
    PGnotify *note;
    while ((note = PQnotifies(tail->conn)) != NULL) {
        *relevant = *relevant || concerns(tail, note->extra);
        PQfreemem(note);
    }
    return true;
}

static void add_hole(struct store_tail *tail, int64_t id, int64_t now)
{
    if (tail->hole_count == HOLES_MAX) {
        memmove(tail->holes, tail->holes + 1, (HOLES_MAX - 1) * sizeof *tail->holes);
        tail->hole_count--;
    }
    if (tail->holes == NULL && (tail->holes = malloc(HOLES_MAX * sizeof *tail->holes)) == NULL)
        return; /* out of memory: that id is not waited for */
    tail->holes[tail->hole_count++] = (struct tail_hole){id, now};
}

/* Drops the hole `id` if it is one (it arrived); keeps the others in order. */
static void fill_hole(struct store_tail *tail, int64_t id)
{
    for (size_t i = 0; i < tail->hole_count; i++) {
        if (tail->holes[i].id == id) {
            memmove(tail->holes + i, tail->holes + i + 1,
                    (tail->hole_count - i - 1) * sizeof *tail->holes);
            tail->hole_count--;
            return;
        }
    }
}

static void expire_holes(struct store_tail *tail, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < tail->hole_count; i++)
        if (now - tail->holes[i].found_us < HOLE_WAIT_US)
            tail->holes[kept++] = tail->holes[i];
    tail->hole_count = kept;
}

/* The holes as an array literal, "{4,7}"; NULL when out of memory. */
static char *holes_literal(const struct store_tail *tail)
{
    char *text = malloc(2 + tail->hole_count * 21 + 1);
    if (text == NULL)
        return NULL;
    size_t len = 0;
    text[len++] = '{';
    for (size_t i = 0; i < tail->hole_count; i++)
        len += (size_t)sprintf(text + len, "%s%lld", i ? "," : "", (long long)tail->holes[i].id);
    text[len++] = '}';
    text[len] = '\0';
    return text;
}

static const char *nullable(const PGresult *res, int row, int column)
{
    return PQgetisnull(res, row, column) ? NULL : PQgetvalue(res, row, column);
}

/* Reads the rows after the cursor and the holes, at most READ_LIMIT; the count read, or -1. */
static int read_rows(struct store_tail *tail, void (*each)(void *, const struct store_tail_call *),
                     void *cls)
{
    char cursor[24], workspace[24];
    snprintf(cursor, sizeof cursor, "%lld", (long long)tail->cursor);
    snprintf(workspace, sizeof workspace, "%lld", (long long)tail->workspace_id);
    char *holes = holes_literal(tail);
    if (holes == NULL) {
        snprintf(tail->last_error, sizeof tail->last_error, "out of memory");
        return -1;
    }
    const char *params[3] = {cursor, holes, workspace};
    PGresult *res = tail_query(
        tail,
        "SELECT t.id, to_char(t.recorded_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'),"
        " to_char(t.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), coalesce(w.name, ''),"
        " t.type, t.endpoint, t.person_type, t.person, t.anonymous_id, t.name, t.detail::text,"
        " t.reason, t.message, $3::bigint IN (0, t.workspace_id)"
        " FROM tail_calls t LEFT JOIN workspaces w ON w.id = t.workspace_id"
        " WHERE t.id > $1::bigint OR t.id = ANY($2::bigint[])"
        " ORDER BY t.id LIMIT " READ_LIMIT,
        3, params, PGRES_TUPLES_OK);
    free(holes);
    if (res == NULL)
        return -1;
    int rows = PQntuples(res);
    int64_t now = timeutil_monotonic_us();
    for (int i = 0; i < rows; i++) {
        int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (id > tail->cursor) {
            /* A jump larger than any two transactions overlap by is not waited for: what may
             * have been in it is counted for the tail to say. */
            if (id - tail->cursor <= HOLE_GAP_MAX)
                for (int64_t missing = tail->cursor + 1; missing < id; missing++)
                    add_hole(tail, missing, now);
            else
                tail->not_waited_for += (uint64_t)(id - tail->cursor - 1);
            tail->cursor = id;
        } else {
            fill_hole(tail, id);
        }
        if (strcmp(PQgetvalue(res, i, 13), "t") != 0)
            continue; /* another workspace's */
        struct store_tail_call call = {
            .id = id,
            .recorded_at = PQgetvalue(res, i, 1),
            .received_at = PQgetvalue(res, i, 2),
            .workspace = PQgetvalue(res, i, 3),
            .type = PQgetvalue(res, i, 4),
            .endpoint = PQgetvalue(res, i, 5),
            .person_type = nullable(res, i, 6),
            .person = nullable(res, i, 7),
            .anonymous_id = nullable(res, i, 8),
            .name = nullable(res, i, 9),
            .detail = nullable(res, i, 10),
            .reason = nullable(res, i, 11),
            .message = nullable(res, i, 12),
        };
        each(cls, &call);
    }
    PQclear(res);
    return rows;
}

enum store_status store_tail_read(struct store_tail *tail, int timeout_ms,
                                  void (*each)(void *cls, const struct store_tail_call *call),
                                  void *cls)
{
    bool relevant = tail->catch_up;
    tail->catch_up = false;
    if (!await_notifications(tail, relevant ? 0 : timeout_ms, &relevant))
        return STORE_HARD_ERROR;
    expire_holes(tail, timeutil_monotonic_us());
    if (!relevant && tail->hole_count == 0)
        return STORE_NO_RESULTS;
    int total = 0, rows;
    do {
        rows = read_rows(tail, each, cls);
        if (rows < 0)
            return STORE_HARD_ERROR;
        total += rows;
    } while (rows == atoi(READ_LIMIT));
    return (enum store_status)total;
}
