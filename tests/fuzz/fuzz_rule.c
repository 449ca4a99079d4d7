/*
 * libFuzzer harness for campaign rules: trigger_rule_parse of the input as JSON, then, for a rule
 * that parses, trigger_rule_matches, the rendering of its action (trigger_render_action) or of
 * each action of its journey's steps, the steps' layout (every step leads forward), and its
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

/* Checks a condition tree's shape and limits; depth 1 is a top-level condition. journey.done
 * may stand only in a journey's branch (`in_branch`), with contains. */
static void check_condition(const struct trigger_condition *c, int depth, bool in_branch)
{
    if (depth > TRIGGER_CONDITION_DEPTH_MAX + 1)
        fuzz_fail("conditions nest %d levels deep", depth);
    if (c->kind == TRIGGER_CONDITION_LEAF) {
        bool journey = c->field != NULL && strcmp(c->field, "journey.done") == 0;
        if (journey && (!in_branch || c->op != TRIGGER_OP_CONTAINS ||
                        !json_object_is_type(c->value, json_type_string)))
            fuzz_fail("journey.done outside a branch, or without contains and an event");
        if (c->field == NULL || strlen(c->field) > TRIGGER_FIELD_MAX_BYTES ||
            (!journey && strncmp(c->field, "event.", 6) != 0 &&
             strncmp(c->field, "person.", 7) != 0))
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
        check_condition(c->children[i], depth + 1, in_branch);
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
    else if (strncmp(c->field, "person.", 7) == 0)
        set_path(person, c->field + 7, value);
}

/* Matches and renders against `facts`: twice, to see that neither depends on a previous call or
 * changes the rule. */
static void exercise_action(enum trigger_action_type type, json_object *action,
                            const struct trigger_facts *facts);

static void exercise(const struct trigger_rule *rule, const struct trigger_facts *facts)
{
    bool first = trigger_rule_matches(rule, facts);
    bool second = trigger_rule_matches(rule, facts);
    if (first != second)
        fuzz_fail("trigger_rule_matches is not a function of its inputs");
    if (rule->steps == NULL) {
        exercise_action(rule->action_type, rule->action, facts);
        return;
    }
    for (size_t i = 0; i < rule->step_count; i++) {
        const struct trigger_step *step = &rule->steps[i];
        if (step->kind == TRIGGER_STEP_ACTION)
            exercise_action(step->action_type, step->action, facts);
        else if (step->kind == TRIGGER_STEP_BRANCH &&
                 trigger_conditions_hold(step->conditions, facts) !=
                     trigger_conditions_hold(step->conditions, facts))
            fuzz_fail("a branch is not a function of its inputs");
    }
}

/* Renders one action twice over: the result is an object that serializes to JSON, a webhook's
 * origin is as written, and the action itself is left as it was. */
static void exercise_action(enum trigger_action_type type, json_object *action,
                            const struct trigger_facts *facts)
{
    char *action_before = strdup(json_object_to_json_string(action));
    json_object *rendered = trigger_render_action_of(type, action, facts);
    if (rendered == NULL || !json_object_is_type(rendered, json_type_object))
        fuzz_fail("the action did not render to an object");
    json_object *url = NULL, *written = NULL;
    if (type == TRIGGER_ACTION_WEBHOOK) {
        /* The origin of a webhook's URL is as written, whatever the facts (fuzz_url does more). */
        json_object_object_get_ex(action, "url", &written);
        json_object_object_get_ex(rendered, "url", &url);
        const char *template_text = json_object_get_string(written);
        size_t origin = trigger_url_origin_length(template_text);
        if (origin == 0 || strncmp(json_object_get_string(url), template_text, origin) != 0)
            fuzz_fail("the webhook URL %s rendered as %s", template_text,
                      json_object_get_string(url));
    }
    if (type == TRIGGER_ACTION_EMAIL && !json_object_object_get_ex(rendered, "to", NULL))
        fuzz_fail("an email rendered without a to");
    const char *text = json_object_to_json_string_ext(rendered, JSON_C_TO_STRING_PLAIN);
    json_object *again = json_tokener_parse(text);
    if (again == NULL)
        fuzz_fail("the rendered action does not parse again: %s", text);
    json_object_put(again);
    json_object_put(rendered);
    if (strcmp(action_before, json_object_to_json_string(action)) != 0)
        fuzz_fail("matching or rendering changed the rule's action");
    free(action_before);
}

static void check_warning(void *cls, const char *field, const char *message)
{
    (void)cls;
    if ((strncmp(field, "action.headers.", 15) != 0 &&
         (strncmp(field, "steps[", 6) != 0 || strstr(field, ".action.headers.") == NULL)) ||
        *message == '\0')
        fuzz_fail("a warning about %s: \"%s\"", field, message);
}

/* A webhook's url passes its own check, and its headers are within their limits. */
static void check_webhook(json_object *action)
{
    json_object *url = NULL, *headers = NULL;
    json_object_object_get_ex(action, "url", &url);
    if (!trigger_url_check(json_object_get_string(url), NULL, 0))
        fuzz_fail("an accepted webhook's url fails trigger_url_check");
    if (!json_object_object_get_ex(action, "headers", &headers) || headers == NULL)
        return;
    json_object_object_foreach(headers, name, value)
    {
        if (strlen(name) > TRIGGER_HEADER_NAME_MAX_BYTES ||
            json_object_get_string_len(value) > TRIGGER_HEADER_VALUE_MAX_BYTES ||
            strpbrk(json_object_get_string(value), "\r\n") != NULL)
            fuzz_fail("header %.40s is beyond its limits", name);
    }
}

/* A journey's steps: within the limit, each leading forward to a step or the end, each action
 * an object, each wait within the duration limit. */
static void check_steps(const struct trigger_rule *rule)
{
    if (rule->steps == NULL)
        return;
    if (rule->step_count == 0 || rule->step_count > TRIGGER_STEPS_MAX)
        fuzz_fail("%zu steps", rule->step_count);
    bool acts = false;
    for (size_t i = 0; i < rule->step_count; i++) {
        const struct trigger_step *step = &rule->steps[i];
        if (step->path == NULL || strncmp(step->path, "steps[", 6) != 0)
            fuzz_fail("step %zu has path %s", i, step->path ? step->path : "NULL");
        if (step->next <= i || step->next > rule->step_count)
            fuzz_fail("step %s leads to %zu", step->path, step->next);
        if (step->wait_us < 0 || step->wait_us > TRIGGER_DURATION_MAX_US)
            fuzz_fail("step %s waits %lld us", step->path, (long long)step->wait_us);
        switch (step->kind) {
        case TRIGGER_STEP_ACTION:
            acts = true;
            if (!json_object_is_type(step->action, json_type_object))
                fuzz_fail("step %s has no action object", step->path);
            if (step->action_type == TRIGGER_ACTION_WEBHOOK)
                check_webhook(step->action);
            break;
        case TRIGGER_STEP_BRANCH:
            if (step->otherwise <= i || step->otherwise > rule->step_count ||
                step->conditions == NULL)
                fuzz_fail("branch %s leads to %zu otherwise", step->path, step->otherwise);
            check_condition(step->conditions, 1, true);
            break;
        case TRIGGER_STEP_WAIT_UNTIL:
            if (step->event == NULL || step->wait_us == 0)
                fuzz_fail("wait_until %s without an event or a time", step->path);
            break;
        case TRIGGER_STEP_WAIT:
            break;
        }
    }
    if (!acts)
        fuzz_fail("a journey without an action");
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
    if ((rule->steps == NULL) == (rule->action == NULL))
        fuzz_fail("a rule has both an action and steps, or neither");
    if (rule->steps == NULL && !json_object_is_type(rule->action, json_type_object))
        fuzz_fail("the action is not an object");
    if (rule->conditions != NULL) {
        if (rule->conditions->kind != TRIGGER_CONDITION_ALL)
            fuzz_fail("top-level conditions are not an implicit all");
        check_condition(rule->conditions, 1, false);
    }
    if (rule->steps == NULL && rule->action_type == TRIGGER_ACTION_WEBHOOK)
        check_webhook(rule->action);
    check_steps(rule);
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
