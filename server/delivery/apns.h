/*
 * Apple Push Notification service, provider API: POST {TRACKD_APNS_URL}/3/device/{token} over
 * HTTP/2 with token authentication (apns_token.h), many pushes multiplexed on one connection by
 * the delivery worker's curl multi handle. Used for devices of platform "ios" when
 * TRACKD_APNS_KEY_FILE is set; the body is push_payload_apns().
 *
 * Answers carry {"reason": "..."}: 200 sent; 410 (Unregistered) and 400 BadDeviceToken mean the
 * device is gone; 429 and 5xx are retried; 403 ExpiredProviderToken is retried at once with a
 * new token; any other status is final, with Apple's reason kept.
 *
 * One `struct apns` per worker thread; it is not thread-safe.
 */
#ifndef TRACKD_DELIVERY_APNS_H
#define TRACKD_DELIVERY_APNS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/delivery_worker.h"

/* Longest device token accepted (Apple's are 64 hex digits today, documented as variable). */
#define APNS_DEVICE_TOKEN_MAX 200

struct apns;

/* APNs for the given settings (copied); NULL with the reason in `why` when the key cannot be
 * loaded. The caller has checked the settings with delivery_check_options(). */
struct apns *apns_new(const struct delivery_options *options, char *why, size_t why_size);

/* Whether `token` can be put in the request path: 1 to APNS_DEVICE_TOKEN_MAX characters that
 * need no escaping in a URL (Apple's tokens are hex digits). */
bool apns_device_token_ok(const char *token);

/*
 * The URL (into `url`) and the headers (appended to *headers, which the caller frees) of one
 * push to `device_token` at unix time `now_s`; *token_generation receives the number of the
 * provider token used, for apns_token_expired(). false with a message when it cannot be sent: a
 * device token that is not one (final) or a signing failure (*retryable).
 */
bool apns_prepare(struct apns *apns, const char *device_token, int64_t now_s, char *url,
                  size_t url_size, struct curl_slist **headers, uint64_t *token_generation,
                  char *error, size_t error_size, bool *retryable);

/* Apple answered ExpiredProviderToken to a push sent with provider token `token_generation`. */
void apns_token_expired(struct apns *apns, uint64_t token_generation);

/* What to do after an APNs answer (status 0: a network error); Apple's reason, from the body's
 * {"reason": "..."}, is copied into `reason` ("" when there is none). */
enum delivery_verdict apns_classify(long status, const char *body, char *reason,
                                    size_t reason_size);

/* Releases `apns`; accepts NULL. */
void apns_free(struct apns *apns);

#endif
