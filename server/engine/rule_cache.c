#include "engine/rule_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"
#include "common/log.h"

static int compare_key(int64_t ws_a, enum trigger_event_type type_a, const char *event_a,
                       int64_t ws_b, enum trigger_event_type type_b, const char *event_b)
{
    if (ws_a != ws_b)
        return ws_a < ws_b ? -1 : 1;
    if (type_a != type_b)
        return type_a < type_b ? -1 : 1;
    return strcmp(event_a, event_b);
}

static int compare_rules(const void *a, const void *b)
{
    const struct cached_rule *x = a, *y = b;
    return compare_key(x->workspace_id, x->rule->type, x->rule->event, y->workspace_id,
                       y->rule->type, y->rule->event);
}

struct loading {
    struct cached_rule *rules;
    size_t count, capacity;
};

static void take_rule(void *cls, const struct store_rule_row *row)
{
    struct loading *l = cls;
    char field[160], message[256], parse_error[160];
    /* Rules nest conditions deeper than json-c's default depth of 32 allows. */
    json_object *definition =
        json_check_parse(row->definition, strlen(row->definition), parse_error, sizeof parse_error);
    struct trigger_rule *rule =
        definition ? trigger_rule_parse(definition, field, sizeof field, message, sizeof message)
                   : NULL;
    json_object_put(definition);
    if (rule == NULL) {
        LOG_WARN("evaluator", "rule %s (id %lld) is skipped: %s", row->name, (long long)row->id,
                 definition ? message : "its definition is not JSON");
        return;
    }
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 16;
        struct cached_rule *grown = realloc(l->rules, capacity * sizeof *grown);
        if (grown == NULL) {
            trigger_rule_free(rule);
            return;
        }
        l->rules = grown;
        l->capacity = capacity;
    }
    l->rules[l->count++] = (struct cached_rule){row->id, row->workspace_id, rule};
}

static int compare_watchers(const void *a, const void *b)
{
    const struct cached_watcher *x = a, *y = b;
    if (x->workspace_id != y->workspace_id)
        return x->workspace_id < y->workspace_id ? -1 : 1;
    int by_event = strcmp(x->event, y->event);
    if (by_event != 0)
        return by_event;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Adds a watcher unless the rule watches that event already; false when out of memory. */
static bool add_watcher(struct rule_cache *cache, size_t *capacity, const struct cached_rule *rule,
                        const char *event)
{
    for (size_t i = 0; i < cache->watcher_count; i++)
        if (cache->watchers[i].rule == rule && strcmp(cache->watchers[i].event, event) == 0)
            return true;
    if (cache->watcher_count == *capacity) {
        size_t grown_capacity = *capacity ? *capacity * 2 : 16;
        struct cached_watcher *grown =
            realloc(cache->watchers, grown_capacity * sizeof *cache->watchers);
        if (grown == NULL)
            return false;
        cache->watchers = grown;
        *capacity = grown_capacity;
    }
    cache->watchers[cache->watcher_count++] =
        (struct cached_watcher){rule->workspace_id, event, rule};
    return true;
}

/* Indexes the events the cached rules watch (exit_on, goal). */
static void index_watchers(struct rule_cache *cache)
{
    size_t capacity = 0;
    for (size_t i = 0; i < cache->count; i++) {
        const struct cached_rule *r = &cache->rules[i];
        bool ok = true;
        for (size_t e = 0; ok && e < r->rule->exit_count; e++)
            ok = add_watcher(cache, &capacity, r, r->rule->exits[e].event);
        if (ok && r->rule->goal.event != NULL)
            ok = add_watcher(cache, &capacity, r, r->rule->goal.event);
        for (size_t e = 0; ok && e < r->rule->journey_event_count; e++)
            ok = add_watcher(cache, &capacity, r, r->rule->journey_events[e]);
        if (!ok)
            LOG_WARN("evaluator",
                     "out of memory: exits, goals and journey events of rule %s are not watched",
                     r->rule->name);
    }
    if (cache->watcher_count > 1)
        qsort(cache->watchers, cache->watcher_count, sizeof *cache->watchers, compare_watchers);
}

bool rule_cache_refresh(struct rule_cache *cache, struct store *store)
{
    char version[64];
    if (store_rules_version(store, version, sizeof version) < 0)
        return false;
    if (strcmp(version, cache->version) == 0)
        return true;
    struct loading l = {0};
    if (store_list_rules(store, 0, take_rule, &l) < 0) {
        for (size_t i = 0; i < l.count; i++)
            trigger_rule_free(l.rules[i].rule);
        free(l.rules);
        return false;
    }
    /* With no rule, l.rules is NULL, and qsort's array must be valid even when empty. */
    if (l.count > 1)
        qsort(l.rules, l.count, sizeof *l.rules, compare_rules);
    rule_cache_clear(cache);
    cache->rules = l.rules;
    cache->count = l.count;
    index_watchers(cache);
    memcpy(cache->version, version, sizeof cache->version);
    LOG_INFO("evaluator", "loaded %zu enabled rules", l.count);
    return true;
}

void rule_cache_candidates(const struct rule_cache *cache, int64_t workspace_id,
                           enum trigger_event_type type, const char *event,
                           const struct cached_rule **first, size_t *count)
{
    /* Binary search for the first rule not below the key, then count the equal ones. */
    size_t lo = 0, hi = cache->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cached_rule *r = &cache->rules[mid];
        if (compare_key(r->workspace_id, r->rule->type, r->rule->event, workspace_id, type, event) <
            0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < cache->count &&
           compare_key(cache->rules[lo + n].workspace_id, cache->rules[lo + n].rule->type,
                       cache->rules[lo + n].rule->event, workspace_id, type, event) == 0)
        n++;
    *first = n ? &cache->rules[lo] : NULL;
    *count = n;
}

void rule_cache_watchers(const struct rule_cache *cache, int64_t workspace_id, const char *event,
                         const struct cached_watcher **first, size_t *count)
{
    size_t lo = 0, hi = cache->watcher_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cached_watcher *w = &cache->watchers[mid];
        if (w->workspace_id < workspace_id ||
            (w->workspace_id == workspace_id && strcmp(w->event, event) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < cache->watcher_count && cache->watchers[lo + n].workspace_id == workspace_id &&
           strcmp(cache->watchers[lo + n].event, event) == 0)
        n++;
    *first = n ? &cache->watchers[lo] : NULL;
    *count = n;
}

void rule_cache_clear(struct rule_cache *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        trigger_rule_free(cache->rules[i].rule);
    free(cache->rules);
    cache->rules = NULL;
    cache->count = 0;
    free(cache->watchers);
    cache->watchers = NULL;
    cache->watcher_count = 0;
    cache->version[0] = '\0';
}

const struct cached_rule *rule_cache_find(const struct rule_cache *cache, int64_t rule_id)
{
    /* Rules are sorted by trigger, not id; a journey runner looks up a few per batch. */
    for (size_t i = 0; i < cache->count; i++)
        if (cache->rules[i].id == rule_id)
            return &cache->rules[i];
    return NULL;
}
