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

#include "trigger/trigger_eval.h"

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
 * any other context: a webhook URL or header built from a template must be checked (CR/LF) or
 * encoded by whoever sends it.
 */
json_object *trigger_render_json(json_object *value, const struct trigger_facts *facts);

#endif
