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

/* How lines are written: plain text, or one JSON object per line (TRACKD_LOG_FORMAT=json). */
enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

extern enum log_level log_current_level;
extern enum log_format log_current_format;

/* Parses "text" or "json". */
bool log_parse_format(const char *text, enum log_format *out);

/* The fields of the one line written per HTTP request. Route is the route pattern, never the
 * raw path (paths can hold emails); nothing secret is ever part of it. */
struct log_request_line {
    const char *request_id;
    const char *method;
    const char *route; /* "POST /v1/track", or "-" when nothing matched */
    unsigned status;
    double duration_ms;
    const char *workspace; /* name, or "-" */
    bool closed_early;     /* the client left before the answer */
};

/* Writes the request line at info level (the caller checks the level). */
void log_request(const struct log_request_line *line);

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
