/* Rules, rule evaluation and the delivery outbox (store_rules.c, store_evaluations.c,
 * store_deliveries.c). */
#ifndef TRACKD_STORE_ENGINE_H
#define TRACKD_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- rules ---- */

struct store_rule_input {
    const char *name;
    const char *definition; /* JSON text */
    bool enabled;
    const char *trigger_event;
    const char *watch_events; /* JSON array of the event names its exit_on and goal watch */
    const char *trigger_type; /* event, page, screen */
};

struct store_rule_row {
    int64_t id;
    int64_t workspace_id;
    const char *name;
    const char *definition; /* JSON text */
    bool enabled;
    const char *updated_at;
};

/* The id of the workspace named `name`: STORE_ONE_RESULT, or STORE_NO_RESULTS if none. */
enum store_status store_find_workspace(struct store *store, const char *name, int64_t *id);

/* Inserts or replaces (by name) `count` rules of a workspace in one transaction: all or none. */
enum store_status store_upsert_rules(struct store *store, int64_t workspace_id,
                                     const struct store_rule_input *rules, size_t count);

/* Calls `each` for the rules of a workspace (0: every enabled rule of every workspace), by
 * workspace then name. The row's strings are lent for the call only. */
enum store_status store_list_rules(struct store *store, int64_t workspace_id,
                                   void (*each)(void *cls, const struct store_rule_row *rule),
                                   void *cls);

/* A text that changes whenever any rule is loaded or changed (for caches). */
enum store_status store_rules_version(struct store *store, char *out, size_t out_size);

/* One stored event a rule could have fired on, for `trackd rules test`: with its person as they
 * are now. Strings are lent for the call. */
struct store_history_event {
    int64_t event_id;
    const char *timestamp; /* ISO 8601, UTC */
    const char *day;       /* YYYY-MM-DD of the timestamp, UTC */
    const char *name;
    const char *properties; /* JSON text */
    int64_t person_id;
    const char *customer_id; /* may be NULL */
    const char *email;       /* may be NULL */
    const char *attributes;  /* JSON text */
    const char *relations;   /* JSON object: trackd_person_relations (segments, objects) */
    int64_t timestamp_us;    /* the timestamp as Unix microseconds */
};

/* Calls `each` for the events of a workspace's identified people with this name and type whose
 * timestamp is within `since_us` of now, oldest first, at most `limit`; only those of the person
 * whose id (customer_id), email or cio_id is `person` when it is not NULL. Returns the count. */
enum store_status
store_list_history(struct store *store, int64_t workspace_id, const char *event, const char *type,
                   int64_t since_us, const char *person, long limit,
                   void (*each)(void *cls, const struct store_history_event *event), void *cls);

/* ---- evaluation ---- */

/* An event waiting for evaluation, with what rules may read. Strings are lent for the call. */
struct store_pending_event {
    int64_t event_id;
    int64_t workspace_id;
    int64_t person_id; /* 0 when the person is gone */
    const char *type;  /* event, page, screen */
    const char *name;
    const char *properties;  /* JSON text */
    bool may_fire;           /* eligible, not inherited, timestamp within 72 h of now */
    const char *customer_id; /* may be NULL */
    const char *email;       /* may be NULL */
    const char *attributes;  /* JSON text, "{}" when the person is gone */
    const char *relations;   /* JSON object: trackd_person_relations (segments, objects) */
};

/* Text of properties and attributes a batch of evaluations holds at most (but one event). */
#define STORE_EVALUATION_BATCH_BYTES (8 * 1024 * 1024)

/* Opens a transaction and claims up to `limit` waiting events with ids above `after_event_id`
 * (skipping those another evaluator holds), in id order, fewer when their properties and
 * attributes together pass STORE_EVALUATION_BATCH_BYTES as text, calling `each` for every one. The
 * transaction stays open: record firings with store_fire and end with store_finish_evaluations
 * (or store_abort). Callers move `after_event_id` forward as they go, because the queue's
 * index keeps the entries of evaluated events until vacuum, and scanning from the start every
 * time would walk all of them; they come back to 0 now and then to catch events queued late
 * with a lower id (anonymous events linked to a person). */
enum store_status
store_claim_evaluations(struct store *store, unsigned limit, int64_t after_event_id,
                        void (*each)(void *cls, const struct store_pending_event *event),
                        void *cls);

/* Inside the evaluation's transaction, a rule's exit_on event: cancels what `rule_id` has pending
 * for the person (*count: how many). */
enum store_status store_exit(struct store *store, int64_t rule_id, int64_t person_id,
                             const char *event_name, long *count);

/* Inside the evaluation's transaction, a rule's goal event: marks converted the deliveries of
 * `rule_id` sent to the person within `within_us` before the event (*count: how many). */
enum store_status store_convert(struct store *store, int64_t rule_id, int64_t person_id,
                                int64_t event_id, int64_t within_us, long *count);

/* Inside the evaluation's transaction, an event a rule's journey asks about: the person's
 * active runs of `rule_id` (but one this event started) remember it, and one waiting for it
 * moves on (*count: runs). */
enum store_status store_journey_event(struct store *store, int64_t rule_id, int64_t person_id,
                                      int64_t event_id, const char *event_name, long *count);

/* Records a firing and its deliveries inside the evaluation's transaction. `frequency` is
 * "every_time", "once" or "at_most_every"; `action` the rendered action as JSON, or NULL for a
 * journey, which starts a run keeping `trigger` ({"name", "properties"} as JSON) for its steps,
 * due after `delay_us`.
 * For a rule with a send window, `window_timezone` is TRACKD_DEFAULT_TIMEZONE and the
 * deliveries are due at the window's next opening when the delay ends outside it; NULL for a
 * rule without one. *fired is false when the frequency held it back. */
enum store_status store_fire(struct store *store, int64_t workspace_id, int64_t rule_id,
                             int64_t person_id, int64_t event_id, const char *frequency,
                             int64_t interval_us, int64_t delay_us, const char *action,
                             const char *window_timezone, const char *trigger, bool *fired);

/* ---- journeys ---- */

/* One due journey run as the runner claims it; strings lent for the call only. */
struct store_journey_run {
    int64_t id;
    int64_t workspace_id;
    int64_t rule_id;
    int64_t person_id;       /* 0 when gone */
    long step;               /* where it is; -1 before the first step */
    const char *event_name;  /* the trigger event's */
    const char *properties;  /* its properties, JSON text */
    const char *done_events; /* JSON array of names */
    const char *customer_id; /* the person's, now; may be NULL */
    const char *email;       /* may be NULL */
    const char *attributes;  /* JSON text */
    const char *relations;   /* JSON object: trackd_person_relations (segments, objects) */
};

/* Opens a transaction and claims up to `limit` due runs of the rules `rule_ids` (FOR UPDATE
 * SKIP LOCKED: many runners share them), calling `each` for each. The transaction stays open:
 * move the runs with store_journey_send and store_journey_move, then store_journey_commit (or
 * store_abort). Returns how many were claimed. */
enum store_status
store_claim_journey_runs(struct store *store, unsigned limit, const int64_t *rule_ids,
                         size_t rule_count,
                         void (*each)(void *cls, const struct store_journey_run *run), void *cls);

/* One action step's deliveries, as rendered actions (JSON text), for many runs at once. */
enum store_status store_journey_send(struct store *store, const int64_t *run_ids, const long *steps,
                                     const char *const *actions, size_t count,
                                     const char *window_timezone);

/* Where each run goes: its step and step path, its status ("active", "completed",
 * "exited"), how long until it moves on (active), the event it waits for (or NULL), why it
 * ended (or NULL). */
struct store_journey_move {
    int64_t run_id;
    long step;
    const char *step_path;
    const char *status;
    int64_t wait_us;
    const char *waiting_for;
    const char *end_reason;
};
enum store_status store_journey_move(struct store *store, const struct store_journey_move *moves,
                                     size_t count);

/* Commits the runner's transaction. */
enum store_status store_journey_commit(struct store *store);

/* Removes the claimed events from the queue and commits the evaluation. */
enum store_status store_finish_evaluations(struct store *store, const int64_t *event_ids,
                                           size_t count);

/* Rolls back an open transaction (after a failure). */
void store_abort(struct store *store);

/* ---- deliveries ---- */

struct store_delivery {
    int64_t id;
    int64_t workspace_id;
    int64_t person_id;     /* 0 when gone */
    int64_t device_id;     /* 0 when none */
    int attempts;          /* including the one being made */
    const char *action;    /* JSON text */
    const char *public_id; /* the unguessable id pushes carry (CIO-Delivery-ID) */
    const char *platform;  /* the device's: "ios", "android"; "" when there is none (any more) */
    const char *unsubscribe_token; /* an email's signed unsubscribe token; NULL otherwise */
};

/* Claims up to `limit` due deliveries for `lease_s` seconds (committed at once, so that the
 * sending happens outside any transaction) and calls `each` for each; the row's strings are lent
 * for the call only. A worker that dies leaves its claims to expire and be taken again:
 * at-least-once, same delivery id. On the way, pushes to unsubscribed people are skipped and
 * deliveries outside their rule's send window wait for it to open (trackd_claim_deliveries),
 * in `default_timezone` for people without a valid timezone attribute. */
enum store_status
store_claim_deliveries(struct store *store, unsigned limit, unsigned lease_s,
                       const char *default_timezone,
                       void (*each)(void *cls, const struct store_delivery *delivery), void *cls);

/* What a rule's recheck reads of one delivery: the rule as stored now, the event that fired it,
 * the person as they are now. Strings are lent for the call; NULL when absent. */
struct store_recheck_facts {
    const char *rule_definition; /* JSON text */
    const char *event_name;
    const char *event_properties; /* JSON text, "{}" when the event is gone */
    const char *customer_id;
    const char *email;
    const char *person_attributes; /* JSON text, "{}" when the person is gone */
    const char *person_relations;  /* JSON object: trackd_person_relations */
};

/* Calls `each` once with the facts of delivery `id` (not at all when its rule is gone). */
enum store_status
store_delivery_recheck_facts(struct store *store, int64_t id,
                             void (*each)(void *cls, const struct store_recheck_facts *facts),
                             void *cls);

/* Marks a claimed delivery skipped, with `reason` as its last_error. */
enum store_status store_delivery_skip(struct store *store, int64_t id, const char *reason);

/* Marks `count` deliveries sent, with the HTTP status each got, in one statement (one commit for
 * many sends: the outcome writes must not cost a disk flush each). */
enum store_status store_deliveries_sent(struct store *store, const int64_t *ids,
                                        const int *response_codes, size_t count);

/* Marks a failed attempt: `retry_in_ms` >= 0 makes it retrying (due again then), < 0 dead.
 * `error` is kept (capped at 1000 characters). */
enum store_status store_delivery_failed(struct store *store, int64_t id, int response_code,
                                        const char *error, int64_t retry_in_ms);

/* Applies a set_attributes delivery to its person and marks it sent (cancelled if the person
 * is gone). */
enum store_status store_delivery_apply_attributes(struct store *store, int64_t id);

/* Removes a device FCM or APNs reported as unregistered. */
enum store_status store_delete_device(struct store *store, int64_t device_id);

#endif
