/*
 * Configuration from the environment (12-factor). Every setting is one row of the table in
 * config.c: name, type, default, bounds, whether it is secret, and a description. --help and the
 * README list the same rows.
 */
#ifndef TRACKD_COMMON_CONFIG_H
#define TRACKD_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/log.h"

struct config {
    char *database_url;                /* libpq URI or conninfo; NULL when unset */
    char *listen_host;                 /* from TRACKD_LISTEN */
    unsigned listen_port;              /* 0 asks the kernel for a free port (tests) */
    enum log_level log_level;          /* TRACKD_LOG_LEVEL */
    enum log_format log_format;        /* TRACKD_LOG_FORMAT: text or json */
    unsigned http_threads;             /* 0 = one per core */
    unsigned max_connections;          /* simultaneous HTTP connections before refusing */
    unsigned conns_per_address;        /* the same from one IPv4 address or IPv6 /64 */
    unsigned uploads_per_address;      /* bodies being received from one address before 503 */
    unsigned connection_timeout;       /* seconds of inactivity before a connection is closed */
    unsigned read_timeout;             /* seconds a client has to send one whole request */
    unsigned receive_max_bytes;        /* body bytes being received at once before 503 */
    unsigned queue_max_requests;       /* requests waiting for the writer before 503 */
    unsigned queue_max_bytes;          /* body bytes waiting for the writer before 503 */
    unsigned write_batch_max;          /* calls committed in one transaction at most */
    unsigned writers;                  /* writer threads, each with its own database connection */
    unsigned write_timeout;            /* seconds a request may wait for PostgreSQL before 503 */
    unsigned purge_interval;           /* seconds between retention runs; 0 disables them */
    unsigned event_retention_days;     /* events older are dropped by month; 0 keeps them */
    unsigned rejections_per_minute;    /* refused calls kept one by one per workspace, minute */
    unsigned rejection_retention_days; /* rejected_requests older are purged; 0 keeps them */
    char *fcm_url;                     /* TRACKD_FCM_URL; NULL: Google's, from the key's project */
    char *fcm_token;                   /* TRACKD_FCM_TOKEN (secret) */
    char *fcm_credentials;             /* TRACKD_FCM_CREDENTIALS: service-account key file */
    unsigned delivery_workers;         /* delivery threads */
    unsigned delivery_concurrency;     /* sends in flight per delivery thread */
    unsigned delivery_attempts;        /* attempts before a delivery is dead */
    unsigned retry_base;               /* seconds before the first retry */
    unsigned retry_cap;                /* longest retry delay, seconds */
    unsigned delivery_timeout;         /* seconds one send may take */
    char *public_url;                  /* TRACKD_PUBLIC_URL: where browsers reach trackd */
    char *default_timezone;            /* TRACKD_DEFAULT_TIMEZONE: for send windows, IANA name */
    char *cors_origins;                /* TRACKD_CORS_ORIGINS: NULL or "*" for any, else a list */
    char *tls_cert;                    /* TRACKD_TLS_CERT: PEM file; with tls_key, serve HTTPS */
    char *tls_key;                     /* TRACKD_TLS_KEY: PEM file */
    char *apns_key_file;               /* TRACKD_APNS_KEY_FILE: .p8 key; ios pushes go via APNs */
    char *apns_key_id;                 /* TRACKD_APNS_KEY_ID: the JWT's kid */
    char *apns_team_id;                /* TRACKD_APNS_TEAM_ID: the JWT's iss */
    char *apns_topic;                  /* TRACKD_APNS_TOPIC: apns-topic, the app's bundle id */
    char *apns_url;                    /* TRACKD_APNS_URL */
    char *ca_file;                     /* TRACKD_CA_FILE: extra trusted CAs for outgoing HTTPS */
    char *smtp_url;                    /* TRACKD_SMTP_URL: smtp:// or smtps://; NULL: no email */
    char *smtp_tls;                    /* TRACKD_SMTP_TLS: "opportunistic" or "required" */
    char *smtp_user;                   /* TRACKD_SMTP_USER */
    char *smtp_password;               /* TRACKD_SMTP_PASSWORD (secret) */
    char *email_from;                  /* TRACKD_EMAIL_FROM: the From of emails */
};

/*
 * Reads every setting through `lookup` (getenv in production). Prints one line per invalid
 * setting to `errors`, naming the variable, and returns how many there were (0 = all valid).
 * With `need_database`, an unset DATABASE_URL is an error. Free with config_free().
 */
int config_load(struct config *cfg, const char *(*lookup)(const char *name), bool need_database,
                FILE *errors);

/* Releases the strings of a loaded config; accepts a zeroed config. */
void config_free(struct config *cfg);

/* Prints every setting with its default and description (for --help). */
void config_describe(FILE *out);

/* Copies a libpq connection string into `out` with every password replaced by "***", for logs:
 * the URI form (user:password@, and ?password=) and the key=value form (blanks around '=',
 * quoted values with escapes). The one place secrets of DATABASE_URL are masked. */
void config_mask_url(const char *url, char *out, size_t out_size);

#endif
