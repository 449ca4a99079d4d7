/*
 * The journey runner: a thread that moves journey runs (rules with steps) through their steps.
 * It claims due runs (journey_runs, FOR UPDATE SKIP LOCKED, so that the runners of many
 * processes share them), and for each goes on from where it is, writing the deliveries of its
 * action steps and deciding its branches, until it reaches a wait or the end; the deliveries
 * and the run's new place commit in one transaction. A crash anywhere rolls the batch back and
 * another runner takes it again: no step is done twice, and none is skipped.
 */
#ifndef TRACKD_ENGINE_JOURNEY_RUNNER_H
#define TRACKD_ENGINE_JOURNEY_RUNNER_H

#include <stdint.h>

struct journey_runner;

/* Starts a runner on its own connection; NULL (logged) when it cannot start. */
struct journey_runner *journey_runner_start(const char *database_url, const char *default_timezone);

/* Steps taken so far (waits ended, actions written, branches decided). */
uint64_t journey_runner_steps(struct journey_runner *runner);

/* Stops it after the batch in progress; accepts NULL. */
void journey_runner_stop(struct journey_runner *runner);

#endif
