#include "trigger/trigger_eval.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Longest path segment (one key) that a lookup can name; longer ones are missing. */
#define SEGMENT_MAX_BYTES 255

/* Walks `path` ("items.0.sku") from `root`; true with the value (NULL for JSON null) in *out
 * when every segment exists. */
static bool walk(json_object *root, const char *path, json_object **out)
{
    json_object *current = root;
    for (const char *p = path;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (current == NULL || len == 0 || len > SEGMENT_MAX_BYTES)
            return false;
        char segment[SEGMENT_MAX_BYTES + 1];
        memcpy(segment, p, len);
        segment[len] = '\0';
        json_object *next = NULL;
        if (json_object_is_type(current, json_type_object)) {
            if (!json_object_object_get_ex(current, segment, &next))
                return false;
        } else if (json_object_is_type(current, json_type_array)) {
            /* Nine digits at most: an index past any real array, and no overflow. */
            if (len > 9 || strspn(segment, "0123456789") != len)
                return false;
            size_t index = (size_t)strtoul(segment, NULL, 10);
            if (index >= json_object_array_length(current))
                return false;
            next = json_object_array_get_idx(current, index);
        } else {
            return false;
        }
        current = next;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    *out = current;
    return true;
}

/* Whether a "person." path reads the person's relations rather than their attributes. */
static bool is_relation_path(const char *path)
{
    static const char *const roots[] = {"segments", "objects", "object_ids"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        size_t len = strlen(roots[i]);
        if (strncmp(path, roots[i], len) == 0 && (path[len] == '\0' || path[len] == '.'))
            return true;
    }
    return false;
}

void trigger_facts_parse(struct trigger_facts *facts, const char *event_properties,
                         const char *person_attributes, const char *person_relations)
{
    facts->event_properties = event_properties ? json_tokener_parse(event_properties) : NULL;
    facts->person_attributes = person_attributes ? json_tokener_parse(person_attributes) : NULL;
    facts->person_relations = person_relations ? json_tokener_parse(person_relations) : NULL;
}

void trigger_facts_release(struct trigger_facts *facts)
{
    json_object_put(facts->event_properties);
    json_object_put(facts->person_attributes);
    json_object_put(facts->person_relations);
    facts->event_properties = facts->person_attributes = facts->person_relations = NULL;
}

bool trigger_lookup(const struct trigger_facts *facts, const char *field, json_object **out,
                    bool *owned)
{
    *out = NULL;
    *owned = false;
    if (facts == NULL || field == NULL)
        return false;
    json_object *root;
    const char *path, *named = NULL;
    if (strncmp(field, "event.", 6) == 0) {
        root = facts->event_properties;
        path = field + 6;
        if (strcmp(path, "name") == 0)
            named = facts->event_name;
    } else if (strncmp(field, "person.", 7) == 0) {
        root = facts->person_attributes;
        path = field + 7;
        if (facts->person_relations != NULL && is_relation_path(path))
            root = facts->person_relations;
        if (strcmp(path, "id") == 0)
            named = facts->person_id;
        else if (strcmp(path, "email") == 0)
            named = facts->person_email;
    } else if (strcmp(field, "journey.done") == 0) {
        *out = facts->journey_done;
        return facts->journey_done != NULL;
    } else {
        return false;
    }
    if (named == NULL)
        return walk(root, path, out);
    *out = json_object_new_string(named);
    *owned = *out != NULL;
    return *owned;
}

/* ---- comparisons; every json_object here may be NULL, meaning JSON null ---- */

/*
 * Reads `value` as a number: a finite JSON number, or a string that is entirely a finite decimal
 * number ("4.99", "-3", "+1e3"). Hex, "inf", "nan", blanks and trailing text are not numbers.
 * strtod follows LC_NUMERIC, which trackd leaves as "C".
 */
static bool read_number(json_object *value, double *out)
{
    switch (json_object_get_type(value)) {
    case json_type_int:
    case json_type_double:
        *out = json_object_get_double(value);
        return isfinite(*out);
    case json_type_string: {
        const char *text = json_object_get_string(value);
        if (*text == '\0' || text[strspn(text, "0123456789+-.eE")] != '\0')
            return false;
        char *end;
        *out = strtod(text, &end);
        return *end == '\0' && isfinite(*out);
    }
    default:
        return false;
    }
}

/* Three-way comparison of two JSON integers, exact beyond 2^53 (json-c keeps values above
 * INT64_MAX as uint64, and get_int64 clamps them). */
static int compare_integers(json_object *a, json_object *b)
{
    int64_t x = json_object_get_int64(a), y = json_object_get_int64(b);
    if (x == INT64_MAX && y == INT64_MAX) {
        uint64_t ux = json_object_get_uint64(a), uy = json_object_get_uint64(b);
        return (ux > uy) - (ux < uy);
    }
    return (x > y) - (x < y);
}

/* When both read as numbers: true, with the three-way comparison in *cmp. */
static bool compare_numbers(json_object *a, json_object *b, int *cmp)
{
    double x, y;
    if (!read_number(a, &x) || !read_number(b, &y))
        return false;
    if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int))
        *cmp = compare_integers(a, b);
    else
        *cmp = (x > y) - (x < y);
    return true;
}

static bool is_string(json_object *value)
{
    return json_object_is_type(value, json_type_string);
}

/* Bytewise three-way comparison of two JSON strings. */
static int compare_strings(json_object *a, json_object *b)
{
    size_t la = (size_t)json_object_get_string_len(a), lb = (size_t)json_object_get_string_len(b);
    int cmp = memcmp(json_object_get_string(a), json_object_get_string(b), la < lb ? la : lb);
    return cmp != 0 ? (cmp > 0) - (cmp < 0) : (la > lb) - (la < lb);
}

static bool equal(json_object *a, json_object *b)
{
    int cmp;
    if (compare_numbers(a, b, &cmp))
        return cmp == 0;
    enum json_type type = json_object_get_type(a);
    if (type != json_object_get_type(b))
        return false;
    switch (type) {
    case json_type_null:
        return true;
    case json_type_boolean:
        return json_object_get_boolean(a) == json_object_get_boolean(b);
    case json_type_string:
        return compare_strings(a, b) == 0;
    default: /* objects, arrays; numbers only reach here when not finite */
        return json_object_equal(a, b) != 0;
    }
}

/* For gt/gte/lt/lte: numbers, or two strings; false (no order) for anything else. */
static bool ordered(json_object *a, json_object *b, int *cmp)
{
    if (compare_numbers(a, b, cmp))
        return true;
    if (!is_string(a) || !is_string(b))
        return false;
    *cmp = compare_strings(a, b);
    return true;
}

static bool contains(json_object *a, json_object *b)
{
    if (is_string(a) && is_string(b))
        return memmem(json_object_get_string(a), (size_t)json_object_get_string_len(a),
                      json_object_get_string(b), (size_t)json_object_get_string_len(b)) != NULL;
    if (!json_object_is_type(a, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (equal(json_object_array_get_idx(a, i), b))
            return true;
    return false;
}

static bool starts_with(json_object *a, json_object *b)
{
    if (!is_string(a) || !is_string(b))
        return false;
    size_t la = (size_t)json_object_get_string_len(a), lb = (size_t)json_object_get_string_len(b);
    return lb <= la && memcmp(json_object_get_string(a), json_object_get_string(b), lb) == 0;
}

static bool in(json_object *a, json_object *list)
{
    for (size_t i = 0; i < json_object_array_length(list); i++)
        if (equal(a, json_object_array_get_idx(list, i)))
            return true;
    return false;
}

/* Applies `op` to a present field value `a` (NULL for JSON null) and the rule's value `b`. */
static bool apply(enum trigger_op op, json_object *a, json_object *b)
{
    int cmp = 0;
    switch (op) {
    case TRIGGER_OP_EQ:
        return equal(a, b);
    case TRIGGER_OP_NEQ:
        return !equal(a, b);
    case TRIGGER_OP_GT:
        return ordered(a, b, &cmp) && cmp > 0;
    case TRIGGER_OP_GTE:
        return ordered(a, b, &cmp) && cmp >= 0;
    case TRIGGER_OP_LT:
        return ordered(a, b, &cmp) && cmp < 0;
    case TRIGGER_OP_LTE:
        return ordered(a, b, &cmp) && cmp <= 0;
    case TRIGGER_OP_CONTAINS:
        return contains(a, b);
    case TRIGGER_OP_STARTS_WITH:
        return starts_with(a, b);
    case TRIGGER_OP_IN:
        return in(a, b);
    case TRIGGER_OP_EXISTS:
        return a != NULL;
    case TRIGGER_OP_NOT_EXISTS:
        return a == NULL;
    }
    return false;
}

static bool holds(const struct trigger_condition *c, const struct trigger_facts *facts)
{
    switch (c->kind) {
    case TRIGGER_CONDITION_LEAF: {
        json_object *value;
        bool owned;
        if (!trigger_lookup(facts, c->field, &value, &owned))
            return c->op == TRIGGER_OP_NEQ || c->op == TRIGGER_OP_NOT_EXISTS;
        bool result = apply(c->op, value, c->value);
        if (owned)
            json_object_put(value);
        return result;
    }
    case TRIGGER_CONDITION_ALL:
        for (size_t i = 0; i < c->child_count; i++)
            if (!holds(c->children[i], facts))
                return false;
        return true;
    case TRIGGER_CONDITION_ANY:
        for (size_t i = 0; i < c->child_count; i++)
            if (holds(c->children[i], facts))
                return true;
        return false;
    }
    return false;
}

bool trigger_conditions_hold(const struct trigger_condition *conditions,
                             const struct trigger_facts *facts)
{
    return conditions == NULL || holds(conditions, facts);
}

bool trigger_rule_matches(const struct trigger_rule *rule, const struct trigger_facts *facts)
{
    return rule != NULL && (rule->conditions == NULL || holds(rule->conditions, facts));
}

long trigger_rule_first_failure(const struct trigger_rule *rule, const struct trigger_facts *facts)
{
    if (rule == NULL || rule->conditions == NULL)
        return -1;
    for (size_t i = 0; i < rule->conditions->child_count; i++)
        if (!holds(rule->conditions->children[i], facts))
            return (long)i;
    return -1;
}

bool trigger_watch_matches(const struct trigger_watch *watch, const struct trigger_facts *facts)
{
    return watch != NULL && watch->event != NULL && facts->event_name != NULL &&
           strcmp(watch->event, facts->event_name) == 0 &&
           (watch->conditions == NULL || holds(watch->conditions, facts));
}
