#include "api/api_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool api_object_type_id(json_object *value, const char *field, char **out, struct api_error *e)
{
    char text[24] = "";
    if (json_object_is_type(value, json_type_int) && json_object_get_int64(value) >= 1 &&
        json_object_get_int64(value) <= 999999999) {
        snprintf(text, sizeof text, "%lld", (long long)json_object_get_int64(value));
    } else if (json_object_is_type(value, json_type_string)) {
        const char *s = json_object_get_string(value);
        size_t len = (size_t)json_object_get_string_len(value);
        if (len >= 1 && len <= 9 && s[0] != '0' && strspn(s, "0123456789") == len)
            snprintf(text, sizeof text, "%s", s);
    }
    if (text[0] == '\0')
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s must be a whole number from 1 (\"1\" is the first object type)",
                          field);
    *out = strdup(text);
    return *out != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, field, "out of memory");
}

bool api_object_identifiers(json_object *identifiers, const char *field, struct command *cmd,
                            struct api_error *e)
{
    char path[128];
    json_object *cio = api_field(identifiers, "cio_object_id");
    json_object *type = api_field(identifiers, "object_type_id");
    json_object *id = api_field(identifiers, "object_id");
    if (!json_object_is_type(identifiers, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s is required: {\"object_type_id\", \"object_id\"} or "
                          "{\"cio_object_id\"}",
                          field);
    if (cio != NULL && type == NULL && id == NULL) {
        snprintf(path, sizeof path, "%s.cio_object_id", field);
        return api_id_value(cio, path, &cmd->cio_object_id, e);
    }
    if (cio != NULL || type == NULL || id == NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s must name an object by both object_type_id and object_id, or by "
                          "cio_object_id alone",
                          field);
    snprintf(path, sizeof path, "%s.object_type_id", field);
    if (!api_object_type_id(type, path, &cmd->object_type_id, e))
        return false;
    snprintf(path, sizeof path, "%s.object_id", field);
    return api_id_value(id, path, &cmd->group_id, e);
}

/* Checks the attributes of an object or relationship: an object of at most 300 keys with
 * names of at most 150 bytes, 100 KB in all. */
static bool check_attributes(json_object *attributes, const char *field, struct api_error *e)
{
    if (attributes == NULL)
        return true;
    if (!json_object_is_type(attributes, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field, "%s must be an object", field);
    if (json_object_object_length(attributes) > API_ATTRIBUTES_MAX)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s cannot have more than %d attributes", field, API_ATTRIBUTES_MAX);
    json_object_object_foreach(attributes, key, value)
    {
        (void)value;
        size_t len = strlen(key);
        if (len == 0 || len > API_ATTRIBUTE_NAME_MAX_BYTES)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                              "%s: attribute names must be 1 to %d bytes", field,
                              API_ATTRIBUTE_NAME_MAX_BYTES);
    }
    size_t size = 0;
    json_object_to_json_string_length(attributes, API_JSON_FLAGS, &size);
    if (size > API_OBJECT_ATTRIBUTES_MAX_BYTES)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field, "%s cannot be larger than %d bytes",
                          field, API_OBJECT_ATTRIBUTES_MAX_BYTES);
    return true;
}

bool api_object_attributes(json_object *attributes, const char *field, struct command *cmd,
                           struct api_error *e)
{
    if (!check_attributes(attributes, field, e))
        return false;
    cmd->properties = api_serialize(attributes);
    return cmd->properties != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, field, "out of memory");
}

/* Reads the identifiers of one person in an object's list into `out` as {"<key>": value}. */
static bool person_item(json_object *identifiers, const char *path, enum api_related related,
                        json_object *out, struct api_error *e)
{
    static const char *const person_keys[] = {"id", "email", "cio_id"};
    static const char *const anonymous_keys[] = {"anonymous_id"};
    bool anonymous = related == API_RELATED_ANONYMOUS;
    const char *const *keys = anonymous ? anonymous_keys : person_keys;
    size_t key_count = anonymous ? 1 : 3;
    const char *wanted = anonymous ? "anonymous_id" : "exactly one of id, email, cio_id";
    if (!json_object_is_type(identifiers, json_type_object) ||
        json_object_object_length(identifiers) != 1)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s must hold %s", path, wanted);
    for (size_t k = 0; k < key_count; k++) {
        json_object *value = api_field(identifiers, keys[k]);
        if (value == NULL)
            continue;
        char inner[160];
        snprintf(inner, sizeof inner, "%s.%s", path, keys[k]);
        char *text = NULL;
        if (!api_id_value(value, inner, &text, e))
            return false;
        json_object_object_add(out, keys[k], json_object_new_string(text));
        free(text);
        return true;
    }
    return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s must hold %s", path, wanted);
}

/* Reads the identifiers of one object in a person's list into `out`. */
static bool object_item(json_object *identifiers, const char *path, json_object *out,
                        struct api_error *e)
{
    struct command named = {0};
    bool ok = api_object_identifiers(identifiers, path, &named, e);
    if (ok && named.cio_object_id != NULL) {
        json_object_object_add(out, "cio_object_id", json_object_new_string(named.cio_object_id));
    } else if (ok) {
        json_object_object_add(out, "object_type_id", json_object_new_string(named.object_type_id));
        json_object_object_add(out, "object_id", json_object_new_string(named.group_id));
    }
    command_clear(&named);
    return ok;
}

bool api_relationships(json_object *list, const char *field, enum api_related related,
                       struct command *cmd, struct api_error *e)
{
    if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s is required: a non-empty array of {\"identifiers\": {...}, "
                          "\"relationship_attributes\": {...}}",
                          field);
    size_t count = json_object_array_length(list);
    if (count > API_RELATIONSHIPS_MAX)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s cannot list more than %d relationships in one call", field,
                          API_RELATIONSHIPS_MAX);
    json_object *normalized = json_object_new_array_ext((int)count);
    bool ok = normalized != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, field, "out of memory");
    for (size_t i = 0; ok && i < count; i++) {
        json_object *item = json_object_array_get_idx(list, i);
        char path[128], ids_path[160], attributes_path[176];
        snprintf(path, sizeof path, "%s.%zu", field, i);
        snprintf(ids_path, sizeof ids_path, "%s.identifiers", path);
        snprintf(attributes_path, sizeof attributes_path, "%s.relationship_attributes", path);
        if (!json_object_is_type(item, json_type_object)) {
            ok = api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s must be an object", path);
            break;
        }
        json_object *out = json_object_new_object();
        json_object_array_add(normalized, out);
        json_object *identifiers = api_field(item, "identifiers");
        json_object *attributes = api_field(item, "relationship_attributes");
        ok = (related == API_RELATED_OBJECTS
                  ? object_item(identifiers, ids_path, out, e)
                  : person_item(identifiers, ids_path, related, out, e)) &&
             check_attributes(attributes, attributes_path, e);
        if (ok)
            json_object_object_add(out, "attributes",
                                   attributes ? json_object_get(attributes)
                                              : json_object_new_object());
    }
    if (ok) {
        cmd->relationships = strdup(json_object_to_json_string_ext(normalized, API_JSON_FLAGS));
        ok = cmd->relationships != NULL ||
             api_refuse(e, TRACKD_ERR_INTERNAL, field, "out of memory");
    }
    json_object_put(normalized);
    return ok;
}

bool api_identify_relationships(json_object *value, const char *field, struct command *cmd,
                                struct api_error *e)
{
    cmd->relationships_add = 1;
    if (json_object_is_type(value, json_type_array))
        return api_relationships(value, field, API_RELATED_OBJECTS, cmd, e);
    if (!json_object_is_type(value, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s must be {\"action\": \"add_relationships\" or "
                          "\"delete_relationships\", \"relationships\": [...]}",
                          field);
    char path[128];
    json_object *action = api_field(value, "action");
    if (action != NULL) {
        const char *text =
            json_object_is_type(action, json_type_string) ? json_object_get_string(action) : "";
        snprintf(path, sizeof path, "%s.action", field);
        if (strcmp(text, "delete_relationships") == 0)
            cmd->relationships_add = 0;
        else if (strcmp(text, "add_relationships") != 0)
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                              "%s must be add_relationships or delete_relationships", path);
    }
    snprintf(path, sizeof path, "%s.relationships", field);
    return api_relationships(api_field(value, "relationships"), path, API_RELATED_OBJECTS, cmd, e);
}
