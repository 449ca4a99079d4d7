#include "engine/evaluator.h"

#include <stdio.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "engine/engine_loop.h"
#include "engine/rule_cache.h"
#include "store/store_engine.h"
#include "trigger/trigger_eval.h"
#include "trigger/trigger_template.h"

/* Events evaluated per transaction. */
#define BATCH_EVENTS 200
/* How long an idle evaluator waits before looking at the queue again. */
#define IDLE_WAIT_MS 100
/* After a short batch (the queue is nearly empty) the evaluator lets events gather this long:
 * each batch costs a commit and a rules check, and under steady load many tiny batches would
 * take CPU from ingestion for nothing. It delays an evaluation by at most this much. */
#define GATHER_WAIT_MS 20
/* How often the claim cursor returns to the start of the queue (see store_claim_evaluations). */
#define CURSOR_RESET_US (5 * TIMEUTIL_US_PER_SEC)
/* Reconnect backoff. */
#define RETRY_WAIT_MS 1000

struct evaluator {
    char *database_url;
    char default_timezone[72]; /* TRACKD_DEFAULT_TIMEZONE, for rules with a send window */
    pthread_t thread;
    struct engine_loop loop;
    atomic_uint_fast64_t evaluated;
    atomic_uint_fast64_t fired;
};

/* One claimed batch being evaluated. */
struct batch {
    struct evaluator *evaluator;
    int64_t last_event_id; /* the highest id claimed */
    struct store *store;
    const struct rule_cache *rules;
    int64_t event_ids[BATCH_EVENTS];
    size_t count;
    bool failed; /* a firing could not be recorded: roll the batch back */
    uint64_t fired;
};

static const char *frequency_name(enum trigger_frequency frequency)
{
    switch (frequency) {
    case TRIGGER_ONCE:
        return "once";
    case TRIGGER_AT_MOST_EVERY:
        return "at_most_every";
    case TRIGGER_EVERY_TIME:
        break;
    }
    return "every_time";
}

static enum trigger_event_type event_type_of(const char *type)
{
    return strcmp(type, "page") == 0     ? TRIGGER_TYPE_PAGE
           : strcmp(type, "screen") == 0 ? TRIGGER_TYPE_SCREEN
                                         : TRIGGER_TYPE_EVENT;
}

/* What a journey keeps of the event that started it, for its steps: {"name", "properties"}
 * as JSON text (new; NULL when out of memory). */
static char *trigger_of(const struct store_pending_event *event, json_object *properties)
{
    json_object *trigger = json_object_new_object();
    if (trigger == NULL)
        return NULL;
    json_object_object_add(trigger, "name", json_object_new_string(event->name));
    json_object_object_add(trigger, "properties",
                           properties ? json_object_get(properties) : json_object_new_object());
    char *text = strdup(json_object_to_json_string_ext(
        trigger, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(trigger);
    return text;
}

/* Fires `rule` for `event`: renders its action with the event's facts and records the firing;
 * a journey starts a run instead, which a journey runner moves through the steps. */
static void fire(struct batch *b, const struct cached_rule *rule,
                 const struct store_pending_event *event, const struct trigger_facts *facts)
{
    json_object *action = NULL;
    char *trigger = NULL;
    const char *text = NULL;
    if (rule->rule->steps != NULL) {
        if ((trigger = trigger_of(event, facts->event_properties)) == NULL) {
            b->failed = true;
            return;
        }
    } else {
        struct trigger_facts with_link = *facts;
        with_link.unsubscribe_url = TRIGGER_UNSUBSCRIBE_PLACEHOLDER;
        if ((action = trigger_render_action(rule->rule, &with_link)) == NULL) {
            b->failed = true;
            return;
        }
        /* The delivery carries it: whether the message goes to people who unsubscribed is
         * decided when it falls due (trackd_claim_deliveries), by the rule as it fired. */
        if (rule->rule->transactional)
            json_object_object_add(action, "transactional", json_object_new_boolean(1));
        /* So is whether its conditions are checked again then (delivery/recheck.c). */
        if (rule->rule->recheck)
            json_object_object_add(action, "recheck", json_object_new_boolean(1));
        text = json_object_to_json_string_ext(action, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    }
    bool fired = false;
    if (store_fire(b->store, event->workspace_id, rule->id, event->person_id, event->event_id,
                   frequency_name(rule->rule->frequency), rule->rule->at_most_every_us,
                   rule->rule->delay_us, text,
                   rule->rule->send_window.set ? b->evaluator->default_timezone : NULL, trigger,
                   &fired) < 0) {
        LOG_WARN("evaluator", "recording a firing of rule %s failed: %s", rule->rule->name,
                 store_last_error(b->store));
        b->failed = true;
    } else if (fired) {
        b->fired++;
        atomic_fetch_add(&b->evaluator->fired, 1);
        LOG_DEBUG("evaluator", "rule %s fired on event %lld", rule->rule->name,
                  (long long)event->event_id);
    }
    json_object_put(action);
    free(trigger);
}

/* The event is one a rule watches (exit_on, goal, its journey's): an exit cancels what the rule
 * still has pending for the person and ends their journeys through it, a goal marks the
 * deliveries and journeys it follows converted. */
static void watch(struct batch *b, const struct cached_watcher *watcher,
                  const struct store_pending_event *event, const struct trigger_facts *facts)
{
    const struct trigger_rule *rule = watcher->rule->rule;
    long count = 0;
    for (size_t i = 0; i < rule->exit_count && !b->failed; i++) {
        if (!trigger_watch_matches(&rule->exits[i], facts))
            continue;
        if (store_exit(b->store, watcher->rule->id, event->person_id, event->name, &count) < 0) {
            LOG_WARN("evaluator", "recording an exit of rule %s failed: %s", rule->name,
                     store_last_error(b->store));
            b->failed = true;
        } else if (count > 0) {
            LOG_DEBUG("evaluator", "rule %s: %ld deliveries cancelled by exit event %lld",
                      rule->name, count, (long long)event->event_id);
        }
        break; /* one matching exit is enough */
    }
    if (!b->failed && trigger_watch_matches(&rule->goal, facts) &&
        store_convert(b->store, watcher->rule->id, event->person_id, event->event_id,
                      rule->goal_within_us, &count) < 0) {
        LOG_WARN("evaluator", "recording a conversion of rule %s failed: %s", rule->name,
                 store_last_error(b->store));
        b->failed = true;
    }
    /* An event the journey waits for or branches on: its runs for the person remember it. */
    for (size_t i = 0; i < rule->journey_event_count && !b->failed; i++) {
        if (strcmp(rule->journey_events[i], event->name) != 0)
            continue;
        if (store_journey_event(b->store, watcher->rule->id, event->person_id, event->event_id,
                                event->name, &count) < 0) {
            LOG_WARN("evaluator", "recording a journey event of rule %s failed: %s", rule->name,
                     store_last_error(b->store));
            b->failed = true;
        }
        break;
    }
}

/* Evaluates the candidate rules of one claimed event. */
static void evaluate(void *cls, const struct store_pending_event *event)
{
    struct batch *b = cls;
    if (b->count < BATCH_EVENTS)
        b->event_ids[b->count++] = event->event_id;
    if (event->event_id > b->last_event_id)
        b->last_event_id = event->event_id;
    atomic_fetch_add(&b->evaluator->evaluated, 1);
    if (b->failed || !event->may_fire)
        return;
    const struct cached_rule *first = NULL;
    size_t candidates = 0;
    rule_cache_candidates(b->rules, event->workspace_id, event_type_of(event->type), event->name,
                          &first, &candidates);
    const struct cached_watcher *watchers = NULL;
    size_t watcher_count = 0;
    if (event_type_of(event->type) == TRIGGER_TYPE_EVENT)
        rule_cache_watchers(b->rules, event->workspace_id, event->name, &watchers, &watcher_count);
    if (candidates == 0 && watcher_count == 0)
        return;
    struct trigger_facts facts = {
        .event_name = event->name,
        .person_id = event->customer_id,
        .person_email = event->email,
    };
    trigger_facts_parse(&facts, event->properties, event->attributes, event->relations);
    for (size_t i = 0; i < candidates && !b->failed; i++)
        if (first[i].rule->enabled && trigger_rule_matches(first[i].rule, &facts))
            fire(b, &first[i], event, &facts);
    for (size_t i = 0; i < watcher_count && !b->failed; i++)
        if (watchers[i].rule->rule->enabled)
            watch(b, &watchers[i], event, &facts);
    trigger_facts_release(&facts);
}

/* Evaluates one batch of events with ids above *cursor and moves the cursor past them; returns
 * how many events it took (0: none above the cursor), or -1. */
static long run_batch(struct evaluator *e, struct store *store, const struct rule_cache *rules,
                      int64_t *cursor)
{
    struct batch b = {.evaluator = e, .store = store, .rules = rules, .last_event_id = *cursor};
    if (store_claim_evaluations(store, BATCH_EVENTS, *cursor, evaluate, &b) < 0) {
        LOG_WARN("evaluator", "%s", store_last_error(store));
        return -1;
    }
    if (b.failed) {
        store_abort(store);
        return -1;
    }
    if (store_finish_evaluations(store, b.event_ids, b.count) < 0) {
        LOG_WARN("evaluator", "%s", store_last_error(store));
        return -1;
    }
    *cursor = b.last_event_id;
    metrics_count_evaluations(b.count, b.fired);
    return (long)b.count;
}

static void *evaluator_main(void *arg)
{
    struct evaluator *e = arg;
    struct store *store = NULL;
    struct rule_cache rules = {0};
    int64_t cursor = 0, cursor_reset_at = 0;
    while (engine_loop_running(&e->loop)) {
        if (!engine_loop_connect(&store, e->database_url, "evaluator")) {
            engine_loop_wait(&e->loop, RETRY_WAIT_MS);
            continue;
        }
        if (!rule_cache_refresh(&rules, store)) {
            LOG_WARN("evaluator", "cannot load rules: %s", store_last_error(store));
            engine_loop_wait(&e->loop, RETRY_WAIT_MS);
            continue;
        }
        int64_t now = timeutil_monotonic_us();
        if (now >= cursor_reset_at) {
            cursor = 0;
            cursor_reset_at = now + CURSOR_RESET_US;
        }
        long taken = run_batch(e, store, &rules, &cursor);
        if (taken < 0) {
            engine_loop_wait(&e->loop, RETRY_WAIT_MS);
        } else if (taken == 0 && cursor > 0) {
            cursor = 0; /* nothing further on: look again from the start right away */
        } else if (taken == 0) {
            engine_loop_wait(&e->loop, IDLE_WAIT_MS);
        } else if (taken < BATCH_EVENTS / 2) {
            engine_loop_wait(&e->loop, GATHER_WAIT_MS);
        }
    }
    rule_cache_clear(&rules);
    store_close(store);
    return NULL;
}

struct evaluator *evaluator_start(const char *database_url, const char *default_timezone)
{
    struct evaluator *e = calloc(1, sizeof *e);
    if (e == NULL || (e->database_url = strdup(database_url)) == NULL) {
        free(e);
        LOG_ERROR("evaluator", "out of memory");
        return NULL;
    }
    snprintf(e->default_timezone, sizeof e->default_timezone, "%s",
             default_timezone ? default_timezone : "UTC");
    engine_loop_init(&e->loop);
    atomic_init(&e->evaluated, 0);
    atomic_init(&e->fired, 0);
    if (pthread_create(&e->thread, NULL, evaluator_main, e) != 0) {
        LOG_ERROR("evaluator", "cannot start the evaluator thread");
        engine_loop_destroy(&e->loop);
        free(e->database_url);
        free(e);
        return NULL;
    }
    return e;
}

struct evaluator_stats evaluator_stats(struct evaluator *e)
{
    return (struct evaluator_stats){atomic_load(&e->evaluated), atomic_load(&e->fired)};
}

void evaluator_stop(struct evaluator *e)
{
    if (e == NULL)
        return;
    engine_loop_stop(&e->loop);
    pthread_join(e->thread, NULL);
    engine_loop_destroy(&e->loop);
    free(e->database_url);
    free(e);
}
