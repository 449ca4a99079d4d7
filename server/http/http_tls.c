/*
 * HTTPS: the certificate and key of TRACKD_TLS_CERT and TRACKD_TLS_KEY, checked at start and
 * handed to libmicrohttpd's own TLS (GnuTLS). The mobile SDKs only ever speak https://, so an
 * app talks to trackd either through this or through a TLS proxy in front of it.
 *
 * The files are checked with OpenSSL before anything starts, so that a wrong path, an encrypted
 * key or a key of another certificate is reported by name (exit 2) rather than as a failure to
 * listen.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/small_file.h"
#include "http/http_internal.h"

/* A PEM certificate chain or key larger than this is not one. */
#define PEM_FILE_MAX (1024 * 1024)

/* Versions older than TLS 1.2 are refused; the rest is GnuTLS's NORMAL set. */
#define TLS_PRIORITIES "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"

/* The whole of a PEM file, NUL-terminated; NULL with the reason in `error`. */
static char *read_pem(const char *path, char *error, size_t error_size)
{
    size_t len = 0;
    return small_file_read(path, PEM_FILE_MAX, &len, error, error_size);
}

/* Frees what read_pem returned, wiping it: it may be a private key. */
static void free_pem(char *pem)
{
    small_file_free(pem, pem ? strlen(pem) : 0);
}

/* An encrypted key would make OpenSSL ask for a pass phrase on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *cls)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)cls;
    return -1;
}

static void report(FILE *errors, const char *name, const char *path, const char *why)
{
    fprintf(errors, "trackd: %s=%s: %s\n", name, path, why);
}

bool http_check_options(const struct http_options *options, FILE *errors)
{
    const char *cert_path = options->tls_cert, *key_path = options->tls_key;
    if (cert_path == NULL && key_path == NULL)
        return true;
    if (cert_path == NULL || key_path == NULL) {
        fprintf(errors, "trackd: %s is set but %s is not: HTTPS needs both\n",
                cert_path ? "TRACKD_TLS_CERT" : "TRACKD_TLS_KEY",
                cert_path ? "TRACKD_TLS_KEY" : "TRACKD_TLS_CERT");
        return false;
    }
    char error[160];
    bool valid = false;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char *cert_pem = read_pem(cert_path, error, sizeof error);
    if (cert_pem == NULL)
        report(errors, "TRACKD_TLS_CERT", cert_path, error);
    char *key_pem = read_pem(key_path, error, sizeof error);
    if (key_pem == NULL)
        report(errors, "TRACKD_TLS_KEY", key_path, error);
    if (cert_pem == NULL || key_pem == NULL)
        goto cleanup;

    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    bio = BIO_new_mem_buf(key_pem, -1);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (cert == NULL)
        report(errors, "TRACKD_TLS_CERT", cert_path, "no PEM certificate in it");
    if (key == NULL)
        report(errors, "TRACKD_TLS_KEY", key_path,
               "no PEM private key in it (an encrypted key is not supported)");
    if (cert == NULL || key == NULL)
        goto cleanup;
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        report(errors, "TRACKD_TLS_KEY", key_path,
               "does not match the certificate of TRACKD_TLS_CERT");
        goto cleanup;
    }
    valid = true;
cleanup:
    X509_free(cert);
    EVP_PKEY_free(key);
    free_pem(cert_pem);
    free_pem(key_pem);
    return valid;
}

bool http_tls_load(struct http_server *server, const struct http_options *options, char *error,
                   size_t error_size)
{
    if (options->tls_cert == NULL || options->tls_key == NULL)
        return true;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(error, error_size, "TRACKD_TLS_CERT: this libmicrohttpd was built without TLS");
        return false;
    }
    char why[160];
    server->tls_cert_pem = read_pem(options->tls_cert, why, sizeof why);
    if (server->tls_cert_pem == NULL) {
        snprintf(error, error_size, "TRACKD_TLS_CERT=%s: %s", options->tls_cert, why);
        return false;
    }
    server->tls_key_pem = read_pem(options->tls_key, why, sizeof why);
    if (server->tls_key_pem == NULL) {
        snprintf(error, error_size, "TRACKD_TLS_KEY=%s: %s", options->tls_key, why);
        return false;
    }
    return true;
}

const char *http_tls_priorities(void)
{
    return TLS_PRIORITIES;
}

void http_tls_free(struct http_server *server)
{
    free_pem(server->tls_key_pem);
    free_pem(server->tls_cert_pem);
    server->tls_key_pem = server->tls_cert_pem = NULL;
}
