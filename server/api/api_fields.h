/*
 * Field readers shared by the adapters (pipelines.c, track_v1.c, track_v2.c): each reads one
 * field of a JSON object, checks its type and limit, and on failure fills a struct api_error
 * whose message names the field. All return false on refusal so that callers can chain them.
 */
#ifndef TRACKD_API_FIELDS_H
#define TRACKD_API_FIELDS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/command.h"
#include "common/errors.h"

/* Customer.io's limits (API reference §1.10), shared by every family. */
#define API_ID_MAX_BYTES 150
#define API_MESSAGE_ID_MAX_BYTES 200
#define API_EVENT_NAME_MAX_BYTES 100
#define API_ATTRIBUTE_NAME_MAX_BYTES 150
#define API_ATTRIBUTE_VALUE_MAX_BYTES 1000
#define API_ATTRIBUTES_MAX 300
#define API_EMAIL_MAX_BYTES 254
#define API_EVENT_DATA_MAX_BYTES 100000
/* Longest page or screen name: a URL or deep link rather than an event name. */
#define API_VIEW_NAME_MAX_BYTES 2048
/* Longest push device token, however it is sent (body or path). */
#define API_DEVICE_TOKEN_MAX_BYTES 1000

/* How JSON is written, for storage and for every size check alike: compact, and '/' left
 * alone (json-c escapes it by default, which would count each one twice). */
#define API_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Why one call was refused. */
struct api_error {
    enum trackd_error code;
    char field[96];    /* the field as the client named it ("event", "traits.plan") */
    char message[320]; /* a sentence naming the field and the limit */
};

/* Records why a call is refused; always returns false, for `return api_refuse(...)`. */
bool api_refuse(struct api_error *e, enum trackd_error code, const char *field, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* A new string holding `value` as compact JSON ("{}" for NULL); NULL when out of memory. */
char *api_serialize(json_object *value);

/* The value of `key` in `object`, lent; NULL when absent or JSON null. */
json_object *api_field(json_object *object, const char *key);

/* True when `s` has only ASCII whitespace. */
bool api_is_blank(const char *s);

/* Trims leading and trailing ASCII whitespace in place. */
void api_trim(char *s);

/* An optional string: *out is a copy, or NULL when absent, null or blank. Another type, or more
 * than `max` bytes, refuses the call. */
bool api_optional_string(json_object *object, const char *key, size_t max, char **out,
                         struct api_error *e);

/* Like api_optional_string, but absence refuses the call with "KEY is required...". */
bool api_required_string(json_object *object, const char *key, size_t max, char **out,
                         struct api_error *e);

/* An optional object: *out is lent, or NULL when absent or null; another type refuses. */
bool api_optional_object(json_object *object, const char *key, json_object **out,
                         struct api_error *e);

/*
 * Splits person attributes into cmd->properties (JSON of the non-null ones) and cmd->unset_keys
 * (JSON array of names sent as null), enforcing the count, name and value limits; `prefix` names
 * the object in messages ("traits", "attributes"). An `email` attribute also sets cmd->email (or
 * cmd->clear_email when null). Keys listed in `reserved` (NULL-terminated, may be NULL) are
 * instructions rather than attributes and are skipped. Also fills cmd->attribute_times (each
 * key with the update's time: cmd->timestamp_us when cmd->ordered, else cmd->received_us, so
 * both are set first) and cmd->dotted_preferences.
 */
bool api_split_attributes(json_object *attributes, const char *prefix, const char *const *reserved,
                          struct command *cmd, struct api_error *e);

/* Reads an identifier of a path segment or an `identifiers` object: "cio_X" is a cio_id, a value
 * with '@' an email, anything else an id. Refuses blank or over-long values. */
bool api_path_identifier(const char *text, const char *field, struct identifier *out,
                         struct api_error *e);

/* Reads an identifier's value at `path`: a non-blank string of at most API_ID_MAX_BYTES, or an
 * integer (numeric ids are common); *out is a new string. */
bool api_id_value(json_object *value, const char *path, char **out, struct api_error *e);

/* Reads an object holding exactly one of "id", "email", "cio_id" (the raw cio_id, no prefix). */
bool api_identifier_object(json_object *object, const char *field, struct identifier *out,
                           struct api_error *e);

/* Reads an optional unix-seconds timestamp (integer, or a number with a fraction) into *out_us;
 * leaves *out_us alone when absent. Values outside years 1-9999 (milliseconds, for one) refuse. */
bool api_unix_time(json_object *object, const char *key, int64_t *out_us, struct api_error *e);

#endif
