/*
 * Campaign rules (SPEC §5): parsing and validation of a rule definition into a struct
 * trigger_rule. Pure: no I/O, no clock, no globals. A parsed rule is independent of the JSON it
 * came from (every value it keeps is a deep copy) and is never modified after parsing, so several
 * threads may evaluate one rule at once.
 */
#ifndef TRACKD_TRIGGER_RULE_H
#define TRACKD_TRIGGER_RULE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trigger/trigger_window.h"

/*
 * Limits of a rule definition; messages name them. SPEC §5 sets none for the description (this
 * keeps rows small); the event name and attribute name limits are ingest's own (api_fields.h), so
 * a rule can name every event and set every attribute that ingest accepts, and no other.
 */
#define TRIGGER_NAME_MAX 100 /* characters of [A-Za-z0-9._-] */
#define TRIGGER_DESCRIPTION_MAX_BYTES 1000
#define TRIGGER_EVENT_MAX_BYTES 100
#define TRIGGER_ATTRIBUTE_NAME_MAX_BYTES 150
#define TRIGGER_FIELD_MAX_BYTES 255    /* a condition's whole "event.<path>" or "person.<path>" */
#define TRIGGER_CONDITION_DEPTH_MAX 16 /* a top-level condition is at depth 1 */
#define TRIGGER_DURATION_MAX_US (INT64_C(365) * 86400 * 1000000)
/* A webhook header as written (a template; what it renders to is sent whole, never cut). The
 * value limit leaves room for long bearer tokens and JWTs within the 8 KB that servers commonly
 * accept for a header; action.url's limit is TRIGGER_URL_MAX_BYTES (trigger_url.h). */
#define TRIGGER_HEADER_NAME_MAX_BYTES 256
#define TRIGGER_HEADER_VALUE_MAX_BYTES 8192

/* What kind of event fires a rule (trigger.type). */
enum trigger_event_type {
    TRIGGER_TYPE_EVENT,  /* a custom event: Pipelines track, Track API events */
    TRIGGER_TYPE_PAGE,   /* a page view; its name is the page name or URL */
    TRIGGER_TYPE_SCREEN, /* a mobile screen view */
};

/* How often a rule may fire for one person. */
enum trigger_frequency {
    TRIGGER_EVERY_TIME,    /* every matching event */
    TRIGGER_ONCE,          /* the first matching event per person, ever */
    TRIGGER_AT_MOST_EVERY, /* again only once at_most_every_us has passed since the last firing */
};

/* What a rule does when it fires (action.type). */
enum trigger_action_type {
    TRIGGER_ACTION_PUSH,           /* title, body, data, link, image: to each device */
    TRIGGER_ACTION_WEBHOOK,        /* url, method (POST when absent), headers, body */
    TRIGGER_ACTION_SET_ATTRIBUTES, /* attributes: merged into the person's attributes */
    TRIGGER_ACTION_EMAIL,          /* to (default: the person's email), subject, html, text */
};

/* Most steps a journey may have, counting those inside branches, and how deep branches nest. */
#define TRIGGER_STEPS_MAX 100
#define TRIGGER_STEP_DEPTH_MAX 8

/* What a journey step does. */
enum trigger_step_kind {
    TRIGGER_STEP_WAIT,       /* {"wait": DURATION} */
    TRIGGER_STEP_WAIT_UNTIL, /* {"wait_until": {"event", "within"}}: until the event or the end */
    TRIGGER_STEP_ACTION,     /* {"action": {...}}: as a rule's action */
    TRIGGER_STEP_BRANCH,     /* {"branch": {"if": [...], "then": [...], "else": [...]}} */
};

/*
 * One step of a journey. A rule's steps, with those of its branches, are laid out depth first
 * in one array (a branch, its then steps, its else steps, what follows), and each step says
 * which comes next, so that a run's place is one number and runs only move forward.
 */
struct trigger_step {
    enum trigger_step_kind kind;
    char *path;                           /* as written: "steps[2]", "steps[2].then[0]" (owned) */
    int64_t wait_us;                      /* WAIT: how long; WAIT_UNTIL: the longest wait */
    char *event;                          /* WAIT_UNTIL: the event waited for (owned) */
    struct trigger_condition *conditions; /* BRANCH: "if" (owned; NULL holds) */
    enum trigger_action_type action_type; /* ACTION */
    json_object *action;                  /* ACTION: as given, owned (templates not rendered) */
    size_t next;      /* the step after this one (BRANCH: when "if" holds); step_count: the end */
    size_t otherwise; /* BRANCH: the step when "if" does not hold */
};

/* The comparison of a condition leaf ("op"). */
enum trigger_op {
    TRIGGER_OP_EQ,
    TRIGGER_OP_NEQ,
    TRIGGER_OP_GT,
    TRIGGER_OP_GTE,
    TRIGGER_OP_LT,
    TRIGGER_OP_LTE,
    TRIGGER_OP_CONTAINS,
    TRIGGER_OP_STARTS_WITH,
    TRIGGER_OP_IN,
    TRIGGER_OP_EXISTS,
    TRIGGER_OP_NOT_EXISTS,
};

/* The kind of a node in a condition tree. */
enum trigger_condition_kind {
    TRIGGER_CONDITION_LEAF, /* field op value */
    TRIGGER_CONDITION_ALL,  /* every child holds ({"all": [...]} and the top-level list) */
    TRIGGER_CONDITION_ANY,  /* at least one child holds ({"any": [...]}) */
};

/*
 * A condition tree. Treat it as opaque outside server/trigger/: its members are here only because
 * trigger_eval.c walks them. Built by trigger_rule_parse and freed with the rule.
 */
struct trigger_condition {
    enum trigger_condition_kind kind;
    /* TRIGGER_CONDITION_LEAF */
    char *field; /* "event.price", "person.plan", "event.name", ... (owned) */
    enum trigger_op op;
    json_object *value; /* owned deep copy; NULL for JSON null and for exists/not_exists */
    /* TRIGGER_CONDITION_ALL and TRIGGER_CONDITION_ANY: at least one child */
    struct trigger_condition **children; /* owned array of owned children */
    size_t child_count;
};

/* An event a rule watches besides its trigger: an exit_on entry, or the goal. */
struct trigger_watch {
    char *event;                          /* a custom event's name, <= 100 bytes (owned) */
    struct trigger_condition *conditions; /* on that event and the person; NULL: none */
};

/* Most exit_on entries a rule may have. */
#define TRIGGER_EXITS_MAX 16

/* A parsed rule; every pointer is owned by the rule and freed by trigger_rule_free. */
struct trigger_rule {
    char *name;                   /* 1..100 chars of [A-Za-z0-9._-] */
    char *description;            /* may be NULL */
    bool enabled;                 /* default true */
    char *event;                  /* trigger.event, required, <= 100 bytes */
    enum trigger_event_type type; /* trigger.type: "event" (default), "page", "screen" */
    /* conditions: the top-level list as an implicit all; NULL when none */
    struct trigger_condition *conditions;
    enum trigger_frequency frequency; /* "every_time" (default), "once", {"at_most_every": "24h"} */
    int64_t at_most_every_us;         /* > 0 for TRIGGER_AT_MOST_EVERY, else 0 */
    int64_t delay_us;                 /* "delay": duration, default "0s" */
    /* "transactional": true sends messages (push) even to people whose `unsubscribed`
     * attribute is true; default false */
    bool transactional;
    struct trigger_send_window send_window; /* "send_window"; .set false when absent */
    /* "exit_on": events that cancel what the rule still has pending for the person */
    struct trigger_watch *exits;
    size_t exit_count;
    /* "goal": {"event", "within", "conditions"}: an event that, within `goal_within_us` after
     * a delivery was sent, counts it converted; goal.event NULL when the rule has none */
    struct trigger_watch goal;
    int64_t goal_within_us;
    /* "recheck": true checks the conditions again, on the person as they are then, when a
     * delayed delivery falls due; default false */
    bool recheck;
    enum trigger_action_type action_type;
    json_object *action; /* the action object as given (a deep copy, owned; templates not
                          * rendered); absent optional keys stay absent (webhook method: POST);
                          * NULL for a journey */
    /* "steps" instead of "action": a journey (see struct trigger_step); NULL/0 otherwise */
    struct trigger_step *steps;
    size_t step_count;
    /* The events the steps ask about (wait_until, journey.done in a branch), once each */
    char **journey_events;
    size_t journey_event_count;
};

/*
 * Validates and parses a rule definition (lent; not modified, not kept). Returns a new rule the
 * caller frees with trigger_rule_free. On failure returns NULL and writes the path of the bad
 * field ("trigger.event", "conditions[2].any[0].op", "action.url", "frequency.at_most_every",
 * "rule" when the definition is not an object) to `field` and a sentence naming it to `message`;
 * both are truncated to their sizes and may be NULL with size 0. On success both are set empty.
 * Unknown keys anywhere in the rule are refused, naming them: in a rule, a typo is a bug.
 * Out of memory also returns NULL, with the message "out of memory".
 */
struct trigger_rule *trigger_rule_parse(json_object *definition, char *field, size_t field_size,
                                        char *message, size_t message_size);

/* Receives one warning: the field ("action.headers.X-User") and a sentence about it. */
typedef void trigger_warning_fn(void *cls, const char *field, const char *message);

/*
 * Reports what a valid rule holds that its author should know about, one call of `warn` per
 * warning: for now, each webhook header whose value holds a template (client data in a header).
 * Warnings never refuse a rule. `rule` may be NULL (no warnings).
 */
void trigger_rule_warnings(const struct trigger_rule *rule, trigger_warning_fn *warn, void *cls);

/* Frees `rule` and everything it owns; accepts NULL. */
void trigger_rule_free(struct trigger_rule *rule);

/*
 * Parses a duration: an unsigned decimal integer followed by one unit, s, m, h or d ("30s",
 * "10m", "2h", "1d", "0s"), at most 365 days, nothing else (no sign, spaces or fractions).
 * Returns false on any other text, leaving *out_us untouched.
 */
bool trigger_parse_duration(const char *text, int64_t *out_us);

/* "event", "page" or "screen": a static string, never freed. */
const char *trigger_event_type_name(enum trigger_event_type type);

#endif
