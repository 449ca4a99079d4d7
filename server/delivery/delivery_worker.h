/*
 * Delivery workers: claim due rows of the deliveries outbox, send them outside any transaction
 * (webhooks, FCM pushes, and APNs pushes to iOS devices when an APNs key is set, with libcurl,
 * many at once, so one slow endpoint never holds back the others), and record the outcome: sent;
 * retrying with exponential backoff and jitter on 408, 429, 5xx or a network error; dead on any
 * other 4xx, at once when the request cannot be made as it is (delivery/webhook.h), or when
 * attempts run out. A worker that dies mid-send leaves its lease to expire: the
 * delivery is sent again with the same id (and so the same Idempotency-Key): at least once.
 */
#ifndef TRACKD_DELIVERY_WORKER_H
#define TRACKD_DELIVERY_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct delivery_options {
    const char *database_url;
    const char *fcm_url;         /* FCM messages:send endpoint; NULL: Google's, from the key */
    const char *fcm_token;       /* static bearer token, or NULL */
    const char *fcm_credentials; /* service-account key file, or NULL */
    const char *apns_key_file;   /* TRACKD_APNS_KEY_FILE (.p8); NULL: ios devices go via FCM */
    const char *apns_key_id;     /* TRACKD_APNS_KEY_ID, the JWT's kid */
    const char *apns_team_id;    /* TRACKD_APNS_TEAM_ID, the JWT's iss */
    const char *apns_topic;      /* TRACKD_APNS_TOPIC, the apns-topic header */
    const char *apns_url;        /* TRACKD_APNS_URL, e.g. https://api.push.apple.com */
    const char *ca_file;         /* TRACKD_CA_FILE: extra PEM CAs for all outgoing HTTPS, or NULL */
    const char *default_timezone; /* TRACKD_DEFAULT_TIMEZONE (NULL: UTC): send windows of people
                                   * without one */
    const char *smtp_url;         /* TRACKD_SMTP_URL, or NULL: emails are dead */
    const char *smtp_tls;         /* TRACKD_SMTP_TLS: "opportunistic" (default) or "required" */
    const char *smtp_user;        /* TRACKD_SMTP_USER, or NULL */
    const char *smtp_password;    /* TRACKD_SMTP_PASSWORD, or NULL */
    const char *email_from;       /* TRACKD_EMAIL_FROM */
    const char *public_url;       /* TRACKD_PUBLIC_URL: where unsubscribe links point */
    unsigned concurrency;         /* sends in flight at once */
    unsigned max_attempts;        /* attempts before a delivery is dead */
    unsigned retry_base_s;        /* first retry delay */
    unsigned retry_cap_s;         /* longest retry delay */
    unsigned connect_timeout_s;
    unsigned request_timeout_s; /* total time for one send */
};

struct delivery_stats {
    uint64_t sent;
    uint64_t retried;
    uint64_t dead;
};

struct delivery_worker;

/* Checks the push settings that name files or depend on each other (the APNs key and its ids,
 * TRACKD_CA_FILE), printing one line per problem to `errors`, naming the variable; false if
 * any. `trackd serve` and `trackd worker` exit 2 then, before starting anything. */
bool delivery_check_options(const struct delivery_options *options, FILE *errors);

/* Starts one worker thread with its own connection; NULL (logged) when it cannot start. */
struct delivery_worker *delivery_start(const struct delivery_options *options);

struct delivery_stats delivery_stats(struct delivery_worker *worker);

/* Stops after the sends in flight finish (bounded by request_timeout_s); accepts NULL. */
void delivery_stop(struct delivery_worker *worker);

/* The delay before retry number `attempt` (1 = after the first failure): base * 2^(attempt-1),
 * at most cap, then scaled by `jitter` in [0.5, 1.0). Milliseconds. */
int64_t delivery_backoff_ms(unsigned attempt, unsigned base_s, unsigned cap_s, double jitter);

/* What to do after an HTTP answer (0: no answer, a network error). */
enum delivery_verdict {
    DELIVERY_SENT,  /* 2xx */
    DELIVERY_RETRY, /* 408, 429, 5xx, network error */
    DELIVERY_DEAD,  /* any other status */
    DELIVERY_GONE,  /* push: the device is unregistered (removed, and the delivery is dead) */
};
/* The verdict on a webhook or FCM answer; for FCM (`is_push`), 404 or UNREGISTERED is GONE.
 * APNs answers go through apns_classify() (apns.h). */
enum delivery_verdict delivery_classify(long status, const char *body, int is_push);

/* The verdict on a request that got no answer (`curl_code`, libcurl's CURLcode): DEAD when the
 * request itself is at fault, so that sending it again would fail the same way (a URL libcurl
 * refuses, a scheme it will not speak), else RETRY (connection refused, timeouts, TLS, DNS). */
enum delivery_verdict delivery_classify_failure(int curl_code);

#endif
