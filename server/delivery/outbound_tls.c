#include "delivery/outbound_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct outbound_tls {
    STACK_OF(X509) * certificates; /* never empty */
};

/* Only the OpenSSL backend hands the callback an SSL_CTX; with another one the setting would be
 * silently ignored, so it is refused instead. */
static bool curl_uses_openssl(void)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info->ssl_version != NULL && strncmp(info->ssl_version, "OpenSSL", 7) == 0;
}

bool outbound_tls_load(const char *ca_file, struct outbound_tls **out, char *why, size_t why_size)
{
    *out = NULL;
    if (ca_file == NULL || *ca_file == '\0')
        return true;
    if (!curl_uses_openssl()) {
        snprintf(why, why_size, "libcurl uses %s; extra CAs need its OpenSSL flavour",
                 curl_version_info(CURLVERSION_NOW)->ssl_version);
        return false;
    }
    FILE *file = fopen(ca_file, "r");
    struct stat st;
    if (file != NULL && fstat(fileno(file), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(file); /* a directory opens, then fails to read */
        file = NULL;
        errno = EISDIR;
    }
    if (file == NULL) {
        snprintf(why, why_size, "cannot read: %s", strerror(errno));
        return false;
    }
    BIO *bio = BIO_new_fp(file, BIO_CLOSE);
    struct outbound_tls *tls = calloc(1, sizeof *tls);
    if (bio == NULL || tls == NULL || (tls->certificates = sk_X509_new_null()) == NULL) {
        snprintf(why, why_size, "out of memory");
        if (bio == NULL)
            fclose(file);
        BIO_free(bio);
        outbound_tls_free(tls);
        return false;
    }
    /* "CERTIFICATE" and "TRUSTED CERTIFICATE" blocks; other blocks (a key, say) are skipped by
     * the PEM reader. It stops at the end of the file, or at a block it cannot decode. */
    X509 *certificate;
    while ((certificate = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(tls->certificates, certificate) == 0) {
            X509_free(certificate);
            break;
        }
    }
    unsigned long last = ERR_peek_last_error();
    ERR_clear_error();
    BIO_free(bio);
    bool at_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    if (sk_X509_num(tls->certificates) == 0) {
        snprintf(why, why_size, "no PEM certificate in it");
    } else if (last != 0 && !at_end) {
        snprintf(why, why_size, "certificate %d cannot be read (%s)",
                 sk_X509_num(tls->certificates) + 1,
                 ERR_reason_error_string(last) ? ERR_reason_error_string(last) : "bad PEM");
    } else {
        *out = tls;
        return true;
    }
    outbound_tls_free(tls);
    return false;
}

/*
 * Called by libcurl for each new TLS connection, after it has set up the SSL_CTX's store with
 * the system's CAs. Since 7.87 that store may be libcurl's cached one, shared by the later
 * connections of the same multi handle (CURLOPT_CA_CACHE_TIMEOUT, 24 h by default): the
 * certificates added here then stay in it, and adding one that is already there is a success
 * that changes nothing, so repeating this on every connection is harmless. A reused connection
 * does not call this again; it was verified with the same CAs, since every handle sets them.
 */
static CURLcode add_certificates(CURL *easy, void *ssl_ctx, void *cls)
{
    (void)easy;
    const struct outbound_tls *tls = cls;
    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);
    for (int i = 0; i < sk_X509_num(tls->certificates); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(tls->certificates, i)) != 1) {
            ERR_clear_error();
            return CURLE_SSL_CACERT_BADFILE;
        }
    }
    return CURLE_OK;
}

bool outbound_tls_apply(const struct outbound_tls *tls, CURL *easy)
{
    if (tls == NULL)
        return true;
    return curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, add_certificates) == CURLE_OK &&
           curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, (void *)tls) == CURLE_OK;
}

void outbound_tls_free(struct outbound_tls *tls)
{
    if (tls == NULL)
        return;
    sk_X509_pop_free(tls->certificates, X509_free);
    free(tls);
}
