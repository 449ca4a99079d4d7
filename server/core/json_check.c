#include "core/json_check.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/*
 * Paths name the member a message is about ("properties.items[2].price"). They are built as
 * the tree is walked, for every member, so they are appended to in place rather than with
 * snprintf (which, called for each member, cost more than parsing the body). A path that would
 * not fit is cut at the buffer's end.
 */
static size_t path_append(char *path, size_t len, size_t size, const char *text, size_t text_len)
{
    if (len + 1 >= size)
        return len;
    if (text_len > size - 1 - len)
        text_len = size - 1 - len;
    memcpy(path + len, text, text_len);
    path[len + text_len] = '\0';
    return len + text_len;
}

/* Appends ".key", or "key" to an empty path; returns the new length. */
static size_t path_push_key(char *path, size_t len, size_t size, const char *key)
{
    if (len > 0)
        len = path_append(path, len, size, ".", 1);
    return path_append(path, len, size, key, strlen(key));
}

/* Appends "[index]"; returns the new length. */
static size_t path_push_index(char *path, size_t len, size_t size, size_t index)
{
    char digits[24];
    size_t at = sizeof digits;
    digits[--at] = ']';
    do {
        digits[--at] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0);
    digits[--at] = '[';
    return path_append(path, len, size, digits + at, sizeof digits - at);
}

/*
 * What one pass over the raw text finds, before json-c parses it:
 *
 * - The escape \u0000 outside of an escaped backslash. json-c would cut object keys at that
 *   NUL ({"a\u0000b":1} becomes {"a":1}), which is silent corruption, and jsonb stores no NUL.
 * - Numbers outside JSON's grammar. json-c reads 1., -1., 1.e5 and -.5 as numbers; JSON (RFC
 *   8259 §6) does not, and PostgreSQL refuses them. Every number outside strings must be
 *     -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
 *   Only reported once json-c has accepted the text, where whatever starts with '-' or a digit
 *   outside a string is a number.
 * - Duplicate keys. json-c keeps the last of two equal keys of an object and drops the first
 *   without a word; a client sending {"userId":"a","userId":"b"} deserves a 400 instead. The
 *   pass counts the keys each object has (a ':' outside strings, directly inside an object,
 *   ends a key), in the order the objects open; the parsed tree, walked in the same order, has
 *   fewer members in the first object that repeated a key.
 *
 * One pass rather than three: on a single-event call the scans cost about as much as json-c's
 * parse itself.
 */
struct text_scan {
    size_t nul_at;     /* offset of a \u0000 escape, or SIZE_MAX */
    size_t bad_number; /* offset of the first malformed number, or SIZE_MAX */
    size_t *keys;      /* keys[i]: keys written in the i-th object opened */
    size_t key_count;
    size_t key_cap;
    bool keys_valid; /* false when counting stopped (out of memory, nesting beyond the limit) */
};

/* Length of the number-like run at text[start..len): what json-c would take for a number. */
static size_t number_end(const char *text, size_t len, size_t start)
{
    size_t end = start;
    while (end < len) {
        char c = text[end];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')
            end++;
        else
            break;
    }
    return end;
}

/* True when text[start..end) follows JSON's number grammar. */
static bool number_well_formed(const char *text, size_t start, size_t end)
{
    size_t j = start;
    if (text[j] == '-')
        j++;
    if (j < end && text[j] == '0') {
        j++;
    } else if (j < end && text[j] >= '1' && text[j] <= '9') {
        while (j < end && text[j] >= '0' && text[j] <= '9')
            j++;
    } else {
        return false;
    }
    if (j < end && text[j] == '.') {
        size_t first = ++j;
        while (j < end && text[j] >= '0' && text[j] <= '9')
            j++;
        if (j == first)
            return false;
    }
    if (j < end && (text[j] == 'e' || text[j] == 'E')) {
        j++;
        if (j < end && (text[j] == '+' || text[j] == '-'))
            j++;
        size_t first = j;
        while (j < end && text[j] >= '0' && text[j] <= '9')
            j++;
        if (j == first)
            return false;
    }
    return j == end;
}

/* Counts an object opening; false when out of memory. */
static bool open_object(struct text_scan *scan, size_t *index)
{
    if (scan->key_count == scan->key_cap) {
        size_t cap = scan->key_cap ? scan->key_cap * 2 : 16;
        size_t *keys = realloc(scan->keys, cap * sizeof *keys);
        if (keys == NULL)
            return false;
        scan->keys = keys;
        scan->key_cap = cap;
    }
    *index = scan->key_count++;
    scan->keys[*index] = 0;
    return true;
}

static void scan_text(const char *text, size_t len, struct text_scan *scan)
{
    size_t stack[JSON_CHECK_MAX_DEPTH + 1]; /* open containers: object index, or SIZE_MAX */
    size_t depth = 0;
    *scan = (struct text_scan){.nul_at = SIZE_MAX, .bad_number = SIZE_MAX, .keys_valid = true};
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            /* A string: skip to its closing quote, looking only at escapes. */
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] != '\\')
                    continue;
                if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0 &&
                    scan->nul_at == SIZE_MAX)
                    scan->nul_at = i;
                i++; /* the escaped character: "\\\\u0000" is not an escape of NUL */
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = number_end(text, len, i);
            if (scan->bad_number == SIZE_MAX && !number_well_formed(text, i, end))
                scan->bad_number = i;
            i = end - 1;
        } else if (c == '{' || c == '[') {
            if (!scan->keys_valid)
                continue;
            size_t index = SIZE_MAX;
            if (depth == JSON_CHECK_MAX_DEPTH + 1 || (c == '{' && !open_object(scan, &index))) {
                scan->keys_valid = false; /* the parser refuses such nesting anyway */
                continue;
            }
            stack[depth++] = index;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ':' && depth > 0 && stack[depth - 1] != SIZE_MAX && scan->keys_valid) {
            scan->keys[stack[depth - 1]]++;
        }
    }
}

/* Walks `value` in document order; returns false at the first object with fewer members than
 * keys written, leaving its path in `path`. */
static bool walk_keys(json_object *value, const struct text_scan *counts, size_t *next, char *path,
                      size_t path_len, size_t path_size)
{
    if (json_object_is_type(value, json_type_array)) {
        size_t n = json_object_array_length(value);
        for (size_t i = 0; i < n; i++) {
            size_t len = path_push_index(path, path_len, path_size, i);
            if (!walk_keys(json_object_array_get_idx(value, i), counts, next, path, len, path_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }
    if (!json_object_is_type(value, json_type_object))
        return true;
    size_t index = (*next)++;
    if (index >= counts->key_count ||
        counts->keys[index] != (size_t)json_object_object_length(value))
        return false;
    json_object_object_foreach(value, key, member)
    {
        size_t len = path_push_key(path, path_len, path_size, key);
        if (!walk_keys(member, counts, next, path, len, path_size))
            return false;
        path[path_len] = '\0';
    }
    return true;
}

/* Writes an error and returns true when an object of `root` repeats a key (`scan`: its text's). */
static bool has_duplicate_key(json_object *root, const struct text_scan *scan, char *error,
                              size_t error_size)
{
    if (!scan->keys_valid)
        return false;
    char path[256] = "";
    size_t next = 0;
    if (walk_keys(root, scan, &next, path, 0, sizeof path))
        return false;
    if (path[0] != '\0')
        snprintf(error, error_size, "%s has a duplicate key", path);
    else
        snprintf(error, error_size, "body has a duplicate key");
    return true;
}

/* Each thread keeps one parser and resets it for the next body: a new one per body cost a 2 KB
 * cleared allocation (its stack of JSON_CHECK_MAX_DEPTH levels) on every call. */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;

static void tokener_free(void *tok)
{
    json_tokener_free(tok);
}

static void tokener_key_create(void)
{
    (void)pthread_key_create(&tokener_key, tokener_free);
}

static struct json_tokener *thread_tokener(void)
{
    pthread_once(&tokener_once, tokener_key_create);
    struct json_tokener *tok = pthread_getspecific(tokener_key);
    if (tok != NULL) {
        json_tokener_reset(tok);
        return tok;
    }
    tok = json_tokener_new_ex(JSON_CHECK_MAX_DEPTH);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    if (pthread_setspecific(tokener_key, tok) != 0) {
        json_tokener_free(tok);
        return NULL;
    }
    return tok;
}

json_object *json_check_parse(const char *text, size_t len, char *error, size_t error_size)
{
    if (len > (size_t)INT32_MAX) {
        snprintf(error, error_size, "body is too large to parse");
        return NULL;
    }
    struct text_scan scan;
    scan_text(text, len, &scan);
    if (scan.nul_at != SIZE_MAX) {
        snprintf(error, error_size,
                 "body must not contain \\u0000 (NUL characters), found at "
                 "byte %zu",
                 scan.nul_at);
        free(scan.keys);
        return NULL;
    }
    struct json_tokener *tok = thread_tokener();
    if (tok == NULL) {
        snprintf(error, error_size, "out of memory");
        free(scan.keys);
        return NULL;
    }
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
    json_tokener_reset(tok); /* lets go of what it holds of this body until the next one */
    if (root != NULL && scan.bad_number != SIZE_MAX) {
        snprintf(error, error_size,
                 "body is not valid JSON: malformed number at byte %zu (JSON numbers have digits "
                 "on both sides of a '.', e.g. 1.0 or 0.5)",
                 scan.bad_number);
        json_object_put(root);
        root = NULL;
    }
    if (root != NULL && has_duplicate_key(root, &scan, error, error_size)) {
        json_object_put(root);
        root = NULL;
    }
    free(scan.keys);
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
            size_t child_len = path_push_key(path, path_len, path_size, key);
            if (!check(child, path, child_len, path_size, message, message_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }
    case json_type_array: {
        size_t count = json_object_array_length(value);
        for (size_t i = 0; i < count; i++) {
            size_t child_len = path_push_index(path, path_len, path_size, i);
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
