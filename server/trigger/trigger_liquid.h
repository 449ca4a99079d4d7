/*
 * Customer.io's Liquid subset, for action templates. Pure: no I/O, no clock (but the date filter
 * of "now"), no globals.
 *
 *   {{ customer.x }} (the same as person.x), {{ person.x }}, {{ event.x }}, with filters:
 *     default: V, upcase, downcase, capitalize, strip, escape, url_encode, size, join: SEP,
 *     date: FORMAT (strftime, UTC), plus: N, minus: N
 *   {% if A %} ... {% elsif B %} ... {% else %} ... {% endif %}, where a condition is a value,
 *     or two compared with ==, !=, <, >, <=, >= or contains, joined by and / or (evaluated right
 *     to left, as Liquid does)
 *   {% for x in event.items %} ... {{ x.sku }} ... {% endfor %}
 *
 * Values are string, number, true, false and nil literals, or paths into the event, the person
 * or a loop variable. A template is parsed once to check it (trigger_liquid_check, when a rule
 * is loaded: an unknown filter, a path whose root is unknown, an unclosed tag are refused with
 * their byte position) and again when rendered.
 */
#ifndef TRACKD_TRIGGER_LIQUID_H
#define TRACKD_TRIGGER_LIQUID_H

#include <stdbool.h>
#include <stddef.h>

#include "trigger/trigger_eval.h"

/* What a rendered template is made of, handed out in order: the template's own text, and the
 * value of each {{ }} output (filters applied; may be empty). */
struct trigger_liquid_sink {
    void (*literal)(void *cls, const char *text, size_t len);
    void (*value)(void *cls, const char *text, size_t len);
};

/* Limits of a template: nesting of if and for, filters of one output, iterations of a loop (the
 * rest of a longer array is left out), conditions of one tag. */
#define TRIGGER_LIQUID_DEPTH_MAX 16
#define TRIGGER_LIQUID_FILTERS_MAX 8
#define TRIGGER_LIQUID_LOOP_MAX 1000
#define TRIGGER_LIQUID_CONDITIONS_MAX 8

/* True when `text` is a valid template; else false with the byte offset of the problem in
 * *position and a sentence in `message`. */
bool trigger_liquid_check(const char *text, size_t *position, char *message, size_t message_size);

/* True when `text` holds at least one {{ }} output or {% %} tag (whether valid or not). */
bool trigger_liquid_has_markup(const char *text);

/*
 * Renders `text` through `sink`; `facts` may be NULL (every path is then missing). A template
 * that does not parse (one stored before it was checked) is handed out whole as one literal, so
 * that the mistake shows. False when out of memory.
 */
bool trigger_liquid_render(const char *text, const struct trigger_facts *facts,
                           const struct trigger_liquid_sink *sink, void *cls);

#endif
