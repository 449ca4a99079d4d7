/*
 * The provider token of APNs token-based authentication: a JWT signed ES256 with the team's
 * .p8 key (TRACKD_APNS_KEY_FILE), header {"alg":"ES256","kid":KEY_ID}, claims
 * {"iss":TEAM_ID,"iat":now}. Apple accepts a token up to 60 minutes old and refuses new tokens
 * more often than every 20 minutes (TooManyProviderTokenUpdates), so one token is reused and
 * re-signed only once it is APNS_TOKEN_REFRESH_S old, or after Apple answered
 * ExpiredProviderToken for it.
 *
 * One `struct apns_token` per worker thread; it is not thread-safe. No I/O after loading the key;
 * "now" is always passed in.
 */
#ifndef TRACKD_DELIVERY_APNS_TOKEN_H
#define TRACKD_DELIVERY_APNS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Age at which a token is signed again: between Apple's 20-minute floor and 60-minute limit. */
#define APNS_TOKEN_REFRESH_S (40 * 60)

struct apns_token;

/* Checks that `path` holds an unencrypted EC P-256 private key in PEM (Apple's .p8 is PKCS#8).
 * false with the reason in `why` ("cannot read: ...", "not an EC P-256 private key (PKCS#8 PEM
 * .p8)"), which does not name the file. */
bool apns_token_check_key(const char *path, char *why, size_t why_size);

/* Loads the key of `path` for tokens of `key_id` and `team_id` (copied). NULL with the reason in
 * `why`, as apns_token_check_key. Free with apns_token_free(). */
struct apns_token *apns_token_new(const char *path, const char *key_id, const char *team_id,
                                  char *why, size_t why_size);

/*
 * The token to send at unix time `now_s`: the current one, or a new one signed with iat = now_s
 * when there is none yet, it is APNS_TOKEN_REFRESH_S old, it was expired, or the clock went back
 * past its iat. *generation receives its number (1 for the first token signed, then 2, ...), for
 * apns_token_expire. NULL with a message when signing fails. The string is owned by `token` until
 * the next call.
 */
const char *apns_token_get(struct apns_token *token, int64_t now_s, uint64_t *generation,
                           char *error, size_t error_size);

/* Apple answered ExpiredProviderToken to a request sent with token number `generation`: the next
 * apns_token_get signs a new one, unless a newer one was signed meanwhile (many requests in flight
 * carry the same token and all come back expired; a number, not the iat, tells them apart, since
 * a token signed again within the same second has the same iat). */
void apns_token_expire(struct apns_token *token, uint64_t generation);

/* Releases `token`; accepts NULL. */
void apns_token_free(struct apns_token *token);

#endif
