/*
 * The retention job: a thread that periodically deletes what trackd promises not to keep
 * (unlinked anonymous events and deduplication keys older than 30 days, refused calls older than
 * TRACKD_REJECTION_RETENTION_DAYS), in small batches so that no lock is held for long. It also
 * keeps the monthly partitions of `events` created two months ahead and, with an event retention
 * set, drops the months past it whole; and once a minute it writes the counts of refused calls
 * that were not kept one by one (ingest/rejection_limit.h) as summary rows.
 */
#ifndef TRACKD_INGEST_RETENTION_H
#define TRACKD_INGEST_RETENTION_H

struct retention;
struct rejection_limit;

struct retention_options {
    const char *database_url;
    unsigned purge_interval_s;          /* purges and partitions; 0: none, summaries only */
    unsigned event_retention_days;      /* 0 keeps events forever */
    unsigned rejection_retention_days;  /* 0 keeps refused calls forever */
    struct rejection_limit *rejections; /* borrowed, outlives the job; NULL: no summaries */
};

/* Starts the job on its own connection (purging first right away). Returns NULL (and logs why)
 * when it cannot start; trackd serves without it then. */
struct retention *retention_start(const struct retention_options *options);

/* Stops the job, waiting for a batch in progress; accepts NULL. */
void retention_stop(struct retention *job);

#endif
