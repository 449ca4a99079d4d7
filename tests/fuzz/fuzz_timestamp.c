/*
 * libFuzzer harness for the small text parsers: timeutil_parse_iso8601 (Pipelines timestamps),
 * api_unix_time (Track timestamps, given the input as a JSON value), api_path_identifier (the
 * {identifier} of Track v1 paths) and trigger_parse_duration (rule delays and frequencies). Every
 * input goes to all four; the text ones see it up to its first NUL byte.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_fields.h"
#include "common/timeutil.h"
#include "fuzz_check.h"
#include "trigger/trigger_rule.h"

#define UNTOUCHED INT64_C(0x5a5a5a5a5a5a5a5a)
#define DAY_US (INT64_C(86400) * TIMEUTIL_US_PER_SEC)

static void check_iso8601(const char *text)
{
    int64_t us = UNTOUCHED;
    if (!timeutil_parse_iso8601(text, &us)) {
        if (us != UNTOUCHED)
            fuzz_fail("a refused timestamp changed the output");
        return;
    }
    /* Years 0001-9999 with an offset of at most a day either way. */
    if (us < FUZZ_EARLIEST_US - DAY_US || us > FUZZ_LATEST_US + DAY_US)
        fuzz_fail("\"%s\" parsed to %lld, outside years 1-9999", text, (long long)us);
    if (us < FUZZ_EARLIEST_US || us > FUZZ_LATEST_US)
        return; /* the formatter only writes years 0001-9999 */
    char formatted[TIMEUTIL_FORMAT_SIZE];
    timeutil_format(us, formatted);
    int64_t again = UNTOUCHED;
    if (!timeutil_parse_iso8601(formatted, &again) || again != us)
        fuzz_fail("\"%s\" parsed to %lld, formatted as \"%s\", which parses to %lld", text,
                  (long long)us, formatted, (long long)again);
}

static void check_unix_time(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    json_object *value = json_tokener_parse(text);
    json_object *call = json_object_new_object();
    json_object_object_add(call, "timestamp", value);
    int64_t us = UNTOUCHED;
    struct api_error e = {0};
    if (api_unix_time(call, "timestamp", &us, &e)) {
        if (value == NULL && us != UNTOUCHED)
            fuzz_fail("an absent timestamp changed the output");
        if (value != NULL && (us < FUZZ_EARLIEST_US || us > FUZZ_LATEST_US))
            fuzz_fail("%s was taken as %lld, outside years 1-9999",
                      json_object_to_json_string(value), (long long)us);
    } else if (us != UNTOUCHED || e.code != TRACKD_ERR_INVALID_FIELD || e.message[0] == '\0' ||
               strcmp(e.field, "timestamp") != 0) {
        fuzz_fail("a refused timestamp is not refused cleanly: %s: %s", e.field, e.message);
    }
    json_object_put(call);
    free(text);
}

static void check_path_identifier(const char *text)
{
    struct identifier id;
    struct api_error e = {0};
    if (!api_path_identifier(text, "identifier", &id, &e)) {
        if (id.value != NULL || e.message[0] == '\0' || strcmp(e.field, "identifier") != 0)
            fuzz_fail("a refused identifier is not refused cleanly");
        return;
    }
    if (id.value == NULL || *id.value == '\0' || strlen(id.value) > API_ID_MAX_BYTES)
        fuzz_fail("identifier \"%s\" became an empty or overlong value", text);
    switch (id.type) {
    case IDENTIFIER_CIO_ID:
        if (strncmp(text, "cio_", 4) != 0 || strcmp(id.value, text + 4) != 0)
            fuzz_fail("\"%s\" read as cio_id \"%s\"", text, id.value);
        break;
    case IDENTIFIER_EMAIL:
        if (strchr(text, '@') == NULL || strcmp(id.value, text) != 0)
            fuzz_fail("\"%s\" read as email \"%s\"", text, id.value);
        break;
    case IDENTIFIER_ID:
        if (strcmp(id.value, text) != 0)
            fuzz_fail("\"%s\" read as id \"%s\"", text, id.value);
        break;
    case IDENTIFIER_NONE:
        fuzz_fail("\"%s\" accepted without a type", text);
    }
    free(id.value);
}

static void check_duration(const char *text)
{
    int64_t us = UNTOUCHED;
    if (!trigger_parse_duration(text, &us)) {
        if (us != UNTOUCHED)
            fuzz_fail("a refused duration changed the output");
        return;
    }
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || strchr("smhd", text[digits]) == NULL || text[digits] == '\0' ||
        text[digits + 1] != '\0')
        fuzz_fail("\"%s\" accepted as a duration", text);
    if (us < 0 || us > TRIGGER_DURATION_MAX_US || us % TIMEUTIL_US_PER_SEC != 0)
        fuzz_fail("\"%s\" parsed to %lld us", text, (long long)us);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    check_iso8601(text);
    check_path_identifier(text);
    check_duration(text);
    check_unix_time(data, size);
    free(text);
    return 0;
}
