/*
 * Send windows: a rule's "send_window", the days and hours of the person's own time zone in
 * which its deliveries may go out ({"days": ["mon", ...], "from": "09:00", "to": "20:00"}).
 * Parsed and checked here when a rule is loaded; the time zone arithmetic (the person's
 * `timezone` attribute, daylight saving) is PostgreSQL's, in
 * sql/functions/trackd_window_opening.sql, which reads the same JSON from the stored rule.
 */
#ifndef TRACKD_TRIGGER_WINDOW_H
#define TRACKD_TRIGGER_WINDOW_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct trigger_send_window {
    bool set;          /* the rule has one */
    unsigned days;     /* bit 0 Monday ... bit 6 Sunday; all seven when "days" is absent */
    unsigned from_min; /* minutes after local midnight, 0..1439 */
    unsigned to_min;   /* the same; below from_min, the window crosses midnight */
};

/*
 * Checks and parses a send_window value. On failure writes the bad field's path
 * ("send_window.days[2]") to `field` and a sentence naming it to `message`, and returns false.
 */
bool trigger_send_window_parse(json_object *value, struct trigger_send_window *out, char *field,
                               size_t field_size, char *message, size_t message_size);

#endif
