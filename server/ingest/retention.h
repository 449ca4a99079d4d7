/*
 * The retention job: a thread that periodically deletes what trackd promises not to keep
 * (unlinked anonymous events and deduplication keys older than 30 days), in small batches so
 * that no lock is held for long. It also keeps the monthly partitions of `events` created two
 * months ahead and, with an event retention set, drops the months past it whole.
 */
#ifndef TRACKD_INGEST_RETENTION_H
#define TRACKD_INGEST_RETENTION_H

struct retention;

/* Starts the job on its own connection, running every `interval_s` seconds (first run right
 * away); `event_retention_days` 0 keeps events forever. Returns NULL (and logs why) when it cannot
 * start; trackd serves without it then. */
struct retention *retention_start(const char *database_url, unsigned interval_s,
                                  unsigned event_retention_days);

/* Stops the job, waiting for a batch in progress; accepts NULL. */
void retention_stop(struct retention *job);

#endif
