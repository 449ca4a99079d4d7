/*
 * The rule evaluator: a thread that takes events from pending_evaluations, evaluates the rules
 * they are candidates for, and records the firings and their deliveries in the same transaction
 * that removes the events from the queue. A crash anywhere rolls the whole evaluation back, so
 * a firing is never lost nor doubled; several evaluators (processes) share the queue with
 * FOR UPDATE SKIP LOCKED. Ingest only queues events: it never waits for evaluation.
 */
#ifndef TRACKD_ENGINE_EVALUATOR_H
#define TRACKD_ENGINE_EVALUATOR_H

#include <stdint.h>

struct evaluator_stats {
    uint64_t evaluated; /* events evaluated */
    uint64_t fired;     /* firings recorded */
};

struct evaluator;

/* Starts the evaluator on its own connection; NULL (logged) when it cannot start. */
struct evaluator *evaluator_start(const char *database_url, const char *default_timezone);

/* Counts so far. */
struct evaluator_stats evaluator_stats(struct evaluator *evaluator);

/* Stops it after the evaluation in progress; accepts NULL. */
void evaluator_stop(struct evaluator *evaluator);

#endif
