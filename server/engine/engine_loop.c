#include "engine/engine_loop.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"

void engine_loop_init(struct engine_loop *loop)
{
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->wake, NULL);
    loop->stopping = false;
}

void engine_loop_destroy(struct engine_loop *loop)
{
    pthread_mutex_destroy(&loop->lock);
    pthread_cond_destroy(&loop->wake);
}

bool engine_loop_running(struct engine_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    bool running = !loop->stopping;
    pthread_mutex_unlock(&loop->lock);
    return running;
}

bool engine_loop_wait(struct engine_loop *loop, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&loop->lock);
    while (!loop->stopping &&
           pthread_cond_timedwait(&loop->wake, &loop->lock, &until) != ETIMEDOUT) {
    }
    bool running = !loop->stopping;
    pthread_mutex_unlock(&loop->lock);
    return running;
}

void engine_loop_stop(struct engine_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->stopping = true;
    pthread_cond_broadcast(&loop->wake);
    pthread_mutex_unlock(&loop->lock);
}

bool engine_loop_connect(struct store **store, const char *database_url, const char *component)
{
    if (*store != NULL && store_is_connected(*store))
        return true;
    char error[256] = "";
    if (*store == NULL)
        *store = store_connect(database_url, error, sizeof error);
    else if (!store_reconnect(*store))
        snprintf(error, sizeof error, "%s", store_last_error(*store));
    if (*store != NULL && store_is_connected(*store))
        return true;
    LOG_WARN(component, "cannot reach the database: %s", error);
    return false;
}
