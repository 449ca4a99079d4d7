#include "ingest/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ingest/rejection_limit.h"
#include "store/store.h"

/* Rows deleted per statement: small enough that each batch takes milliseconds. */
#define BATCH_ROWS 5000

/* Monthly events partitions kept created ahead of the current month. */
#define PARTITION_MONTHS_AHEAD 2

/* How often the counts of refused calls not kept one by one are written as summary rows. */
#define SUMMARY_INTERVAL_S 60

/* Summaries written per round at most (one per workspace with counts in the last minute). */
#define SUMMARIES_MAX 256

struct retention {
    char *database_url;
    unsigned interval_s;                /* purges; 0: none (summaries only) */
    unsigned event_retention_days;      /* 0: keep events forever */
    unsigned rejection_retention_days;  /* 0: keep refused calls forever */
    struct rejection_limit *rejections; /* borrowed; NULL: no summaries */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* guarded by lock */
};

/* Whether the job is being stopped. */
static bool stopping(struct retention *job)
{
    pthread_mutex_lock(&job->lock);
    bool stop = job->stopping;
    pthread_mutex_unlock(&job->lock);
    return stop;
}

/* Logs a failed statement and reconnects if the connection is gone. */
static void failed(struct store *store)
{
    LOG_WARN("retention", "%s", store_last_error(store));
    if (!store_is_connected(store))
        store_reconnect(store);
}

/* Deletes batches until one comes back short; returns the rows deleted. */
static long purge(struct retention *job, struct store *store)
{
    long total = 0, deleted = 0;
    do {
        deleted = 0;
        if (store_purge_expired(store, BATCH_ROWS, &deleted) < 0) {
            failed(store);
            break;
        }
        total += deleted;
    } while (deleted == BATCH_ROWS && !stopping(job));
    if (job->rejection_retention_days == 0)
        return total;
    do {
        deleted = 0;
        if (store_purge_rejections(store, job->rejection_retention_days, BATCH_ROWS, &deleted) <
            0) {
            failed(store);
            break;
        }
        total += deleted;
    } while (deleted == BATCH_ROWS && !stopping(job));
    return total;
}

/* Writes a summary row for each finished minute in which refused calls were only counted. A
 * summary that cannot be written is lost (logged): it is a count, not a call. */
static void write_summaries(struct retention *job, struct store *store)
{
    if (job->rejections == NULL)
        return;
    struct rejection_summary summaries[SUMMARIES_MAX];
    size_t n = rejection_limit_take(job->rejections, timeutil_now_us(), summaries, SUMMARIES_MAX);
    for (size_t i = 0; i < n; i++) {
        if (store_record_rejection_summary(store, summaries[i].workspace_id, summaries[i].minute_us,
                                           summaries[i].dropped) < 0) {
            failed(store);
            LOG_WARN("retention", "lost the count of %llu refused calls of workspace %lld",
                     (unsigned long long)summaries[i].dropped,
                     (long long)summaries[i].workspace_id);
        }
    }
}

/* Creates the months ahead and drops the months past the event retention. */
static void maintain_partitions(struct retention *job, struct store *store)
{
    int created = 0, dropped = 0;
    if (store_maintain_event_partitions(store, PARTITION_MONTHS_AHEAD, job->event_retention_days,
                                        &created, &dropped) < 0) {
        failed(store);
        return;
    }
    if (created > 0)
        LOG_INFO("retention", "created %d monthly partitions of events", created);
    if (dropped > 0)
        LOG_INFO("retention", "dropped %d monthly partitions of events past the retention",
                 dropped);
}

/* Purges every interval_s (the first time right away) and writes summaries every minute. */
static void *retention_main(void *arg)
{
    struct retention *job = arg;
    char error[256];
    struct store *store = NULL;
    int64_t next_purge_us = 0; /* monotonic */
    unsigned tick_s = job->interval_s > 0 && job->interval_s < SUMMARY_INTERVAL_S
                          ? job->interval_s
                          : SUMMARY_INTERVAL_S;
    pthread_mutex_lock(&job->lock);
    while (!job->stopping) {
        pthread_mutex_unlock(&job->lock);
        if (store == NULL &&
            (store = store_connect(job->database_url, error, sizeof error)) == NULL)
            LOG_WARN("retention", "cannot connect: %s", error);
        if (store != NULL) {
            write_summaries(job, store);
            if (job->interval_s > 0 && timeutil_monotonic_us() >= next_purge_us) {
                next_purge_us =
                    timeutil_monotonic_us() + (int64_t)job->interval_s * TIMEUTIL_US_PER_SEC;
                maintain_partitions(job, store);
                long deleted = purge(job, store);
                if (deleted > 0)
                    LOG_INFO("retention", "deleted %ld expired rows", deleted);
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += tick_s;
        pthread_mutex_lock(&job->lock);
        while (!job->stopping &&
               pthread_cond_timedwait(&job->wake, &job->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&job->lock);
    /* Counts of the last minutes are written on the way out. */
    if (store != NULL && job->rejections != NULL) {
        struct rejection_summary summaries[SUMMARIES_MAX];
        size_t n = rejection_limit_take(job->rejections, INT64_MAX - 60 * TIMEUTIL_US_PER_SEC,
                                        summaries, SUMMARIES_MAX);
        for (size_t i = 0; i < n; i++)
            store_record_rejection_summary(store, summaries[i].workspace_id, summaries[i].minute_us,
                                           summaries[i].dropped);
    }
    store_close(store);
    return NULL;
}

struct retention *retention_start(const struct retention_options *options)
{
    struct retention *job = calloc(1, sizeof *job);
    if (job == NULL || (job->database_url = strdup(options->database_url)) == NULL) {
        free(job);
        LOG_ERROR("retention", "out of memory");
        return NULL;
    }
    job->interval_s = options->purge_interval_s;
    job->event_retention_days = options->event_retention_days;
    job->rejection_retention_days = options->rejection_retention_days;
    job->rejections = options->rejections;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->wake, NULL);
    if (pthread_create(&job->thread, NULL, retention_main, job) != 0) {
        LOG_ERROR("retention", "cannot start the retention thread");
        pthread_mutex_destroy(&job->lock);
        pthread_cond_destroy(&job->wake);
        free(job->database_url);
        free(job);
        return NULL;
    }
    return job;
}

void retention_stop(struct retention *job)
{
    if (job == NULL)
        return;
    pthread_mutex_lock(&job->lock);
    job->stopping = true;
    pthread_cond_broadcast(&job->wake);
    pthread_mutex_unlock(&job->lock);
    pthread_join(job->thread, NULL);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->wake);
    free(job->database_url);
    free(job);
}
