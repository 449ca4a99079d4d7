#include "trigger/trigger_template.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "trigger/trigger_rule.h"
#include "trigger/trigger_url.h"

/* One "{{ field | default: 'text' }}" as found in the template; fallback points into it. */
struct expression {
    char field[TRIGGER_FIELD_MAX_BYTES + 1];
    const char *fallback; /* the default's text, or NULL without a default filter */
    size_t fallback_len;
    const char *end; /* just past the closing "}}" */
};

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* Parses the expression whose "{{" is at `open`; false when the text there is not one. */
static bool parse_expression(const char *open, struct expression *e)
{
    const char *p = skip_spaces(open + 2);
    const char *field = p;
    while (*p != '\0' && strchr(" \t\r\n|}", *p) == NULL)
        p++;
    size_t field_len = (size_t)(p - field);
    if (field_len == 0 || field_len > TRIGGER_FIELD_MAX_BYTES ||
        (strncmp(field, "event.", 6) != 0 && strncmp(field, "person.", 7) != 0))
        return false;
    memcpy(e->field, field, field_len);
    e->field[field_len] = '\0';
    e->fallback = NULL;
    e->fallback_len = 0;
    p = skip_spaces(p);
    if (*p == '|') {
        p = skip_spaces(p + 1);
        if (strncmp(p, "default", 7) != 0)
            return false;
        p = skip_spaces(p + 7);
        if (*p != ':')
            return false;
        p = skip_spaces(p + 1);
        if (*p != '"' && *p != '\'')
            return false;
        const char *close = strchr(p + 1, *p);
        if (close == NULL)
            return false;
        e->fallback = p + 1;
        e->fallback_len = (size_t)(close - e->fallback);
        p = skip_spaces(close + 1);
    }
    if (p[0] != '}' || p[1] != '}')
        return false;
    e->end = p + 2;
    return true;
}

/* Appends a present, non-null value: a string as its text, anything else as compact JSON. The
 * JSON is written from a copy, because json-c caches the text inside the object it serializes
 * and the facts are lent, possibly shared. */
static void append_value(struct textbuf *b, json_object *value)
{
    if (json_object_is_type(value, json_type_string)) {
        textbuf_append(b, json_object_get_string(value), (size_t)json_object_get_string_len(value));
        return;
    }
    json_object *copy = NULL;
    if (json_object_deep_copy(value, &copy, NULL) != 0) {
        b->failed = true;
        return;
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (text == NULL)
        b->failed = true;
    else
        textbuf_append(b, text, len);
    json_object_put(copy);
}

static void append_expression(struct textbuf *b, const struct expression *e,
                              const struct trigger_facts *facts)
{
    json_object *value;
    bool owned;
    bool present = trigger_lookup(facts, e->field, &value, &owned);
    bool empty =
        !present || value == NULL ||
        (json_object_is_type(value, json_type_string) && json_object_get_string_len(value) == 0);
    if (!empty)
        append_value(b, value);
    else if (e->fallback != NULL)
        textbuf_append(b, e->fallback, e->fallback_len);
    if (owned)
        json_object_put(value);
}

bool trigger_template_walk(const char *template_text, const struct trigger_facts *facts,
                           const struct trigger_template_sink *sink, void *cls)
{
    struct textbuf value = {0};
    const char *p = template_text;
    while (*p != '\0' && !value.failed) {
        const char *open = strstr(p, "{{");
        if (open == NULL) {
            sink->literal(cls, p, strlen(p));
            break;
        }
        if (open > p)
            sink->literal(cls, p, (size_t)(open - p));
        struct expression e;
        if (parse_expression(open, &e)) {
            value.len = 0;
            textbuf_append(&value, "", 0); /* a value that renders empty is "", not NULL */
            append_expression(&value, &e, facts);
            if (!value.failed)
                sink->value(cls, value.data, value.len);
            p = e.end;
        } else {
            /* Not an expression: keep one brace and look again from the next ("{{{ x }}"). */
            sink->literal(cls, "{", 1);
            p = open + 1;
        }
    }
    bool ok = !value.failed;
    free(value.data);
    return ok;
}

/* trigger_render's sink: everything goes into the text as it is. */
static void append_piece(void *cls, const char *text, size_t len)
{
    textbuf_append(cls, text, len);
}

char *trigger_render(const char *template_text, const struct trigger_facts *facts)
{
    if (template_text == NULL)
        return NULL;
    static const struct trigger_template_sink sink = {append_piece, append_piece};
    struct textbuf b = {0};
    textbuf_append(&b, "", 0); /* an empty template renders as "", not NULL */
    if (!trigger_template_walk(template_text, facts, &sink, &b) || b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* trigger_template_has_expression's sink: counts the values. */
static void ignore_piece(void *cls, const char *text, size_t len)
{
    (void)cls, (void)text, (void)len;
}

static void count_value(void *cls, const char *text, size_t len)
{
    (void)text, (void)len;
    (*(size_t *)cls)++;
}

bool trigger_template_has_expression(const char *template_text)
{
    static const struct trigger_template_sink sink = {ignore_piece, count_value};
    size_t values = 0;
    /* Without facts nothing is looked up; out of memory only undercounts (a warning missed). */
    trigger_template_walk(template_text, NULL, &sink, &values);
    return values > 0;
}

json_object *trigger_render_json(json_object *value, const struct trigger_facts *facts)
{
    json_object *out = NULL;
    switch (json_object_get_type(value)) {
    case json_type_null:
        return NULL;
    case json_type_string: {
        char *text = trigger_render(json_object_get_string(value), facts);
        out = text ? json_object_new_string(text) : NULL;
        free(text);
        return out;
    }
    case json_type_array: {
        out = json_object_new_array();
        for (size_t i = 0; out != NULL && i < json_object_array_length(value); i++) {
            json_object *item = json_object_array_get_idx(value, i);
            json_object *rendered = trigger_render_json(item, facts);
            if ((item != NULL && rendered == NULL) || json_object_array_add(out, rendered) != 0) {
                json_object_put(rendered);
                json_object_put(out);
                out = NULL;
            }
        }
        return out;
    }
    case json_type_object: {
        out = json_object_new_object();
        if (out == NULL)
            return NULL;
        json_object_object_foreach(value, key, item)
        {
            json_object *rendered = trigger_render_json(item, facts);
            if ((item != NULL && rendered == NULL) ||
                json_object_object_add(out, key, rendered) != 0) {
                json_object_put(rendered);
                json_object_put(out);
                return NULL;
            }
        }
        return out;
    }
    default: /* numbers and booleans */
        if (json_object_deep_copy(value, &out, NULL) != 0)
            return NULL;
        return out;
    }
}

json_object *trigger_render_action(const struct trigger_rule *rule,
                                   const struct trigger_facts *facts)
{
    json_object *action = trigger_render_json(rule->action, facts);
    json_object *url = NULL;
    if (action == NULL || rule->action_type != TRIGGER_ACTION_WEBHOOK ||
        !json_object_object_get_ex(rule->action, "url", &url))
        return action;
    char *text = trigger_render_url(json_object_get_string(url), facts);
    json_object *rendered = text ? json_object_new_string(text) : NULL;
    free(text);
    /* Replacing the key puts the plainly rendered url; a failed add leaves `rendered` ours. */
    if (rendered == NULL || json_object_object_add(action, "url", rendered) != 0) {
        json_object_put(rendered);
        json_object_put(action);
        return NULL;
    }
    return action;
}
