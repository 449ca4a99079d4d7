#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "common/timeutil.h"
#include "store/store_internal.h"

/*
 * The JSON argument of trackd_ingest_events, written by hand: the properties and context of a
 * command are already JSON text (checked by the API layer), so they are copied as they are
 * instead of being parsed into json-c objects and printed again.
 */

/* A JSON string (or null): quotes, backslashes and control characters escaped. The commands'
 * strings are valid UTF-8 without NUL (the API layer refuses anything else). */
static void append_json_string(struct textbuf *b, const char *s)
{
    if (s == NULL) {
        textbuf_append_str(b, "null");
        return;
    }
    textbuf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        textbuf_append(b, run, (size_t)(p - run));
        char escape[8];
        if (c == '"' || c == '\\')
            snprintf(escape, sizeof escape, "\\%c", c);
        else
            snprintf(escape, sizeof escape, "\\u%04x", c);
        textbuf_append_str(b, escape);
        run = p + 1;
    }
    textbuf_append_str(b, run);
    textbuf_append(b, "\"", 1);
}

/* A member `"key":` followed by a JSON string. */
static void append_json_member(struct textbuf *b, const char *key, const char *value)
{
    textbuf_append_str(b, key);
    append_json_string(b, value);
}

/* A member whose value is JSON text already (or null). */
static void append_json_member_raw(struct textbuf *b, const char *key, const char *json)
{
    textbuf_append_str(b, key);
    textbuf_append_str(b, json != NULL ? json : "null");
}

char *store_events_json(struct command *const *commands, size_t count)
{
    struct textbuf b = {0};
    textbuf_append_str(&b, "[");
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        char number[24], timestamp[TIMEUTIL_FORMAT_SIZE], received[TIMEUTIL_FORMAT_SIZE];
        snprintf(number, sizeof number, "%lld", (long long)cmd->workspace_id);
        timeutil_format(cmd->timestamp_us, timestamp);
        timeutil_format(cmd->received_us, received);
        textbuf_append_str(&b, i == 0 ? "{\"w\":" : ",{\"w\":");
        textbuf_append_str(&b, number);
        append_json_member(&b, ",\"m\":", cmd->message_id);
        append_json_member(&b, ",\"pt\":", command_identifier_type_name(cmd->person.type));
        append_json_member(&b, ",\"p\":", cmd->person.value);
        append_json_member(&b, ",\"a\":", cmd->anonymous_id);
        append_json_member(&b, ",\"t\":", command_event_type_name(cmd->event_type));
        append_json_member(&b, ",\"n\":", cmd->name);
        append_json_member_raw(&b, ",\"pr\":", cmd->properties);
        append_json_member_raw(&b, ",\"c\":", cmd->context);
        append_json_member(&b, ",\"ts\":", timestamp);
        append_json_member(&b, ",\"r\":", received);
        textbuf_append_str(&b, "}");
    }
    textbuf_append_str(&b, "]");
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
