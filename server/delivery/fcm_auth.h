/*
 * Bearer tokens for FCM HTTP v1, either a static token (TRACKD_FCM_TOKEN) or OAuth 2.0 access
 * tokens obtained with a Google service-account key (TRACKD_FCM_CREDENTIALS): trackd signs a JWT
 * (RS256) with the key and exchanges it at the key's token_uri, then caches the answer until
 * shortly before it expires.
 *
 * One `struct fcm_auth` per worker thread; it is not thread-safe. It uses libcurl, so the process
 * must have called curl_global_init() before fcm_auth_token() first needs to fetch a token.
 */
#ifndef TRACKD_DELIVERY_FCM_AUTH_H
#define TRACKD_DELIVERY_FCM_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct outbound_tls;

/* A fetched token is reused only while it stays valid for at least this many more seconds. */
#define FCM_AUTH_MIN_VALIDITY_S 60

struct fcm_auth;

/*
 * With `static_token` (TRACKD_FCM_TOKEN) that token is used as is. With `credentials_path`
 * (TRACKD_FCM_CREDENTIALS, a Google service-account JSON key with "client_email", "private_key"
 * (PEM, RSA), "token_uri", "project_id"), tokens are obtained by signing a JWT (RS256) and
 * exchanging it at token_uri, cached until shortly before they expire. NULL and empty strings
 * count as unset. Neither, or both: NULL with a message that names both variables. A bad key
 * file: NULL with a message naming the file and what is wrong. Free with fcm_auth_free().
 */
struct fcm_auth *fcm_auth_new(const char *static_token, const char *credentials_path, char *error,
                              size_t error_size);

/*
 * A bearer token valid for at least FCM_AUTH_MIN_VALIDITY_S more seconds, fetching a new one
 * when needed (HTTP via libcurl, connect timeout 5 s, total 10 s, so this call may block that
 * long). NULL with a message on failure; nothing is cached then, so the next call tries again
 * (the caller retries the delivery later). The string is owned by `auth` until the next call.
 * `now_s` is the unix time; it is also the JWT's "iat".
 */
const char *fcm_auth_token(struct fcm_auth *auth, int64_t now_s, char *error, size_t error_size);

/* Makes the token exchange trust the extra CAs of `tls` too (TRACKD_CA_FILE); NULL: the system's
 * only. `tls` must outlive `auth`. */
void fcm_auth_use_tls(struct fcm_auth *auth, const struct outbound_tls *tls);

/* project_id of the key file, owned by `auth`, or NULL (static token). */
const char *fcm_auth_project_id(const struct fcm_auth *auth);

/* Releases `auth` and wipes its secrets; accepts NULL. */
void fcm_auth_free(struct fcm_auth *auth);

#endif
