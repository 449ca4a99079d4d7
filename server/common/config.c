#include "common/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum setting_type {
    SETTING_STRING,     /* free text */
    SETTING_UNSIGNED,   /* decimal integer within [min, max] */
    SETTING_LISTEN,     /* host:port */
    SETTING_LOG_LEVEL,  /* error|warn|info|debug */
    SETTING_LOG_FORMAT, /* text|json */
};

struct setting {
    const char *name;
    enum setting_type type;
    const char *default_value; /* NULL: no default */
    unsigned long min, max;    /* bounds for SETTING_UNSIGNED */
    bool secret;               /* mask when printed */
    size_t offset;             /* where the parsed value lives in struct config */
    const char *description;
};

#define AT(field) offsetof(struct config, field)

static const struct setting settings[] = {
    {"DATABASE_URL", SETTING_STRING, NULL, 0, 0, true, AT(database_url),
     "libpq URI or conninfo of the PostgreSQL database (required but for version/--help)"},
    {"TRACKD_LISTEN", SETTING_LISTEN, "127.0.0.1:8080", 0, 0, false, AT(listen_host),
     "host:port to serve HTTP on"},
    {"TRACKD_LOG_LEVEL", SETTING_LOG_LEVEL, "info", 0, 0, false, AT(log_level),
     "error, warn, info (one line per request) or debug"},
    {"TRACKD_LOG_FORMAT", SETTING_LOG_FORMAT, "text", 0, 0, false, AT(log_format),
     "text, or json for one JSON object per line"},
    {"TRACKD_HTTP_THREADS", SETTING_UNSIGNED, "0", 0, 256, false, AT(http_threads),
     "HTTP worker threads; 0 means one per CPU core"},
    {"TRACKD_MAX_CONNECTIONS", SETTING_UNSIGNED, "1000", 1, 100000, false, AT(max_connections),
     "simultaneous HTTP connections; more are refused (keep below `ulimit -n`)"},
    {"TRACKD_MAX_CONNECTIONS_PER_ADDRESS", SETTING_UNSIGNED, "100", 0, 100000, false,
     AT(conns_per_address),
     "connections from one client address (IPv4, or IPv6 /64) at once; more are refused (0: no "
     "cap, e.g. behind a proxy)"},
    {"TRACKD_MAX_UPLOADS_PER_ADDRESS", SETTING_UNSIGNED, "16", 0, 100000, false,
     AT(uploads_per_address),
     "request bodies being received from one client address at once before answering 503 (0: "
     "no cap, e.g. behind a proxy)"},
    {"TRACKD_CONNECTION_TIMEOUT", SETTING_UNSIGNED, "30", 1, 3600, false, AT(connection_timeout),
     "seconds an idle or stalled HTTP connection is kept"},
    {"TRACKD_READ_TIMEOUT", SETTING_UNSIGNED, "30", 1, 3600, false, AT(read_timeout),
     "seconds a client has to send a whole request, headers and body, however slowly it trickles"},
    {"TRACKD_RECEIVE_MAX_BYTES", SETTING_UNSIGNED, "33554432", 1048576, 1073741824, false,
     AT(receive_max_bytes),
     "request body bytes being received at once (all connections) before answering 503"},
    {"TRACKD_QUEUE_MAX_REQUESTS", SETTING_UNSIGNED, "8192", 1, 1000000, false,
     AT(queue_max_requests), "requests waiting for the database writer before answering 503"},
    {"TRACKD_QUEUE_MAX_BYTES", SETTING_UNSIGNED, "33554432", 1048576, 1073741824, false,
     AT(queue_max_bytes), "request body bytes waiting for the writer before answering 503"},
    {"TRACKD_WRITE_BATCH_MAX", SETTING_UNSIGNED, "2000", 1, 100000, false, AT(write_batch_max),
     "calls committed together in one transaction, at most"},
    {"TRACKD_WRITERS", SETTING_UNSIGNED, "2", 1, 16, false, AT(writers),
     "writer threads, each with its own database connection; commits overlap"},
    {"TRACKD_WRITE_TIMEOUT", SETTING_UNSIGNED, "5", 1, 300, false, AT(write_timeout),
     "seconds a request waits for the database (queued, unreachable, blocked) before 503"},
    {"TRACKD_PURGE_INTERVAL", SETTING_UNSIGNED, "600", 0, 86400, false, AT(purge_interval),
     "seconds between retention runs: expired anonymous events and dedup keys deleted, monthly "
     "events partitions created ahead (0: never)"},
    {"TRACKD_EVENT_RETENTION_DAYS", SETTING_UNSIGNED, "0", 0, 36500, false,
     AT(event_retention_days),
     "days events are kept; older months of events are dropped whole (0: keep forever)"},
    {"TRACKD_REJECTIONS_PER_MINUTE", SETTING_UNSIGNED, "600", 0, 1000000, false,
     AT(rejections_per_minute),
     "refused calls kept one by one in rejected_requests per workspace and minute; more are "
     "counted in one summary row a minute (0: no limit; calls without a valid key are only "
     "ever counted)"},
    {"TRACKD_REJECTION_RETENTION_DAYS", SETTING_UNSIGNED, "30", 0, 36500, false,
     AT(rejection_retention_days),
     "days rows of rejected_requests are kept; older ones are purged (0: keep forever)"},
    {"TRACKD_FCM_URL", SETTING_STRING, NULL, 0, 0, false, AT(fcm_url),
     "FCM HTTP v1 messages:send endpoint (unset: Google's, for the key file's project)"},
    {"TRACKD_FCM_TOKEN", SETTING_STRING, NULL, 0, 0, true, AT(fcm_token),
     "static bearer token for the FCM endpoint"},
    {"TRACKD_FCM_CREDENTIALS", SETTING_STRING, NULL, 0, 0, false, AT(fcm_credentials),
     "Google service-account key file: trackd signs a JWT and exchanges it for tokens"},
    {"TRACKD_APNS_KEY_FILE", SETTING_STRING, NULL, 0, 0, false, AT(apns_key_file),
     "Apple push key (.p8, ES256): ios devices get pushes through APNs (unset: through FCM)"},
    {"TRACKD_APNS_KEY_ID", SETTING_STRING, NULL, 0, 0, false, AT(apns_key_id),
     "the key's id (10 characters), required with TRACKD_APNS_KEY_FILE"},
    {"TRACKD_APNS_TEAM_ID", SETTING_STRING, NULL, 0, 0, false, AT(apns_team_id),
     "the Apple developer team id, required with TRACKD_APNS_KEY_FILE"},
    {"TRACKD_APNS_TOPIC", SETTING_STRING, NULL, 0, 0, false, AT(apns_topic),
     "the app's bundle id (apns-topic), required with TRACKD_APNS_KEY_FILE"},
    {"TRACKD_APNS_URL", SETTING_STRING, "https://api.push.apple.com", 0, 0, false, AT(apns_url),
     "APNs endpoint; https://api.sandbox.push.apple.com for development builds"},
    {"TRACKD_CA_FILE", SETTING_STRING, NULL, 0, 0, false, AT(ca_file),
     "extra PEM certificates trusted for outgoing HTTPS (FCM, APNs, token endpoints, webhooks)"},
    {"TRACKD_SMTP_URL", SETTING_STRING, NULL, 0, 0, false, AT(smtp_url),
     "mail server for email actions: smtp://host:587 (STARTTLS when offered) or smtps://host:465 "
     "(unset: emails are dead, with the reason)"},
    {"TRACKD_SMTP_TLS", SETTING_STRING, "opportunistic", 0, 0, false, AT(smtp_tls),
     "opportunistic (smtp://: STARTTLS whenever the server offers it) or required (refuse a "
     "server that does not)"},
    {"TRACKD_SMTP_USER", SETTING_STRING, NULL, 0, 0, false, AT(smtp_user),
     "user name to log in to the mail server with (unset: no login)"},
    {"TRACKD_SMTP_PASSWORD", SETTING_STRING, NULL, 0, 0, true, AT(smtp_password),
     "password for TRACKD_SMTP_USER"},
    {"TRACKD_EMAIL_FROM", SETTING_STRING, NULL, 0, 0, false, AT(email_from),
     "sender of emails: news@example.com or \"Example <news@example.com>\"; required with "
     "TRACKD_SMTP_URL, as is TRACKD_PUBLIC_URL (the unsubscribe links)"},
    {"TRACKD_DELIVERY_WORKERS", SETTING_UNSIGNED, "1", 0, 64, false, AT(delivery_workers),
     "delivery threads, each with its own connection (0: none in this process)"},
    {"TRACKD_DELIVERY_CONCURRENCY", SETTING_UNSIGNED, "64", 1, 1024, false,
     AT(delivery_concurrency), "sends in flight at once per delivery thread"},
    {"TRACKD_DELIVERY_ATTEMPTS", SETTING_UNSIGNED, "8", 1, 100, false, AT(delivery_attempts),
     "attempts before a delivery is dead"},
    {"TRACKD_RETRY_BASE", SETTING_UNSIGNED, "10", 1, 86400, false, AT(retry_base),
     "seconds before the first retry; doubles each attempt, with jitter"},
    {"TRACKD_RETRY_CAP", SETTING_UNSIGNED, "3600", 1, 604800, false, AT(retry_cap),
     "longest delay between retries, seconds"},
    {"TRACKD_DELIVERY_TIMEOUT", SETTING_UNSIGNED, "10", 1, 300, false, AT(delivery_timeout),
     "seconds one webhook or push request may take (connecting: at most 5)"},
    {"TRACKD_DEFAULT_TIMEZONE", SETTING_STRING, "UTC", 0, 0, false, AT(default_timezone),
     "IANA time zone (e.g. Europe/Paris) of people without a valid timezone attribute: where "
     "rules' send windows are read"},
    {"TRACKD_PUBLIC_URL", SETTING_STRING, NULL, 0, 0, false, AT(public_url),
     "URL apps and browsers reach trackd at, e.g. https://track.example.com: the settings "
     "document's apiHost (unset: the request's Host)"},
    {"TRACKD_TLS_CERT", SETTING_STRING, NULL, 0, 0, false, AT(tls_cert),
     "PEM certificate chain: with TRACKD_TLS_KEY, trackd serves HTTPS on TRACKD_LISTEN"},
    {"TRACKD_TLS_KEY", SETTING_STRING, NULL, 0, 0, false, AT(tls_key),
     "PEM private key of TRACKD_TLS_CERT"},
    {"TRACKD_CORS_ORIGINS", SETTING_STRING, "*", 0, 0, false, AT(cors_origins),
     "origins allowed to call from a browser: * or a comma-separated list"},
};

#define SETTING_COUNT (sizeof settings / sizeof settings[0])

static bool parse_listen(const char *text, struct config *cfg)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535)
        return false;
    free(cfg->listen_host);
    cfg->listen_host = strndup(text, (size_t)(colon - text));
    cfg->listen_port = (unsigned)port;
    return cfg->listen_host != NULL;
}

/* Parses `text` into the field of `s`; returns false if it is not a valid value. */
static bool parse_setting(const struct setting *s, const char *text, struct config *cfg)
{
    char *base = (char *)cfg;
    switch (s->type) {
    case SETTING_STRING: {
        char **field = (char **)(base + s->offset);
        free(*field);
        *field = strdup(text);
        return *field != NULL && text[0] != '\0';
    }
    case SETTING_UNSIGNED: {
        char *end = NULL;
        errno = 0;
        unsigned long value = strtoul(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < s->min ||
            value > s->max)
            return false;
        *(unsigned *)(base + s->offset) = (unsigned)value;
        return true;
    }
    case SETTING_LISTEN:
        return parse_listen(text, cfg);
    case SETTING_LOG_LEVEL:
        return log_parse_level(text, (enum log_level *)(base + s->offset));
    case SETTING_LOG_FORMAT:
        return log_parse_format(text, (enum log_format *)(base + s->offset));
    }
    return false;
}

static const char *expected_form(const struct setting *s, char *buf, size_t size)
{
    switch (s->type) {
    case SETTING_STRING:
        return "a non-empty string";
    case SETTING_UNSIGNED:
        snprintf(buf, size, "an integer from %lu to %lu", s->min, s->max);
        return buf;
    case SETTING_LISTEN:
        return "host:port with a port from 0 to 65535";
    case SETTING_LOG_LEVEL:
        return "one of error, warn, info, debug";
    case SETTING_LOG_FORMAT:
        return "text or json";
    }
    return "a valid value";
}

int config_load(struct config *cfg, const char *(*lookup)(const char *name), bool need_database,
                FILE *errors)
{
    memset(cfg, 0, sizeof *cfg);
    int invalid = 0;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *s = &settings[i];
        const char *value = lookup(s->name);
        if (value == NULL)
            value = s->default_value;
        if (value == NULL) {
            if (need_database && strcmp(s->name, "DATABASE_URL") == 0) {
                fprintf(errors, "trackd: DATABASE_URL is not set: %s\n", s->description);
                invalid++;
            }
            continue;
        }
        if (!parse_setting(s, value, cfg)) {
            char form[64];
            fprintf(errors, "trackd: %s=%s is invalid: expected %s\n", s->name,
                    s->secret ? "***" : value, expected_form(s, form, sizeof form));
            invalid++;
        }
    }
    return invalid;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->database_url);
    free(cfg->listen_host);
    free(cfg->fcm_url);
    free(cfg->fcm_token);
    free(cfg->fcm_credentials);
    free(cfg->public_url);
    free(cfg->cors_origins);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->apns_key_file);
    free(cfg->apns_key_id);
    free(cfg->apns_team_id);
    free(cfg->apns_topic);
    free(cfg->apns_url);
    free(cfg->ca_file);
    free(cfg->default_timezone);
    free(cfg->smtp_url);
    free(cfg->smtp_tls);
    free(cfg->smtp_user);
    free(cfg->smtp_password);
    free(cfg->email_from);
    cfg->smtp_url = cfg->smtp_tls = cfg->smtp_user = cfg->smtp_password = cfg->email_from = NULL;
    cfg->default_timezone = NULL;
    cfg->tls_cert = cfg->tls_key = cfg->ca_file = NULL;
    cfg->apns_key_file = cfg->apns_key_id = cfg->apns_team_id = NULL;
    cfg->apns_topic = cfg->apns_url = NULL;
    cfg->database_url = NULL;
    cfg->listen_host = NULL;
    cfg->fcm_url = cfg->fcm_token = cfg->fcm_credentials = NULL;
    cfg->public_url = cfg->cors_origins = NULL;
}

void config_describe(FILE *out)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  %-26s %s (default: %s)\n", s->name, s->description,
                s->default_value ? s->default_value : "unset");
    }
}

/* Appends `len` bytes of `text` to `out` (of `size`, holding *used), cutting at the end. */
static void put(char *out, size_t size, size_t *used, const char *text, size_t len)
{
    if (*used + 1 >= size)
        return;
    size_t room = size - 1 - *used;
    size_t n = len < room ? len : room;
    memcpy(out + *used, text, n);
    *used += n;
    out[*used] = '\0';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The URI form, scheme://[user[:password]@]host.../db?key=value&...: the password of the user
 * information and the value of any password= parameter are masked. */
static void mask_uri(const char *url, const char *authority, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = NULL;
    for (const char *c = authority; c < authority + authority_len; c++)
        if (*c == '@')
            at = c; /* the last one: an unencoded '@' in a password comes before it */
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    if (colon != NULL) {
        put(out, size, &used, url, (size_t)(colon + 1 - url));
        put(out, size, &used, "***", 3);
        put(out, size, &used, at, strlen(at) - strlen(authority + authority_len));
    } else {
        put(out, size, &used, url, (size_t)(authority + authority_len - url));
    }
    const char *rest = authority + authority_len;
    const char *query = strchr(rest, '?');
    if (query == NULL) {
        put(out, size, &used, rest, strlen(rest));
        return;
    }
    put(out, size, &used, rest, (size_t)(query + 1 - rest));
    for (const char *param = query + 1; *param != '\0';) {
        size_t len = strcspn(param, "&#");
        const char *eq = memchr(param, '=', len);
        if (eq != NULL && (size_t)(eq - param) == 8 && strncasecmp(param, "password", 8) == 0) {
            put(out, size, &used, param, 9);
            put(out, size, &used, "***", 3);
        } else {
            put(out, size, &used, param, len);
        }
        param += len;
        if (*param == '&') {
            put(out, size, &used, "&", 1);
            param++;
        } else if (*param == '#') {
            put(out, size, &used, param, strlen(param));
            break;
        }
    }
}

/* The key=value form, as libpq reads it: blanks around '=' allowed, a value either quoted
 * ('...' with \' and \\ escapes) or running to the next blank (with backslash escapes). The
 * value of password is masked, whatever the case of the key. */
static void mask_conninfo(const char *text, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    const char *c = text;
    while (*c != '\0') {
        const char *start = c;
        while (is_blank(*c))
            c++;
        const char *key = c;
        while (*c != '\0' && *c != '=' && !is_blank(*c))
            c++;
        size_t key_len = (size_t)(c - key);
        while (is_blank(*c))
            c++;
        if (*c != '=') { /* not key=value: copied as it is, libpq will refuse it */
            put(out, size, &used, start, strlen(start));
            return;
        }
        c++;
        while (is_blank(*c))
            c++;
        const char *value = c;
        if (*c == '\'') {
            for (c++; *c != '\0' && *c != '\''; c++)
                if (*c == '\\' && c[1] != '\0')
                    c++;
            if (*c == '\'')
                c++;
        } else {
            for (; *c != '\0' && !is_blank(*c); c++)
                if (*c == '\\' && c[1] != '\0')
                    c++;
        }
        put(out, size, &used, start, (size_t)(value - start));
        if (key_len == 8 && strncasecmp(key, "password", 8) == 0)
            put(out, size, &used, "***", 3);
        else
            put(out, size, &used, value, (size_t)(c - value));
    }
}

void config_mask_url(const char *url, char *out, size_t out_size)
{
    if (out_size == 0)
        return;
    const char *scheme = strstr(url, "://");
    bool uri = scheme != NULL &&
               (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
    if (uri)
        mask_uri(url, scheme + 3, out, out_size);
    else
        mask_conninfo(url, out, out_size);
}
