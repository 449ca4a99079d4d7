/*
 * Rule evaluation (SPEC §5): does one event, with its person, meet a rule's conditions? Pure: no
 * I/O, no clock, no globals; the facts are only read (nothing is cached inside them), so one rule
 * may be evaluated by several threads at once, each with its own facts.
 */
#ifndef TRACKD_TRIGGER_EVAL_H
#define TRACKD_TRIGGER_EVAL_H

#include <json-c/json.h>
#include <stdbool.h>

#include "trigger/trigger_rule.h"

/* What conditions and templates can see of one event and its person; every member is lent. */
struct trigger_facts {
    const char *event_name;
    json_object *event_properties;  /* lent; may be NULL */
    json_object *person_attributes; /* lent; may be NULL */
    const char *person_id;          /* people.customer_id; may be NULL */
    const char *person_email;       /* may be NULL */
    /* What the store knows of the person besides attributes (trackd_person_relations): an
     * object whose "segments" (manual segments, an array of numbers), "objects" (per object
     * type, the most recently related object: its attributes with object_id, cio_object_id
     * and relationship) and "object_ids" (per type, the related ids) are read as
     * "person.segments", "person.objects.<type>..." and "person.object_ids.<type>". NULL: those
     * paths are looked up among the attributes like any other. */
    json_object *person_relations;
    /* A journey's branches: the events the person did since the run started that the rule
     * asks about, an array of names ("journey.done"); NULL outside journeys. */
    json_object *journey_done;
    /* What `{{ unsubscribe_url }}` renders to (an email's placeholder); NULL renders nothing. */
    const char *unsubscribe_url;
};

/*
 * Fills the facts' event properties, person attributes and person relations from the JSON text
 * the store hands over (NULL or text that does not parse leaves that member NULL); the other
 * members are the caller's. Release them with trigger_facts_release.
 */
void trigger_facts_parse(struct trigger_facts *facts, const char *event_properties,
                         const char *person_attributes, const char *person_relations);

/* Puts what trigger_facts_parse made and sets those members NULL. */
void trigger_facts_release(struct trigger_facts *facts);

/*
 * Looks up a field: "event.name" (facts->event_name), "event.<dot.path>" (event properties),
 * "person.id" (facts->person_id), "person.email" (facts->person_email), "person.segments",
 * "person.objects.<dot.path>" and "person.object_ids.<dot.path>" (facts->person_relations),
 * "person.<dot.path>" (person attributes), "journey.done" (facts->journey_done). When event_name,
 * person_id or person_email is NULL, that field is looked up as a path like any other. A path walks
 * nested objects by key; a segment of digits indexes an array ("event.items.0.sku"). Keys
 * containing '.' cannot be reached.
 *
 * Returns true when the field is present: *out is then the value, or NULL for JSON null. Returns
 * false, with *out NULL, when it is missing (or on an unknown root, or out of memory). *owned
 * tells whether *out is new (json_object_put it) or lent from the facts (do not).
 */
bool trigger_lookup(const struct trigger_facts *facts, const char *field, json_object **out,
                    bool *owned);

/*
 * True when every condition of `rule` holds for `facts` (a rule without conditions always
 * matches). Does not compare the trigger's event name or type: the caller selects rules by those.
 *
 * Comparisons are numeric when both sides read as numbers: a JSON number, or a string that is
 * entirely a finite decimal number ("4.99", "-3", "1e3"). Otherwise gt/gte/lt/lte compare two
 * strings bytewise and are false for anything else; eq compares strings bytewise, booleans by
 * value, null equal to null, objects and arrays structurally (json_object_equal: same members, in
 * any key order), and is false across types. neq is !eq. Any operator on a missing field is false,
 * except neq and not_exists.
 */
bool trigger_rule_matches(const struct trigger_rule *rule, const struct trigger_facts *facts);

/* True when a condition tree (a journey branch's "if") holds for `facts`, compared as
 * trigger_rule_matches compares; NULL holds. */
bool trigger_conditions_hold(const struct trigger_condition *conditions,
                             const struct trigger_facts *facts);

/* The index of the first of the rule's top-level conditions that does not hold for `facts`, or
 * -1 when all hold (or there are none): what `trackd rules test --person` reports. */
long trigger_rule_first_failure(const struct trigger_rule *rule, const struct trigger_facts *facts);

/* True when `watch` (an exit_on entry or a goal) holds for `facts`: the event's name is the
 * watched one and its conditions hold, as trigger_rule_matches compares them. */
bool trigger_watch_matches(const struct trigger_watch *watch, const struct trigger_facts *facts);

#endif
