#include "delivery/recheck.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/json_check.h"
#include "trigger/trigger_eval.h"
#include "trigger/trigger_rule.h"

/* What store_delivery_recheck_facts lends, parsed and judged. */
struct judged {
    bool found;
    bool holds;
};

static void judge(void *cls, const struct store_recheck_facts *facts)
{
    struct judged *j = cls;
    j->found = true;
    j->holds = true; /* a rule that no longer parses: judged as it fired */
    char error[160], field[160], message[256];
    json_object *definition = json_check_parse(facts->rule_definition,
                                               strlen(facts->rule_definition), error, sizeof error);
    struct trigger_rule *rule =
        definition ? trigger_rule_parse(definition, field, sizeof field, message, sizeof message)
                   : NULL;
    json_object_put(definition);
    if (rule == NULL)
        return;
    struct trigger_facts now = {
        .event_name = facts->event_name,
        .person_id = facts->customer_id,
        .person_email = facts->email,
    };
    trigger_facts_parse(&now, facts->event_properties, facts->person_attributes,
                        facts->person_relations);
    j->holds = trigger_rule_matches(rule, &now);
    trigger_facts_release(&now);
    trigger_rule_free(rule);
}

enum recheck_verdict delivery_recheck(struct store *store, int64_t delivery_id, char *error,
                                      size_t error_size)
{
    struct judged j = {false, true};
    if (store_delivery_recheck_facts(store, delivery_id, judge, &j) < 0) {
        snprintf(error, error_size, "checking the rule again: %s", store_last_error(store));
        return RECHECK_ERROR;
    }
    if (!j.found || j.holds)
        return RECHECK_HOLDS;
    if (store_delivery_skip(store, delivery_id, "its rule's conditions no longer hold") < 0) {
        snprintf(error, error_size, "marking it skipped: %s", store_last_error(store));
        return RECHECK_ERROR;
    }
    return RECHECK_SKIPPED;
}
