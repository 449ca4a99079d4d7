/*
 * libFuzzer harness for campaign rules: trigger_rule_parse of the input as JSON, then, for a rule
 * that parses, trigger_rule_matches, the rendering of its action (trigger_render_action) and its
 * warnings.
 *
 * The input is parsed as trackd parses stored definitions (json_check_parse: strict, depth 64),
 * and when that refuses it, as `trackd rules load` reads files (json-c's lenient parser).
 */
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"
#include "fuzz_check.h"
#include "trigger/trigger_eval.h"
#include "trigger/trigger_rule.h"
#include "trigger/trigger_template.h"
#include "trigger/trigger_url.h"

static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= TRIGGER_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* Checks a condition tree's shape and limits; depth 1 is a top-level condition. */
static void check_condition(const struct trigger_condition *c, int depth)
{
    if (depth > TRIGGER_CONDITION_DEPTH_MAX + 1)
        fuzz_fail("conditions nest %d levels deep", depth);
    if (c->kind == TRIGGER_CONDITION_LEAF) {
        if (c->field == NULL || strlen(c->field) > TRIGGER_FIELD_MAX_BYTES ||
            (strncmp(c->field, "event.", 6) != 0 && strncmp(c->field, "person.", 7) != 0))
            fuzz_fail("leaf with field %s", c->field ? c->field : "NULL");
        if ((c->op == TRIGGER_OP_EXISTS || c->op == TRIGGER_OP_NOT_EXISTS) && c->value != NULL)
            fuzz_fail("exists/not_exists with a value");
        if (c->op == TRIGGER_OP_IN && (!json_object_is_type(c->value, json_type_array) ||
                                       json_object_array_length(c->value) == 0))
            fuzz_fail("in without a non-empty array");
        if (c->child_count != 0)
            fuzz_fail("a leaf with children");
        return;
    }
    if (c->child_count == 0 || c->children == NULL || c->field != NULL)
        fuzz_fail("an empty or malformed group");
    for (size_t i = 0; i < c->child_count; i++)
        check_condition(c->children[i], depth + 1);
}

/* Sets "a.b.c" under `root` to a copy of `value` (NULL: JSON null), creating objects on the way;
 * gives up where a segment is taken by something else than an object. */
static void set_path(json_object *root, const char *path, json_object *value)
{
    char *copy = strdup(path);
    json_object *at = root;
    char *segment = copy;
    for (char *dot; (dot = strchr(segment, '.')) != NULL; segment = dot + 1) {
        *dot = '\0';
        json_object *next = NULL;
        if (!json_object_object_get_ex(at, segment, &next)) {
            next = json_object_new_object();
            json_object_object_add(at, segment, next);
        }
        if (!json_object_is_type(next, json_type_object)) {
            free(copy);
            return;
        }
        at = next;
    }
    json_object *copied = NULL;
    if (value != NULL && json_object_deep_copy(value, &copied, NULL) != 0)
        fuzz_fail("cannot copy a condition's value");
    json_object_object_add(at, segment, copied);
    free(copy);
}

/* Facts that give every leaf's field its own value, so that comparisons run on real values. */
static void facts_from_leaves(const struct trigger_condition *c, json_object *event,
                              json_object *person)
{
    if (c == NULL)
        return;
    if (c->kind != TRIGGER_CONDITION_LEAF) {
        for (size_t i = 0; i < c->child_count; i++)
            facts_from_leaves(c->children[i], event, person);
        return;
    }
    json_object *value = c->value;
    if (c->op == TRIGGER_OP_IN)
        value = json_object_array_get_idx(c->value, 0);
    if (strncmp(c->field, "event.", 6) == 0)
        set_path(event, c->field + 6, value);
    else
        set_path(person, c->field + 7, value);
}

/* Matches and renders against `facts`: twice, to see that neither depends on a previous call or
 * changes the rule. */
static void exercise(const struct trigger_rule *rule, const struct trigger_facts *facts)
{
    char *action_before = strdup(json_object_to_json_string(rule->action));
    bool first = trigger_rule_matches(rule, facts);
    bool second = trigger_rule_matches(rule, facts);
    if (first != second)
        fuzz_fail("trigger_rule_matches is not a function of its inputs");
    json_object *rendered = trigger_render_action(rule, facts);
    if (rendered == NULL || !json_object_is_type(rendered, json_type_object))
        fuzz_fail("the action did not render to an object");
    json_object *url = NULL, *written = NULL;
    if (rule->action_type == TRIGGER_ACTION_WEBHOOK) {
        /* The origin of a webhook's URL is as written, whatever the facts (fuzz_url does more). */
        json_object_object_get_ex(rule->action, "url", &written);
        json_object_object_get_ex(rendered, "url", &url);
        const char *template_text = json_object_get_string(written);
        size_t origin = trigger_url_origin_length(template_text);
        if (origin == 0 || strncmp(json_object_get_string(url), template_text, origin) != 0)
            fuzz_fail("the webhook URL %s rendered as %s", template_text,
                      json_object_get_string(url));
    }
    const char *text = json_object_to_json_string_ext(rendered, JSON_C_TO_STRING_PLAIN);
    json_object *again = json_tokener_parse(text);
    if (again == NULL)
        fuzz_fail("the rendered action does not parse again: %s", text);
    json_object_put(again);
    json_object_put(rendered);
    if (strcmp(action_before, json_object_to_json_string(rule->action)) != 0)
        fuzz_fail("matching or rendering changed the rule's action");
    free(action_before);
}

static void check_warning(void *cls, const char *field, const char *message)
{
    (void)cls;
    if (strncmp(field, "action.headers.", 15) != 0 || *message == '\0')
        fuzz_fail("a warning about %s: \"%s\"", field, message);
}

/* A webhook's url passes its own check, and its headers are within their limits. */
static void check_webhook(const struct trigger_rule *rule)
{
    json_object *url = NULL, *headers = NULL;
    json_object_object_get_ex(rule->action, "url", &url);
    if (!trigger_url_check(json_object_get_string(url), NULL, 0))
        fuzz_fail("an accepted webhook's url fails trigger_url_check");
    if (!json_object_object_get_ex(rule->action, "headers", &headers) || headers == NULL)
        return;
    json_object_object_foreach(headers, name, value)
    {
        if (strlen(name) > TRIGGER_HEADER_NAME_MAX_BYTES ||
            json_object_get_string_len(value) > TRIGGER_HEADER_VALUE_MAX_BYTES ||
            strpbrk(json_object_get_string(value), "\r\n") != NULL)
            fuzz_fail("header %.40s is beyond its limits", name);
    }
}

static void check_rule(const struct trigger_rule *rule)
{
    if (rule->name == NULL || !valid_name(rule->name))
        fuzz_fail("rule name \"%s\" is not valid", rule->name ? rule->name : "NULL");
    if (rule->description != NULL && strlen(rule->description) > TRIGGER_DESCRIPTION_MAX_BYTES)
        fuzz_fail("description too long");
    if (rule->event == NULL || *rule->event == '\0' ||
        strlen(rule->event) > TRIGGER_EVENT_MAX_BYTES)
        fuzz_fail("trigger.event missing or too long");
    if ((rule->frequency == TRIGGER_AT_MOST_EVERY) != (rule->at_most_every_us > 0) ||
        rule->at_most_every_us > TRIGGER_DURATION_MAX_US)
        fuzz_fail("frequency %d with at_most_every_us %lld", (int)rule->frequency,
                  (long long)rule->at_most_every_us);
    if (rule->delay_us < 0 || rule->delay_us > TRIGGER_DURATION_MAX_US)
        fuzz_fail("delay_us %lld", (long long)rule->delay_us);
    if (!json_object_is_type(rule->action, json_type_object))
        fuzz_fail("the action is not an object");
    if (rule->conditions != NULL) {
        if (rule->conditions->kind != TRIGGER_CONDITION_ALL)
            fuzz_fail("top-level conditions are not an implicit all");
        check_condition(rule->conditions, 1);
    }

    if (rule->action_type == TRIGGER_ACTION_WEBHOOK)
        check_webhook(rule);
    trigger_rule_warnings(rule, check_warning, NULL);

    struct trigger_facts none = {0};
    exercise(rule, &none);

    json_object *event = json_object_new_object(), *person = json_object_new_object();
    facts_from_leaves(rule->conditions, event, person);
    struct trigger_facts leaves = {.event_name = rule->event,
                                   .event_properties = event,
                                   .person_attributes = person,
                                   .person_id = "u1",
                                   .person_email = "a@example.com"};
    exercise(rule, &leaves);
    json_object_put(event);
    json_object_put(person);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    char error[160];
    json_object *definition = json_check_parse(text, size, error, sizeof error);
    if (definition == NULL)
        definition = json_tokener_parse(text);

    char field[128], message[512];
    struct trigger_rule *rule =
        trigger_rule_parse(definition, field, sizeof field, message, sizeof message);
    /* The field may be empty: an unknown key "" at the top level is named by the message. */
    if (rule == NULL && message[0] == '\0')
        fuzz_fail("a refused rule gives no reason (field \"%s\")", field);
    if (rule != NULL && (field[0] != '\0' || message[0] != '\0'))
        fuzz_fail("an accepted rule left a refusal: %s: %s", field, message);
    if (rule != NULL)
        check_rule(rule);
    trigger_rule_free(rule);
    trigger_rule_free(NULL);
    /* Refusals must also be safe without buffers. */
    trigger_rule_free(trigger_rule_parse(definition, NULL, 0, NULL, 0));

    json_object_put(definition);
    free(text);
    return 0;
}
