/*
 * `trackd rules test --workspace W RULE.json [--since 7d] [--person ID]`: replays the stored
 * events of a period through a rule that is not loaded (or a new version of one that is), and
 * prints whom it would have fired for, how often per day, and what it would have sent, rendered.
 * With --person, each of that person's events says why it would or would not fire. It reads
 * only: nothing is written, queued or sent.
 *
 * The replay judges each event against the person as they are now (attributes are not kept per
 * moment), with the rule's frequency applied in event time; delays, send windows, exits and
 * unsubscribes are decided when deliveries fall due and are not replayed.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli_internal.h"
#include "core/json_check.h"
#include "store/store_engine.h"
#include "trigger/trigger_eval.h"
#include "trigger/trigger_rule.h"
#include "trigger/trigger_template.h"

/* Most events replayed; a longer history is cut, and the output says so. */
#define REPLAY_MAX 100000

/* Firings printed in full (rendered); the rest are counted. */
#define SHOWN_MAX 20

#define DEFAULT_SINCE "7d"

/* What a person has had from the replay so far, for the rule's frequency. */
struct person_state {
    int64_t person_id;
    int64_t last_fired_us; /* 0: never */
};

struct replay {
    const struct trigger_rule *rule;
    json_object *definition; /* for quoting a failed condition */
    const char *person;      /* --person, or NULL */
    struct person_state *people;
    size_t people_count, people_cap;
    char day[16];
    long day_events, day_fired;
    long events, matched, fired, held_by_frequency;
    size_t distinct_people;
};

static struct person_state *state_of(struct replay *r, int64_t person_id)
{
    for (size_t i = 0; i < r->people_count; i++)
        if (r->people[i].person_id == person_id)
            return &r->people[i];
    if (r->people_count == r->people_cap) {
        size_t cap = r->people_cap ? r->people_cap * 2 : 64;
        struct person_state *grown = realloc(r->people, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        r->people = grown;
        r->people_cap = cap;
    }
    r->people[r->people_count] = (struct person_state){person_id, 0};
    return &r->people[r->people_count++];
}

/* Whether the frequency lets the rule fire again for this person at `at_us`. */
static bool frequency_allows(const struct trigger_rule *rule, const struct person_state *state,
                             int64_t at_us)
{
    switch (rule->frequency) {
    case TRIGGER_ONCE:
        return state->last_fired_us == 0;
    case TRIGGER_AT_MOST_EVERY:
        return state->last_fired_us == 0 || at_us - state->last_fired_us >= rule->at_most_every_us;
    case TRIGGER_EVERY_TIME:
        break;
    }
    return true;
}

static void end_day(struct replay *r)
{
    if (r->day[0] != '\0' && r->person == NULL)
        printf("%s  %ld events, would fire %ld\n", r->day, r->day_events, r->day_fired);
    r->day_events = r->day_fired = 0;
}

/* Prints why the first failing top-level condition fails, with the value the event or person
 * had (or that it had none). */
static void print_failure(const struct replay *r, long index, const struct trigger_facts *facts)
{
    json_object *conditions = NULL, *condition = NULL, *field = NULL;
    json_object_object_get_ex(r->definition, "conditions", &conditions);
    condition = json_object_array_get_idx(conditions, (size_t)index);
    printf("conditions[%ld] does not hold: %s", index,
           json_object_to_json_string_ext(condition,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (json_object_object_get_ex(condition, "field", &field)) {
        json_object *value = NULL;
        bool owned = false;
        const char *name = json_object_get_string(field);
        if (trigger_lookup(facts, name, &value, &owned))
            printf(" (%s is %s)", name,
                   json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        else
            printf(" (%s is missing)", name);
        if (owned)
            json_object_put(value);
    }
    printf("\n");
}

static void replay_event(void *cls, const struct store_history_event *e)
{
    struct replay *r = cls;
    if (strcmp(e->day, r->day) != 0) {
        end_day(r);
        snprintf(r->day, sizeof r->day, "%s", e->day);
    }
    r->events++;
    r->day_events++;
    struct trigger_facts facts = {
        .event_name = e->name,
        .person_id = e->customer_id,
        .person_email = e->email,
    };
    trigger_facts_parse(&facts, e->properties, e->attributes, e->relations);
    const char *who = e->customer_id ? e->customer_id : e->email ? e->email : "?";
    long failure = trigger_rule_first_failure(r->rule, &facts);
    struct person_state *state = failure < 0 ? state_of(r, e->person_id) : NULL;
    bool allowed = state != NULL && frequency_allows(r->rule, state, e->timestamp_us);
    if (r->person != NULL)
        printf("%s  event %lld: ", e->timestamp, (long long)e->event_id);
    if (failure >= 0) {
        if (r->person != NULL)
            print_failure(r, failure, &facts);
    } else if (!allowed) {
        r->matched++;
        r->held_by_frequency++;
        if (r->person != NULL)
            printf("matches, but held back by frequency \"%s\"\n",
                   r->rule->frequency == TRIGGER_ONCE ? "once" : "at_most_every");
    } else {
        r->matched++;
        r->fired++;
        r->day_fired++;
        if (state->last_fired_us == 0)
            r->distinct_people++;
        state->last_fired_us = e->timestamp_us;
        if (r->person != NULL || r->fired <= SHOWN_MAX) {
            /* A journey's firing starts it: its steps depend on what happens after. */
            json_object *action = r->rule->steps != NULL
                                      ? json_object_new_string("a journey starts (steps)")
                                      : trigger_render_action(r->rule, &facts);
            if (r->person == NULL)
                printf("  fires for %s on event %lld at %s: ", who, (long long)e->event_id,
                       e->timestamp);
            else
                printf("would fire: ");
            printf("%s\n",
                   action ? json_object_to_json_string_ext(
                                action, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : "(could not render: out of memory)");
            json_object_put(action);
        }
    }
    trigger_facts_release(&facts);
}

/* Reads and validates the rule file; prints what is wrong and returns NULL. */
static struct trigger_rule *read_rule(const char *path, json_object **definition_out)
{
    json_object *definition = json_object_from_file(path);
    if (definition == NULL) {
        fprintf(stderr, "%s: not a readable JSON file: %s\n", path, json_util_get_last_err());
        return NULL;
    }
    char field[200], message[300];
    struct trigger_rule *rule =
        trigger_rule_parse(definition, field, sizeof field, message, sizeof message);
    if (rule == NULL) {
        fprintf(stderr, "%s: %s: %s\n", path, field, message);
        json_object_put(definition);
        return NULL;
    }
    *definition_out = definition;
    return rule;
}

struct test_options {
    const char *workspace, *path, *person;
    int64_t since_us;
    const char *since;
};

static bool parse_options(char **args, int count, struct test_options *o)
{
    *o = (struct test_options){.since = DEFAULT_SINCE};
    for (int i = 0; i < count; i++) {
        if (strcmp(args[i], "--workspace") == 0 && i + 1 < count)
            o->workspace = args[++i];
        else if (strcmp(args[i], "--since") == 0 && i + 1 < count)
            o->since = args[++i];
        else if (strcmp(args[i], "--person") == 0 && i + 1 < count)
            o->person = args[++i];
        else if (args[i][0] != '-' && o->path == NULL)
            o->path = args[i];
        else {
            fprintf(stderr, "trackd rules test: unexpected argument '%s'\n", args[i]);
            return false;
        }
    }
    if (o->workspace == NULL || o->path == NULL) {
        fprintf(stderr, "trackd rules test: usage: trackd rules test --workspace NAME RULE.json "
                        "[--since 7d] [--person ID]\n");
        return false;
    }
    if (!trigger_parse_duration(o->since, &o->since_us) || o->since_us == 0) {
        fprintf(stderr,
                "trackd rules test: --since must be a positive whole number and a unit, s, m, "
                "h or d (e.g. 7d), at most 365d; not '%s'\n",
                o->since);
        return false;
    }
    return true;
}

int cli_rules_test(const char *database_url, char **args, int count)
{
    struct test_options o;
    if (!parse_options(args, count, &o))
        return CLI_EXIT_USAGE;
    json_object *definition = NULL;
    struct trigger_rule *rule = read_rule(o.path, &definition);
    if (rule == NULL)
        return CLI_EXIT_RUNTIME;
    int code = CLI_EXIT_RUNTIME;
    int64_t workspace_id = 0;
    struct store *store = cli_open_workspace(database_url, o.workspace, &workspace_id);
    if (store == NULL)
        goto done;
    printf("rule %s (trigger: %s %s) on the events of the last %s in workspace %s%s%s\n",
           rule->name, trigger_event_type_name(rule->type), rule->event, o.since, o.workspace,
           o.person ? ", person " : "", o.person ? o.person : "");
    struct replay r = {.rule = rule, .definition = definition, .person = o.person};
    enum store_status listed =
        store_list_history(store, workspace_id, rule->event, trigger_event_type_name(rule->type),
                           o.since_us, o.person, REPLAY_MAX, replay_event, &r);
    if (listed < 0) {
        fprintf(stderr, "trackd rules test: %s\n", store_last_error(store));
        free(r.people);
        goto done;
    }
    end_day(&r);
    printf("%ld events, %ld matched the conditions, would fire %ld times for %zu people "
           "(%ld held back by frequency)%s\n",
           r.events, r.matched, r.fired, r.distinct_people, r.held_by_frequency,
           r.events >= REPLAY_MAX ? "; only the first 100000 events were replayed" : "");
    if (o.person == NULL && r.fired > SHOWN_MAX)
        printf("(the first %d firings are shown)\n", SHOWN_MAX);
    printf("nothing was written or sent; people are judged by their attributes now\n");
    free(r.people);
    code = CLI_EXIT_OK;
done:
    store_close(store);
    trigger_rule_free(rule);
    json_object_put(definition);
    return code;
}
