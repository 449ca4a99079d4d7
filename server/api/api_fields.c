#include "api/api_fields.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

/* Unix seconds of 0001-01-01 and 9999-12-31T23:59:59, the range PostgreSQL and we agree on. */
#define EARLIEST_SECONDS (-62135596800.0)
#define LATEST_SECONDS (253402300799.0)

/* Identify keys under this prefix update the nested preferences object (see trackd_identify). */
#define DOTTED_PREFERENCES "cio_subscription_preferences."

bool api_refuse(struct api_error *e, enum trackd_error code, const char *field, const char *fmt,
                ...)
{
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

char *api_serialize(json_object *value)
{
    if (value == NULL)
        return strdup("{}");
    return strdup(json_object_to_json_string_ext(value, API_JSON_FLAGS));
}

json_object *api_field(json_object *object, const char *key)
{
    json_object *value = NULL;
    if (object == NULL || !json_object_object_get_ex(object, key, &value))
        return NULL;
    return value; /* NULL for JSON null as well */
}

bool api_is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

void api_trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    size_t start = strspn(s, " \t\r\n");
    memmove(s, s + start, len - start + 1);
}

bool api_optional_string(json_object *object, const char *key, size_t max, char **out,
                         struct api_error *e)
{
    *out = NULL;
    json_object *value = api_field(object, key);
    if (value == NULL)
        return true;
    if (!json_object_is_type(value, json_type_string))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s must be a string", key);
    size_t len = (size_t)json_object_get_string_len(value);
    if (len > max)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s cannot be longer than %zu bytes",
                          key, max);
    const char *text = json_object_get_string(value);
    if (api_is_blank(text))
        return true;
    *out = strdup(text);
    return *out != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, key, "out of memory");
}

bool api_required_string(json_object *object, const char *key, size_t max, char **out,
                         struct api_error *e)
{
    if (!api_optional_string(object, key, max, out, e))
        return false;
    if (*out == NULL)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key,
                          "%s is required and must be a non-empty string", key);
    return true;
}

bool api_optional_object(json_object *object, const char *key, json_object **out,
                         struct api_error *e)
{
    *out = api_field(object, key);
    if (*out != NULL && !json_object_is_type(*out, json_type_object))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key, "%s must be an object", key);
    return true;
}

static bool is_reserved(const char *key, const char *const *reserved)
{
    for (; reserved && *reserved; reserved++)
        if (strcmp(key, *reserved) == 0)
            return true;
    return false;
}

/* Takes the email attribute: a string sets cmd->email, null clears it. */
static bool take_email(json_object *value, const char *path, struct command *cmd,
                       struct api_error *e)
{
    if (value == NULL) {
        cmd->clear_email = 1;
        return true;
    }
    if (!json_object_is_type(value, json_type_string) ||
        json_object_get_string_len(value) > API_EMAIL_MAX_BYTES)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                          "%s must be a string of at most %d bytes", path, API_EMAIL_MAX_BYTES);
    const char *email = json_object_get_string(value);
    if (!api_is_blank(email) && (cmd->email = strdup(email)) == NULL)
        return api_refuse(e, TRACKD_ERR_INTERNAL, path, "out of memory");
    return true;
}

bool api_split_attributes(json_object *attributes, const char *prefix, const char *const *reserved,
                          struct command *cmd, struct api_error *e)
{
    json_object *set = json_object_new_object();
    json_object *unset = json_object_new_array();
    json_object *times = json_object_new_object();
    /* Built here, where the keys are at hand, so that the database need not list them again. */
    double seconds =
        (double)(cmd->ordered ? cmd->timestamp_us : cmd->received_us) / TIMEUTIL_US_PER_SEC;
    bool ok = false;
    if (set == NULL || unset == NULL || times == NULL) {
        api_refuse(e, TRACKD_ERR_INTERNAL, prefix, "out of memory");
        goto cleanup;
    }
    if (attributes != NULL && json_object_object_length(attributes) > API_ATTRIBUTES_MAX) {
        api_refuse(e, TRACKD_ERR_INVALID_FIELD, prefix,
                   "cannot identify more than %d attributes in one request", API_ATTRIBUTES_MAX);
        goto cleanup;
    }
    if (attributes != NULL) {
        json_object_object_foreach(attributes, key, value)
        {
            if (is_reserved(key, reserved))
                continue;
            char path[200];
            snprintf(path, sizeof path, "%s.%s", prefix, key);
            size_t key_len = strlen(key);
            if (key_len == 0) {
                api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "attribute name cannot be blank");
                goto cleanup;
            }
            if (key_len > API_ATTRIBUTE_NAME_MAX_BYTES) {
                api_refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                           "attribute name cannot be longer than %d bytes",
                           API_ATTRIBUTE_NAME_MAX_BYTES);
                goto cleanup;
            }
            if (strcmp(key, "email") == 0 && !take_email(value, path, cmd, e))
                goto cleanup;
            if (strncmp(key, DOTTED_PREFERENCES, strlen(DOTTED_PREFERENCES)) == 0)
                cmd->dotted_preferences = 1;
            json_object_object_add(times, key, json_object_new_double(seconds));
            if (value == NULL) {
                json_object_array_add(unset, json_object_new_string(key));
                continue;
            }
            /* A string's size is its own bytes; other values are measured as JSON. */
            size_t value_len = 0;
            if (json_object_is_type(value, json_type_string))
                value_len = (size_t)json_object_get_string_len(value);
            else
                json_object_to_json_string_length(value, API_JSON_FLAGS, &value_len);
            if (value_len > API_ATTRIBUTE_VALUE_MAX_BYTES) {
                api_refuse(e, TRACKD_ERR_INVALID_FIELD, path,
                           "value for attribute '%s' cannot be longer than %d bytes", key,
                           API_ATTRIBUTE_VALUE_MAX_BYTES);
                goto cleanup;
            }
            json_object_object_add(set, key, json_object_get(value));
        }
    }
    cmd->properties = api_serialize(set);
    cmd->unset_keys = api_serialize(unset);
    cmd->attribute_times = api_serialize(times);
    ok = cmd->properties != NULL && cmd->unset_keys != NULL && cmd->attribute_times != NULL;
    if (!ok)
        api_refuse(e, TRACKD_ERR_INTERNAL, prefix, "out of memory");
cleanup:
    json_object_put(set);
    json_object_put(unset);
    json_object_put(times);
    return ok;
}

bool api_path_identifier(const char *text, const char *field, struct identifier *out,
                         struct api_error *e)
{
    out->type = IDENTIFIER_NONE;
    out->value = NULL;
    size_t len = strlen(text);
    if (len == 0 || api_is_blank(text))
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field, "%s cannot be blank", field);
    if (len > API_ID_MAX_BYTES)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field, "%s cannot be longer than %d bytes",
                          field, API_ID_MAX_BYTES);
    const char *value = text;
    if (strncmp(text, "cio_", 4) == 0) {
        out->type = IDENTIFIER_CIO_ID;
        value = text + 4;
        /* "cio_" alone, or followed by blanks only, names nobody. */
        if (api_is_blank(value))
            return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                              "%s: cio_ must be followed by a cio_id", field);
    } else if (strchr(text, '@') != NULL) {
        out->type = IDENTIFIER_EMAIL;
    } else {
        out->type = IDENTIFIER_ID;
    }
    out->value = strdup(value);
    return out->value != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, field, "out of memory");
}

bool api_id_value(json_object *value, const char *path, char **out, struct api_error *e)
{
    *out = NULL;
    if (json_object_is_type(value, json_type_int)) {
        /* Numeric ids are common in backends; they are ids all the same. */
        char number[32];
        snprintf(number, sizeof number, "%lld", (long long)json_object_get_int64(value));
        *out = strdup(number);
    } else if (!json_object_is_type(value, json_type_string)) {
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s must be a string", path);
    } else if (json_object_get_string_len(value) > API_ID_MAX_BYTES) {
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s cannot be longer than %d bytes",
                          path, API_ID_MAX_BYTES);
    } else if (api_is_blank(json_object_get_string(value))) {
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, path, "%s cannot be blank", path);
    } else {
        *out = strdup(json_object_get_string(value));
    }
    return *out != NULL || api_refuse(e, TRACKD_ERR_INTERNAL, path, "out of memory");
}

bool api_identifier_object(json_object *object, const char *field, struct identifier *out,
                           struct api_error *e)
{
    static const struct {
        const char *key;
        enum identifier_type type;
    } kinds[] = {{"id", IDENTIFIER_ID}, {"email", IDENTIFIER_EMAIL}, {"cio_id", IDENTIFIER_CIO_ID}};
    out->type = IDENTIFIER_NONE;
    out->value = NULL;
    if (object == NULL || !json_object_is_type(object, json_type_object) ||
        json_object_object_length(object) != 1)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                          "%s must be an object with exactly one of id, email, cio_id", field);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        json_object *value = api_field(object, kinds[i].key);
        if (value == NULL)
            continue;
        char path[128];
        snprintf(path, sizeof path, "%s.%s", field, kinds[i].key);
        if (!api_id_value(value, path, &out->value, e))
            return false;
        out->type = kinds[i].type;
        return true;
    }
    return api_refuse(e, TRACKD_ERR_INVALID_FIELD, field,
                      "%s must be an object with exactly one of id, email, cio_id", field);
}

bool api_unix_time(json_object *object, const char *key, int64_t *out_us, struct api_error *e)
{
    json_object *value = api_field(object, key);
    if (value == NULL)
        return true;
    double seconds;
    if (json_object_is_type(value, json_type_int))
        seconds = (double)json_object_get_int64(value);
    else if (json_object_is_type(value, json_type_double))
        seconds = json_object_get_double(value);
    else
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key,
                          "%s must be a unix timestamp in seconds", key);
    if (!isfinite(seconds) || seconds < EARLIEST_SECONDS || seconds > LATEST_SECONDS)
        return api_refuse(e, TRACKD_ERR_INVALID_FIELD, key,
                          "%s must be a unix timestamp in seconds (not milliseconds)", key);
    *out_us = (int64_t)llround(seconds * (double)TIMEUTIL_US_PER_SEC);
    return true;
}
