/*
 * The enabled rules of every workspace, parsed once and indexed by (workspace, trigger type,
 * trigger event), so that an event meets only the rules it is a candidate for.
 */
#ifndef TRACKD_ENGINE_RULE_CACHE_H
#define TRACKD_ENGINE_RULE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_engine.h"
#include "trigger/trigger_rule.h"

struct cached_rule {
    int64_t id;
    int64_t workspace_id;
    struct trigger_rule *rule; /* owned by the cache */
};

/* A custom event a rule watches besides its trigger (exit_on, goal, what its journey asks
 * about): once per rule and event. */
struct cached_watcher {
    int64_t workspace_id;
    const char *event;              /* lent by the rule */
    const struct cached_rule *rule; /* in the cache's rules */
};

struct rule_cache {
    struct cached_rule *rules; /* sorted by workspace, type, event */
    size_t count;
    struct cached_watcher *watchers; /* sorted by workspace, event */
    size_t watcher_count;
    char version[64]; /* store_rules_version when loaded */
};

/* Reloads the rules when they changed since the last load. A rule that no longer parses is
 * skipped and logged. False when the database could not be read. */
bool rule_cache_refresh(struct rule_cache *cache, struct store *store);

/* The candidates of an event: *first is the first, *count how many follow it. */
void rule_cache_candidates(const struct rule_cache *cache, int64_t workspace_id,
                           enum trigger_event_type type, const char *event,
                           const struct cached_rule **first, size_t *count);

/* The rules that watch a custom event of a workspace in their exit_on or goal: *first is the
 * first, *count how many follow it. */
void rule_cache_watchers(const struct rule_cache *cache, int64_t workspace_id, const char *event,
                         const struct cached_watcher **first, size_t *count);

/* The cached rule with this id, or NULL (disabled, deleted, or no longer parsing). */
const struct cached_rule *rule_cache_find(const struct rule_cache *cache, int64_t rule_id);

/* Frees every rule; the cache is empty afterwards. */
void rule_cache_clear(struct rule_cache *cache);

#endif
