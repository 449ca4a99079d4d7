/*
 * A store test's fixture: a fresh database clone with one workspace "test", a store connected
 * to it, and helpers that write Pipelines or Track calls through the real adapters and store.
 * For Criterion test executables only (it asserts).
 */
#ifndef TRACKD_TESTS_TESTSTORE_H
#define TRACKD_TESTS_TESTSTORE_H

#include <stdint.h>

#include "api/pipelines.h"
#include "api/track_v1.h"
#include "store/store.h"
#include "store/store_ingest.h"

struct teststore {
    char *url;           /* conninfo of the clone */
    struct store *store; /* connected to it */
    int64_t workspace_id;
};

/* Creates the clone, the workspace and the connection. */
void teststore_open(struct teststore *t);

/* Closes the connection and drops the clone. */
void teststore_close(struct teststore *t);

/* Parses `body` for a Pipelines endpoint and writes it with `store` (t->store when NULL);
 * asserts the write committed and returns the outcome of the first command. */
enum outcome teststore_pipelines(struct teststore *t, struct store *store,
                                 enum pipelines_endpoint endpoint, const char *body);

/* Like teststore_pipelines but without asserting, for threads: returns the write's status
 * (retried on soft errors) and the first outcome in *first. `body` must be valid. */
enum store_status teststore_try_pipelines(struct teststore *t, struct store *store,
                                          enum pipelines_endpoint endpoint, const char *body,
                                          enum outcome *first);

/* Like teststore_try_pipelines for a Track v1 endpoint with one path parameter (or NULL). */
enum store_status teststore_try_track_v1(struct teststore *t, struct store *store,
                                         enum track_v1_endpoint endpoint, const char *param,
                                         const char *body, enum outcome *first);

/* The same for a Track v1 endpoint with one path parameter (or NULL). */
enum outcome teststore_track_v1(struct teststore *t, enum track_v1_endpoint endpoint,
                                const char *param, const char *body);

/* The first column of the first row of `sql` as a number (-1 for none). */
long teststore_count(struct teststore *t, const char *sql);

/* Asserts the first column of the first row of `sql` is `expected` (NULL: SQL NULL). */
void teststore_expect(struct teststore *t, const char *sql, const char *expected);

#endif
