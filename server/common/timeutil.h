/* Clocks and timestamp text: all instants are int64 microseconds since the Unix epoch (UTC). */
#ifndef TRACKD_COMMON_TIMEUTIL_H
#define TRACKD_COMMON_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMEUTIL_US_PER_SEC INT64_C(1000000)

/* Length of the text timeutil_format writes, with its NUL: "2026-11-28T09:50:00.123456Z". */
#define TIMEUTIL_FORMAT_SIZE 28

/* Wall-clock time now. */
int64_t timeutil_now_us(void);

/* A monotonic clock for durations and deadlines (not comparable with wall time). */
int64_t timeutil_monotonic_us(void);

/*
 * Parses an ISO-8601 date-time as sent by Segment-style clients: "2026-11-28",
 * "2026-11-28T09:50:00Z", "2026-11-28T09:50:00.123+01:00", "...+0100", "...+01"; 'T', 't' or a
 * space between date and time; no offset means UTC; fractions to 9 digits (kept to microseconds).
 * Years 0001-9999 only. Returns false on any other text, leaving *out_us untouched.
 */
bool timeutil_parse_iso8601(const char *text, int64_t *out_us);

/* Writes `us` as "YYYY-MM-DDTHH:MM:SS.ffffffZ" to `out` (TIMEUTIL_FORMAT_SIZE bytes). */
void timeutil_format(int64_t us, char out[TIMEUTIL_FORMAT_SIZE]);

#endif
