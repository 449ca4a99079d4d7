#include "trigger/trigger_template.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "trigger/trigger_liquid.h"
#include "trigger/trigger_rule.h"
#include "trigger/trigger_url.h"

bool trigger_template_walk(const char *template_text, const struct trigger_facts *facts,
                           const struct trigger_liquid_sink *sink, void *cls)
{
    return trigger_liquid_render(template_text, facts, sink, cls);
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
    static const struct trigger_liquid_sink sink = {append_piece, append_piece};
    struct textbuf b = {0};
    textbuf_append(&b, "", 0); /* an empty template renders as "", not NULL */
    if (!trigger_template_walk(template_text, facts, &sink, &b) || b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

bool trigger_template_has_expression(const char *template_text)
{
    return template_text != NULL && trigger_liquid_has_markup(template_text);
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

json_object *trigger_render_action_of(enum trigger_action_type type, json_object *action_template,
                                      const struct trigger_facts *facts)
{
    /* Only an email has a link to unsubscribe with; anywhere else the variable is empty. */
    struct trigger_facts own = *facts;
    if (type != TRIGGER_ACTION_EMAIL)
        own.unsubscribe_url = NULL;
    json_object *action = trigger_render_json(action_template, &own);
    if (action == NULL)
        return NULL;
    json_object *value = NULL;
    if (type == TRIGGER_ACTION_EMAIL && !json_object_object_get_ex(action_template, "to", NULL)) {
        /* No "to": the person's email address, as it is when the action is rendered. */
        json_object *email = NULL;
        bool owned = false;
        const char *address = NULL;
        if (trigger_lookup(&own, "person.email", &email, &owned) &&
            json_object_is_type(email, json_type_string))
            address = json_object_get_string(email);
        json_object *to = json_object_new_string(address ? address : "");
        if (owned)
            json_object_put(email);
        if (to == NULL || json_object_object_add(action, "to", to) != 0) {
            json_object_put(to);
            json_object_put(action);
            return NULL;
        }
        return action;
    }
    if (type != TRIGGER_ACTION_WEBHOOK ||
        !json_object_object_get_ex(action_template, "url", &value))
        return action;
    char *text = trigger_render_url(json_object_get_string(value), &own);
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

json_object *trigger_render_action(const struct trigger_rule *rule,
                                   const struct trigger_facts *facts)
{
    return trigger_render_action_of(rule->action_type, rule->action, facts);
}
