/* Shared between the files of store/ only: the connection and the statement registry. */
#ifndef TRACKD_STORE_INTERNAL_H
#define TRACKD_STORE_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/textbuf.h"
#include "core/command.h"
#include "store/store.h"

/* A statement prepared at connect; each store_*.c file lists its own beside the code. */
struct store_statement {
    const char *name;
    const char *sql;
};

struct store {
    PGconn *conn;
    char *url;
    unsigned statement_timeout_s; /* 0: none; applied again after a reconnect */
    char last_error[512];
    bool tail_attached;      /* a `trackd tail` was connected when last asked */
    int64_t tail_checked_us; /* monotonic; when it was last asked, 0 never */
    unsigned tail_checks;    /* how many times it was asked */
};

extern const struct store_statement store_ingest_statements[];
extern const size_t store_ingest_statement_count;
extern const struct store_statement store_workspace_statements[];
extern const size_t store_workspace_statement_count;
extern const struct store_statement store_rules_statements[];
extern const size_t store_rules_statement_count;
extern const struct store_statement store_evaluations_statements[];
extern const size_t store_evaluations_statement_count;
extern const struct store_statement store_deliveries_statements[];
extern const size_t store_deliveries_statement_count;
extern const struct store_statement store_retention_statements[];
extern const size_t store_retention_statement_count;
extern const struct store_statement store_journeys_statements[];
extern const size_t store_journeys_statement_count;
extern const struct store_statement store_tail_statements[];
extern const size_t store_tail_statement_count;
extern const struct store_statement store_migrate_statements[];
extern const size_t store_migrate_statement_count;

/* PostgreSQL's OIDs of the element types that cross in arrays (fixed since the catalogs began). */
#define STORE_OID_BOOL 16
#define STORE_OID_INT8 20
#define STORE_OID_TEXT 25
#define STORE_OID_TIMESTAMPTZ 1184
#define STORE_OID_JSONB 3802

/* A one-dimensional array parameter in binary format (store_arrays.c): begin, add each element,
 * finish (false when out of memory), send buf.data/buf.len with format 1, free. */
struct store_array {
    struct textbuf buf;
    uint32_t element_oid;
    size_t count;
    bool has_null;
};

void store_array_begin(struct store_array *a, uint32_t element_oid);
void store_array_add_null(struct store_array *a);
void store_array_add_text(struct store_array *a, const char *text);  /* NULL: SQL NULL */
void store_array_add_jsonb(struct store_array *a, const char *json); /* checked JSON text */
void store_array_add_int8(struct store_array *a, int64_t v);
void store_array_add_bool(struct store_array *a, bool v);
void store_array_add_timestamptz(struct store_array *a, int64_t unix_us);
bool store_array_finish(struct store_array *a);
void store_array_free(struct store_array *a);

/* Most arrays one statement takes. */
#define STORE_ARRAYS_MAX 16

/* Finishes `n` arrays and sends them as the binary parameters of prepared statement `name`
 * (PQsendQueryPrepared: the caller reads the result); false if one could not be finished or
 * sent. The arrays are not freed. */
bool store_arrays_send(PGconn *conn, const char *name, struct store_array *arrays, size_t n);

/* `trackd tail`'s side of the writers (store_tail.c). True when a tail is connected to the
 * database; asks the database about once a second, and answers from memory meanwhile. */
bool store_tail_attached(struct store *store);

/* Whether any of `commands` is recorded for the tails (not those only counted). */
bool store_tail_wants(struct command *const *commands, size_t count);

/* Sends, inside a write transaction, the statement recording `commands` for the tails (and
 * notifying them on commit): one result to read. */
bool store_tail_send_record(PGconn *conn, struct command *const *commands, size_t count);

/* A PostgreSQL array literal of integers ("{1,2,3}"), built from numbers only, never from input
 * text; the caller frees it. NULL when out of memory. */
char *store_int8_array_literal(const int64_t *values, size_t count);

/* Records `what` plus libpq's message as the store's last error. */
void store_set_error(struct store *store, const char *what, const PGresult *result);

/* Runs `sql`, a fixed command such as "BEGIN" (no parameters, no rows); false with the error
 * recorded. */
bool store_exec_command(struct store *store, const char *sql);

/* Maps a failed result to HARD or SOFT (serialization failure, deadlock). */
enum store_status store_failure_status(const PGresult *result);

#endif
