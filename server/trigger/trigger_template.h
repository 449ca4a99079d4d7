/*
 * Action templates: every string of an action is a template in Customer.io's Liquid subset
 * (trigger_liquid.h has the language, the check made when a rule is loaded, and the renderer).
 * This file renders whole actions: JSON values, and a webhook's url through trigger_url.c. Pure:
 * no I/O, no globals; the facts are only read.
 */
#ifndef TRACKD_TRIGGER_TEMPLATE_H
#define TRACKD_TRIGGER_TEMPLATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "trigger/trigger_eval.h"
#include "trigger/trigger_liquid.h"
#include "trigger/trigger_rule.h"

/*
 * Renders a template (trigger_liquid_render): a missing value renders empty; strings as their
 * text, numbers and booleans as JSON, objects and arrays as compact JSON. A template that does not
 * parse (stored before templates were checked) renders as it is written. Returns a new string the
 * caller frees; NULL when template_text is NULL or out of memory.
 */
char *trigger_render(const char *template_text, const struct trigger_facts *facts);

/*
 * Renders every string inside a JSON value (objects, arrays, recursively; keys untouched; other
 * values copied). `value` is only read. Returns a new object the caller puts; NULL when `value`
 * is NULL (JSON null) or out of memory. Rendered text is plain string content: json-c escapes it
 * on serialization, which is what makes templates safe inside JSON bodies. It is not escaped for
 * any other context: trigger_render_action encodes a webhook's URL; a header built from a
 * template must be checked (CR/LF) by whoever sends it.
 */
json_object *trigger_render_json(json_object *value, const struct trigger_facts *facts);

/*
 * Renders the action of `rule` (parsed by trigger_rule_parse) for `facts`: every string as
 * trigger_render_json does, except a webhook's url, whose values are percent-encoded for the
 * part of the URL they land in (trigger_render_url). Returns a new object the caller puts; NULL
 * when out of memory.
 */
json_object *trigger_render_action(const struct trigger_rule *rule,
                                   const struct trigger_facts *facts);

/*
 * trigger_render_action for an action of `type` given as written (a journey step's): an email
 * without "to" gets the person's email address ("" when they have none), and only an email
 * renders `{{ unsubscribe_url }}` (to facts->unsubscribe_url).
 */
json_object *trigger_render_action_of(enum trigger_action_type type, json_object *action_template,
                                      const struct trigger_facts *facts);

/*
 * Walks `template_text`, handing its literal text and the rendered value of each expression to
 * `sink`, in order; trigger_render is this walk with both pieces appended as they are. `facts`
 * may be NULL: every field is then missing. False when out of memory (after some pieces).
 */
bool trigger_template_walk(const char *template_text, const struct trigger_facts *facts,
                           const struct trigger_liquid_sink *sink, void *cls);

/* True when `template_text` holds {{ }} or {% %} markup. */
bool trigger_template_has_expression(const char *template_text);

/* What `{{ unsubscribe_url }}` renders to: the email's sender puts the delivery's signed link in
 * its place. */
#define TRIGGER_UNSUBSCRIBE_PLACEHOLDER "trackd-unsubscribe-url-placeholder"

#endif
