/*
 * How many refused calls are kept one by one in rejected_requests: at most a fixed number per
 * workspace and minute (TRACKD_REJECTIONS_PER_MINUTE), so that a client sending garbage, or a
 * stranger, cannot fill the disk. Beyond it a refusal is only counted, and each minute that had
 * such counts becomes one summary row (written by the retention thread). Calls refused without a
 * workspace (no valid key) are never kept one by one: only their count, once a minute.
 *
 * Per process: with several trackd processes on one database each keeps its own count.
 * Thread-safe.
 */
#ifndef TRACKD_INGEST_REJECTION_LIMIT_H
#define TRACKD_INGEST_REJECTION_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rejection_limit;

/* A minute of one workspace (0: none) in which `dropped` refusals were only counted. */
struct rejection_summary {
    int64_t workspace_id;
    int64_t minute_us; /* wall clock, the start of the minute */
    uint64_t dropped;
};

/* A limit of `per_minute` detailed rows per workspace and minute (0: no limit; calls without a
 * workspace are still only counted); NULL when out of memory. */
struct rejection_limit *rejection_limit_new(unsigned per_minute);

/* Whether a refusal of `workspace_id` (0: unauthenticated) at `now_us` (wall clock) may be kept
 * one by one; when not, it is counted for its minute's summary. */
bool rejection_limit_admit(struct rejection_limit *limit, int64_t workspace_id, int64_t now_us);

/* Moves up to `max` summaries of minutes that ended before `now_us` into `out`; returns how
 * many. What is not taken now is taken by a later call. */
size_t rejection_limit_take(struct rejection_limit *limit, int64_t now_us,
                            struct rejection_summary *out, size_t max);

/* Frees the limit; accepts NULL. */
void rejection_limit_free(struct rejection_limit *limit);

#endif
