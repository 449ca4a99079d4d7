#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_LEVEL_INFO;
enum log_format log_current_format = LOG_FORMAT_TEXT;

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

bool log_parse_format(const char *text, enum log_format *out)
{
    if (strcmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

/* Appends `text` to `out` as the inside of a JSON string. */
static size_t json_escape(char *out, size_t size, const char *text)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && used + 7 < size; p++) {
        if (*p == '"' || *p == '\\') {
            out[used++] = '\\';
            out[used++] = (char)*p;
        } else if (*p < 0x20) {
            used += (size_t)snprintf(out + used, size - used, "\\u%04x", *p);
        } else {
            out[used++] = (char)*p;
        }
    }
    out[used] = '\0';
    return used;
}

/* "2026-11-28T09:50:00.123Z" for now. */
static void timestamp(char out[32])
{
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
             utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000);
}

static void write_line(char *line, size_t len)
{
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

void log_request(const struct log_request_line *l)
{
    char line[1024], ts[32];
    timestamp(ts);
    int n;
    if (log_current_format == LOG_FORMAT_JSON) {
        char workspace[300], route[300];
        json_escape(workspace, sizeof workspace, l->workspace);
        json_escape(route, sizeof route, l->route);
        n = snprintf(line, sizeof line - 1,
                     "{\"ts\":\"%s\",\"level\":\"info\",\"component\":\"http\","
                     "\"msg\":\"request\",\"request_id\":\"%s\",\"route\":\"%s\","
                     "\"status\":%u,\"duration_ms\":%.2f,\"workspace\":\"%s\"%s}",
                     ts, l->request_id, route, l->status, l->duration_ms, workspace,
                     l->closed_early ? ",\"closed_early\":true" : "");
    } else {
        n = snprintf(line, sizeof line - 1,
                     "%s info  http: %s %u %.1fms workspace=%s "
                     "request_id=%s%s",
                     ts, l->route, l->status, l->duration_ms, l->workspace, l->request_id,
                     l->closed_early ? " (connection closed early)" : "");
    }
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    write_line(line, len);
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    char message[1536], line[2048], ts[32];
    timestamp(ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    int n;
    if (log_current_format == LOG_FORMAT_JSON) {
        char escaped[1800];
        json_escape(escaped, sizeof escaped, message);
        n = snprintf(line, sizeof line - 1,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}", ts,
                     level_names[level], component, escaped);
    } else {
        n = snprintf(line, sizeof line - 1, "%s %-5s %s: %s", ts, level_names[level], component,
                     message);
    }
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the line, drop the tail */
    write_line(line, len);
}
