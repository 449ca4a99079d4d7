#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "store/store_internal.h"

/*
 * The JSON argument of trackd_ingest_events, written by hand: the properties and context of a
 * command are already JSON text (checked by the API layer), so they are copied as they are
 * instead of being parsed into json-c objects and printed again.
 */

struct text_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

static void buf_reserve(struct text_buf *b, size_t extra)
{
    if (b->failed || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        b->failed = true;
        return;
    }
    b->data = data;
    b->cap = cap;
}

static void buf_append(struct text_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_literal(struct text_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* A JSON string (or null): quotes, backslashes and control characters escaped. The commands'
 * strings are valid UTF-8 without NUL (the API layer refuses anything else). */
static void buf_string(struct text_buf *b, const char *s)
{
    if (s == NULL) {
        buf_literal(b, "null");
        return;
    }
    buf_reserve(b, strlen(s) + 2);
    buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, run, (size_t)(p - run));
        char escape[8];
        if (c == '"' || c == '\\')
            snprintf(escape, sizeof escape, "\\%c", c);
        else
            snprintf(escape, sizeof escape, "\\u%04x", c);
        buf_literal(b, escape);
        run = p + 1;
    }
    buf_literal(b, run);
    buf_append(b, "\"", 1);
}

/* A member `"key":` followed by a JSON string. */
static void buf_member(struct text_buf *b, const char *key, const char *value)
{
    buf_literal(b, key);
    buf_string(b, value);
}

/* A member whose value is JSON text already (or null). */
static void buf_member_json(struct text_buf *b, const char *key, const char *json)
{
    buf_literal(b, key);
    buf_literal(b, json != NULL ? json : "null");
}

char *store_events_json(struct command *const *commands, size_t count)
{
    struct text_buf b = {0};
    buf_literal(&b, "[");
    for (size_t i = 0; i < count; i++) {
        const struct command *cmd = commands[i];
        char number[24], timestamp[TIMEUTIL_FORMAT_SIZE], received[TIMEUTIL_FORMAT_SIZE];
        snprintf(number, sizeof number, "%lld", (long long)cmd->workspace_id);
        timeutil_format(cmd->timestamp_us, timestamp);
        timeutil_format(cmd->received_us, received);
        buf_literal(&b, i == 0 ? "{\"w\":" : ",{\"w\":");
        buf_literal(&b, number);
        buf_member(&b, ",\"m\":", cmd->message_id);
        buf_member(&b, ",\"pt\":", command_identifier_type_name(cmd->person.type));
        buf_member(&b, ",\"p\":", cmd->person.value);
        buf_member(&b, ",\"a\":", cmd->anonymous_id);
        buf_member(&b, ",\"t\":", command_event_type_name(cmd->event_type));
        buf_member(&b, ",\"n\":", cmd->name);
        buf_member_json(&b, ",\"pr\":", cmd->properties);
        buf_member_json(&b, ",\"c\":", cmd->context);
        buf_member(&b, ",\"ts\":", timestamp);
        buf_member(&b, ",\"r\":", received);
        buf_literal(&b, "}");
    }
    buf_literal(&b, "]");
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
