/* Shared between the files of store/ only: the connection and the statement registry. */
#ifndef TRACKD_STORE_INTERNAL_H
#define TRACKD_STORE_INTERNAL_H

#include <libpq-fe.h>

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

/* The JSON array of events that trackd_ingest_events takes, for `count` track commands; NULL
 * when out of memory. Free it with free(). */
char *store_events_json(struct command *const *commands, size_t count);

/* Records `what` plus libpq's message as the store's last error. */
void store_set_error(struct store *store, const char *what, const PGresult *result);

/* Maps a failed result to HARD or SOFT (serialization failure, deadlock). */
enum store_status store_failure_status(const PGresult *result);

#endif
