/*
 * libFuzzer harness for action templates: trigger_render and trigger_render_json.
 *
 * Input: the template text up to the first NUL byte, then the facts as JSON. Facts that are an
 * object may name "event" (properties), "person" (attributes), "name", "id" and "email"; any other
 * JSON value is used as both the event's properties and the person's attributes. Without a NUL,
 * or when the rest is not JSON, fixed facts are used.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "trigger/trigger_liquid.h"
#include "trigger/trigger_template.h"

static const char default_facts[] =
    "{\"name\":\"purchase\",\"id\":\"u1\",\"email\":\"a@example.com\","
    "\"event\":{\"price\":4.99,\"sku\":\"socks\",\"items\":[{\"sku\":\"a\"},{\"n\":1}],"
    "\"big\":18446744073709551615,\"neg\":-9223372036854775808,\"nil\":null,\"t\":true,"
    "\"empty\":\"\",\"nested\":{\"a\":{\"b\":[1,2,{\"c\":\"deep\"}]}}},"
    "\"person\":{\"first_name\":\"Ada\",\"plan\":\"pro\",\"tags\":[\"x\",\"y\"],\"o\":{}}}";

/* Renders a JSON value and checks the shape is kept and the result serializes and parses. */
static void check_render_json(json_object *value, const struct trigger_facts *facts)
{
    json_object *rendered = trigger_render_json(value, facts);
    enum json_type type = json_object_get_type(value);
    if ((rendered == NULL) != (type == json_type_null))
        fuzz_fail("trigger_render_json of a %s gave %s", json_type_to_name(type),
                  rendered ? "a value" : "NULL");
    if (json_object_get_type(rendered) != type)
        fuzz_fail("trigger_render_json turned a %s into a %s", json_type_to_name(type),
                  json_type_to_name(json_object_get_type(rendered)));
    if (type == json_type_object &&
        json_object_object_length(rendered) != json_object_object_length(value))
        fuzz_fail("trigger_render_json changed the number of keys");
    if (type == json_type_array &&
        json_object_array_length(rendered) != json_object_array_length(value))
        fuzz_fail("trigger_render_json changed the length of an array");
    if (rendered != NULL) {
        const char *text = json_object_to_json_string_ext(rendered, JSON_C_TO_STRING_PLAIN);
        json_object *again = json_tokener_parse(text);
        if (again == NULL && type != json_type_null)
            fuzz_fail("rendered JSON does not parse again: %s", text);
        json_object_put(again);
    }
    json_object_put(rendered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = fuzz_copy(data, size);
    size_t template_len = strlen(input); /* up to the first NUL */
    json_object *facts_json = NULL;
    if (template_len < size)
        facts_json = json_tokener_parse(input + template_len + 1);
    if (facts_json == NULL)
        facts_json = json_tokener_parse(default_facts);
    struct trigger_facts facts;
    fuzz_facts_from(facts_json, &facts);
    json_object *facts_before = NULL;
    if (json_object_deep_copy(facts_json, &facts_before, NULL) != 0)
        fuzz_fail("cannot copy the facts");

    char *out = trigger_render(input, &facts);
    if (out == NULL)
        fuzz_fail("trigger_render returned NULL");
    if (!trigger_liquid_has_markup(input) && strcmp(out, input) != 0)
        fuzz_fail("a template without {{ or {%% changed: \"%s\" became \"%s\"", input, out);
    /* What the load-time check refuses renders as it is written. */
    size_t position = 0;
    char why[200];
    if (!trigger_liquid_check(input, &position, why, sizeof why)) {
        if (strcmp(out, input) != 0)
            fuzz_fail("a template the check refuses (%s) rendered as \"%s\"", why, out);
        if (position > template_len)
            fuzz_fail("the check names byte %zu of a %zu-byte template", position, template_len);
    }
    /* Twice the same, but for the date of "now", which moves. */
    char *again = trigger_render(input, &facts);
    if (again == NULL || (strstr(input, "now") == NULL && strcmp(out, again) != 0))
        fuzz_fail("rendering twice gave different text");
    free(again);
    if (trigger_render(NULL, &facts) != NULL)
        fuzz_fail("trigger_render(NULL) is not NULL");

    /* A JSON string renders to the same text; the template as JSON keeps its shape. */
    json_object *as_string = json_object_new_string(input);
    json_object *rendered = trigger_render_json(as_string, &facts);
    if (rendered == NULL || strcmp(json_object_get_string(rendered), out) != 0)
        fuzz_fail("trigger_render_json of a string differs from trigger_render");
    json_object_put(rendered);
    json_object_put(as_string);
    json_object *as_json = json_tokener_parse(input);
    if (as_json != NULL)
        check_render_json(as_json, &facts);
    json_object_put(as_json);
    free(out);

    /* Compared as text: json_object_equal would call NaN unequal to itself. */
    char *before_text = strdup(json_object_to_json_string(facts_before));
    if (strcmp(before_text, json_object_to_json_string(facts_json)) != 0)
        fuzz_fail("rendering changed the facts");
    free(before_text);
    json_object_put(facts_before);
    json_object_put(facts_json);
    free(input);
    return 0;
}
