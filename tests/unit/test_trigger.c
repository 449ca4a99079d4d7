#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trigger/trigger_eval.h"
#include "trigger/trigger_rule.h"
#include "trigger/trigger_liquid.h"
#include "trigger/trigger_template.h"
#include "trigger/trigger_url.h"

#define US_PER_SEC INT64_C(1000000)

/* The event and person every evaluation and template case sees. */
static const char *const EVENT_PROPERTIES =
    "{\"product\":\"socks\",\"price\":\"4.99\",\"cost\":4.99,\"qty\":3,\"ratio\":0.5,"
    "\"label\":\"4.99 usd\",\"word\":\"abc\",\"empty\":\"\",\"nothing\":null,\"flag\":true,"
    "\"off\":false,\"big\":\"1e3\",\"neg\":\"-3\",\"hex\":\"0x10\",\"tags\":[\"sale\",\"new\",2],"
    "\"items\":[{\"sku\":\"S1\",\"n\":\"2\"},{\"sku\":\"S2\"}],"
    "\"address\":{\"city\":\"Paris\",\"geo\":{\"zip\":\"75001\"}},"
    "\"huge\":18446744073709551615}";
static const char *const PERSON_ATTRIBUTES =
    "{\"plan\":\"pro\",\"age\":\"41\",\"vip\":false,\"email\":\"old@example.com\","
    "\"first_name\":\"Ada\",\"nick\":\"\",\"prefs\":{\"lang\":\"fr\"}}";

static struct trigger_facts facts_new(void)
{
    struct trigger_facts facts = {
        .event_name = "purchase",
        .event_properties = json_tokener_parse(EVENT_PROPERTIES),
        .person_attributes = json_tokener_parse(PERSON_ATTRIBUTES),
        .person_id = "u1",
        .person_email = "ada@example.com",
    };
    cr_assert_not_null(facts.event_properties);
    cr_assert_not_null(facts.person_attributes);
    return facts;
}

static void facts_free(struct trigger_facts *facts)
{
    json_object_put(facts->event_properties);
    json_object_put(facts->person_attributes);
}

/* Parses JSON deeper than json_tokener_parse's 32 levels allow: 16 levels of conditions take 33. */
static json_object *parse_json(const char *text)
{
    struct json_tokener *tokener = json_tokener_new_ex(64);
    cr_assert_not_null(tokener);
    json_object *value = json_tokener_parse_ex(tokener, text, (int)strlen(text));
    json_tokener_free(tokener);
    return value;
}

/* Parses rule JSON text; on refusal returns NULL with the field and message filled. */
static struct trigger_rule *parse_text(const char *text, char field[128], char message[320])
{
    json_object *definition = parse_json(text);
    cr_assert_not_null(definition, "test JSON does not parse: %s", text);
    struct trigger_rule *rule = trigger_rule_parse(definition, field, 128, message, 320);
    json_object_put(definition);
    return rule;
}

/* A valid rule around `conditions` (a JSON array). */
static struct trigger_rule *rule_with_conditions(const char *conditions)
{
    char text[4096], field[128], message[320];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"trigger\":{\"event\":\"purchase\"},\"conditions\":%s,"
             "\"action\":{\"type\":\"set_attributes\",\"attributes\":{\"seen\":true}}}",
             conditions);
    struct trigger_rule *rule = parse_text(text, field, message);
    cr_assert_not_null(rule, "%s: refused at %s: %s", conditions, field, message);
    return rule;
}

/* ---- evaluation ---- */

#define LEAF(FIELD, OP, VALUE) "{\"field\":\"" FIELD "\",\"op\":\"" OP "\",\"value\":" VALUE "}"
#define PRESENCE(FIELD, OP) "{\"field\":\"" FIELD "\",\"op\":\"" OP "\"}"

/* One leaf condition and whether it holds for the facts of facts_new(). */
struct operator_case {
    const char *field;
    const char *op;
    const char *value; /* JSON; NULL for exists and not_exists */
    bool holds;
};

static struct operator_case operators_compare_as_specified_cases[] = {
    /* eq: numeric when both read as numbers, else bytes, booleans, null, structure */
    {"event.product", "eq", "\"socks\"", true},
    {"event.product", "eq", "\"Socks\"", false},
    {"event.price", "eq", "4.99", true},
    {"event.price", "eq", "\"4.990\"", true},
    {"event.qty", "eq", "\"3\"", true},
    {"event.qty", "eq", "3.0", true},
    {"event.cost", "eq", "\"4.99\"", true},
    {"event.label", "eq", "4.99", false},
    {"event.hex", "eq", "16", false},
    {"event.flag", "eq", "true", true},
    {"event.flag", "eq", "\"true\"", false},
    {"event.off", "eq", "false", true},
    {"event.off", "eq", "0", false},
    {"event.nothing", "eq", "null", true},
    {"event.empty", "eq", "null", false},
    {"event.missing", "eq", "null", false},
    {"event.tags", "eq", "[\"sale\",\"new\",2]", true},
    {"event.tags", "eq", "[\"new\",\"sale\",2]", false},
    {"event.address", "eq", "{\"geo\":{\"zip\":\"75001\"},\"city\":\"Paris\"}", true},
    {"event.huge", "eq", "18446744073709551615", true},
    {"event.huge", "eq", "18446744073709551614", false},
    {"event.name", "eq", "\"purchase\"", true},
    {"person.id", "eq", "\"u1\"", true},
    {"person.email", "eq", "\"ada@example.com\"", true},
    {"person.plan", "eq", "\"pro\"", true},
    /* neq is !eq, and true on a missing field */
    {"event.product", "neq", "\"socks\"", false},
    {"event.product", "neq", "\"shoes\"", true},
    {"event.price", "neq", "4.99", false},
    {"event.nothing", "neq", "null", false},
    {"event.missing", "neq", "\"x\"", true},
    /* gt, gte, lt, lte */
    {"event.price", "gt", "4", true},
    {"event.word", "gt", "4", false},
    {"event.word", "lt", "4", false},
    {"event.price", "gt", "5", false},
    {"event.price", "gt", "\"10\"", false},
    {"event.price", "gte", "4.99", true},
    {"event.price", "gte", "\"4.99\"", true},
    {"event.price", "lt", "5", true},
    {"event.price", "lt", "4.99", false},
    {"event.price", "lte", "4.99", true},
    {"event.big", "gt", "999", true},
    {"event.neg", "lt", "0", true},
    {"event.qty", "gt", "2.5", true},
    {"event.label", "gt", "4", false},
    {"event.empty", "lt", "1", false},
    {"event.word", "gt", "\"abb\"", true},
    {"event.word", "lt", "\"abd\"", true},
    {"event.word", "lte", "\"abc\"", true},
    {"event.flag", "gt", "0", false},
    {"event.nothing", "lt", "1", false},
    {"event.tags", "gt", "1", false},
    {"person.age", "gte", "41", true},
    {"event.missing", "gt", "0", false},
    {"event.missing", "gte", "0", false},
    {"event.missing", "lt", "0", false},
    {"event.missing", "lte", "0", false},
    /* contains: substring, or an array element eq the value */
    {"event.product", "contains", "\"ock\"", true},
    {"event.product", "contains", "\"sox\"", false},
    {"event.tags", "contains", "\"new\"", true},
    {"event.tags", "contains", "\"2\"", true},
    {"event.tags", "contains", "\"old\"", false},
    {"event.qty", "contains", "\"3\"", false},
    {"person.email", "contains", "\"@example\"", true},
    {"event.missing", "contains", "\"x\"", false},
    /* starts_with: strings only */
    {"event.product", "starts_with", "\"so\"", true},
    {"event.product", "starts_with", "\"ks\"", false},
    {"event.product", "starts_with", "\"\"", true},
    {"event.product", "starts_with", "\"socks and\"", false},
    {"event.qty", "starts_with", "\"3\"", false},
    {"event.name", "starts_with", "\"pur\"", true},
    {"event.missing", "starts_with", "\"a\"", false},
    /* in: eq to some element */
    {"event.product", "in", "[\"shoes\",\"socks\"]", true},
    {"event.product", "in", "[\"shoes\"]", false},
    {"event.qty", "in", "[\"3\",4]", true},
    {"event.nothing", "in", "[null]", true},
    {"person.plan", "in", "[\"pro\",\"team\"]", true},
    {"event.missing", "in", "[\"x\",null]", false},
    /* exists / not_exists: present and not null */
    {"event.product", "exists", NULL, true},
    {"event.empty", "exists", NULL, true},
    {"event.off", "exists", NULL, true},
    {"person.vip", "exists", NULL, true},
    {"event.nothing", "exists", NULL, false},
    {"event.missing", "exists", NULL, false},
    {"event.product", "not_exists", NULL, false},
    {"event.nothing", "not_exists", NULL, true},
    {"event.missing", "not_exists", NULL, true},
    /* dot paths into nested objects and arrays */
    {"event.address.city", "eq", "\"Paris\"", true},
    {"event.address.geo.zip", "eq", "75001", true},
    {"event.items.0.sku", "eq", "\"S1\"", true},
    {"event.items.1.sku", "eq", "\"S2\"", true},
    {"event.items.0.n", "gt", "1", true},
    {"event.tags.1", "eq", "\"new\"", true},
    {"person.prefs.lang", "eq", "\"fr\"", true},
    {"event.items.2.sku", "exists", NULL, false},
    {"event.items.1.n", "exists", NULL, false},
    {"event.items.x.sku", "exists", NULL, false},
    {"event.items.-1.sku", "exists", NULL, false},
    {"event.product.length", "exists", NULL, false},
    {"event.address.city.x", "not_exists", NULL, true},
};

static void check_operators_compare_as_specified(const struct trigger_facts *facts,
                                                 const struct operator_case *c)
{
    char conditions[512];
    snprintf(conditions, sizeof conditions, "[{\"field\":\"%s\",\"op\":\"%s\"%s%s}]", c->field,
             c->op, c->value ? ",\"value\":" : "", c->value ? c->value : "");
    struct trigger_rule *rule = rule_with_conditions(conditions);
    cr_assert_eq(trigger_rule_matches(rule, facts), c->holds, "%s should be %s", conditions,
                 c->holds ? "true" : "false");
    trigger_rule_free(rule);
}

Test(trigger, operators_compare_as_specified)
{
    struct trigger_facts facts = facts_new();
    for (size_t i = 0; i < sizeof operators_compare_as_specified_cases /
                               sizeof operators_compare_as_specified_cases[0];
         i++)
        check_operators_compare_as_specified(&facts, &operators_compare_as_specified_cases[i]);
    facts_free(&facts);
}

#define SOCKS LEAF("event.product", "eq", "\"socks\"")
#define CHEAP LEAF("event.price", "lt", "1")
#define PRO LEAF("person.plan", "eq", "\"pro\"")
#define FREE LEAF("person.plan", "eq", "\"free\"")

struct condition_case {
    const char *conditions; /* a JSON array */
    bool holds;
};

static struct condition_case any_and_all_nest_cases[] = {
    {"[]", true},
    {"[" SOCKS "," PRO "]", true},
    {"[" SOCKS "," FREE "]", false},
    {"[{\"any\":[" CHEAP "," PRO "]}]", true},
    {"[{\"any\":[" CHEAP "," FREE "]}]", false},
    {"[{\"all\":[" SOCKS "," PRO "]}]", true},
    {"[{\"all\":[" SOCKS "," CHEAP "]}]", false},
    {"[{\"any\":[{\"all\":[" CHEAP "," PRO "]},{\"all\":[" SOCKS "," PRO "]}]}]", true},
    {"[{\"any\":[{\"all\":[" CHEAP "]},{\"any\":[" FREE "," CHEAP "]}]}]", false},
    {"[" SOCKS ",{\"any\":[" FREE ",{\"all\":[" PRO
     "," PRESENCE("event.gift", "not_exists") "]}]}]",
     true},
    {"[{\"all\":[{\"any\":[" PRESENCE("person.vip", "exists") "]}]}," CHEAP "]", false},
};

Test(trigger, any_and_all_nest)
{
    struct trigger_facts facts = facts_new();
    for (size_t i = 0; i < sizeof any_and_all_nest_cases / sizeof any_and_all_nest_cases[0]; i++) {
        const struct condition_case *c = &any_and_all_nest_cases[i];
        struct trigger_rule *rule = rule_with_conditions(c->conditions);
        cr_assert_eq(trigger_rule_matches(rule, &facts), c->holds, "%s", c->conditions);
        trigger_rule_free(rule);
    }
    facts_free(&facts);
}

Test(trigger, person_relations_answer_segments_objects_and_object_ids)
{
    struct trigger_facts facts = {.event_name = "logged_in"};
    trigger_facts_parse(&facts, NULL, "{\"plan\":\"pro\",\"objects\":\"an attribute\"}",
                        "{\"segments\":[3,42],\"objects\":{\"1\":{\"name\":\"Acme\","
                        "\"object_id\":\"acme\",\"relationship\":{\"role\":\"admin\"}}},"
                        "\"object_ids\":{\"1\":[\"acme\",\"globex\"]}}");
    json_object *value;
    bool owned;
    cr_assert(trigger_lookup(&facts, "person.objects.1.name", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "Acme");
    cr_assert_not(owned);
    cr_assert(trigger_lookup(&facts, "person.objects.1.relationship.role", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "admin");
    cr_assert_not(trigger_lookup(&facts, "person.objects.2.name", &value, &owned));
    cr_assert(trigger_lookup(&facts, "person.plan", &value, &owned), "attributes still answer");
    cr_assert_str_eq(json_object_get_string(value), "pro");
    cr_assert_not(trigger_lookup(&facts, "person.objectsx", &value, &owned));
    struct trigger_rule *rule =
        rule_with_conditions("[" LEAF("person.segments", "contains", "42") "," LEAF(
            "person.object_ids.1", "contains", "\"globex\"") "," LEAF("person.objects.1.object_id",
                                                                      "eq", "\"acme\"") "]");
    cr_assert(trigger_rule_matches(rule, &facts));
    trigger_rule_free(rule);
    rule = rule_with_conditions("[" LEAF("person.object_ids.1", "contains", "\"initech\"") "]");
    cr_assert_not(trigger_rule_matches(rule, &facts));
    trigger_rule_free(rule);
    trigger_facts_release(&facts);
    /* Without relations (a store that did not read them), the names are attribute paths. */
    trigger_facts_parse(&facts, NULL, "{\"objects\":{\"1\":{\"name\":\"Attr\"}}}", NULL);
    cr_assert(trigger_lookup(&facts, "person.objects.1.name", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "Attr");
    trigger_facts_release(&facts);
}

Test(trigger, lookup_lends_values_and_tells_null_from_missing)
{
    struct trigger_facts facts = facts_new();
    json_object *value;
    bool owned;
    cr_assert(trigger_lookup(&facts, "event.product", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "socks");
    cr_assert_not(owned, "a property is lent from the facts");
    cr_assert(trigger_lookup(&facts, "event.name", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "purchase");
    cr_assert(owned, "event.name is made for the caller");
    json_object_put(value);
    cr_assert(trigger_lookup(&facts, "event.nothing", &value, &owned), "null is present");
    cr_assert_null(value);
    cr_assert_not(trigger_lookup(&facts, "event.missing", &value, &owned));
    cr_assert_null(value);
    cr_assert_not(trigger_lookup(&facts, "product", &value, &owned));
    cr_assert_not(trigger_lookup(&facts, "event.", &value, &owned));
    cr_assert_not(trigger_lookup(&facts, "event.address..city", &value, &owned));

    /* Without the named facts, person.email and person.id are ordinary attribute paths. */
    facts.person_email = NULL;
    facts.person_id = NULL;
    cr_assert(trigger_lookup(&facts, "person.email", &value, &owned));
    cr_assert_str_eq(json_object_get_string(value), "old@example.com");
    cr_assert_not(trigger_lookup(&facts, "person.id", &value, &owned));
    facts_free(&facts);

    struct trigger_facts bare = {.event_name = "purchase"};
    cr_assert_not(trigger_lookup(&bare, "event.product", &value, &owned));
    cr_assert_not(trigger_lookup(&bare, "person.plan", &value, &owned));
    struct trigger_rule *rule =
        rule_with_conditions("[" LEAF("event.product", "neq", "1") "," PRESENCE(
            "person.id", "not_exists") "," LEAF("event.name", "eq", "\"purchase\"") "]");
    cr_assert(trigger_rule_matches(rule, &bare), "absent properties and attributes are missing");
    trigger_rule_free(rule);
}

/* ---- validation ---- */

#define NAME "\"name\":\"r\""
#define TRIGGER "\"trigger\":{\"event\":\"e\"}"
#define PUSH "\"action\":{\"type\":\"push\",\"title\":\"t\",\"body\":\"b\"}"
#define RULE_WITH(EXTRA) "{" NAME "," TRIGGER "," PUSH EXTRA "}"
#define RULE_TRIGGER(T) "{" NAME ",\"trigger\":" T "," PUSH "}"
#define RULE_ACTION(A) "{" NAME "," TRIGGER ",\"action\":" A "}"
#define RULE_CONDITIONS(C) RULE_WITH(",\"conditions\":" C)
#define WEBHOOK(EXTRA) RULE_ACTION("{\"type\":\"webhook\",\"url\":\"https://x.test/h\"" EXTRA "}")
#define PUSH_WITH(EXTRA) RULE_ACTION("{\"type\":\"push\",\"title\":\"t\",\"body\":\"b\"" EXTRA "}")
#define SET(EXTRA) RULE_ACTION("{\"type\":\"set_attributes\"" EXTRA "}")
#define ONE(CONDITION) RULE_CONDITIONS("[" CONDITION "]")
#define EMAIL(EXTRA) RULE_ACTION("{\"type\":\"email\",\"subject\":\"s\"" EXTRA "}")
#define JOURNEY(STEPS) "{" NAME "," TRIGGER ",\"steps\":" STEPS "}"
#define STEP_PUSH "{\"action\":{\"type\":\"push\",\"title\":\"t\",\"body\":\"b\"}}"
#define DONE(EVENT) "{\"field\":\"journey.done\",\"op\":\"contains\",\"value\":\"" EVENT "\"}"

struct validation_case {
    const char *rule;
    const char *field;   /* NULL when the rule is valid */
    const char *message; /* a part of the message */
};

static struct validation_case validates_each_field_cases[] = {
    /* accepted */
    {RULE_WITH(""), NULL, NULL},
    {RULE_WITH(",\"description\":null,\"enabled\":false,\"conditions\":[],\"delay\":\"30s\""), NULL,
     NULL},
    {"{\"name\":\"A.b_c-9\"," TRIGGER "," PUSH "}", NULL, NULL},
    {RULE_TRIGGER("{\"event\":\"Home\",\"type\":\"screen\"}"), NULL, NULL},
    {RULE_WITH(",\"frequency\":\"once\""), NULL, NULL},
    {RULE_WITH(",\"frequency\":{\"at_most_every\":\"24h\"}"), NULL, NULL},
    {ONE(LEAF("event.a", "eq", "null") "," LEAF("event.a", "contains", "1")), NULL, NULL},
    {ONE(PRESENCE("person.b", "exists") "," LEAF("event.name", "in", "[\"x\"]")), NULL, NULL},
    {WEBHOOK(""), NULL, NULL},
    {WEBHOOK(",\"method\":\"PUT\",\"headers\":{\"X-Key\":\"{{ person.id }}\"},\"body\":[1]"), NULL,
     NULL},
    {SET(",\"attributes\":{\"a\":null,\"b\":{\"c\":1}}"), NULL, NULL},
    /* the rule itself */
    {"[]", "rule", "must be a JSON object"},
    {RULE_WITH(",\"condtions\":[]"), "condtions", "unknown key \"condtions\" in the rule"},
    {"{" TRIGGER "," PUSH "}", "name", "name is required"},
    {"{\"name\":\"bad name\"," TRIGGER "," PUSH "}", "name", "letters, digits"},
    {"{\"name\":5," TRIGGER "," PUSH "}", "name", "name must be a string"},
    {RULE_WITH(",\"description\":7"), "description", "description must be a string"},
    {RULE_WITH(",\"enabled\":\"yes\""), "enabled", "true or false"},
    /* trigger */
    {"{" NAME "," PUSH "}", "trigger", "trigger is required"},
    {RULE_TRIGGER("\"purchase\""), "trigger", "must be an object"},
    {RULE_TRIGGER("{}"), "trigger.event", "trigger.event is required"},
    {RULE_TRIGGER("{\"event\":\"  \"}"), "trigger.event", "trigger.event is required"},
    {RULE_TRIGGER("{\"event\":5}"), "trigger.event", "trigger.event must be a string"},
    {RULE_TRIGGER("{\"event\":\"e\",\"type\":\"click\"}"), "trigger.type", "event, page, screen"},
    {RULE_TRIGGER("{\"event\":\"e\",\"typ\":\"page\"}"), "trigger.typ", "unknown key"},
    /* conditions */
    {RULE_CONDITIONS("{}"), "conditions", "conditions must be an array"},
    {ONE("\"x\""), "conditions[0]", "conditions[0] must be an object"},
    {ONE("{\"op\":\"eq\",\"value\":1}"), "conditions[0].field", "is required"},
    {ONE(LEAF("price", "eq", "1")), "conditions[0].field", "event.<path>"},
    {ONE(PRESENCE("user.plan", "exists")), "conditions[0].field", "person.<path>"},
    {ONE(PRESENCE("event.", "exists")), "conditions[0].field", "no empty segment"},
    {ONE(PRESENCE("event.a..b", "exists")), "conditions[0].field", "no empty segment"},
    {ONE(PRESENCE("person.a.", "exists")), "conditions[0].field", "no empty segment"},
    {ONE("{\"field\":\"event.a\",\"value\":1}"), "conditions[0].op", "is required"},
    {ONE(LEAF("event.a", "equals", "1")), "conditions[0].op", "must be one of eq, neq"},
    {ONE(PRESENCE("event.a", "eq")), "conditions[0].value", "is required for eq"},
    {ONE(PRESENCE("event.a", "contains")), "conditions[0].value", "is required for contains"},
    {ONE(LEAF("event.a", "exists", "true")), "conditions[0].value", "exists takes no value"},
    {ONE(LEAF("event.a", "not_exists", "null")), "conditions[0].value", "takes no value"},
    {ONE(LEAF("event.a", "in", "\"x\"")), "conditions[0].value", "non-empty array for in"},
    {ONE(LEAF("event.a", "in", "[]")), "conditions[0].value", "non-empty array for in"},
    {ONE(LEAF("event.a", "gt", "true")), "conditions[0].value", "number or a string for gt"},
    {ONE(PRESENCE("event.a", "lte")), "conditions[0].value", "number or a string for lte"},
    {ONE(LEAF("event.a", "starts_with", "5")), "conditions[0].value", "string for starts_with"},
    {ONE("{\"field\":\"event.a\",\"op\":\"eq\",\"vaule\":1}"), "conditions[0].vaule",
     "unknown key \"vaule\" in conditions[0]"},
    {ONE(PRESENCE("event.a", "exists") "," PRESENCE("event.b", "exists") ",{\"any\":[" LEAF(
         "event.c", "bogus", "1") "]}"),
     "conditions[2].any[0].op", "conditions[2].any[0].op must be one of"},
    {ONE("{\"all\":[{\"any\":[" PRESENCE("x", "exists") "]}]}"),
     "conditions[0].all[0].any[0].field", "must be event.<path>"},
    {ONE("{\"any\":[]}"), "conditions[0].any", "non-empty array of conditions"},
    {ONE("{\"all\":{}}"), "conditions[0].all", "non-empty array of conditions"},
    {ONE("{\"any\":[" PRESENCE("event.a", "exists") "],\"all\":[]}"), "conditions[0].all",
     "unknown key"},
    /* frequency and delay */
    {RULE_WITH(",\"frequency\":\"sometimes\""), "frequency", "\"every_time\", \"once\""},
    {RULE_WITH(",\"frequency\":\"at_most_every\""), "frequency", "\"every_time\", \"once\""},
    {RULE_WITH(",\"frequency\":3"), "frequency", "\"every_time\", \"once\""},
    {RULE_WITH(",\"frequency\":{\"at_most_every\":\"soon\"}"), "frequency.at_most_every", "like"},
    {RULE_WITH(",\"frequency\":{\"at_most_every\":\"0s\"}"), "frequency.at_most_every", "positive"},
    {RULE_WITH(",\"frequency\":{\"at_most_every\":24}"), "frequency.at_most_every", "duration"},
    {RULE_WITH(",\"frequency\":{}"), "frequency.at_most_every", "duration"},
    {RULE_WITH(",\"frequency\":{\"at_most_every\":\"1h\",\"x\":1}"), "frequency.x", "unknown key"},
    {RULE_WITH(",\"delay\":\"5\""), "delay", "delay must be a duration"},
    {RULE_WITH(",\"delay\":30"), "delay", "delay must be a duration"},
    {RULE_WITH(",\"delay\":\"400d\""), "delay", "at most 365d"},
    /* action */
    {"{" NAME "," TRIGGER "}", "action", "action is required"},
    {RULE_ACTION("\"push\""), "action", "must be an object"},
    {RULE_ACTION("{\"title\":\"t\"}"), "action.type", "push, email, webhook, set_attributes"},
    {RULE_ACTION("{\"type\":\"mail\"}"), "action.type", "push, email, webhook, set_attributes"},
    /* email */
    {RULE_ACTION("{\"type\":\"email\"}"), "action.subject", "action.subject is required"},
    {EMAIL(""), "action.html", "an html or a text body"},
    {EMAIL(",\"text\":\" \",\"html\":\"\""), "action.html", "an html or a text body"},
    {EMAIL(",\"text\":\"t\",\"to\":\" \""), "action.to", "cannot be blank"},
    {EMAIL(",\"text\":\"t\",\"to\":5"), "action.to", "must be a string"},
    {EMAIL(",\"text\":\"t\",\"cc\":\"x\""), "action.cc", "unknown key"},
    {EMAIL(",\"html\":\"{{ event.x | nope }}\""), "action.html", "template error"},
    {EMAIL(",\"html\":\"<a href='{{ unsubscribe_url }}'>u</a>\",\"to\":\"{{ event.to }}\""), NULL,
     NULL},
    /* steps */
    {JOURNEY("[]"), "steps", "non-empty array of steps"},
    {JOURNEY("{}"), "steps", "non-empty array of steps"},
    {"{" NAME "," TRIGGER "," PUSH ",\"steps\":[" STEP_PUSH "]}", "steps",
     "either an action or steps"},
    {JOURNEY("[{\"wait\":\"1d\"}]"), "steps", "at least one action step"},
    {JOURNEY("[" STEP_PUSH ",5]"), "steps[1]", "one key: wait, wait_until, action or branch"},
    {JOURNEY("[" STEP_PUSH ",{\"wait\":\"1d\",\"x\":1}]"), "steps[1]", "one key"},
    {JOURNEY("[" STEP_PUSH ",{\"sleep\":\"1d\"}]"), "steps[1].sleep", "unknown key"},
    {JOURNEY("[" STEP_PUSH ",{\"wait\":\"soon\"}]"), "steps[1].wait", "duration"},
    {JOURNEY("[" STEP_PUSH ",{\"wait_until\":{\"event\":\"p\"}}]"), "steps[1].wait_until.within",
     "positive"},
    {JOURNEY("[" STEP_PUSH ",{\"wait_until\":{\"event\":\"p\",\"within\":\"0s\"}}]"),
     "steps[1].wait_until.within", "positive"},
    {JOURNEY("[" STEP_PUSH ",{\"wait_until\":{\"within\":\"1d\"}}]"), "steps[1].wait_until.event",
     "required"},
    {JOURNEY("[{\"action\":{\"type\":\"push\",\"title\":\"t\"}}]"), "steps[0].action.body",
     "required"},
    {JOURNEY("[" STEP_PUSH ",{\"branch\":{\"if\":[],\"then\":[" STEP_PUSH "]}}]"),
     "steps[1].branch.if", "non-empty array of conditions"},
    {JOURNEY("[" STEP_PUSH ",{\"branch\":{\"if\":[" DONE("p") "]}}]"), "steps[1].branch",
     "then or an else"},
    {JOURNEY("[" STEP_PUSH ",{\"branch\":{\"if\":[" DONE("p") "],\"then\":[{\"wait\":1}]}}]"),
     "steps[1].branch.then[0].wait", "duration"},
    {JOURNEY("[" STEP_PUSH ",{\"branch\":{\"if\":[{\"field\":\"journey.done\",\"op\":\"eq\","
             "\"value\":\"p\"}],\"then\":[" STEP_PUSH "]}}]"),
     "steps[1].branch.if[0].value", "contains"},
    {RULE_CONDITIONS("[" DONE("p") "]"), "conditions[0].field", "only in a journey's branch"},
    {"{" NAME "," TRIGGER ",\"recheck\":true,\"steps\":[" STEP_PUSH "]}", "recheck", "branch"},
    {RULE_ACTION("{\"type\":\"push\",\"body\":\"b\"}"), "action.title", "action.title is required"},
    {RULE_ACTION("{\"type\":\"push\",\"title\":5}"), "action.title", "title must be a string"},
    {RULE_ACTION("{\"type\":\"push\",\"title\":\"t\",\"body\":\"\"}"), "action.body", "required"},
    {PUSH_WITH(",\"data\":[]"), "action.data", "action.data must be an object of strings"},
    {PUSH_WITH(",\"data\":{\"n\":1}"), "action.data.n", "action.data.n must be a string"},
    {PUSH_WITH(",\"url\":\"https://x\""), "action.url", "unknown key \"url\" in action"},
    {PUSH_WITH(",\"link\":\"shop://orders/{{ event.id }}\",\"image\":\"https://x.test/a.png\""),
     NULL, NULL},
    {PUSH_WITH(",\"link\":null,\"image\":\"\""), NULL, NULL},
    {PUSH_WITH(",\"link\":5"), "action.link", "action.link must be a string"},
    {PUSH_WITH(",\"image\":[\"a\"]"), "action.image", "action.image must be a string"},
    {WEBHOOK(",\"link\":\"x\""), "action.link", "unknown key"},
    {RULE_ACTION("{\"type\":\"webhook\"}"), "action.url", "action.url is required"},
    {RULE_ACTION("{\"type\":\"webhook\",\"url\":\"ftp://x\"}"), "action.url", "http:// or https"},
    {RULE_ACTION("{\"type\":\"webhook\",\"url\":\"https://\"}"), "action.url", "http:// or https"},
    {WEBHOOK(",\"method\":\"GET\""), "action.method", "POST or PUT"},
    {WEBHOOK(",\"headers\":\"x\""), "action.headers", "object of strings"},
    {WEBHOOK(",\"headers\":{\"X-A\":1}"), "action.headers.X-A", "must be a string"},
    {WEBHOOK(",\"headers\":{\"Bad Name\":\"v\"}"), "action.headers.Bad Name", "header name"},
    {WEBHOOK(",\"headers\":{\"X-A\":\"a\\r\\nB: c\"}"), "action.headers.X-A", "line break"},
    {WEBHOOK(",\"title\":\"t\""), "action.title", "unknown key"},
    {SET(""), "action.attributes", "action.attributes must be a non-empty object"},
    {SET(",\"attributes\":{}"), "action.attributes", "non-empty object"},
    {SET(",\"attributes\":[1]"), "action.attributes", "non-empty object"},
    {SET(",\"attributes\":{\" \":1}"), "action.attributes. ", "attribute name"},
};

static void check_validates_each_field(const struct validation_case *c)
{
    char field[128] = "x", message[320] = "x";
    struct trigger_rule *rule = parse_text(c->rule, field, message);
    if (c->field == NULL) {
        cr_assert_not_null(rule, "%s: refused at %s: %s", c->rule, field, message);
        cr_assert_str_empty(field);
        cr_assert_str_empty(message);
    } else {
        cr_assert_null(rule, "%s should be refused", c->rule);
        cr_assert_str_eq(field, c->field, "%s: %s", c->rule, message);
        cr_assert(strstr(message, c->message) != NULL, "'%s' lacks '%s'", message, c->message);
    }
    trigger_rule_free(rule);
}

Test(trigger, validates_each_field)
{
    for (size_t i = 0; i < sizeof validates_each_field_cases / sizeof validates_each_field_cases[0];
         i++)
        check_validates_each_field(&validates_each_field_cases[i]);
}

/* Parses `fmt` with its %s filled by `n` copies of 'x'; expects a refusal at `field`, or
 * acceptance when `field` is NULL. */
static void expect_limit(const char *fmt, size_t n, const char *field)
{
    char fill[2048], text[4096], got[128], message[320];
    cr_assert_lt(n, sizeof fill);
    memset(fill, 'x', n);
    fill[n] = '\0';
    snprintf(text, sizeof text, fmt, fill);
    struct trigger_rule *rule = parse_text(text, got, message);
    if (field == NULL) {
        cr_assert_not_null(rule, "refused at %zu: %s", n, message);
    } else {
        cr_assert_null(rule, "accepted at %zu", n);
        cr_assert_str_eq(got, field);
        cr_assert(strstr(message, "100") || strstr(message, "1000"), "%s", message);
    }
    trigger_rule_free(rule);
}

Test(trigger, enforces_limits_at_their_boundaries)
{
    expect_limit("{\"name\":\"%s\"," TRIGGER "," PUSH "}", 100, NULL);
    expect_limit("{\"name\":\"%s\"," TRIGGER "," PUSH "}", 101, "name");
    expect_limit(RULE_TRIGGER("{\"event\":\"%s\"}"), 100, NULL);
    expect_limit(RULE_TRIGGER("{\"event\":\"%s\"}"), 101, "trigger.event");
    expect_limit(RULE_WITH(",\"description\":\"%s\""), 1000, NULL);
    expect_limit(RULE_WITH(",\"description\":\"%s\""), 1001, "description");
}

/* Conditions nested `levels` deep: the leaf sits inside levels-1 "any" groups. */
static void nest(char *out, size_t size, int levels)
{
    out[0] = '\0';
    strcat(out, "[");
    for (int i = 1; i < levels; i++)
        strcat(out, "{\"any\":[");
    strcat(out, PRESENCE("event.a", "exists"));
    for (int i = 1; i < levels; i++)
        strcat(out, "]}");
    strcat(out, "]");
    cr_assert_lt(strlen(out), size);
}

Test(trigger, conditions_nest_at_most_16_deep)
{
    char conditions[2048], text[4096], field[128], message[320];
    nest(conditions, sizeof conditions, TRIGGER_CONDITION_DEPTH_MAX);
    trigger_rule_free(rule_with_conditions(conditions));

    nest(conditions, sizeof conditions, TRIGGER_CONDITION_DEPTH_MAX + 1);
    snprintf(text, sizeof text, RULE_CONDITIONS("%s"), conditions);
    cr_assert_null(parse_text(text, field, message));
    char expected[512] = "conditions[0]";
    for (int i = 1; i < TRIGGER_CONDITION_DEPTH_MAX + 1; i++)
        strcat(expected, ".any[0]");
    cr_assert_str_eq(field, expected);
    cr_assert(strstr(message, "deeper than 16 levels") != NULL, "%s", message);
}

Test(trigger, parse_keeps_each_setting_and_copies_the_action)
{
    char field[128], message[320];
    json_object *definition = json_tokener_parse(
        "{\"name\":\"n\",\"description\":\"d\",\"enabled\":false,"
        "\"trigger\":{\"event\":\"Pricing\",\"type\":\"page\"},"
        "\"frequency\":{\"at_most_every\":\"24h\"},\"delay\":\"10m\","
        "\"action\":{\"type\":\"webhook\",\"url\":\"http://h/{{ person.id }}\"}}");
    struct trigger_rule *rule =
        trigger_rule_parse(definition, field, sizeof field, message, sizeof message);
    cr_assert_not_null(rule, "%s", message);
    json_object *given = NULL;
    json_object_object_get_ex(definition, "action", &given);
    cr_assert(json_object_equal(rule->action, given));
    cr_assert_neq(rule->action, given, "the rule keeps its own copy");
    json_object_put(definition);

    cr_assert_str_eq(rule->name, "n");
    cr_assert_str_eq(rule->description, "d");
    cr_assert_not(rule->enabled);
    cr_assert_str_eq(rule->event, "Pricing");
    cr_assert_eq(rule->type, TRIGGER_TYPE_PAGE);
    cr_assert_str_eq(trigger_event_type_name(rule->type), "page");
    cr_assert_null(rule->conditions);
    cr_assert_eq(rule->frequency, TRIGGER_AT_MOST_EVERY);
    cr_assert_eq(rule->at_most_every_us, 24 * 3600 * US_PER_SEC);
    cr_assert_eq(rule->delay_us, 600 * US_PER_SEC);
    cr_assert_eq(rule->action_type, TRIGGER_ACTION_WEBHOOK);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(rule->action, "url")),
                     "http://h/{{ person.id }}", "templates are not rendered");
    trigger_rule_free(rule);
    trigger_rule_free(NULL);
    cr_assert_str_eq(trigger_event_type_name(TRIGGER_TYPE_EVENT), "event");
    cr_assert_str_eq(trigger_event_type_name(TRIGGER_TYPE_SCREEN), "screen");
}

/* ---- durations ---- */

static const struct {
    const char *text;
    int64_t seconds;
} parses_durations_valid[] = {
    {"0s", 0},     {"30s", 30},        {"10m", 600},        {"2h", 7200},
    {"1d", 86400}, {"365d", 31536000}, {"8760h", 31536000}, {"007m", 420},
};

static const char *const parses_durations_invalid[] = {
    "",    "5",   "5x",  "-1m",  "+1m", "400d", "366d", "8761h", "31536001s",
    " 5s", "5s ", "5 s", "1.5h", "5S",  "s",    "5ms",  "1h30m", "99999999999999999999999d",
};

Test(trigger, parses_durations)
{
    for (size_t i = 0; i < sizeof parses_durations_valid / sizeof parses_durations_valid[0]; i++) {
        int64_t us = -7;
        cr_assert(trigger_parse_duration(parses_durations_valid[i].text, &us), "\"%s\"",
                  parses_durations_valid[i].text);
        cr_assert_eq(us, parses_durations_valid[i].seconds * US_PER_SEC);
    }
    for (size_t i = 0; i < sizeof parses_durations_invalid / sizeof parses_durations_invalid[0];
         i++) {
        int64_t us = -7;
        cr_assert_not(trigger_parse_duration(parses_durations_invalid[i], &us), "\"%s\"",
                      parses_durations_invalid[i]);
        cr_assert_eq(us, -7, "left untouched");
    }
    cr_assert_not(trigger_parse_duration(NULL, &(int64_t){0}));
}

/* ---- templates ---- */

struct template_case {
    const char *template_text;
    const char *rendered;
};

static struct template_case renders_templates_cases[] = {
    {"", ""},
    {"Hello", "Hello"},
    {"Your {{ event.product }} ship today.", "Your socks ship today."},
    {"{{event.product}}", "socks"},
    {"{{   event.product\t}}", "socks"},
    {"Hi {{ person.first_name }}", "Hi Ada"},
    {"{{ person.id }}/{{ person.email }}", "u1/ada@example.com"},
    {"{{ event.name }}", "purchase"},
    {"{{ event.items.0.sku }}, {{ person.prefs.lang }}", "S1, fr"},
    {"Thanks, {{ person.missing | default: \"friend\" }}!", "Thanks, friend!"},
    {"Thanks, {{ person.missing | default: 'friend' }}!", "Thanks, friend!"},
    {"{{person.missing|default:'friend'}}", "friend"},
    {"{{ person.first_name | default: 'friend' }}", "Ada"},
    {"{{ person.nick | default: 'friend' }}", "friend"},
    {"{{ event.nothing | default: \"none\" }}", "none"},
    {"{{ person.missing | default: \"it's\" }}", "it's"},
    {"{{ person.missing | default: 'a }} b' }}", "a }} b"},
    {"[{{ person.missing }}]", "[]"},
    {"[{{ event.nothing }}]", "[]"},
    {"{{ event.qty }} x {{ event.ratio }} x {{ event.cost }}", "3 x 0.5 x 4.99"},
    {"{{ event.price }} usd", "4.99 usd"},
    {"{{ event.flag }}/{{ event.off | default: 'x' }}", "true/x"},
    {"{{ event.huge }}", "18446744073709551615"},
    {"{{ event.address }}", "{\"city\":\"Paris\",\"geo\":{\"zip\":\"75001\"}}"},
    {"{{ event.tags }}", "[\"sale\",\"new\",2]"},
    {"{{ event.product }}{{ event.qty }}", "socks3"},
    /* not expressions: copied literally */
    {"{{", "{{"},
    {"Total: {{ event.qty", "Total: {{ event.qty"},
    {"{{ event.qty }", "{{ event.qty }"},
    {"{{ foo }}", "{{ foo }}"},
    {"{{ }}", "{{ }}"},
    {"{{ event.product | upcase }}", "SOCKS"},
    {"{{ event.product | default: friend }}", "{{ event.product | default: friend }}"},
    {"{{ event.product | default: 'friend }}", "{{ event.product | default: 'friend }}"},
    /* A template that does not parse (stored before templates were checked) shows as it is. */
    {"}} {{ event.product }} {{", "}} {{ event.product }} {{"},
    {"{{{ event.product }}}", "{{{ event.product }}}"},
    {"a {{ b {{ event.qty }}", "a {{ b {{ event.qty }}"},
    /* Customer.io's Liquid: customer is person; filters; tags. */
    {"{{ customer.first_name }} / {{ customer.id }}", "Ada / u1"},
    {"{{ person.first_name | upcase }} {{ 'MiXed' | downcase }} {{ 'word' | capitalize }}",
     "ADA mixed Word"},
    {"[{{ '  pad  ' | strip }}]", "[pad]"},
    {"{{ '<b>\"Tom\" & Jerry</b>' | escape }}", "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;"},
    {"{{ 'a b&c/d' | url_encode }}", "a+b%26c%2Fd"},
    {"{{ event.tags | size }} {{ event.product | size }} {{ event.tags | join: ', ' }}",
     "3 5 sale, new, 2"},
    {"{{ event.qty | plus: 2 }} {{ event.cost | minus: 0.99 }} {{ event.price | plus: 1 }}",
     "5 4 5.99"},
    {"{{ event.ratio | plus: 1 }} {{ event.qty | minus: 5 }} {{ event.word | plus: 1 }}",
     "1.5 -2 abc"},
    {"{{ 1700000000 | date: '%Y-%m-%d %H:%M' }}", "2023-11-14 22:13"},
    {"{{ '2026-12-06T10:30:00Z' | date: '%d/%m/%Y' }}", "06/12/2026"},
    /* Not a time of years 1 to 9999: left as it is. */
    {"{{ 99999999999999 | date: '%Y' }}|{{ -1e300 | date: '%Y' }}|{{ 1e400 | date: '%Y' }}",
     "99999999999999|-1.0000000000000001e+300|Infinity"},
    {"{{ person.nick | default: 'friend' | upcase }}", "FRIEND"},
    {"{% if person.plan == 'pro' %}pro{% elsif person.plan == 'free' %}free{% else %}other{% endif "
     "%}",
     "pro"},
    {"{% if event.qty > 5 %}many{% elsif event.qty > 2 %}some{% else %}few{% endif %}", "some"},
    {"{% if event.tags contains 'sale' and person.vip %}vip sale{% else %}no{% endif %}", "no"},
    {"{% if person.vip or event.flag %}yes{% endif %}", "yes"},
    {"{% if event.product contains 'ock' %}has{% endif %}{% if event.nothing %}x{% endif %}",
     "has"},
    {"{% if event.qty != 3 %}a{% else %}b{% endif %}", "b"},
    {"{% for item in event.items %}{{ item.sku }}{% if item.n %}x{{ item.n }}{% endif %};{% endfor "
     "%}",
     "S1x2;S2;"},
    {"{% for t in event.tags %}{% for u in event.tags %}.{% endfor %}|{% endfor %}",
     "...|...|...|"},
    {"{% for t in event.nothing %}x{% endfor %}empty", "empty"},
};

Test(trigger, renders_templates)
{
    struct trigger_facts facts = facts_new();
    for (size_t i = 0; i < sizeof renders_templates_cases / sizeof renders_templates_cases[0];
         i++) {
        const struct template_case *c = &renders_templates_cases[i];
        char *rendered = trigger_render(c->template_text, &facts);
        cr_assert_not_null(rendered);
        cr_assert_str_eq(rendered, c->rendered, "template \"%s\"", c->template_text);
        free(rendered);
    }
    cr_assert_null(trigger_render(NULL, &facts));
    facts_free(&facts);
}

Test(trigger, rendered_json_stays_valid_json)
{
    const char *said = "He said \"hi\" \\o/\n\t</script>{{ event.product }}";
    struct trigger_facts facts = facts_new();
    json_object_object_add(facts.event_properties, "quote", json_object_new_string(said));
    json_object *body = json_tokener_parse(
        "{\"text\":\"<{{ event.quote }}>\",\"n\":5,\"f\":1.50,\"list\":[\"{{ event.product }}\","
        "true,null],\"nested\":{\"k\":\"{{ person.first_name }}\"},"
        "\"{{ event.product }}\":\"keys stay\"}");
    const char *before = strdup(json_object_to_json_string(body));

    json_object *rendered = trigger_render_json(body, &facts);
    cr_assert_not_null(rendered);
    json_object *back = json_tokener_parse(json_object_to_json_string(rendered));
    cr_assert_not_null(back, "serialized output is JSON");
    char expected[256];
    snprintf(expected, sizeof expected, "<%s>", said);
    json_object *v;
    cr_assert(json_object_object_get_ex(back, "text", &v));
    cr_assert_str_eq(json_object_get_string(v), expected, "the value's own braces stay text");
    cr_assert(json_object_object_get_ex(back, "n", &v) && json_object_get_int(v) == 5);
    cr_assert(json_object_object_get_ex(back, "f", &v));
    cr_assert_str_eq(json_object_to_json_string(v), "1.50");
    cr_assert(json_object_object_get_ex(back, "list", &v));
    cr_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                     "[\"socks\",true,null]");
    cr_assert(json_object_object_get_ex(back, "nested", &v));
    cr_assert_str_eq(json_object_get_string(json_object_object_get(v, "k")), "Ada");
    cr_assert(json_object_object_get_ex(back, "{{ event.product }}", &v));
    cr_assert_str_eq(json_object_get_string(v), "keys stay");
    cr_assert_str_eq(json_object_to_json_string(body), before, "the template is not changed");
    cr_assert_null(trigger_render_json(NULL, &facts));

    free((void *)before);
    json_object_put(back);
    json_object_put(rendered);
    json_object_put(body);
    facts_free(&facts);
}

/* ---- webhook URLs and headers ---- */

#define SPEC_EXAMPLE_FOR_ACTIONS                                                                   \
    "{\"name\":\"p\",\"trigger\":{\"event\":\"e\"},\"action\":{\"type\":\"push\","                 \
    "\"title\":\"Hi {{ person.id }}\",\"body\":\"{{ event.ref }}\",\"link\":\"x://{{ event.ref "   \
    "}}\"}}"

/* A webhook rule around `url` (JSON string content) and `extra` action members. */
static struct trigger_rule *webhook_rule(const char *url, const char *extra, char field[128],
                                         char message[320])
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\"name\":\"w\",\"trigger\":{\"event\":\"e\"},\"action\":{\"type\":\"webhook\","
             "\"url\":\"%s\"%s}}",
             url, extra);
    return parse_text(text, field, message);
}

struct url_check_case {
    const char *url;     /* as JSON string content */
    const char *message; /* a part of the refusal; NULL when accepted */
};

#define TEMPLATE_IN_ORIGIN "must be written out"
static struct url_check_case url_templates_are_refused_in_the_scheme_host_and_port_cases[] = {
    {"https://x.test", NULL},
    {"http://127.0.0.1:9999/hooks/signup", NULL},
    {"https://[::1]:8443/x", NULL},
    {"https://user:pw@x.test/x?a=b#f", NULL},
    {"https://x.test/%2F{{ event.a }}?q={{ event.b }}&r=1#{{ event.c }}", NULL},
    {"https://x.test?q={{ event.a }}", NULL},
    {"https://x.test#{{ event.a }}", NULL},
    {"https://x.test/a:b@c!$&'()*+,;=~[]", NULL},
    /* templates before the path: the host, the port, or straight after the host */
    {"https://{{ event.host }}/x", TEMPLATE_IN_ORIGIN},
    {"https://x.test{{ event.path }}", TEMPLATE_IN_ORIGIN},
    {"https://x.test{{ event.path }}/x", TEMPLATE_IN_ORIGIN},
    {"https://x.test:{{ event.port }}/x", TEMPLATE_IN_ORIGIN},
    {"https://{{ event.user }}@x.test/x", TEMPLATE_IN_ORIGIN},
    {"https://x.test{{ event.at | default: \\\"/x\\\" }}", TEMPLATE_IN_ORIGIN},
    {"https://x.test{{ nope }}/", TEMPLATE_IN_ORIGIN},
    {"{{ event.url }}", "http:// or https://"},
    {"http{{ event.s }}://x.test/", "http:// or https://"},
    {"ftp://x.test/", "http:// or https://"},
    {"HTTPS://x.test/", "http:// or https://"},
    /* the host and port as written */
    {"https://", "must have a host"},
    {"https:///x", "must have a host"},
    {"https://:80/x", "must have a host"},
    {"https://u@/x", "must have a host"},
    {"https://x.test:/x", "port must be a number from 1 to 65535"},
    {"https://x.test:0/x", "port must be a number from 1 to 65535"},
    {"https://x.test:65536/x", "port must be a number from 1 to 65535"},
    {"https://x.test:8o/x", "port must be a number"},
    {"https://[::1/x", "IPv6"},
    {"https://x .test/", "byte 0x20 cannot appear in the host"},
    {"https://h.%2Fx.test/", "'%' cannot appear in the host"},
    {"https://a!b.test/", "'!' cannot appear in the host"},
    {"https://[fe80::1%25eth0]/", "'%' cannot appear in the host"},
    {"https://[v1.x]/", "'v' cannot appear in the host"},
    {"https://[:]/", "the host in [ ] is not an IPv6 address"},
    {"https://[1:2:3:4:5:6:7:8:9]/", "not an IPv6 address"},
    {"https://[::ffff:127.0.0.1]:8080/x", NULL},
    {"https://u@h@x.test/", "'@' cannot appear in the user:password part"},
    {"https://u%4:p@x.test/", "'%' cannot appear in the user:password part"},
    {"https://u%40x:p!$@x_y~z.test:1/", NULL},
    {"https://x\\\\y.test/", "'\\' cannot appear in the host"},
    /* what follows it, outside templates */
    {"https://x.test/a b", "byte 0x20 cannot appear in a URL; write it percent-encoded"},
    {"https://x.test/a\\\\b", "'\\' cannot appear in a URL"},
    {"https://x.test/\\u00e9", "byte 0xC3 cannot appear"},
    {"https://x.test/a\\tb", "byte 0x09"},
    {"https://x.test/{{ nope }}", "'{' is not part of a template"},
    {"https://x.test/{{ event.a }", "'{' is not part of a template"},
    {"https://x.test/a}", "'}' is not part of a template"},
    {"https://x.test/100%", "'%' must start an escape"},
    {"https://x.test/%2", "'%' must start an escape"},
    {"https://x.test/%zz", "'%' must start an escape"},
    {"https://x.test/%{{ event.a }}", "'%' must start an escape"},
    {"https://x.test/a\\\"b", "'\"' cannot appear"},
};

Test(trigger, url_templates_are_refused_in_the_scheme_host_and_port)
{
    struct url_check_case *cases = url_templates_are_refused_in_the_scheme_host_and_port_cases;
    size_t count =
        sizeof url_templates_are_refused_in_the_scheme_host_and_port_cases / sizeof *cases;
    for (size_t i = 0; i < count; i++) {
        char field[128], message[320];
        struct trigger_rule *rule = webhook_rule(cases[i].url, "", field, message);
        if (cases[i].message == NULL) {
            cr_assert_not_null(rule, "%s: refused: %s", cases[i].url, message);
        } else {
            cr_assert_null(rule, "%s is accepted", cases[i].url);
            cr_assert_str_eq(field, "action.url", "%s", cases[i].url);
            cr_assert(strstr(message, cases[i].message) != NULL, "%s: '%s' lacks '%s'",
                      cases[i].url, message, cases[i].message);
        }
        trigger_rule_free(rule);
    }
}

Test(trigger, url_templates_are_limited_to_2048_bytes)
{
    char url[TRIGGER_URL_MAX_BYTES + 2], field[128], message[320];
    memset(url, 'a', sizeof url - 1);
    url[sizeof url - 1] = '\0';
    memcpy(url, "https://x.test/", 15);
    struct trigger_rule *rule = webhook_rule(url, "", field, message);
    cr_assert_null(rule, "2049 bytes are accepted");
    cr_assert_str_eq(field, "action.url");
    cr_assert_str_eq(message, "action.url cannot be longer than 2048 bytes");
    url[TRIGGER_URL_MAX_BYTES] = '\0';
    rule = webhook_rule(url, "", field, message);
    cr_assert_not_null(rule, "%s", message);
    trigger_rule_free(rule);
}

/* Facts holding what a hostile client may send as ids and properties. */
static struct trigger_facts hostile_facts(void)
{
    struct trigger_facts facts = {
        .event_name = "purchase",
        .event_properties = json_tokener_parse(
            "{\"ref\":\"a&b=c #d\",\"evil\":\"../../admin?x=1#\",\"dots\":\"..\",\"dot\":\".\","
            "\"at\":\"@169.254.169.254/latest\",\"utf\":\"\\u00e9\",\"pct\":\"100%\","
            "\"slash\":\"a/b\",\"plus\":\"a+b c\",\"n\":42,\"obj\":{\"a\":1},\"safe\":\"A-z.0_9~\","
            "\"crlf\":\"a\\r\\nb\",\"nul\":\"a\\u0000b\"}"),
        .person_attributes = json_tokener_parse("{}"),
        .person_id = "../../admin?x=1#",
        .person_email = "ann+1@example.com",
    };
    cr_assert_not_null(facts.event_properties);
    return facts;
}

static struct template_case values_rendered_into_a_url_are_percent_encoded_cases[] = {
    /* the issue's own example: the rule's query stays, the id stays one segment */
    {"https://h.test/u/{{ person.id }}?ref={{ event.ref }}&token=s3cret",
     "https://h.test/u/..%2F..%2Fadmin%3Fx%3D1%23?ref=a%26b%3Dc%20%23d&token=s3cret"},
    {"https://h.test/{{ event.at }}", "https://h.test/%40169.254.169.254%2Flatest"},
    {"https://h.test/{{ person.email }}", "https://h.test/ann%2B1%40example.com"},
    {"https://h.test/u/{{ event.slash }}/x?s={{ event.slash }}#{{ event.slash }}",
     "https://h.test/u/a%2Fb/x?s=a%2Fb#a%2Fb"},
    {"https://h.test/p?x={{ event.utf }}&p={{ event.pct }}&q={{ event.plus }}",
     "https://h.test/p?x=%C3%A9&p=100%25&q=a%2Bb%20c"},
    {"https://h.test/{{ event.n }}/{{ event.obj }}", "https://h.test/42/%7B%22a%22%3A1%7D"},
    {"https://h.test/{{ event.safe }}", "https://h.test/A-z.0_9~"},
    {"https://h.test/{{ event.crlf }}", "https://h.test/a%0D%0Ab"},
    {"https://h.test/u/{{ event.missing | default: 'a b/c' }}", "https://h.test/u/a%20b%2Fc"},
    {"https://h.test/u/{{ event.missing }}/x", "https://h.test/u//x"},
    /* a segment that a value makes "." or "..": its dots are encoded */
    {"https://h.test/u/{{ event.dots }}/x", "https://h.test/u/%2E%2E/x"},
    {"https://h.test/u/{{ event.dot }}", "https://h.test/u/%2E"},
    {"https://h.test/u/{{ event.dot }}?a=1", "https://h.test/u/%2E?a=1"},
    {"https://h.test/u/{{ event.dot }}#f", "https://h.test/u/%2E#f"},
    {"https://h.test/u/.{{ event.dot }}/x", "https://h.test/u/%2E%2E/x"},
    {"https://h.test/u/{{ event.dots }}{{ event.dot }}", "https://h.test/u/..."},
    {"https://h.test/u/{{ event.dots }}x", "https://h.test/u/..x"},
    {"https://h.test/a/../b/./c", "https://h.test/a/../b/./c"},
    {"https://h.test/q?d={{ event.dots }}", "https://h.test/q?d=.."},
    /* the origin and the literal text are copied as written */
    {"https://user:pw@h.test:8443/x/{{ event.n }}?a=%2F#top",
     "https://user:pw@h.test:8443/x/42?a=%2F#top"},
    {"https://h.test", "https://h.test"},
    {"https://h.test?q={{ event.ref }}", "https://h.test?q=a%26b%3Dc%20%23d"},
    {"https://h.test#{{ event.ref }}", "https://h.test#a%26b%3Dc%20%23d"},
};

Test(trigger, values_rendered_into_a_url_are_percent_encoded)
{
    struct trigger_facts facts = hostile_facts();
    struct template_case *cases = values_rendered_into_a_url_are_percent_encoded_cases;
    size_t count = sizeof values_rendered_into_a_url_are_percent_encoded_cases / sizeof *cases;
    for (size_t i = 0; i < count; i++) {
        char message[320];
        cr_assert(trigger_url_check(cases[i].template_text, message, sizeof message), "%s: %s",
                  cases[i].template_text, message);
        char *rendered = trigger_render_url(cases[i].template_text, &facts);
        cr_assert_not_null(rendered);
        cr_assert_str_eq(rendered, cases[i].rendered, "template \"%s\"", cases[i].template_text);
        free(rendered);
    }
    char *nul = trigger_render_url("https://h.test/{{ event.nul }}", &facts);
    cr_assert_str_eq(nul, "https://h.test/a%00b", "a NUL byte is encoded, not an end");
    free(nul);
    cr_assert_null(trigger_render_url(NULL, &facts));
    facts_free(&facts);
}

Test(trigger, a_webhook_action_renders_its_url_encoded_and_the_rest_as_text)
{
    char field[128], message[320];
    struct trigger_rule *rule = webhook_rule(
        "https://h.test/u/{{ person.id }}?ref={{ event.ref }}",
        ",\"headers\":{\"X-Ref\":\"{{ event.ref }}\"},\"body\":{\"id\":\"{{ person.id }}\"}", field,
        message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    struct trigger_facts facts = hostile_facts();
    json_object *action = trigger_render_action(rule, &facts);
    cr_assert_not_null(action);
    json_object *headers = json_object_object_get(action, "headers");
    json_object *body = json_object_object_get(action, "body");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(action, "url")),
                     "https://h.test/u/..%2F..%2Fadmin%3Fx%3D1%23?ref=a%26b%3Dc%20%23d");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(headers, "X-Ref")), "a&b=c #d");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(body, "id")),
                     "../../admin?x=1#");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(rule->action, "url")),
                     "https://h.test/u/{{ person.id }}?ref={{ event.ref }}",
                     "the rule is not changed");
    json_object_put(action);

    /* Other actions render as trigger_render_json does. */
    struct trigger_rule *push = parse_text(SPEC_EXAMPLE_FOR_ACTIONS, field, message);
    cr_assert_not_null(push, "%s: %s", field, message);
    json_object *a = trigger_render_action(push, &facts);
    json_object *b = trigger_render_json(push->action, &facts);
    cr_assert(json_object_equal(a, b));
    json_object_put(a);
    json_object_put(b);
    trigger_rule_free(push);
    facts_free(&facts);
    trigger_rule_free(rule);
}

/* A webhook rule with one header `name` whose value is `n` copies of 'x'. */
static struct trigger_rule *rule_with_header(const char *name, size_t n, char field[128],
                                             char message[320])
{
    char *value = malloc(n + 1);
    cr_assert_not_null(value);
    memset(value, 'x', n);
    value[n] = '\0';
    size_t size = n + strlen(name) + 64;
    char *extra = malloc(size);
    cr_assert_not_null(extra);
    snprintf(extra, size, ",\"headers\":{\"%s\":\"%s\"}", name, value);
    char text[16384];
    snprintf(text, sizeof text,
             "{\"name\":\"w\",\"trigger\":{\"event\":\"e\"},\"action\":{\"type\":\"webhook\","
             "\"url\":\"https://x.test/h\"%s}}",
             extra);
    free(value);
    free(extra);
    return parse_text(text, field, message);
}

Test(trigger, webhook_header_values_are_limited_at_load_never_cut)
{
    char field[128], message[320];
    struct trigger_rule *rule = rule_with_header("Authorization", 400, field, message);
    cr_assert_not_null(rule, "%s", message);
    const char *kept = json_object_get_string(
        json_object_object_get(json_object_object_get(rule->action, "headers"), "Authorization"));
    cr_assert_eq(strlen(kept), 400, "the value is kept whole");
    trigger_rule_free(rule);

    rule = rule_with_header("Authorization", TRIGGER_HEADER_VALUE_MAX_BYTES, field, message);
    cr_assert_not_null(rule, "%s", message);
    trigger_rule_free(rule);
    rule = rule_with_header("Authorization", TRIGGER_HEADER_VALUE_MAX_BYTES + 1, field, message);
    cr_assert_null(rule);
    cr_assert_str_eq(field, "action.headers.Authorization");
    cr_assert_str_eq(message, "action.headers.Authorization cannot be longer than 8192 bytes");

    char name[TRIGGER_HEADER_NAME_MAX_BYTES + 2];
    memset(name, 'N', sizeof name - 1);
    name[TRIGGER_HEADER_NAME_MAX_BYTES] = '\0';
    rule = rule_with_header(name, 1, field, message);
    cr_assert_not_null(rule, "%s", message);
    trigger_rule_free(rule);
    name[TRIGGER_HEADER_NAME_MAX_BYTES] = 'N';
    name[TRIGGER_HEADER_NAME_MAX_BYTES + 1] = '\0';
    rule = rule_with_header(name, 1, field, message);
    cr_assert_null(rule);
    cr_assert_str_eq(field, "action.headers");
    cr_assert_str_eq(message, "action.headers: a header name cannot be longer than 256 bytes");
}

/* Collects warnings as "field: message" lines. */
static void collect_warning(void *cls, const char *field, const char *message)
{
    char *out = cls;
    size_t len = strlen(out);
    snprintf(out + len, 2048 - len, "%s: %s\n", field, message);
}

Test(trigger, templates_in_header_values_are_warned_about)
{
    char field[128], message[320], warnings[2048] = "";
    struct trigger_rule *rule =
        webhook_rule("https://x.test/u/{{ person.id }}",
                     ",\"headers\":{\"X-Static\":\"yes\",\"X-User\":\"id {{ person.id }}\","
                     "\"X-Empty\":\"\"},\"body\":{\"a\":\"{{ event.a }}\"}",
                     field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    trigger_rule_warnings(rule, collect_warning, warnings);
    cr_assert_str_eq(warnings, "action.headers.X-User: the value holds a template: event and "
                               "person values, which clients send, go into this header as they "
                               "are (a value with a line break makes the delivery dead)\n");
    trigger_rule_free(rule);

    warnings[0] = '\0';
    rule = parse_text(SPEC_EXAMPLE_FOR_ACTIONS, field, message);
    trigger_rule_warnings(rule, collect_warning, warnings);
    trigger_rule_warnings(NULL, collect_warning, warnings);
    cr_assert_str_empty(warnings, "a push's templates warn of nothing");
    trigger_rule_free(rule);
    cr_assert(trigger_template_has_expression("a {{ event.x | default: 'y' }}"));
    cr_assert(trigger_template_has_expression("{% if person.vip %}x{% endif %}"));
    cr_assert_not(trigger_template_has_expression("a { x } and }} alone"));
}

/* ---- the SPEC §5 example and the shipped rules ---- */

static const char *const SPEC_EXAMPLE =
    "{\"name\":\"thank-sock-buyers\","
    "\"description\":\"Push a thank-you for every sock purchase over 4\",\"enabled\":true,"
    "\"trigger\":{\"event\":\"purchase\",\"type\":\"event\"},"
    "\"conditions\":[{\"field\":\"event.product\",\"op\":\"eq\",\"value\":\"socks\"},"
    "{\"field\":\"event.price\",\"op\":\"gt\",\"value\":4},"
    "{\"any\":[{\"field\":\"person.plan\",\"op\":\"eq\",\"value\":\"pro\"},"
    "{\"field\":\"person.vip\",\"op\":\"exists\"}]}],"
    "\"frequency\":\"every_time\",\"delay\":\"0s\","
    "\"action\":{\"type\":\"push\","
    "\"title\":\"Thanks, {{ person.first_name | default: \\\"friend\\\" }}!\","
    "\"body\":\"Your {{ event.product }} ship today.\",\"data\":{\"screen\":\"orders\"}}}";

Test(trigger, spec_example_matches_sock_purchases_over_4)
{
    char field[128], message[320];
    struct trigger_rule *rule = parse_text(SPEC_EXAMPLE, field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    cr_assert_eq(rule->action_type, TRIGGER_ACTION_PUSH);
    cr_assert_eq(rule->frequency, TRIGGER_EVERY_TIME);
    cr_assert_eq(rule->delay_us, 0);

    struct trigger_facts facts = {
        .event_name = "purchase",
        .event_properties = json_tokener_parse("{\"product\":\"socks\",\"price\":\"4.99\"}"),
        .person_attributes = json_tokener_parse("{\"plan\":\"pro\"}"),
        .person_id = "u1",
    };
    cr_assert(trigger_rule_matches(rule, &facts));
    json_object *action = trigger_render_json(rule->action, &facts);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(action, "title")),
                     "Thanks, friend!");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(action, "body")),
                     "Your socks ship today.");
    json_object_put(action);

    json_object_object_add(facts.event_properties, "price", json_object_new_string("3"));
    cr_assert_not(trigger_rule_matches(rule, &facts), "price 3 is not over 4");
    facts_free(&facts);
    trigger_rule_free(rule);
}

Test(trigger, push_link_and_image_are_rendered_like_title_and_body)
{
    char field[128], message[320];
    struct trigger_rule *rule = parse_text(
        "{\"name\":\"r\",\"trigger\":{\"event\":\"purchase\"},\"action\":{\"type\":\"push\","
        "\"title\":\"t\",\"body\":\"b\",\"link\":\"shop://orders/{{ event.order }}\","
        "\"image\":\"{{ person.avatar | default: 'https://x.test/none.png' }}\"}}",
        field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    struct trigger_facts facts = {
        .event_name = "purchase",
        .event_properties = json_tokener_parse("{\"order\":42}"),
        .person_attributes = json_tokener_parse("{}"),
    };
    json_object *action = trigger_render_json(rule->action, &facts);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(action, "link")),
                     "shop://orders/42");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(action, "image")),
                     "https://x.test/none.png");
    json_object_put(action);
    facts_free(&facts);
    trigger_rule_free(rule);
}

Test(trigger, every_shipped_rule_parses)
{
    DIR *dir = opendir(RULES_DIR);
    cr_assert_not_null(dir, "cannot open %s", RULES_DIR);
    const char *expected[] = {"thank-sock-buyers", "welcome-push", "signup-webhook", "churn-risk",
                              "onboarding-journey"};
    int found = 0, files = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 5, ".json") != 0)
            continue;
        char path[1024], field[128], message[320];
        snprintf(path, sizeof path, "%s/%s", RULES_DIR, entry->d_name);
        json_object *definition = json_object_from_file(path);
        cr_assert_not_null(definition, "%s is not JSON", path);
        struct trigger_rule *rule =
            trigger_rule_parse(definition, field, sizeof field, message, sizeof message);
        cr_assert_not_null(rule, "%s: %s: %s", path, field, message);
        cr_assert(strlen(rule->name) == len - 5 && strncmp(entry->d_name, rule->name, len - 5) == 0,
                  "%s is named after its file %s", rule->name, entry->d_name);
        for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
            found += strcmp(rule->name, expected[i]) == 0;
        files++;
        trigger_rule_free(rule);
        json_object_put(definition);
    }
    closedir(dir);
    cr_assert_eq(found, 5, "the five examples of rules/README.md are there");
    cr_assert_geq(files, 5);
}

/* Templates are checked when a rule is loaded: what is wrong is named, with its byte position. */
static const struct {
    const char *text;
    size_t position;
    const char *message_part;
} refused_templates[] = {
    {"Hi {{ person.first_name | shout }}", 26, "unknown filter 'shout'"},
    {"Hi {{ foo.bar }}", 6, "'foo.bar' is not a known value"},
    {"Hi {{ event }}", 6, "'event' is not a known value"},
    {"{% if person.vip %}yes", 0, "{% if %} is not closed"},
    {"{% for x in event.items %}{{ x.sku }}", 0, "{% for %} is not closed"},
    {"{{ person.id", 0, "'{{' is not closed with '}}'"},
    {"{% unless person.vip %}x{% endunless %}", 3, "unknown or misplaced tag 'unless'"},
    {"{% else %}", 3, "unknown or misplaced tag 'else'"},
    {"{{ x.sku }}", 3, "'x.sku' is not a known value"},
    {"{{ event.a | default }}", 13, "filter 'default' takes one argument"},
    {"{{ event.a | upcase: 1 }}", 13, "filter 'upcase' takes no argument"},
    {"{% if event.a === 1 %}{% endif %}", 16, "a value is expected here"},
    {"{{ 'open }}", 0, "'{{' is not closed"},
    {"ok {% if event.a %}{% for i in event.b %}x{% endif %}", 45,
     "unknown or misplaced tag 'endif'"},
};

Test(trigger, templates_are_checked_naming_the_position)
{
    for (size_t i = 0; i < sizeof refused_templates / sizeof refused_templates[0]; i++) {
        size_t position = 999;
        char message[200] = "";
        cr_assert_not(
            trigger_liquid_check(refused_templates[i].text, &position, message, sizeof message),
            "accepted: %s", refused_templates[i].text);
        cr_expect_eq(position, refused_templates[i].position, "%s: position %zu (%s)",
                     refused_templates[i].text, position, message);
        cr_expect(strstr(message, refused_templates[i].message_part) != NULL, "%s: %s",
                  refused_templates[i].text, message);
    }
    size_t position;
    char message[200];
    cr_assert(trigger_liquid_check("plain text, {single} braces and } alone", &position, message,
                                   sizeof message));
    char field[128], rule_message[320];
    struct trigger_rule *rule = webhook_rule(
        "https://x.test/u", ",\"body\":{\"list\":[\"ok\",\"{{ person.first_name | shout }}\"]}",
        field, rule_message);
    cr_assert_null(rule);
    cr_assert_str_eq(field, "action.body.list[1]");
    cr_assert(strstr(rule_message, "unknown filter 'shout'") != NULL, "%s", rule_message);
}

/* A journey's steps are laid out depth first, each saying where the run goes next. */
Test(trigger, lays_out_journey_steps)
{
    char field[128], message[320];
    struct trigger_rule *rule = parse_text(
        JOURNEY("[" STEP_PUSH ",{\"wait\":\"2d\"},"
                "{\"branch\":{\"if\":[" DONE(
                    "opened") "],"
                              "  \"then\":[" STEP_PUSH
                              ",{\"branch\":{\"if\":[{\"field\":\"person.plan\",\"op\":\"eq\","
                              "\"value\":\"pro\"}],\"else\":[" STEP_PUSH "]}}],"
                              "  "
                              "\"else\":[{\"wait_until\":{\"event\":\"bought\",\"within\":\"3d\"}}]"
                              "}}," STEP_PUSH "]"),
        field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    cr_assert_null(rule->action);
    /* 0 push, 1 wait, 2 branch, 3 then push, 4 inner branch, 5 its else push, 6 else wait_until,
     * 7 push; 8 is the end */
    cr_assert_eq(rule->step_count, 8);
    const struct {
        enum trigger_step_kind kind;
        const char *path;
        size_t next, otherwise;
    } expected[] = {
        {TRIGGER_STEP_ACTION, "steps[0]", 1, 0},
        {TRIGGER_STEP_WAIT, "steps[1]", 2, 0},
        {TRIGGER_STEP_BRANCH, "steps[2]", 3, 6},
        {TRIGGER_STEP_ACTION, "steps[2].branch.then[0]", 4, 0},
        {TRIGGER_STEP_BRANCH, "steps[2].branch.then[1]", 7, 5},
        {TRIGGER_STEP_ACTION, "steps[2].branch.then[1].branch.else[0]", 7, 0},
        {TRIGGER_STEP_WAIT_UNTIL, "steps[2].branch.else[0]", 7, 0},
        {TRIGGER_STEP_ACTION, "steps[3]", 8, 0},
    };
    for (size_t i = 0; i < 8; i++) {
        const struct trigger_step *step = &rule->steps[i];
        cr_assert_eq(step->kind, expected[i].kind, "step %zu", i);
        cr_assert_str_eq(step->path, expected[i].path);
        cr_assert_eq(step->next, expected[i].next, "next of %s", step->path);
        if (step->kind == TRIGGER_STEP_BRANCH)
            cr_assert_eq(step->otherwise, expected[i].otherwise, "otherwise of %s", step->path);
    }
    cr_assert_eq(rule->steps[1].wait_us, INT64_C(2) * 86400 * US_PER_SEC);
    cr_assert_str_eq(rule->steps[6].event, "bought");
    cr_assert_eq(rule->journey_event_count, 2);
    cr_assert_str_eq(rule->journey_events[0], "opened");
    cr_assert_str_eq(rule->journey_events[1], "bought");

    /* journey.done in a branch reads the events done since the start. */
    struct trigger_facts facts = facts_new();
    facts.journey_done = json_tokener_parse("[\"opened\"]");
    cr_assert(trigger_conditions_hold(rule->steps[2].conditions, &facts));
    json_object_put(facts.journey_done);
    facts.journey_done = json_tokener_parse("[\"bought\"]");
    cr_assert_not(trigger_conditions_hold(rule->steps[2].conditions, &facts));
    json_object_put(facts.journey_done);
    facts.journey_done = NULL;
    cr_assert_not(trigger_conditions_hold(rule->steps[2].conditions, &facts));
    cr_assert(trigger_conditions_hold(rule->steps[4].conditions, &facts), "person.plan is pro");
    facts_free(&facts);
    trigger_rule_free(rule);
}

Test(trigger, limits_journeys)
{
    char field[128], message[320];
    /* 101 steps */
    char text[16384] = "{" NAME "," TRIGGER ",\"steps\":[";
    for (int i = 0; i < 101; i++)
        strcat(text, i ? "," STEP_PUSH : STEP_PUSH);
    strcat(text, "]}");
    cr_assert_null(parse_text(text, field, message));
    cr_assert_str_eq(field, "steps");
    cr_assert(strstr(message, "at most 100 steps") != NULL, "%s", message);
    /* branches 9 deep */
    char deep[8192] = "";
    for (int i = 0; i < 9; i++)
        strcat(deep, "{\"branch\":{\"if\":[" DONE("x") "],\"then\":[");
    strcat(deep, STEP_PUSH);
    for (int i = 0; i < 9; i++)
        strcat(deep, "]}}");
    snprintf(text, sizeof text, "{" NAME "," TRIGGER ",\"steps\":[%s]}", deep);
    cr_assert_null(parse_text(text, field, message));
    cr_assert(strstr(message, "nest deeper than 8") != NULL, "%s: %s", field, message);
}

/* An email's "to" defaults to the person's address; unsubscribe_url renders in emails only. */
Test(trigger, renders_email_actions)
{
    char field[128], message[320];
    struct trigger_rule *rule =
        parse_text(EMAIL(",\"html\":\"<a href='{{ unsubscribe_url }}'>x</a>\""), field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    struct trigger_facts facts = facts_new();
    facts.unsubscribe_url = TRIGGER_UNSUBSCRIBE_PLACEHOLDER;
    json_object *action = trigger_render_action(rule, &facts);
    cr_assert_not_null(action);
    json_object *value = NULL;
    cr_assert(json_object_object_get_ex(action, "to", &value));
    cr_assert_str_eq(json_object_get_string(value), "ada@example.com");
    cr_assert(json_object_object_get_ex(action, "html", &value));
    cr_assert_str_eq(json_object_get_string(value),
                     "<a href='" TRIGGER_UNSUBSCRIBE_PLACEHOLDER "'>x</a>");
    json_object_put(action);
    trigger_rule_free(rule);

    rule = parse_text(WEBHOOK(",\"body\":{\"u\":\"{{ unsubscribe_url }}\"}"), field, message);
    cr_assert_not_null(rule, "%s: %s", field, message);
    action = trigger_render_action(rule, &facts);
    cr_assert(json_object_object_get_ex(action, "body", &value));
    cr_assert_str_eq(json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN), "{\"u\":\"\"}");
    json_object_put(action);
    trigger_rule_free(rule);
    facts_free(&facts);
}
