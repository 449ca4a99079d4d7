/*
 * The database interface: the only module that speaks SQL or links libpq. A `struct store` is
 * one connection with every statement prepared; it is used by one thread at a time.
 *
 * Functions return a status in the manner of GNU Taler's database plugin: a hard error (the
 * connection or the statement failed; retrying the same thing will not help until reconnect),
 * a soft error (serialization failure or deadlock: run the whole transaction again), or the
 * number of rows affected or found.
 */
#ifndef TRACKD_STORE_STORE_H
#define TRACKD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum store_status {
    STORE_HARD_ERROR = -2, /* connection lost or statement failed; see store_last_error() */
    STORE_SOFT_ERROR = -1, /* serialization failure, deadlock or a unique-key race (40001,
                            * 40P01, 23505): run the whole transaction again */
    STORE_NO_RESULTS = 0,  /* success, nothing found or changed */
    STORE_ONE_RESULT = 1,  /* success, one row; larger values count rows */
};

struct store;

/*
 * Connects to `url` and prepares every statement, so a statement that does not match the schema
 * fails here rather than on the first request (run `trackd migrate` first). Returns NULL with a
 * message in `error` on failure. Close with store_close().
 */
struct store *store_connect(const char *url, char *error, size_t error_size);

/* Bounds every statement of this store to `seconds` (0: no bound), now and after reconnects,
 * so that a blocked database turns into an error rather than a hang. */
bool store_set_statement_timeout(struct store *store, unsigned seconds);

/* Closes the connection and frees the store; accepts NULL. */
void store_close(struct store *store);

/* True while the connection is up as far as libpq knows. */
bool store_is_connected(const struct store *store);

/* Reads, without blocking, whatever the server sent while the connection sat idle (a server
 * that restarted has closed it), then says whether it is still up. Call it before a write: a
 * connection found dead then can be replaced, where one that dies during the write leaves the
 * outcome unknown. */
bool store_check_connection(struct store *store);

/* Reconnects and re-prepares after a lost connection; false (with store_last_error set) if the
 * database is still unreachable. */
bool store_reconnect(struct store *store);

/* The last error message of this store (never NULL; "" when none). */
const char *store_last_error(const struct store *store);

/* ---- migrations (store_migrate.c) ---- */

/*
 * Applies the embedded migrations not yet recorded in schema_migrations, in order, each in one
 * transaction, then (every time) the functions and views of sql/ in one more, dropping those no
 * file defines; concurrent runs serialize on an advisory lock. Prints one line per applied
 * migration to `out`. Returns the number of migrations applied, or -1 with a message in `error`.
 */
int store_migrate(const char *url, FILE *out, char *error, size_t error_size);

/* STORE_ONE_RESULT when every embedded migration is applied, STORE_NO_RESULTS when some are
 * pending, or an error status. */
enum store_status store_schema_is_current(struct store *store);

/* ---- workspaces (store_workspaces.c) ---- */

struct store_workspace {
    int64_t id;
    char name[128];
    char site_id[64];
    char created_at[40];
    int64_t environment_id; /* what the Track API reports as environment_id (random) */
};

/* Creates a workspace with fresh random keys; the plain keys are written to `api_key` and
 * `write_key` (41 chars each) and never stored. STORE_NO_RESULTS if the name is taken. */
enum store_status store_create_workspace(struct store *store, const char *name,
                                         struct store_workspace *out, char api_key[41],
                                         char write_key[41]);

/* Calls `each` for every workspace, oldest first. Returns the count or an error status. */
enum store_status store_list_workspaces(struct store *store,
                                        void (*each)(void *cls, const struct store_workspace *ws),
                                        void *cls);

/* Which of a workspace's keys: the Pipelines write key, or the Track API key (the password of
 * its site id). */
enum store_key_kind {
    STORE_KEY_WRITE,
    STORE_KEY_API,
};

/* One key of a workspace (only its hash is stored). */
struct store_key {
    int64_t id;
    struct store_workspace workspace;
    enum store_key_kind kind;
    uint8_t hash[32];
    char created_at[40];
    char last_used_at[40]; /* "" if never used */
    char expires_at[40];   /* "" for a current key */
    int64_t expires_at_us; /* the same as Unix microseconds; 0 for a current key */
};

/* Calls `each` for every key, by workspace and then oldest first: only keys that work now
 * (unexpired), or with `expired` also those that have stopped working. Returns the count or an
 * error status. */
enum store_status store_list_keys(struct store *store, bool expired,
                                  void (*each)(void *cls, const struct store_key *key), void *cls);

/* Gives workspace `name` a new write key and/or API key (41 chars each, written to
 * `write_key` / `api_key` when asked for), in one transaction. The keys of those kinds that
 * worked until now keep working for `grace_us` more (never longer than they would have); when
 * they stop is written to `old_keys_expire_at` ("" if there were none). STORE_NO_RESULTS if
 * there is no such workspace. */
enum store_status store_rotate_keys(struct store *store, const char *name, bool write, bool api,
                                    int64_t grace_us, char write_key[41], char api_key[41],
                                    char old_keys_expire_at[40]);

/* Records that the keys `ids` were used in the last minute or so (last_used_at, kept to the
 * minute). */
enum store_status store_touch_keys(struct store *store, const int64_t *ids, size_t count);

/* ---- trackd tail (store_tail.c) ---- */

/* One call as a tail shows it; NULL for what the call did not have. Valid during the callback. */
struct store_tail_call {
    int64_t id;
    const char *recorded_at; /* ISO 8601, when its transaction began */
    const char *received_at; /* ISO 8601, when trackd received it */
    const char *workspace;   /* the workspace's name */
    const char *type;        /* track, page, screen, identify, ..., rejected */
    const char *endpoint;
    const char *person_type; /* id, email or cio_id */
    const char *person;
    const char *anonymous_id;
    const char *name;
    const char *detail; /* JSON text of the properties or traits */
    const char *reason; /* rejected: the reason word */
    const char *message;
};

struct store_tail;

/* Connects a tail (its session named "trackd tail", which makes the writers record calls for
 * it) and starts it at the newest call; only calls of `workspace` (a name) are shown, or of all
 * when NULL. NULL with the reason in `error`. */
struct store_tail *store_tail_open(const char *url, const char *workspace, char *error,
                                   size_t error_size);

/* Waits up to `timeout_ms` for calls committed since the last read, then calls `each` for each
 * one, oldest first. Returns how many rows were read (STORE_NO_RESULTS: none), or
 * STORE_HARD_ERROR when the connection was lost: store_tail_reconnect, and the calls committed
 * meanwhile come with the next read. */
enum store_status store_tail_read(struct store_tail *tail, int timeout_ms,
                                  void (*each)(void *cls, const struct store_tail_call *call),
                                  void *cls);

bool store_tail_reconnect(struct store_tail *tail);

/* How many ids the tail skipped over without waiting for them (a jump of more than 10,000 ids:
 * calls of other transactions may have been among them). */
uint64_t store_tail_not_waited_for(const struct store_tail *tail);
const char *store_tail_last_error(const struct store_tail *tail);
void store_tail_close(struct store_tail *tail);

/* ---- retention (store_retention.c) ---- */

/* Deletes one batch of at most `limit` expired rows: anonymous events never linked within 30
 * days, deduplication keys older than 30 days. *deleted is the larger of the two counts; call
 * again while it equals `limit`. */
enum store_status store_purge_expired(struct store *store, unsigned limit, long *deleted);

/* Deletes one batch of at most `limit` rejected_requests rows received more than `days` days
 * ago; *deleted is how many (call again while it equals `limit`). */
enum store_status store_purge_rejections(struct store *store, unsigned days, unsigned limit,
                                         long *deleted);

/* Records in rejected_requests that `dropped` refused calls of `workspace_id` (0: sent without a
 * valid key) in the minute starting at `minute_us` were counted but not kept one by one. */
enum store_status store_record_rejection_summary(struct store *store, int64_t workspace_id,
                                                 int64_t minute_us, uint64_t dropped);

/* Creates the monthly events partitions through `months_ahead` months from now and, when
 * `retention_days` is not 0, drops those received entirely more than that many days ago;
 * reports how many of each. */
enum store_status store_maintain_event_partitions(struct store *store, unsigned months_ahead,
                                                  unsigned retention_days, int *created,
                                                  int *dropped);

#endif
