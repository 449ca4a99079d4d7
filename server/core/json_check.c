#include "core/json_check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* True when the JSON text holds the escape \u0000 outside of an escaped backslash. json-c
 * would cut object keys at that NUL ({"a\u0000b":1} becomes {"a":1}), which is silent
 * corruption, and jsonb stores no NUL anyway. */
static bool has_nul_escape(const char *text, size_t len, size_t *at)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0) {
            *at = i;
            return true;
        }
        i++; /* skip the escaped character, so "\\\\u0000" is not taken for an escape */
    }
    return false;
}

/*
 * Number grammar. json-c reads 1., -1., 1.e5 and -.5 as numbers; JSON (RFC 8259 §6) does not, and
 * PostgreSQL refuses them. Every number outside strings must be
 *   -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
 * Returns the offset of the first one that is not, or SIZE_MAX. Called on text json-c accepted,
 * so what starts with '-' or a digit outside a string is a number.
 */
static size_t malformed_number(const char *text, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9'))
            continue;
        size_t start = i, end = i;
        while (end < len && strchr("-+.eE0123456789", text[end]) != NULL && text[end] != '\0')
            end++;
        size_t j = start;
        if (text[j] == '-')
            j++;
        if (j < end && text[j] == '0') {
            j++;
        } else if (j < end && text[j] >= '1' && text[j] <= '9') {
            while (j < end && text[j] >= '0' && text[j] <= '9')
                j++;
        } else {
            return start;
        }
        if (j < end && text[j] == '.') {
            size_t first = ++j;
            while (j < end && text[j] >= '0' && text[j] <= '9')
                j++;
            if (j == first)
                return start;
        }
        if (j < end && (text[j] == 'e' || text[j] == 'E')) {
            j++;
            if (j < end && (text[j] == '+' || text[j] == '-'))
                j++;
            size_t first = j;
            while (j < end && text[j] >= '0' && text[j] <= '9')
                j++;
            if (j == first)
                return start;
        }
        if (j != end)
            return start;
        i = end - 1;
    }
    return SIZE_MAX;
}

/*
 * Duplicate keys. json-c keeps the last of two equal keys of an object and drops the first
 * without a word; a client sending {"userId":"a","userId":"b"} deserves a 400 instead. The raw
 * text is scanned for how many keys each object has (a ':' outside strings, directly inside an
 * object, ends a key), in the order the objects open; the parsed tree, walked in the same
 * order, has fewer members in the first object that repeated a key.
 */
struct key_counts {
    size_t *keys; /* keys[i]: keys written in the i-th object opened */
    size_t count;
    size_t cap;
};

static bool count_keys(const char *text, size_t len, struct key_counts *out)
{
    size_t stack[JSON_CHECK_MAX_DEPTH + 1]; /* open containers: object index, or SIZE_MAX */
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (depth == JSON_CHECK_MAX_DEPTH + 1)
                return false; /* cannot happen: the parser refused it already */
            size_t index = SIZE_MAX;
            if (c == '{') {
                if (out->count == out->cap) {
                    size_t cap = out->cap ? out->cap * 2 : 16;
                    size_t *keys = realloc(out->keys, cap * sizeof *keys);
                    if (keys == NULL)
                        return false;
                    out->keys = keys;
                    out->cap = cap;
                }
                index = out->count++;
                out->keys[index] = 0;
            }
            stack[depth++] = index;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ':' && depth > 0 && stack[depth - 1] != SIZE_MAX) {
            out->keys[stack[depth - 1]]++;
        }
    }
    return true;
}

/* Walks `value` in document order; returns false at the first object with fewer members than
 * keys written, leaving its path in `path`. */
static bool walk_keys(json_object *value, const struct key_counts *counts, size_t *next, char *path,
                      size_t path_len, size_t path_size)
{
    if (json_object_is_type(value, json_type_array)) {
        size_t n = json_object_array_length(value);
        for (size_t i = 0; i < n; i++) {
            int w = snprintf(path + path_len, path_size - path_len, "[%zu]", i);
            size_t len =
                w > 0 && (size_t)w < path_size - path_len ? path_len + (size_t)w : path_len;
            if (!walk_keys(json_object_array_get_idx(value, i), counts, next, path, len, path_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }
    if (!json_object_is_type(value, json_type_object))
        return true;
    size_t index = (*next)++;
    if (index >= counts->count || counts->keys[index] != (size_t)json_object_object_length(value))
        return false;
    json_object_object_foreach(value, key, member)
    {
        int w = snprintf(path + path_len, path_size - path_len, "%s%s", path_len ? "." : "", key);
        size_t len = w > 0 && (size_t)w < path_size - path_len ? path_len + (size_t)w : path_len;
        if (!walk_keys(member, counts, next, path, len, path_size))
            return false;
        path[path_len] = '\0';
    }
    return true;
}

/* Writes an error and returns true when an object of `root` (parsed from `text`) repeats a key. */
static bool has_duplicate_key(json_object *root, const char *text, size_t len, char *error,
                              size_t error_size)
{
    struct key_counts counts = {0};
    bool duplicate = false;
    if (count_keys(text, len, &counts)) {
        char path[256] = "";
        size_t next = 0;
        if (!walk_keys(root, &counts, &next, path, 0, sizeof path)) {
            duplicate = true;
            if (path[0] != '\0')
                snprintf(error, error_size, "%s has a duplicate key", path);
            else
                snprintf(error, error_size, "body has a duplicate key");
        }
    }
    free(counts.keys);
    return duplicate;
}

json_object *json_check_parse(const char *text, size_t len, char *error, size_t error_size)
{
    size_t nul_at = 0;
    if (has_nul_escape(text, len, &nul_at)) {
        snprintf(error, error_size,
                 "body must not contain \\u0000 (NUL characters), found at "
                 "byte %zu",
                 nul_at);
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        snprintf(error, error_size, "body is too large to parse");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(JSON_CHECK_MAX_DEPTH);
    if (tok == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* Including the terminating NUL tells json-c the input is complete, so a bare scalar
     * ("null", "42") ends there instead of waiting for more. */
    json_object *root = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error err = json_tokener_get_error(tok);
    if (err == json_tokener_continue) {
        snprintf(error, error_size, "body is not valid JSON: unexpected end of input");
        json_object_put(root);
        root = NULL;
    } else if (err != json_tokener_success) {
        snprintf(error, error_size, "body is not valid JSON: %s at byte %zu",
                 json_tokener_error_desc(err), json_tokener_get_parse_end(tok));
        root = NULL;
    } else if (root == NULL) {
        snprintf(error, error_size, "body must be a JSON object, not null");
    } else {
        /* Only whitespace may follow the document. */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
            char c = text[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                snprintf(error, error_size,
                         "body is not valid JSON: data after the value at "
                         "byte %zu",
                         i);
                json_object_put(root);
                root = NULL;
                break;
            }
        }
    }
    json_tokener_free(tok);
    size_t bad_number = root != NULL ? malformed_number(text, len) : SIZE_MAX;
    if (bad_number != SIZE_MAX) {
        snprintf(error, error_size,
                 "body is not valid JSON: malformed number at byte %zu (JSON numbers have digits "
                 "on both sides of a '.', e.g. 1.0 or 0.5)",
                 bad_number);
        json_object_put(root);
        root = NULL;
    }
    if (root != NULL && has_duplicate_key(root, text, len, error, error_size)) {
        json_object_put(root);
        root = NULL;
    }
    return root;
}

/* A parsed number keeps its text, which is what gets stored, and PostgreSQL's numeric writes it
 * out in full: 1e-999 reads as 0.0 but is stored as a thousand digits. A number is accepted only
 * if a double holds it (no overflow, and no non-zero value too small for one) and it is written
 * with at most JSON_CHECK_MAX_DIGITS digits. */
static bool number_in_range(json_object *value)
{
    const char *text = json_object_get_string(value);
    if (text == NULL || !isfinite(json_object_get_double(value)))
        return false;
    if (strspn(text, "-+.eE0123456789") != strlen(text))
        return false; /* NaN, Infinity: json-c's spellings, not JSON's */
    size_t digits = 0;
    for (const char *c = text; *c && *c != 'e' && *c != 'E'; c++)
        digits += *c >= '0' && *c <= '9';
    if (digits > JSON_CHECK_MAX_DIGITS)
        return false;
    errno = 0;
    double parsed = strtod(text, NULL);
    return errno != ERANGE && isfinite(parsed);
}

static bool check(json_object *value, char *path, size_t path_len, size_t path_size, char *message,
                  size_t message_size)
{
    switch (json_object_get_type(value)) {
    case json_type_string: {
        const char *s = json_object_get_string(value);
        size_t len = (size_t)json_object_get_string_len(value);
        if (strlen(s) != len) {
            snprintf(message, message_size, "%s must not contain NUL characters", path);
            return false;
        }
        /* json-c's JSON_TOKENER_VALIDATE_UTF8 only counts continuation bytes: it lets overlong
         * forms, surrogates and code points above U+10FFFF through, which PostgreSQL refuses. */
        if (!utf8_valid(s, len)) {
            snprintf(message, message_size, "%s must be valid UTF-8 text", path);
            return false;
        }
        return true;
    }
    case json_type_double:
        if (!number_in_range(value)) {
            snprintf(message, message_size,
                     "%s is a number out of range (it must fit a double and have at most %d "
                     "digits)",
                     path, JSON_CHECK_MAX_DIGITS);
            return false;
        }
        return true;
    case json_type_int:
        /* json-c clamps integers it cannot hold to these bounds instead of refusing them. */
        if (json_object_get_int64(value) == INT64_MIN ||
            json_object_get_uint64(value) == UINT64_MAX ||
            (json_object_get_int64(value) == INT64_MAX &&
             json_object_get_uint64(value) == (uint64_t)INT64_MAX)) {
            snprintf(message, message_size, "%s is a number out of range", path);
            return false;
        }
        return true;
    case json_type_object: {
        json_object_object_foreach(value, key, child)
        {
            /* Named by the object's path: the key itself cannot be shown as text. */
            if (!utf8_valid(key, strlen(key))) {
                if (path_len == 0)
                    snprintf(path, path_size, "body");
                snprintf(message, message_size, "%s has a key that is not valid UTF-8 text", path);
                return false;
            }
            int n = snprintf(path + path_len, path_size - path_len, path_len ? ".%s" : "%s", key);
            size_t child_len = n < 0 ? path_len : path_len + (size_t)n;
            if (child_len >= path_size)
                child_len = path_size - 1;
            if (!check(child, path, child_len, path_size, message, message_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }
    case json_type_array: {
        size_t count = json_object_array_length(value);
        for (size_t i = 0; i < count; i++) {
            int n = snprintf(path + path_len, path_size - path_len, "[%zu]", i);
            size_t child_len = n < 0 ? path_len : path_len + (size_t)n;
            if (child_len >= path_size)
                child_len = path_size - 1;
            if (!check(json_object_array_get_idx(value, i), path, child_len, path_size, message,
                       message_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }
    default:
        return true;
    }
}

bool json_check_storable(json_object *value, const char *path, char *bad_path, size_t bad_path_size,
                         char *message, size_t message_size)
{
    if (bad_path_size == 0)
        return false;
    int n = snprintf(bad_path, bad_path_size, "%s", path);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= bad_path_size)
        len = bad_path_size - 1;
    return check(value, bad_path, len, bad_path_size, message, message_size);
}
