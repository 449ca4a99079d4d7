#include "ingest/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "store/store.h"

/* Rows deleted per statement: small enough that each batch takes milliseconds. */
#define BATCH_ROWS 5000

/* Monthly events partitions kept created ahead of the current month. */
#define PARTITION_MONTHS_AHEAD 2

struct retention {
    char *database_url;
    unsigned interval_s;
    unsigned event_retention_days; /* 0: keep events forever */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* guarded by lock */
};

/* Deletes batches until one comes back short; returns the rows deleted. */
static long purge(struct retention *job, struct store *store)
{
    long total = 0, deleted = 0;
    do {
        deleted = 0;
        if (store_purge_expired(store, BATCH_ROWS, &deleted) < 0) {
            LOG_WARN("retention", "%s", store_last_error(store));
            if (!store_is_connected(store))
                store_reconnect(store);
            break;
        }
        total += deleted;
        pthread_mutex_lock(&job->lock);
        bool stopping = job->stopping;
        pthread_mutex_unlock(&job->lock);
        if (stopping)
            break;
    } while (deleted == BATCH_ROWS);
    return total;
}

/* Creates the months ahead and drops the months past the event retention. */
static void maintain_partitions(struct retention *job, struct store *store)
{
    int created = 0, dropped = 0;
    if (store_maintain_event_partitions(store, PARTITION_MONTHS_AHEAD, job->event_retention_days,
                                        &created, &dropped) < 0) {
        LOG_WARN("retention", "%s", store_last_error(store));
        if (!store_is_connected(store))
            store_reconnect(store);
        return;
    }
    if (created > 0)
        LOG_INFO("retention", "created %d monthly partitions of events", created);
    if (dropped > 0)
        LOG_INFO("retention", "dropped %d monthly partitions of events past the retention",
                 dropped);
}

static void *retention_main(void *arg)
{
    struct retention *job = arg;
    char error[256];
    struct store *store = NULL;
    pthread_mutex_lock(&job->lock);
    while (!job->stopping) {
        pthread_mutex_unlock(&job->lock);
        if (store == NULL &&
            (store = store_connect(job->database_url, error, sizeof error)) == NULL)
            LOG_WARN("retention", "cannot connect: %s", error);
        if (store != NULL) {
            maintain_partitions(job, store);
            long deleted = purge(job, store);
            if (deleted > 0)
                LOG_INFO("retention", "deleted %ld expired rows", deleted);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += job->interval_s;
        pthread_mutex_lock(&job->lock);
        while (!job->stopping &&
               pthread_cond_timedwait(&job->wake, &job->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&job->lock);
    store_close(store);
    return NULL;
}

struct retention *retention_start(const char *database_url, unsigned interval_s,
                                  unsigned event_retention_days)
{
    struct retention *job = calloc(1, sizeof *job);
    if (job == NULL || (job->database_url = strdup(database_url)) == NULL) {
        free(job);
        LOG_ERROR("retention", "out of memory");
        return NULL;
    }
    job->interval_s = interval_s;
    job->event_retention_days = event_retention_days;
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
