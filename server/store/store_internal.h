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

/* Records `what` plus libpq's message as the store's last error. */
void store_set_error(struct store *store, const char *what, const PGresult *result);

/* Maps a failed result to HARD or SOFT (serialization failure, deadlock). */
enum store_status store_failure_status(const PGresult *result);

#endif
