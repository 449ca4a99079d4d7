/* Group-committed writes of commands (store_ingest.c). */
#ifndef TRACKD_STORE_INGEST_H
#define TRACKD_STORE_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/command.h"
#include "core/outcome.h"
#include "store/store.h"

/* Why a write failed, when store_write_commands returns STORE_HARD_ERROR. */
struct store_write_failure {
    size_t command_index; /* the command whose statement failed, or SIZE_MAX if none did */
    bool data_error;      /* PostgreSQL refused that command's values (SQLSTATE 22, 23, 54) */
    bool maybe_committed; /* the connection dropped after COMMIT was sent: outcome unknown */
    bool timed_out;       /* a statement ran past statement_timeout (or was cancelled) */
};

/*
 * Writes `count` commands in one transaction, pipelined (no round trip per command), and sets
 * outcomes[i] for each. Returns the count on commit; STORE_SOFT_ERROR when the transaction hit a
 * serialization failure or deadlock (nothing committed: run it again); STORE_HARD_ERROR with
 * `failure` filled otherwise (nothing committed unless failure->maybe_committed).
 * May be called again with the same commands after any error.
 */
enum store_status store_write_commands(struct store *store, struct command *const *commands,
                                       size_t count, enum outcome *outcomes,
                                       struct store_write_failure *failure);

#endif
