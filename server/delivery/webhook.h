/*
 * The HTTP request of a webhook delivery, built from its rendered action (deliveries.action:
 * url, method, headers, body, as trigger_render_action wrote them). Touches no network: what is
 * wrong with a request is found here, before anything is sent.
 */
#ifndef TRACKD_DELIVERY_WEBHOOK_H
#define TRACKD_DELIVERY_WEBHOOK_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest rendered URL sent; a longer one makes the delivery dead. Servers commonly refuse
 * request lines over 8 KB, and a value rendered into a URL can be as long as an event allows. */
#define WEBHOOK_URL_MAX_BYTES 8192

/* A request ready for libcurl; every member is owned and freed by webhook_request_clear. */
struct webhook_request {
    char *url;
    char *method; /* "POST" or "PUT" */
    struct curl_slist *headers;
    char *body; /* compact JSON; "{}" when the action has none */
};

/*
 * Builds the request of a webhook delivery (`delivery_id` is its Idempotency-Key and
 * X-Trackd-Delivery). Headers go as rendered, whole: one that renders empty is sent with an
 * empty value; the rule's Content-Type replaces application/json. Returns false, with a
 * sentence for last_error in `error` and `out` cleared, when the request cannot be sent as it
 * is: no url, a URL that webhook_check_url refuses, a header value holding CR or LF, a method
 * other than POST or PUT. Sending it again would be refused again: such a delivery is dead.
 * Out of memory also returns false, with *retryable set (it is otherwise left false).
 */
bool webhook_prepare(json_object *action, int64_t delivery_id, struct webhook_request *out,
                     char *error, size_t error_size, bool *retryable);

/* Frees what `request` owns and zeroes it; accepts NULL. */
void webhook_request_clear(struct webhook_request *request);

/*
 * Checks a rendered URL as libcurl parses it: at most WEBHOOK_URL_MAX_BYTES, well formed
 * (no spaces or control characters), scheme http or https, a host. False with a sentence in
 * `error` that never quotes the URL (its query may hold a secret of the rule's).
 */
bool webhook_check_url(const char *url, char *error, size_t error_size);

#endif
