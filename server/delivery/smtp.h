/*
 * Email over SMTP: an `email` delivery (deliveries.action: to, subject, html, text, rendered)
 * made into a libcurl SMTP upload (email_message.c builds the text), and the mail server's
 * answer judged: 2xx sent, 4xx tried again, 5xx dead, with the server's words kept.
 */
#ifndef TRACKD_DELIVERY_SMTP_H
#define TRACKD_DELIVERY_SMTP_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "delivery/delivery_worker.h"

/* Bytes of the mail server's last reply kept for last_error. */
#define SMTP_REPLY_KEPT 512

/* What the worker's settings say about email (lent; the worker's copies). */
struct smtp_settings {
    const char *url;        /* TRACKD_SMTP_URL; NULL: not configured */
    bool tls_required;      /* TRACKD_SMTP_TLS=required */
    const char *user;       /* may be NULL */
    const char *password;   /* may be NULL */
    const char *from;       /* TRACKD_EMAIL_FROM */
    const char *public_url; /* TRACKD_PUBLIC_URL, for the unsubscribe link */
};

/* One message being sent; owned by its transfer, freed with smtp_upload_free. */
struct smtp_upload {
    char *message;
    size_t length, offset;
    struct curl_slist *recipients;
    char reply[SMTP_REPLY_KEPT + 1]; /* the server's last refusal (4xx, 5xx line) */
};

/*
 * Sets up `easy` to send the email of `action` (a delivery's rendered action), delivery
 * `delivery_id` whose public id is `public_id` (never written into the message) and whose
 * unsubscribe link carries `token` (trackd_claim_deliveries'), dated
 * `now_unix`. Returns a new upload the transfer keeps until it ends; NULL with a sentence in
 * `error` when it cannot be sent as it is (no settings, a bad address: dead), or *retryable
 * when out of memory.
 */
struct smtp_upload *smtp_prepare(CURL *easy, const struct smtp_settings *settings,
                                 json_object *action, int64_t delivery_id, const char *public_id,
                                 const char *token, int64_t now_unix, char *error,
                                 size_t error_size, bool *retryable);

/* Judges a finished upload: `result` libcurl's, `code` the server's last reply code. Writes
 * last_error's sentence (the server's reply) to `error` unless sent. */
enum delivery_verdict smtp_classify(CURLcode result, long code, const struct smtp_upload *upload,
                                    const char *curl_error, char *error, size_t error_size);

void smtp_upload_free(struct smtp_upload *upload);

/* Checks the email settings together, one line per problem to `errors`; false if any. */
bool smtp_check_settings(const struct smtp_settings *settings, FILE *errors);

#endif
