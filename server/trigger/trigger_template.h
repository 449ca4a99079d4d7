/*
 * Action templates (SPEC §5): "{{ event.x }}" and "{{ person.x }}" in the strings of an action,
 * with an optional default filter. Pure: no I/O, no clock, no globals; the facts are only read.
 *
 * Grammar of one expression: "{{" ws* FIELD ws* ( "|" ws* "default" ws* ":" ws* QUOTED ws* )?
 * "}}", where FIELD is event.<path>, event.name, person.<path>, person.id or person.email (looked
 * up as by trigger_lookup) and QUOTED is text in '...' or "..." (no escapes; the other quote may
 * appear inside). Anything starting with "{{" that is not such an expression, including an
 * unclosed "{{", is copied literally, so a mistake shows in the output instead of vanishing.
 */
#ifndef TRACKD_TRIGGER_TEMPLATE_H
#define TRACKD_TRIGGER_TEMPLATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "trigger/trigger_eval.h"
#include "trigger/trigger_rule.h"

/*
 * Renders "{{ event.x }}", "{{ person.x }}", with an optional `| default: "text"` filter
 * (single or double quotes), whitespace inside braces optional. A missing value renders empty
 * (or the default; so do JSON null and the empty string); strings render as their text,
 * numbers/booleans as JSON, objects/arrays as compact JSON. Unclosed braces are copied
 * literally. Returns a new string the caller frees; NULL when template_text is NULL or out of
 * memory.
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

/* What a template is made of, handed out in order by trigger_template_walk. */
struct trigger_template_sink {
    /* Text of the template itself: between expressions, and a lone "{" for each "{{" that
     * starts no expression. Never empty. */
    void (*literal)(void *cls, const char *text, size_t len);
    /* The rendered value of one expression, as trigger_render writes it (its default when the
     * value is missing or empty); may be empty and may hold NUL bytes. */
    void (*value)(void *cls, const char *text, size_t len);
};

/*
 * Walks `template_text`, handing its literal text and the rendered value of each expression to
 * `sink`, in order; trigger_render is this walk with both pieces appended as they are. `facts`
 * may be NULL: every field is then missing. False when out of memory (after some pieces).
 */
bool trigger_template_walk(const char *template_text, const struct trigger_facts *facts,
                           const struct trigger_template_sink *sink, void *cls);

/* True when `template_text` holds at least one expression (as trigger_render reads it). */
bool trigger_template_has_expression(const char *template_text);

#endif
