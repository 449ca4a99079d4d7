/*
 * The HTTP front: libmicrohttpd with its internal thread pool on epoll, the route table,
 * authentication, body limits, and the hand-off of parsed calls to the ingest queue.
 */
#ifndef TRACKD_HTTP_SERVER_H
#define TRACKD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ingest/ingest_queue.h"

struct http_options {
    const char *listen_host; /* numeric address or host name */
    unsigned listen_port;    /* 0: any free port (see http_server_port) */
    unsigned threads;        /* worker threads; 0 = one per core */
    unsigned max_connections;
    unsigned connection_timeout; /* seconds a connection may stay idle */
    unsigned read_timeout;       /* seconds a client has to send a whole request; 0: no bound */
    size_t receive_max_bytes;    /* body bytes being received at once, all connections; 0: no
                                  * bound. Beyond it a request is answered 503 unbuffered. */
    const char *database_url;    /* for readiness checks and workspace key look-ups */
    unsigned drain_timeout;      /* seconds shutdown waits for requests handed to the writers */
    const char *public_url;      /* where browsers reach trackd (settings endpoint); NULL: Host */
    const char *cors_origins;    /* "*" or a comma-separated list of allowed origins */
    const char *tls_cert;        /* PEM certificate chain file; with tls_key: HTTPS. NULL: HTTP */
    const char *tls_key;         /* PEM private key file of tls_cert */

    /* Caps per client address (an IPv4 address, or an IPv6 /64); 0: no cap. */
    unsigned conns_per_address;   /* connections held at once */
    unsigned uploads_per_address; /* request bodies being received at once */
};

/* Checks the TLS settings: both or neither of TRACKD_TLS_CERT and TRACKD_TLS_KEY, readable PEM
 * files, a key that matches the certificate. Prints one line per problem to `errors`, naming
 * the variable; false if any. */
bool http_check_options(const struct http_options *options, FILE *errors);

struct http_server;

/* Starts serving; NULL with a message in `error` on failure. The ingest queue is borrowed and
 * must outlive the server. Stop with http_server_stop(). */
struct http_server *http_server_start(const struct http_options *options,
                                      struct ingest_queue *ingest, char *error, size_t error_size);

/* The port actually bound (useful with listen_port 0). */
unsigned http_server_port(const struct http_server *server);

/* Stops accepting, lets requests waiting for the writer finish, then stops; accepts NULL. */
void http_server_stop(struct http_server *server);

#endif
