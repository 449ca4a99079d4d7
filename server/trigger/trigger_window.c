#include "trigger/trigger_window.h"

#include <stdio.h>
#include <string.h>

static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* "HH:MM", 00:00 to 23:59, into minutes after midnight. */
static bool parse_clock(json_object *value, unsigned *minutes)
{
    if (value == NULL || !json_object_is_type(value, json_type_string))
        return false;
    const char *t = json_object_get_string(value);
    if (strlen(t) != 5 || t[2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (t[i] < '0' || t[i] > '9'))
            return false;
    unsigned hours = (unsigned)(t[0] - '0') * 10 + (unsigned)(t[1] - '0');
    unsigned mins = (unsigned)(t[3] - '0') * 10 + (unsigned)(t[4] - '0');
    if (hours > 23 || mins > 59)
        return false;
    *minutes = hours * 60 + mins;
    return true;
}

static bool refuse(char *field, size_t field_size, const char *path, char *message,
                   size_t message_size, const char *text)
{
    snprintf(field, field_size, "%s", path);
    snprintf(message, message_size, "%s %s", path, text);
    return false;
}

static bool parse_days(json_object *days, unsigned *mask, char *field, size_t field_size,
                       char *message, size_t message_size)
{
    if (!json_object_is_type(days, json_type_array) || json_object_array_length(days) == 0)
        return refuse(field, field_size, "send_window.days", message, message_size,
                      "must be a non-empty array of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", "
                      "\"sat\", \"sun\"");
    *mask = 0;
    for (size_t i = 0; i < json_object_array_length(days); i++) {
        json_object *day = json_object_array_get_idx(days, i);
        char path[64];
        snprintf(path, sizeof path, "send_window.days[%zu]", i);
        const char *name =
            day && json_object_is_type(day, json_type_string) ? json_object_get_string(day) : "";
        unsigned bit = 0;
        while (bit < 7 && strcmp(name, day_names[bit]) != 0)
            bit++;
        if (bit == 7)
            return refuse(field, field_size, path, message, message_size,
                          "must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", "
                          "\"sun\"");
        if (*mask & (1u << bit))
            return refuse(field, field_size, path, message, message_size,
                          "names a day already listed");
        *mask |= 1u << bit;
    }
    return true;
}

bool trigger_send_window_parse(json_object *value, struct trigger_send_window *out, char *field,
                               size_t field_size, char *message, size_t message_size)
{
    *out = (struct trigger_send_window){0};
    if (value == NULL || !json_object_is_type(value, json_type_object))
        return refuse(field, field_size, "send_window", message, message_size,
                      "must be an object: {\"days\": [\"mon\", ...], \"from\": \"09:00\", "
                      "\"to\": \"20:00\"}");
    json_object_object_foreach(value, key, member)
    {
        (void)member;
        if (strcmp(key, "days") != 0 && strcmp(key, "from") != 0 && strcmp(key, "to") != 0) {
            char path[200];
            snprintf(path, sizeof path, "send_window.%.150s", key);
            return refuse(field, field_size, path, message, message_size,
                          "is not a key of a send window (days, from, to)");
        }
    }
    json_object *days = NULL, *from = NULL, *to = NULL;
    json_object_object_get_ex(value, "days", &days);
    json_object_object_get_ex(value, "from", &from);
    json_object_object_get_ex(value, "to", &to);
    out->days = 0x7f;
    if (days != NULL && !parse_days(days, &out->days, field, field_size, message, message_size))
        return false;
    if (!parse_clock(from, &out->from_min))
        return refuse(field, field_size, "send_window.from", message, message_size,
                      "must be a time of day \"HH:MM\", 00:00 to 23:59");
    if (!parse_clock(to, &out->to_min))
        return refuse(field, field_size, "send_window.to", message, message_size,
                      "must be a time of day \"HH:MM\", 00:00 to 23:59");
    if (out->from_min == out->to_min)
        return refuse(field, field_size, "send_window.to", message, message_size,
                      "must differ from send_window.from (a window may cross midnight: from "
                      "22:00 to 06:00)");
    out->set = true;
    return true;
}
