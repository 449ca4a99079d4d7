/*
 * The write path between the HTTP threads and PostgreSQL: a bounded queue of requests and
 * writer threads that each commit many requests in one transaction (group commit), then complete
 * each. A request is answered 2xx only after its transaction committed. Requests in flight at
 * the same time may commit in either order; one request's calls commit together, in order.
 *
 * Memory is bounded: a request is admitted only while the queue holds fewer than
 * `max_requests` requests and `max_bytes` body bytes; otherwise the caller answers 503.
 */
#ifndef TRACKD_INGEST_QUEUE_H
#define TRACKD_INGEST_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/command.h"
#include "common/errors.h"
#include "store/store_ingest.h"

struct ingest_request {
    struct command *commands; /* borrowed from the submitter until on_done */
    size_t command_count;
    enum outcome *outcomes; /* command_count slots, owned by the submitter */
    size_t bytes;           /* what the request counts against max_bytes */
    /* Set by the writer before on_done: TRACKD_ERR_OK (all outcomes set, committed) or
     * TRACKD_ERR_DATABASE_UNAVAILABLE (not known to be committed: answer 503). Commands refused
     * by PostgreSQL have OUTCOME_REFUSED and their message in refusal. */
    enum trackd_error result;
    char refusal[256];
    /* Called once on the writer thread when the request is done; must not block. */
    void (*on_done)(struct ingest_request *request, void *cls);
    void *cls;
    /* Owned by the queue. */
    int64_t admitted_us;
    struct ingest_request *next;
};

struct ingest_options {
    const char *database_url;
    unsigned max_requests;
    size_t max_bytes;
    unsigned batch_max_commands; /* commands per transaction, at most */
    unsigned writers;            /* writer threads, each with its own connection (0 = 1) */
    /* Seconds from a request's admission to its answer, at most about: one still queued then is
     * answered 503 (and never written), the statements writing a group get no more time than
     * its oldest request has left, and an unreachable database is waited for that long. */
    unsigned write_timeout_s;
    /* Which refused calls are kept one by one (the rest only counted); borrowed, outlives the
     * queue. NULL keeps every one. */
    struct rejection_limit *rejections;
};

struct ingest_queue;
struct rejection_limit;

/* Connects the writer to the database and starts it; NULL with a message in `error` if the
 * database cannot be reached or its schema is not migrated. Stop with ingest_stop(). */
struct ingest_queue *ingest_start(const struct ingest_options *options, char *error,
                                  size_t error_size);

/* Reserves room for a request of `bytes`; false when the queue is full (answer 503). A
 * successful reservation must be followed by ingest_enqueue() of a request with those bytes. */
bool ingest_reserve(struct ingest_queue *queue, size_t bytes);

/* Gives back room reserved for a request that will not be enqueued after all. */
void ingest_release(struct ingest_queue *queue, size_t bytes);

/* Hands a request with reserved room to the writer; on_done will be called exactly once. */
void ingest_enqueue(struct ingest_queue *queue, struct ingest_request *request);

/* Requests admitted and not yet done. */
size_t ingest_depth(struct ingest_queue *queue);

/* True while the writer's connection is up. */
bool ingest_database_up(struct ingest_queue *queue);

/* Finishes every admitted request, stops the writer and frees the queue; accepts NULL. */
void ingest_stop(struct ingest_queue *queue);

#endif
