#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

bool log_parse_level(const char *text, enum log_level *out)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);

    int used = snprintf(line, sizeof line,
                        "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                        now.tv_nsec / 1000000, level_names[level], component);
    va_list ap;
    va_start(ap, fmt);
    int more = vsnprintf(line + used, sizeof line - (size_t)used - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)used + (more < 0 ? 0 : (size_t)more);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the line, drop the tail */
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}
