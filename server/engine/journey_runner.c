#include "engine/journey_runner.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/engine_loop.h"
#include "engine/rule_cache.h"
#include "store/store_engine.h"
#include "trigger/trigger_eval.h"
#include "trigger/trigger_template.h"

/* Runs claimed per transaction. */
#define BATCH_RUNS 500
/* How long an idle runner waits before looking again; a run woken by its event waits at most
 * this long for its next step. */
#define IDLE_WAIT_MS 200
#define RETRY_WAIT_MS 1000

struct journey_runner {
    char *database_url;
    char default_timezone[72];
    pthread_t thread;
    struct engine_loop loop;
    atomic_uint_fast64_t steps;
};

/* One claimed batch: where each run goes, and the deliveries its steps write. */
struct batch {
    const struct rule_cache *rules;
    int64_t *rule_ids; /* of the cached rules: the runs claimed are theirs */
    size_t rule_count;
    struct store_journey_move moves[BATCH_RUNS];
    size_t move_count;
    /* action steps: parallel arrays, `actions` owned */
    int64_t send_runs[BATCH_RUNS * 4];
    long send_steps[BATCH_RUNS * 4];
    char *actions[BATCH_RUNS * 4];
    size_t send_count;
    uint64_t steps;
    bool failed;
};

/* The path of step `at` as the admin view shows it: "end" past the last. */
static const char *path_of(const struct trigger_rule *rule, size_t at)
{
    return at < rule->step_count ? rule->steps[at].path : "end";
}

static void end_run(struct batch *b, const struct store_journey_run *run, long step,
                    const char *path, const char *status, const char *reason)
{
    b->moves[b->move_count++] = (struct store_journey_move){
        .run_id = run->id, .step = step, .step_path = path, .status = status, .end_reason = reason};
}

/* Renders an action step for the run and queues its deliveries; false when out of memory or
 * the batch has no room left (the run then stays where it is, for the next batch). */
static bool queue_action(struct batch *b, const struct store_journey_run *run,
                         const struct trigger_rule *rule, size_t at,
                         const struct trigger_facts *facts)
{
    if (b->send_count == sizeof b->actions / sizeof b->actions[0])
        return false;
    const struct trigger_step *step = &rule->steps[at];
    json_object *action = trigger_render_action_of(step->action_type, step->action, facts);
    if (action == NULL)
        return false;
    if (rule->transactional)
        json_object_object_add(action, "transactional", json_object_new_boolean(1));
    char *text = strdup(json_object_to_json_string_ext(action, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(action);
    if (text == NULL)
        return false;
    b->send_runs[b->send_count] = run->id;
    b->send_steps[b->send_count] = (long)at;
    b->actions[b->send_count++] = text;
    return true;
}

/*
 * Moves one run on from where it is: a new run (step -1, its rule's delay over) begins at the
 * first step, a run parked at a wait has waited (the claim says it is due, or its event
 * came), and any other step is yet to be done. Steps follow until a wait that has not ended,
 * or the end. Steps only lead forward, so this ends within step_count steps.
 */
static void advance(void *cls, const struct store_journey_run *run)
{
    struct batch *b = cls;
    if (b->failed)
        return;
    const struct cached_rule *cached = rule_cache_find(b->rules, run->rule_id);
    const struct trigger_rule *rule = cached ? cached->rule : NULL;
    if (rule == NULL || rule->steps == NULL) {
        end_run(b, run, run->step, "end", "exited", "its rule no longer has steps");
        return;
    }
    if (run->step < -1 || (run->step >= 0 && (size_t)run->step >= rule->step_count)) {
        end_run(b, run, run->step, "end", "exited", "its rule changed: the step is gone");
        return;
    }
    if (run->person_id == 0) {
        end_run(b, run, run->step, run->step < 0 ? "start" : path_of(rule, (size_t)run->step),
                "cancelled", "the person no longer exists");
        return;
    }
    json_object *done = json_tokener_parse(run->done_events);
    struct trigger_facts facts = {
        .event_name = run->event_name,
        .person_id = run->customer_id,
        .person_email = run->email,
        .journey_done = done,
        .unsubscribe_url = TRIGGER_UNSUBSCRIBE_PLACEHOLDER,
    };
    trigger_facts_parse(&facts, run->properties, run->attributes, run->relations);
    size_t at = run->step < 0 ? 0 : (size_t)run->step;
    size_t sends_before = b->send_count;
    uint64_t steps_before = b->steps;
    const struct trigger_step *here = &rule->steps[at];
    if (run->step >= 0 &&
        (here->kind == TRIGGER_STEP_WAIT || here->kind == TRIGGER_STEP_WAIT_UNTIL)) {
        at = here->next; /* the wait is over */
        b->steps++;
    }
    struct store_journey_move move = {.run_id = run->id, .status = "active"};
    bool parked = false, ok = true;
    while (!parked && ok && at < rule->step_count) {
        const struct trigger_step *step = &rule->steps[at];
        switch (step->kind) {
        case TRIGGER_STEP_WAIT:
            parked = step->wait_us > 0;
            move.wait_us = step->wait_us;
            break;
        case TRIGGER_STEP_WAIT_UNTIL: {
            json_object *name = json_object_new_string(step->event);
            json_object *event = NULL;
            for (size_t i = 0; done && name && i < json_object_array_length(done); i++)
                if (json_object_equal(json_object_array_get_idx(done, i), name))
                    event = name;
            json_object_put(name);
            parked = event == NULL; /* done already since the start: no wait */
            move.wait_us = step->wait_us;
            move.waiting_for = step->event;
            break;
        }
        case TRIGGER_STEP_ACTION:
            ok = queue_action(b, run, rule, at, &facts);
            break;
        case TRIGGER_STEP_BRANCH:
            break;
        }
        if (parked || !ok)
            break;
        b->steps++;
        at =
            step->kind == TRIGGER_STEP_BRANCH
                ? (trigger_conditions_hold(step->conditions, &facts) ? step->next : step->otherwise)
                : step->next;
    }
    if (!ok) {
        /* Out of room or memory: this run's sends are dropped and it stays where it was, to be
         * taken again (its lock ends with the transaction). */
        for (size_t i = sends_before; i < b->send_count; i++)
            free(b->actions[i]);
        b->send_count = sends_before;
        b->steps = steps_before;
    } else if (parked) {
        move.step = (long)at;
        move.step_path = rule->steps[at].path;
        if (rule->steps[at].kind != TRIGGER_STEP_WAIT_UNTIL)
            move.waiting_for = NULL;
        b->moves[b->move_count++] = move;
    } else {
        end_run(b, run, (long)rule->step_count, "end", "completed", NULL);
    }
    trigger_facts_release(&facts);
    json_object_put(done);
}

static void clear_sends(struct batch *b)
{
    for (size_t i = 0; i < b->send_count; i++)
        free(b->actions[i]);
    b->send_count = 0;
}

/* One batch; returns how many runs it claimed, or -1. */
static long run_batch(struct journey_runner *j, struct store *store, const struct rule_cache *rules,
                      struct batch *b)
{
    int64_t *rule_ids = b->rule_ids;
    size_t rule_count = b->rule_count;
    *b = (struct batch){.rules = rules, .rule_ids = rule_ids, .rule_count = rule_count};
    enum store_status claimed =
        store_claim_journey_runs(store, BATCH_RUNS, rule_ids, rule_count, advance, b);
    if (claimed < 0) {
        LOG_WARN("journeys", "%s", store_last_error(store));
        clear_sends(b);
        return -1;
    }
    bool ok =
        store_journey_send(store, b->send_runs, b->send_steps, (const char *const *)b->actions,
                           b->send_count, j->default_timezone) >= 0 &&
        store_journey_move(store, b->moves, b->move_count) >= 0 && store_journey_commit(store) >= 0;
    clear_sends(b);
    if (!ok) {
        LOG_WARN("journeys", "%s", store_last_error(store));
        store_abort(store);
        return -1;
    }
    atomic_fetch_add(&j->steps, b->steps);
    return (long)claimed;
}

/* The ids of the cached rules, into b->rule_ids (kept across batches); false when out of
 * memory. */
static bool list_rule_ids(const struct rule_cache *rules, struct batch *b)
{
    int64_t *ids = realloc(b->rule_ids, (rules->count ? rules->count : 1) * sizeof *ids);
    if (ids == NULL)
        return false;
    for (size_t i = 0; i < rules->count; i++)
        ids[i] = rules->rules[i].id;
    b->rule_ids = ids;
    b->rule_count = rules->count;
    return true;
}

static void *runner_main(void *arg)
{
    struct journey_runner *j = arg;
    struct store *store = NULL;
    struct rule_cache rules = {0};
    struct batch *b = calloc(1, sizeof *b);
    if (b == NULL) {
        LOG_ERROR("journeys", "out of memory: journeys do not move");
        return NULL;
    }
    while (engine_loop_running(&j->loop)) {
        if (!engine_loop_connect(&store, j->database_url, "journeys")) {
            engine_loop_wait(&j->loop, RETRY_WAIT_MS);
            continue;
        }
        if (!rule_cache_refresh(&rules, store) || !list_rule_ids(&rules, b)) {
            LOG_WARN("journeys", "cannot load rules: %s", store_last_error(store));
            engine_loop_wait(&j->loop, RETRY_WAIT_MS);
            continue;
        }
        long taken = run_batch(j, store, &rules, b);
        if (taken < 0)
            engine_loop_wait(&j->loop, RETRY_WAIT_MS);
        else if (taken < BATCH_RUNS)
            engine_loop_wait(&j->loop, IDLE_WAIT_MS);
    }
    free(b->rule_ids);
    free(b);
    rule_cache_clear(&rules);
    store_close(store);
    return NULL;
}

struct journey_runner *journey_runner_start(const char *database_url, const char *default_timezone)
{
    struct journey_runner *j = calloc(1, sizeof *j);
    if (j == NULL || (j->database_url = strdup(database_url)) == NULL) {
        free(j);
        LOG_ERROR("journeys", "out of memory");
        return NULL;
    }
    snprintf(j->default_timezone, sizeof j->default_timezone, "%s",
             default_timezone ? default_timezone : "UTC");
    engine_loop_init(&j->loop);
    atomic_init(&j->steps, 0);
    if (pthread_create(&j->thread, NULL, runner_main, j) != 0) {
        LOG_ERROR("journeys", "cannot start the journey runner thread");
        engine_loop_destroy(&j->loop);
        free(j->database_url);
        free(j);
        return NULL;
    }
    return j;
}

uint64_t journey_runner_steps(struct journey_runner *j)
{
    return atomic_load(&j->steps);
}

void journey_runner_stop(struct journey_runner *j)
{
    if (j == NULL)
        return;
    engine_loop_stop(&j->loop);
    pthread_join(j->thread, NULL);
    engine_loop_destroy(&j->loop);
    free(j->database_url);
    free(j);
}
