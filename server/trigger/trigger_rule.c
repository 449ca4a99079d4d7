#include "trigger/trigger_rule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trigger/trigger_liquid.h"
#include "trigger/trigger_template.h"
#include "trigger/trigger_url.h"

#define US_PER_SEC INT64_C(1000000)
#define DURATION_HINT "a duration like \"30s\", \"10m\", \"2h\" or \"1d\" (at most 365d)"

/* Where a refusal is written: the caller's buffers, either of which may be NULL with size 0;
 * and what the parse is in the middle of, for the fields only a journey's branch may name. */
struct refusal {
    char *field;
    size_t field_size;
    char *message;
    size_t message_size;
    bool in_branch;            /* parsing a branch's "if": journey.done is allowed */
    struct trigger_rule *rule; /* the rule being built: journey_events are gathered into it */
};

/* Records why the rule is refused; always returns false, for `return refuse(...)`. */
__attribute__((format(printf, 3, 4))) static bool refuse(struct refusal *r, const char *field,
                                                         const char *fmt, ...)
{
    if (r->field_size > 0)
        snprintf(r->field, r->field_size, "%s", field);
    if (r->message_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->message, r->message_size, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* Writes "path.key" (or "key" at the top level, where path is "") to out. */
static void join_path(char *out, size_t size, const char *path, const char *key)
{
    snprintf(out, size, "%s%s%s", path, *path ? "." : "", key);
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/* The value of `key`, lent; NULL when absent or JSON null (for optional keys, the same). */
static json_object *member(json_object *object, const char *key)
{
    json_object *value = NULL;
    json_object_object_get_ex(object, key, &value);
    return value;
}

/*
 * Refuses the first key of `object` that is not in `allowed` (NULL-terminated). `path` names the
 * object ("" for the rule itself, "action", "conditions[0]").
 */
static bool only_known_keys(json_object *object, const char *path, const char *const *allowed,
                            struct refusal *r)
{
    json_object_object_foreach(object, key, value)
    {
        (void)value;
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (*a)
            continue;
        char expected[200] = "";
        for (a = allowed; *a; a++)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                     a == allowed ? "" : ", ", *a);
        char field[320];
        join_path(field, sizeof field, path, key);
        return refuse(r, field, "unknown key \"%s\" in %s (expected %s)", key,
                      *path ? path : "the rule", expected);
    }
    return true;
}

/*
 * A string member: *out is lent, or NULL when absent or null. Another type refuses; so does
 * absence, or a blank string, when `required`.
 */
static bool string_member(json_object *object, const char *path, const char *key, bool required,
                          const char **out, struct refusal *r)
{
    char field[320];
    join_path(field, sizeof field, path, key);
    json_object *value = member(object, key);
    *out = NULL;
    if (value != NULL && !json_object_is_type(value, json_type_string))
        return refuse(r, field, "%s must be a string", field);
    if (value != NULL)
        *out = json_object_get_string(value);
    if (required && (*out == NULL || is_blank(*out)))
        return refuse(r, field, "%s is required and must be a non-empty string", field);
    return true;
}

/* A copy of `text` into *out (NULL stays NULL); refuses only when out of memory. */
static bool copy_string(const char *text, const char *field, char **out, struct refusal *r)
{
    *out = NULL;
    if (text == NULL)
        return true;
    *out = strdup(text);
    return *out != NULL || refuse(r, field, "out of memory");
}

bool trigger_parse_duration(const char *text, int64_t *out_us)
{
    static const int64_t max_seconds = TRIGGER_DURATION_MAX_US / US_PER_SEC;
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    int64_t count = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        count = count * 10 + (*p - '0');
        if (count > max_seconds) /* also keeps the next multiplication from overflowing */
            return false;
    }
    int64_t unit;
    switch (*p) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return false;
    }
    if (p[1] != '\0' || count * unit > max_seconds)
        return false;
    *out_us = count * unit * US_PER_SEC;
    return true;
}

const char *trigger_event_type_name(enum trigger_event_type type)
{
    switch (type) {
    case TRIGGER_TYPE_EVENT:
        return "event";
    case TRIGGER_TYPE_PAGE:
        return "page";
    case TRIGGER_TYPE_SCREEN:
        return "screen";
    }
    return "event";
}

/* ---- conditions ---- */

static void condition_free(struct trigger_condition *c)
{
    if (c == NULL)
        return;
    free(c->field);
    json_object_put(c->value);
    for (size_t i = 0; i < c->child_count; i++)
        condition_free(c->children[i]);
    free(c->children);
    free(c);
}

static const struct {
    const char *name;
    enum trigger_op op;
} operators[] = {
    {"eq", TRIGGER_OP_EQ},
    {"neq", TRIGGER_OP_NEQ},
    {"gt", TRIGGER_OP_GT},
    {"gte", TRIGGER_OP_GTE},
    {"lt", TRIGGER_OP_LT},
    {"lte", TRIGGER_OP_LTE},
    {"contains", TRIGGER_OP_CONTAINS},
    {"starts_with", TRIGGER_OP_STARTS_WITH},
    {"in", TRIGGER_OP_IN},
    {"exists", TRIGGER_OP_EXISTS},
    {"not_exists", TRIGGER_OP_NOT_EXISTS},
};
#define OPERATOR_COUNT (sizeof operators / sizeof operators[0])

/* "event.<path>" or "person.<path>" with no empty segment; event.name, person.id and
 * person.email are paths like any other here. */
static bool valid_field(const char *text)
{
    const char *rest;
    if (strcmp(text, "journey.done") == 0)
        return true; /* parse_leaf checks where it may stand */
    if (strncmp(text, "event.", 6) == 0)
        rest = text + 6;
    else if (strncmp(text, "person.", 7) == 0)
        rest = text + 7;
    else
        return false;
    if (strlen(text) > TRIGGER_FIELD_MAX_BYTES || *rest == '\0')
        return false;
    for (const char *p = rest; *p; p++)
        if (*p == '.' && (p == rest || p[1] == '.' || p[1] == '\0'))
            return false;
    return true;
}

/* Checks the "value" of a leaf against its operator; *value is lent (NULL for JSON null). */
static bool check_value(json_object *leaf, const char *path, const char *op_name,
                        enum trigger_op op, json_object **value, struct refusal *r)
{
    char field[320];
    join_path(field, sizeof field, path, "value");
    bool present = json_object_object_get_ex(leaf, "value", value);
    switch (op) {
    case TRIGGER_OP_EXISTS:
    case TRIGGER_OP_NOT_EXISTS:
        if (present)
            return refuse(r, field, "%s must be left out: %s takes no value", field, op_name);
        return true;
    case TRIGGER_OP_IN:
        if (!present || !json_object_is_type(*value, json_type_array) ||
            json_object_array_length(*value) == 0)
            return refuse(r, field, "%s must be a non-empty array for in", field);
        return true;
    case TRIGGER_OP_GT:
    case TRIGGER_OP_GTE:
    case TRIGGER_OP_LT:
    case TRIGGER_OP_LTE:
        if (!present || !(json_object_is_type(*value, json_type_int) ||
                          json_object_is_type(*value, json_type_double) ||
                          json_object_is_type(*value, json_type_string)))
            return refuse(r, field, "%s must be a number or a string for %s", field, op_name);
        return true;
    case TRIGGER_OP_STARTS_WITH:
        if (!present || !json_object_is_type(*value, json_type_string))
            return refuse(r, field, "%s must be a string for starts_with", field);
        return true;
    case TRIGGER_OP_EQ:
    case TRIGGER_OP_NEQ:
    case TRIGGER_OP_CONTAINS:
        if (!present)
            return refuse(r, field, "%s is required for %s", field, op_name);
        return true;
    }
    return true;
}

static struct trigger_condition *parse_condition(json_object *item, const char *path, int depth,
                                                 struct refusal *r);

/* Parses a non-empty array of conditions at `path` ("conditions", "conditions[0].any") into a
 * node of `kind` whose children sit at `depth`. */
static struct trigger_condition *parse_group(json_object *array, enum trigger_condition_kind kind,
                                             const char *path, int depth, struct refusal *r)
{
    if (!json_object_is_type(array, json_type_array) || json_object_array_length(array) == 0) {
        refuse(r, path, "%s must be a non-empty array of conditions", path);
        return NULL;
    }
    size_t count = json_object_array_length(array);
    struct trigger_condition *node = calloc(1, sizeof *node);
    if (node == NULL || (node->children = calloc(count, sizeof *node->children)) == NULL) {
        refuse(r, path, "out of memory");
        free(node);
        return NULL;
    }
    node->kind = kind;
    for (size_t i = 0; i < count; i++) {
        char item_path[320];
        snprintf(item_path, sizeof item_path, "%s[%zu]", path, i);
        node->children[i] =
            parse_condition(json_object_array_get_idx(array, i), item_path, depth, r);
        if (node->children[i] == NULL) {
            condition_free(node);
            return NULL;
        }
        node->child_count++;
    }
    return node;
}

static bool remember_journey_event(const char *event, const char *field, struct refusal *r);

/* {"field": "journey.done", "op": "contains", "value": EVENT}: only in a journey's branch, and
 * the event becomes one the journey asks about (recorded on its runs when the person does it). */
static bool journey_done_leaf(const char *path, enum trigger_op op, json_object *value,
                              struct refusal *r)
{
    char field[320];
    join_path(field, sizeof field, path, "field");
    if (!r->in_branch)
        return refuse(r, field, "%s: journey.done can be tested only in a journey's branch", field);
    join_path(field, sizeof field, path, "value");
    if (op != TRIGGER_OP_CONTAINS || !json_object_is_type(value, json_type_string) ||
        is_blank(json_object_get_string(value)) ||
        strlen(json_object_get_string(value)) > TRIGGER_EVENT_MAX_BYTES)
        return refuse(r, field,
                      "%s: journey.done takes op \"contains\" and an event name (at most %d "
                      "bytes) as value",
                      field, TRIGGER_EVENT_MAX_BYTES);
    return remember_journey_event(json_object_get_string(value), field, r);
}

static struct trigger_condition *parse_leaf(json_object *item, const char *path, struct refusal *r)
{
    static const char *const keys[] = {"field", "op", "value", NULL};
    char field[320];
    const char *field_text, *op_text;
    if (!only_known_keys(item, path, keys, r) ||
        !string_member(item, path, "field", true, &field_text, r))
        return NULL;
    if (!valid_field(field_text)) {
        join_path(field, sizeof field, path, "field");
        refuse(r, field,
               "%s must be event.<path>, event.name, person.<path>, person.id, person.email "
               "or, in a journey's branch, journey.done (at most %d bytes, no empty segment)",
               field, TRIGGER_FIELD_MAX_BYTES);
        return NULL;
    }
    if (!string_member(item, path, "op", true, &op_text, r))
        return NULL;
    size_t i = 0;
    while (i < OPERATOR_COUNT && strcmp(operators[i].name, op_text) != 0)
        i++;
    if (i == OPERATOR_COUNT) {
        join_path(field, sizeof field, path, "op");
        refuse(r, field,
               "%s must be one of eq, neq, gt, gte, lt, lte, contains, starts_with, in, exists, "
               "not_exists",
               field);
        return NULL;
    }
    json_object *value = NULL;
    if (!check_value(item, path, operators[i].name, operators[i].op, &value, r))
        return NULL;
    if (strcmp(field_text, "journey.done") == 0 &&
        !journey_done_leaf(path, operators[i].op, value, r))
        return NULL;

    struct trigger_condition *leaf = calloc(1, sizeof *leaf);
    if (leaf == NULL || (leaf->field = strdup(field_text)) == NULL ||
        (value != NULL && json_object_deep_copy(value, &leaf->value, NULL) != 0)) {
        refuse(r, path, "out of memory");
        condition_free(leaf);
        return NULL;
    }
    leaf->kind = TRIGGER_CONDITION_LEAF;
    leaf->op = operators[i].op;
    return leaf;
}

/* One condition at `path` and `depth` (a top-level condition is at depth 1). */
static struct trigger_condition *parse_condition(json_object *item, const char *path, int depth,
                                                 struct refusal *r)
{
    if (depth > TRIGGER_CONDITION_DEPTH_MAX) {
        refuse(r, path, "%s: conditions cannot nest deeper than %d levels", path,
               TRIGGER_CONDITION_DEPTH_MAX);
        return NULL;
    }
    if (!json_object_is_type(item, json_type_object)) {
        refuse(r, path,
               "%s must be an object: {\"field\", \"op\", \"value\"}, {\"any\": [...]} or "
               "{\"all\": [...]}",
               path);
        return NULL;
    }
    static const char *const any_keys[] = {"any", NULL};
    static const char *const all_keys[] = {"all", NULL};
    const char *const *keys = NULL;
    enum trigger_condition_kind kind = TRIGGER_CONDITION_LEAF;
    if (json_object_object_get_ex(item, "any", NULL)) {
        keys = any_keys;
        kind = TRIGGER_CONDITION_ANY;
    } else if (json_object_object_get_ex(item, "all", NULL)) {
        keys = all_keys;
        kind = TRIGGER_CONDITION_ALL;
    }
    if (kind == TRIGGER_CONDITION_LEAF)
        return parse_leaf(item, path, r);
    if (!only_known_keys(item, path, keys, r))
        return NULL;
    char group_path[320];
    join_path(group_path, sizeof group_path, path, keys[0]);
    return parse_group(member(item, keys[0]), kind, group_path, depth + 1, r);
}

/* ---- the parts of a rule ---- */

static bool parse_name(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    const char *name;
    if (!string_member(definition, "", "name", true, &name, r))
        return false;
    size_t len = strlen(name);
    bool ok = len <= TRIGGER_NAME_MAX;
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '_' || *p == '-';
    if (!ok)
        return refuse(r, "name",
                      "name must be 1 to %d characters of letters, digits, '.', '_' and '-'",
                      TRIGGER_NAME_MAX);
    return copy_string(name, "name", &rule->name, r);
}

static bool parse_description_and_enabled(json_object *definition, struct trigger_rule *rule,
                                          struct refusal *r)
{
    const char *description;
    if (!string_member(definition, "", "description", false, &description, r))
        return false;
    if (description != NULL && strlen(description) > TRIGGER_DESCRIPTION_MAX_BYTES)
        return refuse(r, "description", "description cannot be longer than %d bytes",
                      TRIGGER_DESCRIPTION_MAX_BYTES);
    if (!copy_string(description, "description", &rule->description, r))
        return false;
    json_object *enabled = member(definition, "enabled");
    if (enabled != NULL && !json_object_is_type(enabled, json_type_boolean))
        return refuse(r, "enabled", "enabled must be true or false");
    rule->enabled = enabled == NULL || json_object_get_boolean(enabled);
    return true;
}

static bool parse_trigger(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    static const char *const keys[] = {"event", "type", NULL};
    json_object *trigger = member(definition, "trigger");
    if (trigger == NULL || !json_object_is_type(trigger, json_type_object))
        return refuse(r, "trigger", "trigger is required and must be an object with an event");
    const char *event, *type;
    if (!only_known_keys(trigger, "trigger", keys, r) ||
        !string_member(trigger, "trigger", "event", true, &event, r) ||
        !string_member(trigger, "trigger", "type", false, &type, r))
        return false;
    if (strlen(event) > TRIGGER_EVENT_MAX_BYTES)
        return refuse(r, "trigger.event", "trigger.event cannot be longer than %d bytes",
                      TRIGGER_EVENT_MAX_BYTES);
    if (type == NULL || strcmp(type, "event") == 0)
        rule->type = TRIGGER_TYPE_EVENT;
    else if (strcmp(type, "page") == 0)
        rule->type = TRIGGER_TYPE_PAGE;
    else if (strcmp(type, "screen") == 0)
        rule->type = TRIGGER_TYPE_SCREEN;
    else
        return refuse(r, "trigger.type", "trigger.type must be one of event, page, screen");
    return copy_string(event, "trigger.event", &rule->event, r);
}

static bool parse_conditions(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    json_object *conditions = member(definition, "conditions");
    if (conditions == NULL)
        return true;
    if (!json_object_is_type(conditions, json_type_array))
        return refuse(r, "conditions", "conditions must be an array of conditions");
    if (json_object_array_length(conditions) == 0)
        return true; /* no conditions: every event with the trigger's name matches */
    rule->conditions = parse_group(conditions, TRIGGER_CONDITION_ALL, "conditions", 1, r);
    return rule->conditions != NULL;
}

static bool parse_timing(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    json_object *frequency = member(definition, "frequency");
    const char *text = frequency && json_object_is_type(frequency, json_type_string)
                           ? json_object_get_string(frequency)
                           : NULL;
    if (frequency == NULL || (text && strcmp(text, "every_time") == 0)) {
        rule->frequency = TRIGGER_EVERY_TIME;
    } else if (text && strcmp(text, "once") == 0) {
        rule->frequency = TRIGGER_ONCE;
    } else if (json_object_is_type(frequency, json_type_object)) {
        static const char *const keys[] = {"at_most_every", NULL};
        if (!only_known_keys(frequency, "frequency", keys, r))
            return false;
        json_object *every = member(frequency, "at_most_every");
        if (every == NULL || !json_object_is_type(every, json_type_string) ||
            !trigger_parse_duration(json_object_get_string(every), &rule->at_most_every_us) ||
            rule->at_most_every_us == 0)
            return refuse(r, "frequency.at_most_every",
                          "frequency.at_most_every must be a positive " DURATION_HINT);
        rule->frequency = TRIGGER_AT_MOST_EVERY;
    } else {
        return refuse(r, "frequency",
                      "frequency must be \"every_time\", \"once\" or {\"at_most_every\": "
                      "DURATION}");
    }
    json_object *delay = member(definition, "delay");
    if (delay != NULL && (!json_object_is_type(delay, json_type_string) ||
                          !trigger_parse_duration(json_object_get_string(delay), &rule->delay_us)))
        return refuse(r, "delay", "delay must be " DURATION_HINT);
    return true;
}

/* An exit_on entry or the goal: {"event": NAME, "conditions": [...]} and, for the goal,
 * "within". `path` names the object ("exit_on[2]", "goal"). */
static bool parse_watch(json_object *object, const char *path, bool goal, struct trigger_watch *out,
                        int64_t *within_us, struct refusal *r)
{
    static const char *const exit_keys[] = {"event", "conditions", NULL};
    static const char *const goal_keys[] = {"event", "within", "conditions", NULL};
    char field[64];
    if (object == NULL || !json_object_is_type(object, json_type_object))
        return refuse(r, path, "%s must be an object with an event%s", path,
                      goal ? " and a window: {\"event\": NAME, \"within\": \"3d\"}" : "");
    const char *event;
    if (!only_known_keys(object, path, goal ? goal_keys : exit_keys, r) ||
        !string_member(object, path, "event", true, &event, r))
        return false;
    join_path(field, sizeof field, path, "event");
    if (strlen(event) > TRIGGER_EVENT_MAX_BYTES)
        return refuse(r, field, "%s cannot be longer than %d bytes", field,
                      TRIGGER_EVENT_MAX_BYTES);
    if (!copy_string(event, field, &out->event, r))
        return false;
    if (goal) {
        join_path(field, sizeof field, path, "within");
        json_object *within = member(object, "within");
        if (within == NULL || !json_object_is_type(within, json_type_string) ||
            !trigger_parse_duration(json_object_get_string(within), within_us) || *within_us == 0)
            return refuse(r, field, "%s must be a positive " DURATION_HINT, field);
    }
    json_object *conditions = member(object, "conditions");
    if (conditions == NULL)
        return true;
    join_path(field, sizeof field, path, "conditions");
    if (!json_object_is_type(conditions, json_type_array))
        return refuse(r, field, "%s must be an array of conditions", field);
    if (json_object_array_length(conditions) == 0)
        return true;
    out->conditions = parse_group(conditions, TRIGGER_CONDITION_ALL, field, 1, r);
    return out->conditions != NULL;
}

/* "exit_on", "goal" and "recheck": how a rule's pending deliveries end early or count. */
static bool parse_outcomes(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    json_object *exits = member(definition, "exit_on");
    if (exits != NULL) {
        size_t n =
            json_object_is_type(exits, json_type_array) ? json_object_array_length(exits) : 0;
        if (n == 0 || n > TRIGGER_EXITS_MAX)
            return refuse(r, "exit_on",
                          "exit_on must be an array of 1 to %d objects: [{\"event\": NAME, "
                          "\"conditions\": [...]}]",
                          TRIGGER_EXITS_MAX);
        rule->exits = calloc(n, sizeof *rule->exits);
        if (rule->exits == NULL)
            return refuse(r, "exit_on", "out of memory");
        for (size_t i = 0; i < n; i++) {
            char path[32];
            snprintf(path, sizeof path, "exit_on[%zu]", i);
            rule->exit_count = i + 1; /* freed with the rule, however far it got */
            if (!parse_watch(json_object_array_get_idx(exits, i), path, false, &rule->exits[i],
                             NULL, r))
                return false;
        }
    }
    json_object *goal = member(definition, "goal");
    if (goal != NULL && !parse_watch(goal, "goal", true, &rule->goal, &rule->goal_within_us, r))
        return false;
    json_object *recheck = member(definition, "recheck");
    if (recheck != NULL && !json_object_is_type(recheck, json_type_boolean))
        return refuse(r, "recheck", "recheck must be true or false");
    rule->recheck = recheck != NULL && json_object_get_boolean(recheck);
    return true;
}

/* "transactional" and "send_window": what guards a rule's messages on their way out. */
static bool parse_guards(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    json_object *transactional = member(definition, "transactional");
    if (transactional != NULL && !json_object_is_type(transactional, json_type_boolean))
        return refuse(r, "transactional", "transactional must be true or false");
    rule->transactional = transactional != NULL && json_object_get_boolean(transactional);
    json_object *window = member(definition, "send_window");
    if (window == NULL)
        return true;
    char field[200], message[300];
    if (!trigger_send_window_parse(window, &rule->send_window, field, sizeof field, message,
                                   sizeof message))
        return refuse(r, field, "%s", message);
    return true;
}

/* An optional object at `path`.`key` whose values are all strings, e.g. push data. When
 * `header_names`, keys must be HTTP header names and values may not hold CR or LF, each within
 * its limit. */
static bool string_map(json_object *action, const char *at, const char *key, bool header_names,
                       struct refusal *r)
{
    char path[320], field[320];
    join_path(path, sizeof path, at, key);
    json_object *map = member(action, key);
    if (map == NULL)
        return true;
    if (!json_object_is_type(map, json_type_object))
        return refuse(r, path, "%s must be an object of strings", path);
    json_object_object_foreach(map, name, value)
    {
        join_path(field, sizeof field, path, name);
        if (header_names &&
            (*name == '\0' || name[strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                "0123456789!#$%&'*+-.^_`|~")] != '\0'))
            return refuse(r, field, "%s: \"%s\" is not a valid HTTP header name", field, name);
        if (header_names && strlen(name) > TRIGGER_HEADER_NAME_MAX_BYTES)
            return refuse(r, path, "%s: a header name cannot be longer than %d bytes", path,
                          TRIGGER_HEADER_NAME_MAX_BYTES);
        if (value == NULL || !json_object_is_type(value, json_type_string))
            return refuse(r, field, "%s must be a string", field);
        if (header_names && strpbrk(json_object_get_string(value), "\r\n") != NULL)
            return refuse(r, field, "%s cannot contain a line break", field);
        if (header_names && json_object_get_string_len(value) > TRIGGER_HEADER_VALUE_MAX_BYTES)
            return refuse(r, field, "%s cannot be longer than %d bytes", field,
                          TRIGGER_HEADER_VALUE_MAX_BYTES);
    }
    return true;
}

/* link (a deep link or URL the app opens on a tap) and image (a URL shown in the notification) are
 * optional templates like title and body; the pushes carry them for the mobile SDKs. `at` names
 * the action ("action", "steps[1].action"), here and in the parsers below. */
static bool parse_push(json_object *action, const char *at, struct refusal *r)
{
    static const char *const keys[] = {"type", "title", "body", "data", "link", "image", NULL};
    const char *title, *body, *link, *image;
    return only_known_keys(action, at, keys, r) &&
           string_member(action, at, "title", true, &title, r) &&
           string_member(action, at, "body", true, &body, r) &&
           string_member(action, at, "link", false, &link, r) &&
           string_member(action, at, "image", false, &image, r) &&
           string_map(action, at, "data", false, r);
}

static bool parse_webhook(json_object *action, const char *at, struct refusal *r)
{
    static const char *const keys[] = {"type", "url", "method", "headers", "body", NULL};
    const char *url, *method;
    char why[320], field[320];
    if (!only_known_keys(action, at, keys, r) || !string_member(action, at, "url", true, &url, r))
        return false;
    join_path(field, sizeof field, at, "url");
    if (!trigger_url_check(url, why, sizeof why))
        return refuse(r, field, "%s", why);
    if (!string_member(action, at, "method", false, &method, r))
        return false;
    join_path(field, sizeof field, at, "method");
    if (method != NULL && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
        return refuse(r, field, "%s must be POST or PUT", field);
    return string_map(action, at, "headers", true, r);
}

static bool parse_set_attributes(json_object *action, const char *at, struct refusal *r)
{
    static const char *const keys[] = {"type", "attributes", NULL};
    char path[320];
    join_path(path, sizeof path, at, "attributes");
    if (!only_known_keys(action, at, keys, r))
        return false;
    json_object *attributes = member(action, "attributes");
    if (attributes == NULL || !json_object_is_type(attributes, json_type_object) ||
        json_object_object_length(attributes) == 0)
        return refuse(r, path, "%s must be a non-empty object", path);
    json_object_object_foreach(attributes, name, value)
    {
        (void)value;
        if (is_blank(name) || strlen(name) > TRIGGER_ATTRIBUTE_NAME_MAX_BYTES) {
            char field[320];
            join_path(field, sizeof field, path, name);
            return refuse(r, field, "%s: an attribute name must be 1 to %d bytes, not blank", field,
                          TRIGGER_ATTRIBUTE_NAME_MAX_BYTES);
        }
    }
    return true;
}

/* An email: subject and at least one of html and text; "to" defaults to the person's email
 * address. Each is a template; what they render to is checked when the email is built. */
static bool parse_email(json_object *action, const char *at, struct refusal *r)
{
    static const char *const keys[] = {"type", "to", "subject", "html", "text", NULL};
    const char *to, *subject, *html, *text;
    if (!only_known_keys(action, at, keys, r) || !string_member(action, at, "to", false, &to, r) ||
        !string_member(action, at, "subject", true, &subject, r) ||
        !string_member(action, at, "html", false, &html, r) ||
        !string_member(action, at, "text", false, &text, r))
        return false;
    char field[320];
    join_path(field, sizeof field, at, "to");
    if (to != NULL && is_blank(to))
        return refuse(r, field, "%s cannot be blank (leave it out for the person's email)", field);
    if ((html == NULL || is_blank(html)) && (text == NULL || is_blank(text))) {
        join_path(field, sizeof field, at, "html");
        return refuse(r, field, "%s: an email needs an html or a text body, or both", at);
    }
    return true;
}

/* Every string of the action is a template (object keys are not): each must parse, so that a
 * mistake is refused when the rule is loaded, naming the field and the byte position, rather
 * than sent to people as literal text. */
static bool check_templates(json_object *value, const char *path, struct refusal *r)
{
    if (json_object_is_type(value, json_type_string)) {
        size_t position = 0;
        char why[200];
        if (!trigger_liquid_check(json_object_get_string(value), &position, why, sizeof why))
            return refuse(r, path, "%s has a template error at byte %zu: %s", path, position, why);
        return true;
    }
    char child[320];
    if (json_object_is_type(value, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(value); i++) {
            snprintf(child, sizeof child, "%s[%zu]", path, i);
            if (!check_templates(json_object_array_get_idx(value, i), child, r))
                return false;
        }
    } else if (json_object_is_type(value, json_type_object)) {
        json_object_object_foreach(value, key, member_value)
        {
            join_path(child, sizeof child, path, key);
            if (!check_templates(member_value, child, r))
                return false;
        }
    }
    return true;
}

/* An action object at `at` ("action", "steps[0].action"): its type into *type and a deep copy
 * into *copy. */
static bool parse_action_object(json_object *action, const char *at, enum trigger_action_type *type,
                                json_object **copy, struct refusal *r)
{
    char field[320];
    if (action == NULL || !json_object_is_type(action, json_type_object))
        return refuse(r, at, "%s is required and must be an object with a type", at);
    const char *name;
    if (!string_member(action, at, "type", false, &name, r))
        return false;
    bool ok;
    if (name != NULL && strcmp(name, "push") == 0) {
        *type = TRIGGER_ACTION_PUSH;
        ok = parse_push(action, at, r);
    } else if (name != NULL && strcmp(name, "webhook") == 0) {
        *type = TRIGGER_ACTION_WEBHOOK;
        ok = parse_webhook(action, at, r);
    } else if (name != NULL && strcmp(name, "set_attributes") == 0) {
        *type = TRIGGER_ACTION_SET_ATTRIBUTES;
        ok = parse_set_attributes(action, at, r);
    } else if (name != NULL && strcmp(name, "email") == 0) {
        *type = TRIGGER_ACTION_EMAIL;
        ok = parse_email(action, at, r);
    } else {
        join_path(field, sizeof field, at, "type");
        return refuse(r, field, "%s must be one of push, email, webhook, set_attributes", field);
    }
    if (ok && !check_templates(action, at, r))
        return false;
    if (ok && json_object_deep_copy(action, copy, NULL) != 0)
        return refuse(r, at, "out of memory");
    return ok;
}

/* ---- journeys ---- */

/* Adds `event` to the events the rule's journey asks about, once. */
static bool remember_journey_event(const char *event, const char *field, struct refusal *r)
{
    struct trigger_rule *rule = r->rule;
    for (size_t i = 0; i < rule->journey_event_count; i++)
        if (strcmp(rule->journey_events[i], event) == 0)
            return true;
    char **grown = realloc(rule->journey_events, (rule->journey_event_count + 1) * sizeof *grown);
    if (grown == NULL)
        return refuse(r, field, "out of memory");
    rule->journey_events = grown;
    if ((grown[rule->journey_event_count] = strdup(event)) == NULL)
        return refuse(r, field, "out of memory");
    rule->journey_event_count++;
    return true;
}

/* How many steps `list` lays out, with its branches' lists; -1 when it is not a list of
 * steps (parse_steps says why). Bounded by TRIGGER_STEPS_MAX + 1 so that a huge rule stops
 * early. */
static long count_steps(json_object *list, int depth)
{
    if (!json_object_is_type(list, json_type_array) || depth > TRIGGER_STEP_DEPTH_MAX)
        return -1;
    long total = 0;
    for (size_t i = 0; i < json_object_array_length(list) && total <= TRIGGER_STEPS_MAX; i++) {
        total++;
        json_object *branch = member(json_object_array_get_idx(list, i), "branch");
        if (branch == NULL ||
            !json_object_is_type(json_object_array_get_idx(list, i), json_type_object))
            continue;
        for (int side = 0; side < 2; side++) {
            json_object *sub = member(branch, side ? "else" : "then");
            long n = sub ? count_steps(sub, depth + 1) : 0;
            if (n > 0)
                total += n;
        }
    }
    return total;
}

static bool lay_out(json_object *list, const char *path, int depth, size_t first, size_t after,
                    struct refusal *r);

/* One step at `path`, laid out at rule->steps[at]; `after` is where the run goes past it. */
static bool parse_step(json_object *item, const char *path, int depth, size_t at, size_t after,
                       size_t *used, struct refusal *r)
{
    static const char *const wait_keys[] = {"wait", NULL};
    static const char *const until_keys[] = {"wait_until", NULL};
    static const char *const action_keys[] = {"action", NULL};
    static const char *const branch_keys[] = {"branch", NULL};
    static const char *const until_inner[] = {"event", "within", NULL};
    static const char *const branch_inner[] = {"if", "then", "else", NULL};
    struct trigger_step *step = &r->rule->steps[at];
    char field[320];
    *used = 1;
    step->next = after;
    if ((step->path = strdup(path)) == NULL)
        return refuse(r, path, "out of memory");
    if (!json_object_is_type(item, json_type_object) || json_object_object_length(item) != 1)
        return refuse(
            r, path, "%s must be an object with one key: wait, wait_until, action or branch", path);
    json_object *value;
    if ((value = member(item, "wait")) != NULL || json_object_object_get_ex(item, "wait", NULL)) {
        step->kind = TRIGGER_STEP_WAIT;
        join_path(field, sizeof field, path, "wait");
        if (!only_known_keys(item, path, wait_keys, r))
            return false;
        if (!json_object_is_type(value, json_type_string) ||
            !trigger_parse_duration(json_object_get_string(value), &step->wait_us))
            return refuse(r, field, "%s must be " DURATION_HINT, field);
        return true;
    }
    if (json_object_object_get_ex(item, "wait_until", &value)) {
        step->kind = TRIGGER_STEP_WAIT_UNTIL;
        join_path(field, sizeof field, path, "wait_until");
        if (!only_known_keys(item, path, until_keys, r))
            return false;
        if (!json_object_is_type(value, json_type_object))
            return refuse(r, field, "%s must be {\"event\": NAME, \"within\": DURATION}", field);
        const char *event;
        if (!only_known_keys(value, field, until_inner, r) ||
            !string_member(value, field, "event", true, &event, r))
            return false;
        char inner[340];
        join_path(inner, sizeof inner, field, "event");
        if (strlen(event) > TRIGGER_EVENT_MAX_BYTES)
            return refuse(r, inner, "%s cannot be longer than %d bytes", inner,
                          TRIGGER_EVENT_MAX_BYTES);
        if (!copy_string(event, inner, &step->event, r) || !remember_journey_event(event, inner, r))
            return false;
        join_path(inner, sizeof inner, field, "within");
        json_object *within = member(value, "within");
        if (within == NULL || !json_object_is_type(within, json_type_string) ||
            !trigger_parse_duration(json_object_get_string(within), &step->wait_us) ||
            step->wait_us == 0)
            return refuse(r, inner, "%s must be a positive " DURATION_HINT, inner);
        return true;
    }
    if (json_object_object_get_ex(item, "action", &value)) {
        step->kind = TRIGGER_STEP_ACTION;
        join_path(field, sizeof field, path, "action");
        return only_known_keys(item, path, action_keys, r) &&
               parse_action_object(value, field, &step->action_type, &step->action, r);
    }
    if (!json_object_object_get_ex(item, "branch", &value))
        return only_known_keys(item, path, branch_keys, r) &&
               refuse(r, path, "%s must be one of wait, wait_until, action, branch", path);
    step->kind = TRIGGER_STEP_BRANCH;
    join_path(field, sizeof field, path, "branch");
    if (!json_object_is_type(value, json_type_object))
        return refuse(r, field, "%s must be {\"if\": [...], \"then\": [...], \"else\": [...]}",
                      field);
    if (!only_known_keys(value, field, branch_inner, r))
        return false;
    char sub[340];
    join_path(sub, sizeof sub, field, "if");
    json_object *conditions = member(value, "if");
    if (conditions == NULL || !json_object_is_type(conditions, json_type_array) ||
        json_object_array_length(conditions) == 0)
        return refuse(r, sub, "%s must be a non-empty array of conditions", sub);
    r->in_branch = true;
    step->conditions = parse_group(conditions, TRIGGER_CONDITION_ALL, sub, 1, r);
    r->in_branch = false;
    if (step->conditions == NULL)
        return false;
    json_object *then = member(value, "then"), *otherwise = member(value, "else");
    if (then == NULL && otherwise == NULL)
        return refuse(r, field, "%s needs a then or an else list of steps", field);
    long then_count = then ? count_steps(then, depth + 1) : 0;
    long else_count = otherwise ? count_steps(otherwise, depth + 1) : 0;
    size_t then_first = at + 1, else_first = at + 1 + (size_t)(then_count > 0 ? then_count : 0);
    *used =
        1 + (size_t)(then_count > 0 ? then_count : 0) + (size_t)(else_count > 0 ? else_count : 0);
    step->next = then_count > 0 ? then_first : after;
    step->otherwise = else_count > 0 ? else_first : after;
    join_path(sub, sizeof sub, field, "then");
    if (then != NULL && !lay_out(then, sub, depth + 1, then_first, after, r))
        return false;
    join_path(sub, sizeof sub, field, "else");
    return otherwise == NULL || lay_out(otherwise, sub, depth + 1, else_first, after, r);
}

/* Lays out the steps of `list` (at `path`, `depth` branches deep) from rule->steps[first]; the
 * last goes on to `after`. */
static bool lay_out(json_object *list, const char *path, int depth, size_t first, size_t after,
                    struct refusal *r)
{
    if (depth > TRIGGER_STEP_DEPTH_MAX)
        return refuse(r, path, "%s: branches cannot nest deeper than %d levels", path,
                      TRIGGER_STEP_DEPTH_MAX);
    if (!json_object_is_type(list, json_type_array))
        return refuse(r, path, "%s must be an array of steps", path);
    size_t n = json_object_array_length(list), at = first;
    for (size_t i = 0; i < n; i++) {
        char item[360];
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        size_t used = 0;
        json_object *step = json_object_array_get_idx(list, i);
        long size = 1;
        json_object *branch =
            json_object_is_type(step, json_type_object) ? member(step, "branch") : NULL;
        if (branch != NULL) {
            json_object *then = member(branch, "then"), *otherwise = member(branch, "else");
            long a = then ? count_steps(then, depth + 1) : 0,
                 b = otherwise ? count_steps(otherwise, depth + 1) : 0;
            size += (a > 0 ? a : 0) + (b > 0 ? b : 0);
        }
        size_t next = i + 1 < n ? at + (size_t)size : after;
        if (!parse_step(step, item, depth, at, next, &used, r))
            return false;
        at += used;
    }
    return true;
}

/* "steps": a journey, instead of "action". */
static bool parse_steps(json_object *steps, struct trigger_rule *rule, struct refusal *r)
{
    long total = count_steps(steps, 1);
    if (total <= 0 || !json_object_is_type(steps, json_type_array))
        return refuse(r, "steps", "steps must be a non-empty array of steps");
    if (total > TRIGGER_STEPS_MAX)
        return refuse(r, "steps", "a journey can have at most %d steps, counting those in branches",
                      TRIGGER_STEPS_MAX);
    rule->steps = calloc((size_t)total, sizeof *rule->steps);
    if (rule->steps == NULL)
        return refuse(r, "steps", "out of memory");
    r->rule = rule;
    /* Every slot is filled by a successful lay-out; after a refusal, the free of the rule
     * visits them all (untouched ones are zero). */
    rule->step_count = (size_t)total;
    if (!lay_out(steps, "steps", 1, 0, (size_t)total, r))
        return false;
    bool acts = false;
    for (size_t i = 0; i < rule->step_count; i++)
        acts = acts || rule->steps[i].kind == TRIGGER_STEP_ACTION;
    if (!acts)
        return refuse(r, "steps", "a journey needs at least one action step");
    return true;
}

static bool parse_action(json_object *definition, struct trigger_rule *rule, struct refusal *r)
{
    json_object *steps = member(definition, "steps");
    bool has_action = json_object_object_get_ex(definition, "action", NULL);
    if (steps != NULL && has_action)
        return refuse(r, "steps", "a rule has either an action or steps, not both");
    if (steps != NULL && rule->recheck)
        return refuse(r, "recheck",
                      "recheck is for a rule with one action: a journey checks with a branch");
    if (steps != NULL)
        return parse_steps(steps, rule, r);
    return parse_action_object(member(definition, "action"), "action", &rule->action_type,
                               &rule->action, r);
}

struct trigger_rule *trigger_rule_parse(json_object *definition, char *field, size_t field_size,
                                        char *message, size_t message_size)
{
    static const char *const keys[] = {"name",        "description", "enabled", "trigger",
                                       "conditions",  "frequency",   "delay",   "transactional",
                                       "send_window", "exit_on",     "goal",    "recheck",
                                       "action",      "steps",       NULL};
    struct refusal r = {field, field_size, message, message_size, false, NULL};
    refuse(&r, "", "%s", "");
    if (definition == NULL || !json_object_is_type(definition, json_type_object)) {
        refuse(&r, "rule", "a rule must be a JSON object");
        return NULL;
    }
    struct trigger_rule *rule = calloc(1, sizeof *rule);
    if (rule == NULL) {
        refuse(&r, "rule", "out of memory");
        return NULL;
    }
    /* Unknown keys first: a misspelt "condtions" must not read as "no conditions". */
    if (!only_known_keys(definition, "", keys, &r) || !parse_name(definition, rule, &r) ||
        !parse_description_and_enabled(definition, rule, &r) ||
        !parse_trigger(definition, rule, &r) || !parse_conditions(definition, rule, &r) ||
        !parse_timing(definition, rule, &r) || !parse_guards(definition, rule, &r) ||
        !parse_outcomes(definition, rule, &r) || !parse_action(definition, rule, &r)) {
        trigger_rule_free(rule);
        return NULL;
    }
    return rule;
}

void trigger_rule_free(struct trigger_rule *rule)
{
    if (rule == NULL)
        return;
    free(rule->name);
    free(rule->description);
    free(rule->event);
    condition_free(rule->conditions);
    for (size_t i = 0; i < rule->exit_count; i++) {
        free(rule->exits[i].event);
        condition_free(rule->exits[i].conditions);
    }
    free(rule->exits);
    free(rule->goal.event);
    condition_free(rule->goal.conditions);
    json_object_put(rule->action);
    for (size_t i = 0; i < rule->step_count; i++) {
        free(rule->steps[i].path);
        free(rule->steps[i].event);
        condition_free(rule->steps[i].conditions);
        json_object_put(rule->steps[i].action);
    }
    free(rule->steps);
    for (size_t i = 0; i < rule->journey_event_count; i++)
        free(rule->journey_events[i]);
    free(rule->journey_events);
    free(rule);
}

/* Warns about each header of a webhook action (at `at`) whose value holds a template. */
static void warn_headers(json_object *action, const char *at, trigger_warning_fn *warn, void *cls)
{
    json_object *headers = NULL;
    if (!json_object_object_get_ex(action, "headers", &headers) ||
        !json_object_is_type(headers, json_type_object))
        return;
    json_object_object_foreach(headers, name, value)
    {
        if (!trigger_template_has_expression(json_object_get_string(value)))
            continue;
        char path[360], field[400];
        join_path(path, sizeof path, at, "headers");
        join_path(field, sizeof field, path, name);
        warn(cls, field,
             "the value holds a template: event and person values, which clients send, go "
             "into this header as they are (a value with a line break makes the delivery dead)");
    }
}

void trigger_rule_warnings(const struct trigger_rule *rule, trigger_warning_fn *warn, void *cls)
{
    if (rule == NULL)
        return;
    if (rule->action_type == TRIGGER_ACTION_WEBHOOK && rule->action != NULL)
        warn_headers(rule->action, "action", warn, cls);
    for (size_t i = 0; i < rule->step_count; i++) {
        const struct trigger_step *step = &rule->steps[i];
        if (step->kind != TRIGGER_STEP_ACTION || step->action_type != TRIGGER_ACTION_WEBHOOK)
            continue;
        char at[360];
        join_path(at, sizeof at, step->path, "action");
        warn_headers(step->action, at, warn, cls);
    }
}
