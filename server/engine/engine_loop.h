/*
 * What the engine's background threads (the evaluator, the journey runner) share: a stop flag
 * that a sleeping thread wakes up for, and a database connection kept open across outages.
 */
#ifndef TRACKD_ENGINE_ENGINE_LOOP_H
#define TRACKD_ENGINE_ENGINE_LOOP_H

#include <pthread.h>
#include <stdbool.h>

#include "store/store_engine.h"

/* A thread's stop flag; between init and destroy, its members are the functions' own. */
struct engine_loop {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

void engine_loop_init(struct engine_loop *loop);
void engine_loop_destroy(struct engine_loop *loop);

/* True until engine_loop_stop. */
bool engine_loop_running(struct engine_loop *loop);

/* Waits `ms` or until stopped; false when stopping. */
bool engine_loop_wait(struct engine_loop *loop, unsigned ms);

/* Asks the thread to stop, waking it if it waits. */
void engine_loop_stop(struct engine_loop *loop);

/*
 * Makes sure *store is a live connection to `database_url`, connecting or reconnecting; on
 * failure logs "cannot reach the database" under `component` and returns false (the caller
 * waits and tries again).
 */
bool engine_loop_connect(struct store **store, const char *database_url, const char *component);

#endif
