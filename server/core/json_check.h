/*
 * JSON input hygiene shared by every adapter: a strict parser configuration, and a walk that
 * finds values PostgreSQL's jsonb would refuse, so that a bad value is a 400 naming its field
 * rather than a failed write.
 */
#ifndef TRACKD_CORE_JSON_CHECK_H
#define TRACKD_CORE_JSON_CHECK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of objects and arrays accepted in a request body. */
#define JSON_CHECK_MAX_DEPTH 64

/* Most digits a number may be written with (PostgreSQL stores and prints them all). */
#define JSON_CHECK_MAX_DIGITS 40

/*
 * Parses the `len` bytes at `text` (which must be followed by a NUL at text[len]) as one JSON
 * document: strict (no comments or trailing commas; NaN is refused by json_check_storable), valid
 * UTF-8, nesting up to JSON_CHECK_MAX_DEPTH, nothing after the value. Returns a new object the
 * caller puts, or NULL with a reason in `error`.
 */
json_object *json_check_parse(const char *text, size_t len, char *error, size_t error_size);

/*
 * Checks that every string under `value` is free of NUL characters and valid UTF-8, and every
 * number fits a double (finite, not too small to tell from 0) with at most JSON_CHECK_MAX_DIGITS
 * digits: jsonb stores no NUL nor NaN, and writes numbers out in full. `path` names `value`
 * ("properties"). On failure writes the path of the first bad value to `bad_path`, a message to
 * `message`, and returns false.
 */
bool json_check_storable(json_object *value, const char *path, char *bad_path, size_t bad_path_size,
                         char *message, size_t message_size);

#endif
