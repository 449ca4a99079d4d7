/*
 * The retention job: a thread that periodically deletes what trackd promises not to keep
 * (unlinked anonymous events and deduplication keys older than 30 days), in small batches so
 * that no lock is held for long.
 */
#ifndef TRACKD_INGEST_RETENTION_H
#define TRACKD_INGEST_RETENTION_H

struct retention;

/* Starts the job on its own connection, running every `interval_s` seconds (first run right
 * away). Returns NULL (and logs why) when it cannot start; trackd serves without it then. */
struct retention *retention_start(const char *database_url, unsigned interval_s);

/* Stops the job, waiting for a batch in progress; accepts NULL. */
void retention_stop(struct retention *job);

#endif
