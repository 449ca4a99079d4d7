#include "ingest/rejection_limit.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/timeutil.h"

#define MINUTE_US (60 * TIMEUTIL_US_PER_SEC)

/* Workspaces tracked at once. A workspace is tracked only while it has refusals in the current
 * minute or a summary waiting, so this bounds memory, not the number of workspaces. */
#define TRACKED_MAX 4096

/* One workspace's current minute, and the last minute's count not yet summarised. */
struct tracked {
    int64_t workspace_id;
    int64_t minute_us;
    unsigned kept;    /* refusals kept one by one in minute_us */
    uint64_t dropped; /* refusals only counted in minute_us */
    int64_t pending_minute_us;
    uint64_t pending; /* a finished minute's count, waiting for rejection_limit_take */
};

struct rejection_limit {
    pthread_mutex_t lock;
    unsigned per_minute;
    struct tracked *entries;
    size_t count;
};

struct rejection_limit *rejection_limit_new(unsigned per_minute)
{
    struct rejection_limit *limit = calloc(1, sizeof *limit);
    if (limit == NULL)
        return NULL;
    limit->entries = calloc(TRACKED_MAX, sizeof *limit->entries);
    if (limit->entries == NULL) {
        free(limit);
        return NULL;
    }
    limit->per_minute = per_minute > 0 ? per_minute : UINT_MAX; /* 0: no limit */
    pthread_mutex_init(&limit->lock, NULL);
    return limit;
}

/* Moves a finished minute's count to `pending` (adding to one still waiting: two minutes' counts
 * then share the older minute's summary). */
static void roll(struct tracked *t, int64_t minute_us)
{
    if (t->minute_us == minute_us)
        return;
    if (t->dropped > 0) {
        if (t->pending == 0)
            t->pending_minute_us = t->minute_us;
        t->pending += t->dropped;
    }
    t->minute_us = minute_us;
    t->kept = 0;
    t->dropped = 0;
}

static struct tracked *find(struct rejection_limit *limit, int64_t workspace_id)
{
    for (size_t i = 0; i < limit->count; i++)
        if (limit->entries[i].workspace_id == workspace_id)
            return &limit->entries[i];
    if (limit->count == TRACKED_MAX)
        return NULL;
    struct tracked *t = &limit->entries[limit->count++];
    *t = (struct tracked){.workspace_id = workspace_id};
    return t;
}

bool rejection_limit_admit(struct rejection_limit *limit, int64_t workspace_id, int64_t now_us)
{
    int64_t minute_us = now_us - now_us % MINUTE_US;
    pthread_mutex_lock(&limit->lock);
    struct tracked *t = find(limit, workspace_id);
    bool admitted = false;
    if (t != NULL) {
        roll(t, minute_us);
        admitted = workspace_id != 0 && t->kept < limit->per_minute;
        if (admitted)
            t->kept++;
        else
            t->dropped++;
    }
    /* With every slot taken (thousands of workspaces refused in one minute), the refusal is
     * neither kept nor counted: the table stays bounded either way. */
    pthread_mutex_unlock(&limit->lock);
    return admitted;
}

size_t rejection_limit_take(struct rejection_limit *limit, int64_t now_us,
                            struct rejection_summary *out, size_t max)
{
    int64_t minute_us = now_us - now_us % MINUTE_US;
    size_t taken = 0;
    pthread_mutex_lock(&limit->lock);
    for (size_t i = 0; i < limit->count && taken < max;) {
        struct tracked *t = &limit->entries[i];
        roll(t, minute_us);
        if (t->pending > 0) {
            out[taken++] =
                (struct rejection_summary){t->workspace_id, t->pending_minute_us, t->pending};
            t->pending = 0;
        }
        /* Nothing this minute and nothing waiting: stop tracking it. */
        if (t->kept == 0 && t->dropped == 0 && t->pending == 0)
            *t = limit->entries[--limit->count];
        else
            i++;
    }
    pthread_mutex_unlock(&limit->lock);
    return taken;
}

void rejection_limit_free(struct rejection_limit *limit)
{
    if (limit == NULL)
        return;
    pthread_mutex_destroy(&limit->lock);
    free(limit->entries);
    free(limit);
}
