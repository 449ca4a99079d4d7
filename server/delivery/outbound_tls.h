/*
 * Extra certificate authorities for every outgoing HTTPS request of the delivery module
 * (webhooks, FCM, FCM's token exchange, APNs): the PEM bundle of TRACKD_CA_FILE, trusted in
 * addition to the system's CAs (a private CA in front of a webhook target, or a test server).
 *
 * Loaded once per worker; every easy handle then gets a CURLOPT_SSL_CTX_FUNCTION callback that
 * adds the certificates to the certificate store of each new TLS connection. That callback only
 * exists with libcurl's OpenSSL backend, which is checked when loading.
 */
#ifndef TRACKD_DELIVERY_OUTBOUND_TLS_H
#define TRACKD_DELIVERY_OUTBOUND_TLS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct outbound_tls;

/*
 * Reads the certificates of `ca_file` into *out, which the caller frees with
 * outbound_tls_free(). A NULL or empty path is no extra CA: true, *out = NULL. false with the
 * reason in `why` ("cannot read: No such file or directory", "no PEM certificate in it", ...),
 * which does not name the file: the caller names the setting.
 */
bool outbound_tls_load(const char *ca_file, struct outbound_tls **out, char *why, size_t why_size);

/* Makes `easy` trust the certificates of `tls` too (NULL: nothing to do). `tls` must outlive the
 * transfer. false when libcurl refuses the callback. */
bool outbound_tls_apply(const struct outbound_tls *tls, CURL *easy);

/* Releases `tls`; accepts NULL. */
void outbound_tls_free(struct outbound_tls *tls);

#endif
