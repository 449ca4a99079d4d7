#include "ingest/ingest_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "ingest/rejection_limit.h"
#include "store/store.h"

/* Serialization failures and deadlocks are retried this many times before giving up. */
#define SOFT_RETRIES 8
/*
 * Group policy. Writers are woken only when needed, so that small requests gather into larger
 * groups: a request queued while no writer is busy (or about to be) wakes one, since nobody
 * else would take it; while one is busy, another is woken only once the queue holds
 * WAKE_COMMANDS commands, and the rest wait for the busy writer's next group. A writer that
 * finds more than SPLIT_COMMANDS commands queued while another writer is idle takes half of
 * them (no fewer than SPLIT_COMMANDS) and wakes the other for the rest, so that on bulk loads
 * two backends work side by side instead of one taking everything.
 */
#define WAKE_COMMANDS 32
#define SPLIT_COMMANDS 256

/* Reconnect backoff while the database is unreachable. */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

/* One writer thread and its own connection. While one writer waits for its COMMIT to be
 * flushed, another executes the next group: commits overlap instead of queueing. */
struct writer {
    struct ingest_queue *queue;
    struct store *store;          /* touched by this writer's thread only */
    unsigned statement_timeout_s; /* as last set on the store */
    pthread_t thread;
    bool started;
};

struct ingest_queue {
    struct ingest_options options;
    struct writer *writers; /* options.writers of them */
    pthread_t expirer;      /* answers requests left queued past their deadline */
    bool expirer_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t expirer_wake; /* on CLOCK_MONOTONIC */
    /* Guarded by lock: */
    struct ingest_request *head, *tail; /* waiting for the writer, oldest first */
    size_t queued_commands;             /* the commands of the requests from head to tail */
    unsigned idle_writers;              /* waiting on `wake` */
    unsigned busy_writers;              /* between taking a group and finishing it */
    unsigned wakes_pending;             /* signals sent to idle writers, not yet received */
    size_t admitted_requests;           /* reserved, waiting or being written */
    size_t admitted_bytes;
    bool stopping;
    atomic_bool database_up;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Deadlines. A request is due an answer write_timeout after its admission (admitted_us), however
 * long it waited in the queue: one still queued then is taken out and answered 503 (by the
 * expirer thread, or by a writer about to take it), and a writer gives the statements of a
 * group no more time than its oldest request has left. A request is taken out of the queue
 * either by a writer or for expiry, both under `lock`: never both, so one answered 503 is never
 * written afterwards.
 */
static int64_t deadline_of(const struct ingest_queue *q, const struct ingest_request *r)
{
    return r->admitted_us + (int64_t)q->options.write_timeout_s * TIMEUTIL_US_PER_SEC;
}

/* Unlinks the requests at the head of the queue that are past their deadline (the queue is in
 * admission order) and returns them as a list. Called with the lock held. */
static struct ingest_request *unlink_expired(struct ingest_queue *q, int64_t now)
{
    struct ingest_request *expired = NULL, **tail = &expired;
    while (q->head != NULL && deadline_of(q, q->head) <= now) {
        q->queued_commands -= q->head->command_count;
        *tail = q->head;
        tail = &q->head->next;
        q->head = q->head->next;
    }
    *tail = NULL;
    if (q->head == NULL)
        q->tail = NULL;
    return expired;
}

/* Wakes an idle writer if the policy above wants one and none is on its way. Called with the
 * lock held. */
static void wake_writer_if_needed(struct ingest_queue *q)
{
    bool wanted = q->head != NULL &&
                  (q->busy_writers + q->wakes_pending == 0 || q->queued_commands >= WAKE_COMMANDS);
    if (wanted && q->idle_writers > q->wakes_pending) {
        q->wakes_pending++;
        pthread_cond_signal(&q->wake);
    }
}

/* Waits on `wake` (until `until` when given) as one of the idle writers; true on a timeout.
 * Called with the lock held. */
static bool wait_for_work(struct ingest_queue *q, const struct timespec *until)
{
    q->idle_writers++;
    int rc = until ? pthread_cond_timedwait(&q->wake, &q->lock, until)
                   : pthread_cond_wait(&q->wake, &q->lock);
    q->idle_writers--;
    if (q->wakes_pending > 0)
        q->wakes_pending--;
    return rc == ETIMEDOUT;
}

/* Removes up to batch_max_commands worth of requests (at least one) from the queue. Waits while
 * it is empty; returns NULL when stopping and drained. With `wait_ms` > 0, waits at most that
 * long: an empty queue then returns NULL with *idle set. Requests found past their deadline are
 * taken out into *expired instead, for the caller to answer. Called with the lock held. */
static struct ingest_request *take_group(struct ingest_queue *q, unsigned wait_ms, bool *idle,
                                         struct ingest_request **expired)
{
    *idle = false;
    *expired = NULL;
    struct timespec until;
    if (wait_ms > 0) {
        clock_gettime(CLOCK_REALTIME, &until); /* the clock of a default condition variable */
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    while (q->head == NULL && !q->stopping) {
        if (wait_for_work(q, wait_ms > 0 ? &until : NULL) && q->head == NULL && !q->stopping) {
            *idle = true;
            return NULL;
        }
    }
    *expired = unlink_expired(q, timeutil_monotonic_us());
    if (q->head == NULL)
        return NULL;
    size_t limit = q->options.batch_max_commands;
    if (q->idle_writers > q->wakes_pending && q->queued_commands > SPLIT_COMMANDS) {
        size_t half = (q->queued_commands + 1) / 2;
        size_t share = half > SPLIT_COMMANDS ? half : SPLIT_COMMANDS;
        if (share < limit)
            limit = share;
    }
    struct ingest_request *group = q->head, *last = q->head;
    size_t commands = last->command_count;
    while (last->next != NULL && commands + last->next->command_count <= limit) {
        last = last->next;
        commands += last->command_count;
    }
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    q->queued_commands -= commands;
    q->busy_writers++;
    wake_writer_if_needed(q); /* for what this group left */
    return group;
}

/* Completes one request: releases its room, then calls on_done (which may free it). */
static void finish(struct ingest_queue *q, struct ingest_request *r, enum trackd_error result)
{
    r->result = result;
    if (result != TRACKD_ERR_OK) {
        for (size_t i = 0; i < r->command_count; i++)
            r->outcomes[i] = OUTCOME_PENDING;
    }
    pthread_mutex_lock(&q->lock);
    q->admitted_requests--;
    q->admitted_bytes -= r->bytes;
    pthread_mutex_unlock(&q->lock);
    r->on_done(r, r->cls);
}

static void finish_all(struct ingest_queue *q, struct ingest_request *group,
                       enum trackd_error result)
{
    while (group != NULL) {
        struct ingest_request *next = group->next;
        finish(q, group, result);
        group = next;
    }
}

/* Answers 503 to the requests of a group (not written) that are past their deadline; returns
 * the others, in order. */
static struct ingest_request *finish_overdue(struct ingest_queue *q, struct ingest_request *group)
{
    int64_t now = timeutil_monotonic_us();
    struct ingest_request **link = &group;
    while (*link != NULL) {
        struct ingest_request *r = *link;
        if (deadline_of(q, r) <= now) {
            *link = r->next;
            finish(q, r, TRACKD_ERR_DATABASE_UNAVAILABLE);
        } else {
            link = &r->next;
        }
    }
    return group;
}

/* Makes sure the writer is connected; while the database stays down, answers 503 to requests
 * that waited longer than write_timeout. Returns the requests still waiting (maybe none). */
static struct ingest_request *await_database(struct writer *w, struct ingest_request *group)
{
    struct ingest_queue *q = w->queue;
    unsigned backoff = BACKOFF_MIN_MS;
    while (group != NULL && !store_check_connection(w->store)) {
        if (store_reconnect(w->store)) {
            atomic_store(&q->database_up, true);
            break;
        }
        if (atomic_exchange(&q->database_up, false))
            LOG_WARN("writer", "database unreachable, retrying: %s", store_last_error(w->store));
        group = finish_overdue(q, group);
        if (group != NULL)
            sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return group;
}

/* Marks the refusals of a request that the per-minute limit leaves to be counted only. */
static void limit_rejections(struct ingest_queue *q, struct command *commands, size_t count)
{
    if (q->options.rejections == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        if (commands[i].kind == COMMAND_REJECT)
            commands[i].counted_only = !rejection_limit_admit(
                q->options.rejections, commands[i].workspace_id, commands[i].received_us);
}

/* Writes the commands of one request one at a time, each in its own transaction, so that a
 * command whose values PostgreSQL refuses is isolated from the rest. A refused command is
 * recorded in rejected_requests. Returns the request's result. */
static enum trackd_error write_isolated(struct writer *w, struct ingest_request *r)
{
    for (size_t i = 0; i < r->command_count; i++) {
        struct command *cmd = &r->commands[i];
        struct store_write_failure failure;
        enum store_status status = STORE_SOFT_ERROR;
        for (int attempt = 0; attempt < SOFT_RETRIES && status == STORE_SOFT_ERROR; attempt++)
            status = store_write_commands(w->store, &cmd, 1, &r->outcomes[i], &failure);
        if (status >= 0)
            continue;
        if (!failure.data_error)
            return TRACKD_ERR_DATABASE_UNAVAILABLE;
        r->outcomes[i] = OUTCOME_REFUSED;
        snprintf(r->refusal, sizeof r->refusal, "%s", store_last_error(w->store));
        LOG_WARN("writer", "PostgreSQL refused a call to %s (batch index %ld): %s", cmd->endpoint,
                 cmd->batch_index, r->refusal);
        struct command reject = {
            .kind = COMMAND_REJECT,
            .workspace_id = cmd->workspace_id,
            .endpoint = cmd->endpoint,
            .reason = errors_reason(TRACKD_ERR_REJECTED_BY_DATABASE),
            .message = r->refusal,
            .received_us = cmd->received_us,
            .timestamp_us = cmd->received_us,
        };
        limit_rejections(w->queue, &reject, 1);
        struct command *reject_ptr = &reject;
        enum outcome ignored;
        if (store_write_commands(w->store, &reject_ptr, 1, &ignored, &failure) < 0)
            LOG_ERROR("writer", "could not record a refused call: %s", store_last_error(w->store));
    }
    return TRACKD_ERR_OK;
}

/* Unlinks and returns the request holding the `index`th command of the group (counting the
 * commands of its requests in order), or NULL if there is none. */
static struct ingest_request *take_request_of(struct ingest_request **group, size_t index)
{
    size_t first = 0;
    for (struct ingest_request **link = group; *link != NULL; link = &(*link)->next) {
        struct ingest_request *r = *link;
        if (index < first + r->command_count) {
            *link = r->next;
            r->next = NULL;
            return r;
        }
        first += r->command_count;
    }
    return NULL;
}

/* Gives the statements of the next write no more time than `oldest` (the oldest request
 * written) has left: write_timeout normally, less for a request that queued a while. In whole
 * seconds, the unit of the store's timeout; set only when it changes. */
static void fit_statement_time(struct writer *w, const struct ingest_request *oldest)
{
    struct ingest_queue *q = w->queue;
    int64_t left_us = deadline_of(q, oldest) - timeutil_monotonic_us();
    int64_t left_s = (left_us + TIMEUTIL_US_PER_SEC - 1) / TIMEUTIL_US_PER_SEC;
    if (left_s < 1)
        left_s = 1;
    if (left_s > (int64_t)q->options.write_timeout_s)
        left_s = q->options.write_timeout_s;
    if ((unsigned)left_s == w->statement_timeout_s)
        return;
    w->statement_timeout_s = (unsigned)left_s;
    /* On failure the connection is gone: the write fails too, and the reconnect applies it. */
    store_set_statement_timeout(w->store, (unsigned)left_s);
}

/* Commits a group of requests in one transaction, falling back to isolated writes when a
 * statement fails, and completes every request of the group. */
static void write_group(struct writer *w, struct ingest_request *group)
{
    struct ingest_queue *q = w->queue;
    size_t total = 0;
    for (struct ingest_request *r = group; r != NULL; r = r->next)
        total += r->command_count;
    struct command **commands = malloc((total ? total : 1) * sizeof *commands);
    enum outcome *outcomes = malloc((total ? total : 1) * sizeof *outcomes);
    if (commands == NULL || outcomes == NULL) {
        LOG_ERROR("writer", "out of memory for a group of %zu commands", total);
        finish_all(q, group, TRACKD_ERR_DATABASE_UNAVAILABLE);
        goto cleanup;
    }
    int soft_attempts = 0;
    for (;;) {
        group = await_database(w, group);
        /* Nothing of the group is written yet: what is past its deadline is answered now. */
        group = finish_overdue(q, group);
        if (group == NULL)
            goto cleanup;
        size_t n = 0;
        for (struct ingest_request *r = group; r != NULL; r = r->next)
            for (size_t i = 0; i < r->command_count; i++)
                commands[n++] = &r->commands[i];
        struct store_write_failure failure;
        fit_statement_time(w, group);
        int64_t started = timeutil_monotonic_us();
        enum store_status status = store_write_commands(w->store, commands, n, outcomes, &failure);
        if (status >= 0)
            metrics_count_write(n, timeutil_monotonic_us() - started);
        if (status >= 0) {
            size_t k = 0;
            for (struct ingest_request *r = group; r != NULL; r = r->next)
                for (size_t i = 0; i < r->command_count; i++)
                    r->outcomes[i] = outcomes[k++];
            finish_all(q, group, TRACKD_ERR_OK);
            goto cleanup;
        }
        if (status == STORE_SOFT_ERROR && soft_attempts++ < SOFT_RETRIES)
            continue;
        if (failure.maybe_committed || failure.timed_out) {
            /* The answer to COMMIT was lost, or the database is too slow: the client must
             * retry (message ids make that safe). */
            LOG_WARN("writer", "write not confirmed: %s", store_last_error(w->store));
            finish_all(q, group, TRACKD_ERR_DATABASE_UNAVAILABLE);
            goto cleanup;
        }
        if (!store_is_connected(w->store))
            continue; /* nothing was committed: reconnect and write again */
        if (failure.data_error) {
            /* One command's values were refused: take its request out, write that one alone,
             * and write the others together again. */
            struct ingest_request *culprit = take_request_of(&group, failure.command_index);
            if (culprit != NULL) {
                fit_statement_time(w, culprit);
                finish(q, culprit, write_isolated(w, culprit));
                continue;
            }
        }
        /* Some other failure: write each request alone so that the rest still get through. */
        LOG_WARN("writer", "group write failed, writing requests one by one: %s",
                 store_last_error(w->store));
        while (group != NULL) {
            struct ingest_request *next = group->next;
            group->next = NULL;
            group = finish_overdue(q, await_database(w, group));
            if (group != NULL) {
                fit_statement_time(w, group);
                finish(q, group, write_isolated(w, group));
            }
            group = next;
        }
        goto cleanup;
    }
cleanup:
    free(commands);
    free(outcomes);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ingest_queue *q = w->queue;
    unsigned backoff = BACKOFF_MIN_MS;
    for (;;) {
        /* A writer left without a connection (the database went away) reconnects on its own,
         * with backoff, even when no request comes: /readyz must not wait for a write to say
         * the database is back. */
        bool down = !store_is_connected(w->store);
        bool idle = false;
        struct ingest_request *expired = NULL;
        pthread_mutex_lock(&q->lock);
        struct ingest_request *group = take_group(q, down ? backoff : 0, &idle, &expired);
        pthread_mutex_unlock(&q->lock);
        finish_all(q, expired, TRACKD_ERR_DATABASE_UNAVAILABLE);
        if (idle) {
            if (store_reconnect(w->store)) {
                atomic_store(&q->database_up, true);
                backoff = BACKOFF_MIN_MS;
            } else {
                if (atomic_exchange(&q->database_up, false))
                    LOG_WARN("writer", "database unreachable, retrying: %s",
                             store_last_error(w->store));
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            }
            continue;
        }
        if (group == NULL && expired != NULL)
            continue; /* only expired requests were waiting */
        if (group == NULL)
            return NULL;
        backoff = BACKOFF_MIN_MS;
        write_group(w, group);
        pthread_mutex_lock(&q->lock);
        q->busy_writers--;
        pthread_mutex_unlock(&q->lock);
    }
}

/* Answers 503 to requests still queued at their deadline, however busy the writers are. */
static void *expirer_main(void *arg)
{
    struct ingest_queue *q = arg;
    int64_t timeout_us = (int64_t)q->options.write_timeout_s * TIMEUTIL_US_PER_SEC;
    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        struct ingest_request *expired = unlink_expired(q, timeutil_monotonic_us());
        if (expired != NULL) {
            pthread_mutex_unlock(&q->lock);
            finish_all(q, expired, TRACKD_ERR_DATABASE_UNAVAILABLE);
            pthread_mutex_lock(&q->lock);
            continue;
        }
        /* Until the oldest is due; with none waiting, a whole timeout (a request queued
         * meanwhile is due no earlier). */
        int64_t until_us =
            q->head != NULL ? deadline_of(q, q->head) : timeutil_monotonic_us() + timeout_us;
        struct timespec until = {(time_t)(until_us / TIMEUTIL_US_PER_SEC),
                                 (long)(until_us % TIMEUTIL_US_PER_SEC) * 1000L};
        pthread_cond_timedwait(&q->expirer_wake, &q->lock, &until);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Stops and joins the writers and the expirer that were started, closes the connections. */
static void stop_writers(struct ingest_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->wake);
    pthread_cond_signal(&q->expirer_wake);
    pthread_mutex_unlock(&q->lock);
    if (q->expirer_started)
        pthread_join(q->expirer, NULL);
    for (unsigned i = 0; i < q->options.writers; i++) {
        if (q->writers[i].started)
            pthread_join(q->writers[i].thread, NULL);
        store_close(q->writers[i].store);
    }
}

struct ingest_queue *ingest_start(const struct ingest_options *options, char *error,
                                  size_t error_size)
{
    struct ingest_queue *q = calloc(1, sizeof *q);
    if (q == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    q->options = *options;
    if (q->options.writers == 0)
        q->options.writers = 1;
    atomic_init(&q->database_up, true);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the clock of timeutil_monotonic_us */
    pthread_cond_init(&q->expirer_wake, &attr);
    pthread_condattr_destroy(&attr);
    q->writers = calloc(q->options.writers, sizeof *q->writers);
    if (q->writers == NULL) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    /* Connect every writer first: a database that is down or not migrated fails the start. */
    for (unsigned i = 0; i < q->options.writers; i++) {
        q->writers[i].queue = q;
        q->writers[i].store = store_connect(options->database_url, error, error_size);
        if (q->writers[i].store == NULL)
            goto failed;
        /* A write blocked longer than a client is asked to wait becomes a 503. */
        q->writers[i].statement_timeout_s = options->write_timeout_s;
        if (!store_set_statement_timeout(q->writers[i].store, options->write_timeout_s)) {
            snprintf(error, error_size, "%s", store_last_error(q->writers[i].store));
            goto failed;
        }
    }
    for (unsigned i = 0; i < q->options.writers; i++) {
        if (pthread_create(&q->writers[i].thread, NULL, writer_main, &q->writers[i]) != 0) {
            snprintf(error, error_size, "cannot start a writer thread");
            goto failed;
        }
        q->writers[i].started = true;
    }
    if (pthread_create(&q->expirer, NULL, expirer_main, q) != 0) {
        snprintf(error, error_size, "cannot start the queue's expirer thread");
        goto failed;
    }
    q->expirer_started = true;
    return q;
failed:
    ingest_stop(q);
    return NULL;
}

bool ingest_reserve(struct ingest_queue *q, size_t bytes)
{
    pthread_mutex_lock(&q->lock);
    bool room = !q->stopping && q->admitted_requests < q->options.max_requests &&
                q->admitted_bytes + bytes <= q->options.max_bytes;
    if (room) {
        q->admitted_requests++;
        q->admitted_bytes += bytes;
    }
    pthread_mutex_unlock(&q->lock);
    return room;
}

void ingest_release(struct ingest_queue *q, size_t bytes)
{
    pthread_mutex_lock(&q->lock);
    q->admitted_requests--;
    q->admitted_bytes -= bytes;
    pthread_mutex_unlock(&q->lock);
}

void ingest_enqueue(struct ingest_queue *q, struct ingest_request *r)
{
    limit_rejections(q, r->commands, r->command_count);
    r->next = NULL;
    pthread_mutex_lock(&q->lock);
    /* Stamped under the lock: the queue stays in admission order, which expiry relies on. */
    r->admitted_us = timeutil_monotonic_us();
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->queued_commands += r->command_count;
    wake_writer_if_needed(q);
    pthread_mutex_unlock(&q->lock);
}

size_t ingest_depth(struct ingest_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t depth = q->admitted_requests;
    pthread_mutex_unlock(&q->lock);
    return depth;
}

bool ingest_database_up(struct ingest_queue *q)
{
    return atomic_load(&q->database_up);
}

void ingest_stop(struct ingest_queue *q)
{
    if (q == NULL)
        return;
    if (q->writers != NULL)
        stop_writers(q);
    free(q->writers);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->expirer_wake);
    free(q);
}
