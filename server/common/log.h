/*
 * Leveled logging to stderr, one line per message:
 *   2026-11-28T09:50:00.123Z info  http: POST /v1/track 200 0.8ms workspace=default
 * The macros check the level before any argument is formatted, so a disabled debug line costs a
 * comparison. Safe to call from any thread; each line is written with a single write(2).
 */
#ifndef TRACKD_COMMON_LOG_H
#define TRACKD_COMMON_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR = 0, /* something failed that an operator must look at */
    LOG_LEVEL_WARN = 1,  /* degraded but coping: retries, refused links, reconnects */
    LOG_LEVEL_INFO = 2,  /* one line per request and per lifecycle step */
    LOG_LEVEL_DEBUG = 3, /* internals, for development */
};

extern enum log_level log_current_level;

/* Parses "error", "warn", "info" or "debug"; returns false on anything else. */
bool log_parse_level(const char *text, enum log_level *out);

/* Writes one line; `component` names the module ("http", "writer", ...). Use the macros. */
void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, component, ...)                                                              \
    do {                                                                                           \
        if ((level) <= log_current_level)                                                          \
            log_write((level), (component), __VA_ARGS__);                                          \
    } while (0)

#define LOG_ERROR(component, ...) LOG_AT(LOG_LEVEL_ERROR, component, __VA_ARGS__)
#define LOG_WARN(component, ...) LOG_AT(LOG_LEVEL_WARN, component, __VA_ARGS__)
#define LOG_INFO(component, ...) LOG_AT(LOG_LEVEL_INFO, component, __VA_ARGS__)
#define LOG_DEBUG(component, ...) LOG_AT(LOG_LEVEL_DEBUG, component, __VA_ARGS__)

#endif
