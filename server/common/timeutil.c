#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t timeutil_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * TIMEUTIL_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t timeutil_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TIMEUTIL_US_PER_SEC + ts.tv_nsec / 1000;
}

static bool is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to the given proleptic Gregorian date, counted through whole 400-year
 * eras (146097 days each) shifted so that years start in March and leap days come last. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* Reads exactly `count` digits at *p into *value and advances *p. */
static bool read_digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *value = v;
    return true;
}

/* Reads a UTC offset ("Z", "+HH:MM", "+HHMM", "+HH") into seconds east of UTC. */
static bool read_offset(const char **p, int *offset_seconds)
{
    char sign = **p;
    if (sign == 'Z' || sign == 'z') {
        (*p)++;
        *offset_seconds = 0;
        return true;
    }
    if (sign != '+' && sign != '-')
        return false;
    (*p)++;
    int hours = 0, minutes = 0;
    if (!read_digits(p, 2, &hours) || hours > 23)
        return false;
    if (**p == ':')
        (*p)++;
    if (**p >= '0' && **p <= '9') {
        if (!read_digits(p, 2, &minutes) || minutes > 59)
            return false;
    }
    *offset_seconds = (hours * 3600 + minutes * 60) * (sign == '-' ? -1 : 1);
    return true;
}

bool timeutil_parse_iso8601(const char *text, int64_t *out_us)
{
    const char *p = text;
    int year, month, day, hour = 0, minute = 0, second = 0, offset = 0;
    int64_t fraction_us = 0;

    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) || *p++ != '-' ||
        !read_digits(&p, 2, &day))
        return false;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;

    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute))
            return false;
        if (*p == ':') {
            p++;
            if (!read_digits(&p, 2, &second))
                return false;
            if (*p == '.' || *p == ',') {
                p++;
                int digits = 0;
                int64_t scale = 100000;
                while (*p >= '0' && *p <= '9') {
                    if (digits < 6) {
                        fraction_us += (*p - '0') * scale;
                        scale /= 10;
                    }
                    digits++;
                    p++;
                }
                if (digits == 0 || digits > 9)
                    return false;
            }
        }
        if (hour > 23 || minute > 59 || second > 60)
            return false;
        if (second == 60)
            second = 59; /* a leap second is kept within its minute */
        if (*p != '\0' && !read_offset(&p, &offset))
            return false;
    }
    if (*p != '\0')
        return false;

    int64_t seconds =
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    *out_us = seconds * TIMEUTIL_US_PER_SEC + fraction_us;
    return true;
}

void timeutil_format(int64_t us, char out[TIMEUTIL_FORMAT_SIZE])
{
    int64_t seconds = us / TIMEUTIL_US_PER_SEC;
    int64_t micros = us % TIMEUTIL_US_PER_SEC;
    if (micros < 0) {
        micros += TIMEUTIL_US_PER_SEC;
        seconds -= 1;
    }
    time_t t = (time_t)seconds;
    struct tm utc;
    gmtime_r(&t, &utc);
    /* Years outside 1-9999 never reach here (callers clamp), but the compiler cannot know. */
    char text[64];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, (int)micros);
    memcpy(out, text, TIMEUTIL_FORMAT_SIZE - 1);
    out[TIMEUTIL_FORMAT_SIZE - 1] = '\0';
}
