/* Shared by the files of http/ only: the per-request state, routes and reply helpers. */
#ifndef TRACKD_HTTP_INTERNAL_H
#define TRACKD_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "common/body_inflate.h"
#include "http/http_server.h"
#include "ingest/ingest_queue.h"
#include "store/store.h"

/* Largest request body read; larger ones get 413 (SPEC §3). */
#define HTTP_BODY_MAX (500 * 1024)

/* A workspace as the HTTP layer knows it after authentication. */
struct http_workspace {
    int64_t id;
    int64_t environment_id; /* what the region endpoint reports (random, not the id) */
    char name[128];
};

/* Who may call a route. */
enum http_auth_kind {
    HTTP_AUTH_NONE,              /* operations endpoints */
    HTTP_AUTH_WRITE_KEY,         /* Basic write_key: */
    HTTP_AUTH_WRITE_KEY_OR_BODY, /* Pipelines: Basic write_key:, else "writeKey" in the body */
    HTTP_AUTH_SITE_KEY,          /* Track API: Basic site_id:api_key */
    HTTP_AUTH_SITE_KEY_OPTIONAL, /* metrics: anonymous, or site_id:api_key if sent */
};

/* The "{}" segments of a route, percent-decoded. */
#define HTTP_MAX_PARAMS 2
struct http_params {
    char *values[HTTP_MAX_PARAMS]; /* owned */
    size_t count;
    bool valid; /* every value is UTF-8 text without NUL */
};

struct http_request;

/* Handles a request whose body is complete. Called again after the request was suspended and
 * resumed; must queue a response eventually and return MHD_YES, or MHD_NO to drop the
 * connection. */
typedef enum MHD_Result (*http_handler)(struct http_request *request);

struct http_route {
    const char *method;
    const char *path;
    enum http_auth_kind auth;
    http_handler handler;
    int variant; /* handler-specific, e.g. the Pipelines endpoint */
};

/* The workspace directory: keys are compared as SHA-256 digests in constant time. */
struct http_auth;

/* What each client address holds (http_peers.c): connections, and uploads in progress. */
struct http_peer;
struct http_peers {
    unsigned max_connections; /* per address (TRACKD_MAX_CONNECTIONS_PER_ADDRESS); 0: no cap */
    unsigned max_uploads;     /* per address (TRACKD_MAX_UPLOADS_PER_ADDRESS); 0: no cap */
    pthread_mutex_t lock;     /* guards the buckets and every entry */
    struct http_peer **buckets;
    size_t bucket_mask; /* bucket count - 1 (a power of two) */
    uint64_t seed;      /* random: which bucket an address lands in cannot be predicted */
    bool initialized;
    atomic_uint_fast64_t refused;          /* connections refused at an address's cap */
    atomic_int_fast64_t refusal_logged_us; /* rate limit of that warning */
};

/* The connections held (http_conn.c): their count against the limit, and the deadlines by
 * which their requests must have arrived. */
struct http_conn;
struct http_conns {
    unsigned limit;                        /* TRACKD_MAX_CONNECTIONS */
    int64_t read_timeout_us;               /* whole request, from its first line; 0: no deadline */
    int64_t first_line_timeout_us;         /* for the first line: max(read, idle timeout) */
    atomic_uint count;                     /* connections started and not yet closed */
    atomic_uint_fast64_t refused;          /* connections refused at the limit */
    atomic_uint_fast64_t timed_out;        /* connections ended for a late request */
    atomic_int_fast64_t refusal_logged_us; /* rate limit of the refusal warning */
    pthread_mutex_t lock;                  /* guards head and each connection's `cut` */
    struct http_conn *head;
    pthread_t watchdog;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_wake; /* on CLOCK_MONOTONIC */
    bool stopping, watching, initialized;
    struct http_peers peers; /* the count per client address */
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct ingest_queue *ingest;
    struct http_auth *auth;
    unsigned port;
    struct MHD_Response *empty_ok; /* the shared `200 {}` */
    atomic_size_t suspended;       /* requests waiting for the writer */
    atomic_bool draining;          /* stopping: no request may start waiting any more */
    unsigned drain_timeout;        /* seconds */
    char *public_url;              /* TRACKD_PUBLIC_URL, or NULL: the request's Host */
    char *cors_origins;            /* allowed origins, comma-separated; NULL: any */
    bool tls;                      /* serving HTTPS */
    char *tls_cert_pem;            /* TRACKD_TLS_CERT's contents while serving HTTPS, else NULL */
    char *tls_key_pem;             /* TRACKD_TLS_KEY's contents (wiped when freed) */
    struct http_conns conns;
    /* Bytes reserved by request bodies being received, against receive_max_bytes (0: no
     * bound): a body is reserved before it is buffered, and released when it is handed to the
     * write queue (which counts it from then on) or when the request ends. */
    atomic_size_t receiving_bytes;
    size_t receive_max_bytes;
    /* The part of receiving_bytes held by bodies not authenticated yet (the key is in the body,
     * or nowhere): at most half the budget, so that callers with credentials in the header
     * always find room however many strangers upload. */
    atomic_size_t unauthenticated_bytes;
    /* A connection for /readyz and key look-ups, used under control_lock. */
    pthread_mutex_t control_lock;
    struct store *control;
    char *database_url;
};

/* Everything about one request, from the first callback to completion. */
struct http_request {
    struct http_server *server;
    struct MHD_Connection *connection;
    const struct http_route *route;
    const char *method;
    const char *path;
    int64_t started_us;  /* monotonic, for the duration in the log line */
    int64_t received_us; /* wall clock, the receive time of the calls */
    char *body;          /* NUL-terminated; body_len bytes */
    size_t body_len, body_cap;
    size_t body_reserved; /* counted in server->receiving_bytes (>= body_cap) */
    /* Not authenticated while its body is received (http_body_begin): what it reserves is
     * counted in server->unauthenticated_bytes too. */
    bool unauthenticated_upload;
    bool upload_counted;           /* counted as an upload in progress of its address */
    struct http_peer *upload_peer; /* that address, while counted */
    bool close_after;              /* the answer carries Connection: close */
    bool body_too_large;
    bool out_of_memory;
    /* A compressed body: inflated as it arrives (http_body.c); NULL once it is complete. */
    enum body_encoding encoding;
    struct body_inflater *inflater;
    size_t inflate_reserved; /* the inflater's state, counted in server->receiving_bytes */
    bool inflater_started;   /* made at the first byte of the body, not before */
    size_t declared_length;  /* a plain body's Content-Length (0: none): its buffer's bound */
    bool body_ended;         /* http_body_end has run */
    bool authenticated;
    struct http_params params;
    /* An answer decided before the body was read (401, 404, ...): sent once the body has been
     * read and discarded, so that the client sees it instead of a connection reset. */
    unsigned early_status;
    char early_message[200]; /* what was wrong, for a 400 or 415 decided early */
    bool counted_suspended;  /* counted in server->suspended until the write is answered */
    bool auth_from_body;     /* no Authorization header: the body's writeKey decides */
    json_object *body_json;  /* the body as parsed to find that writeKey; the handler takes it */
    struct http_workspace workspace;
    unsigned status;     /* what was answered, for the log */
    char request_id[65]; /* X-Request-Id when valid, else generated */
    /* The write in flight, if any. */
    struct api_result parsed;
    struct ingest_request ingest;
    bool submitted;
    atomic_bool written;
};

/* ---- connections (http_conn.c) ---- */

/* Sets up the counts and, with a read timeout, starts the watchdog; false if it cannot. */
bool http_conns_init(struct http_conns *conns, const struct http_options *options);

/* Stops the watchdog (connections are no longer cut); idempotent. */
void http_conns_stop_watching(struct http_conns *conns);

/* Stops the watchdog and frees what init made; call after the daemon has stopped. */
void http_conns_destroy(struct http_conns *conns);

/* libmicrohttpd callbacks; `cls` is the struct http_server. The accept policy refuses a
 * connection over the limit; the notification counts and watches connections; the URI logger
 * starts the deadline of a request whose first line has arrived. */
enum MHD_Result http_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addr_len);
void http_conns_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void *http_conns_request_line(void *cls, const char *uri, struct MHD_Connection *connection);

/* Counts the request's body as an upload in progress from its client's address; false when
 * that address has TRACKD_MAX_UPLOADS_PER_ADDRESS in progress already. Ended by
 * http_conns_end_upload (idempotent). */
bool http_conns_begin_upload(struct http_request *request);
void http_conns_end_upload(struct http_request *request);

/* The request has arrived whole: its connection has no deadline while it is answered. */
void http_conns_request_received(struct http_request *request);

/* A request on `connection` ended: the next one must arrive in time. */
void http_conns_request_done(struct http_server *server, struct MHD_Connection *connection);

/* ---- client addresses (http_peers.c) ---- */

/* Sets up an empty table sized for `max_connections_total` connections; false if out of
 * memory or randomness. */
bool http_peers_init(struct http_peers *peers, unsigned max_connections_total,
                     unsigned max_connections, unsigned max_uploads);

/* Frees the table (after the daemon has stopped); idempotent. */
void http_peers_destroy(struct http_peers *peers);

/* Whether `addr` may open one more connection (a hint for the accept policy: counting is done by
 * http_peers_connect, which may still refuse). */
bool http_peers_may_connect(struct http_peers *peers, const struct sockaddr *addr);

enum http_peers_admission {
    HTTP_PEERS_ADMITTED,  /* counted: *out is the address's entry */
    HTTP_PEERS_OVER_CAP,  /* the address holds max_connections already */
    HTTP_PEERS_NO_MEMORY, /* no entry could be made */
};

/* Counts one more connection from `addr`; pair an admitted one with http_peers_disconnect. */
enum http_peers_admission http_peers_connect(struct http_peers *peers, const struct sockaddr *addr,
                                             struct http_peer **out);
void http_peers_disconnect(struct http_peers *peers, struct http_peer *peer);

/* Counts an upload in progress from `peer` (NULL: not counted, always true); false at the cap.
 * Pair a counted one with http_peers_end_upload. The entry outlives its connections while it
 * has uploads. */
bool http_peers_begin_upload(struct http_peers *peers, struct http_peer *peer);
void http_peers_end_upload(struct http_peers *peers, struct http_peer *peer);

/* The address as counted, "192.0.2.7" or "2001:db8:1:2::/64", for log lines. */
void http_peers_describe(const struct sockaddr *addr, char *out, size_t size);

/* ---- framing (http_framing.c) ---- */

/* Checks what decides where the request's body ends (duplicate, conflicting or malformed
 * Content-Length, Transfer-Encoding, Host, header names); 0 when sound, else the status to
 * answer at once (400, 501) with `message` saying why. */
unsigned http_check_framing(struct MHD_Connection *connection, char *message, size_t size);

/* ---- bodies (http_body.c) ---- */

/* Checks the body's Content-Type and Content-Encoding and counts it as an upload of its
 * address, once the request is routed and authenticated (where the header allows); nothing is
 * reserved before bytes arrive. A refusal is left in early_status (415, 503). `declared` is the
 * Content-Length (0 if none), `chunked` whether Transfer-Encoding: chunked was sent. */
void http_body_begin(struct http_request *request, unsigned long long declared, bool chunked);

/* Takes the next bytes of the body as sent, inflating them if compressed. Past HTTP_BODY_MAX it
 * sets body_too_large; a corrupt stream or a spent budget sets early_status (400, 503) and the
 * rest is dropped. False only when out of memory (drop the connection). */
bool http_body_receive(struct http_request *request, const char *data, size_t size);

/* The body is complete (no longer an upload in progress): a compressed one must have ended
 * properly, else early_status = 400. Idempotent. */
void http_body_end(struct http_request *request);

/* Gives the request's share of the receive budget back (its body is then counted by the
 * write queue, or freed); idempotent. */
void http_release_body(struct http_request *request);

/* ---- HTTPS (http_tls.c) ---- */

/* Reads the certificate and key files (checked by http_check_options) into the server for
 * libmicrohttpd; true without TLS settings. False with a message naming the variable. */
bool http_tls_load(struct http_server *server, const struct http_options *options, char *error,
                   size_t error_size);

/* The GnuTLS priority string: TLS 1.2 and newer. */
const char *http_tls_priorities(void);

/* Frees (and wipes) what http_tls_load read; idempotent. */
void http_tls_free(struct http_server *server);

/* ---- routes (http_routes.c) ---- */

/* Finds the route for a method and path, filling `params` (cleared by the caller with
 * http_params_clear). Sets *path_known when some route has this path, to tell 405 from 404. */
const struct http_route *http_find_route(const char *method, const char *path,
                                         struct http_params *params, bool *path_known);

/* A route's index in the table (for metrics), or METRICS_MAX_ROUTES - 1 for none. */
unsigned http_route_index(const struct http_route *route);

/* "METHOD /pattern" of route `index`, or NULL past the table. */
const char *http_route_name(unsigned index);

/* Frees the values of `params`. */
void http_params_clear(struct http_params *params);

/* The methods allowed on a path, as an Allow header value. */
void http_allowed_methods(const char *path, char *out, size_t out_size);

/* ---- replies (http_reply.c) ---- */

/* Queues `response` (NULL: out of memory, MHD_NO) with the CORS headers, and Connection: close
 * when request->close_after; records the status for the log. Takes the response. */
enum MHD_Result http_reply_response(struct http_request *request, unsigned status,
                                    struct MHD_Response *response);

/* Queues a JSON response; `json` is copied. Records the status for the log. */
enum MHD_Result http_reply_json(struct http_request *request, unsigned status, const char *json);

/* Queues `{"meta":{"error":MESSAGE}}` with `status`. */
enum MHD_Result http_reply_error(struct http_request *request, unsigned status,
                                 const char *message);

/* Queues 405 with an Allow header listing `allowed`. */
enum MHD_Result http_reply_method_not_allowed(struct http_request *request, const char *allowed);

/* Queues the shared 200 {}. */
enum MHD_Result http_reply_ok(struct http_request *request);

/* Queues 401 with WWW-Authenticate. */
enum MHD_Result http_reply_unauthorized(struct http_request *request);

/* Queues 204 answering a CORS preflight for the request's path. */
enum MHD_Result http_reply_preflight(struct http_request *request);

/* The Access-Control-Allow-Origin value for this request's Origin, or NULL to send none. */
const char *http_cors_origin(struct http_request *request);

/* Queues 503 with Retry-After. */
enum MHD_Result http_reply_unavailable(struct http_request *request, const char *message);

/* ---- authentication (http_auth.c) ---- */

struct http_auth *http_auth_new(struct http_server *server);
void http_auth_free(struct http_auth *auth);

/* Authenticates the request per its route; on success fills request->workspace. For routes
 * that accept a key in the body, a request without an Authorization header passes here with
 * request->auth_from_body set, for http_authenticate_body once the body is read. */
bool http_authenticate(struct http_request *request);

/* Authenticates by the "writeKey" of the (complete) JSON body; on success leaves the parsed
 * body in request->body_json for the handler. */
bool http_authenticate_body(struct http_request *request);

/* The workspace of a write key (constant-time comparison); false if unknown. */
bool http_auth_write_key(struct http_server *server, const char *key, struct http_workspace *out);

/* ---- control connection (http_health.c) ---- */

/* Runs `fn` with the control store (connecting if needed) under its lock; false if the
 * database cannot be reached. */
bool http_with_control(struct http_server *server, bool (*fn)(struct store *store, void *cls),
                       void *cls);

/* ---- ingest hand-off (http_ingest.c) ---- */

/* Hands request->parsed to the writer and suspends the connection; the route's handler is
 * called again once the write is done (request->submitted set). Answers 503 itself when the
 * queue is full. */
enum MHD_Result http_submit(struct http_request *request);

/* How an API family shapes its answers. */
enum http_answer_style {
    HTTP_ANSWER_PIPELINES, /* 400 {"meta":{"errors":[...]}}; batches 207 {"errors":[...]} */
    HTTP_ANSWER_TRACK_V1,  /* 400 {"meta":{"error":"..."}} */
    HTTP_ANSWER_TRACK_V2,  /* 400/207 {"errors":[{batch_index?,reason,field,message}]} */
};

/* The handler's work for a request: parse with `parse` (done by the caller into
 * request->parsed), then submit; called again after the write, it answers in `style`.
 * `batch` says whether the endpoint takes several calls (207 is possible). */
enum MHD_Result http_answer_written(struct http_request *request, enum http_answer_style style,
                                    bool batch);

/* Stamps the workspace and route on every parsed command, adds the rejection records, and
 * submits the lot. */
enum MHD_Result http_submit_parsed(struct http_request *request);

/* ---- route handlers (http_pipelines.c, http_health.c) ---- */

enum MHD_Result http_handle_pipelines(struct http_request *request);
enum MHD_Result http_handle_track_v1(struct http_request *request);
/* GET /unsubscribe/{token}: an email's unsubscribe page; POST: unsubscribes (http_unsubscribe.c).
 */
enum MHD_Result http_handle_unsubscribe_page(struct http_request *request);
enum MHD_Result http_handle_unsubscribe(struct http_request *request);
enum MHD_Result http_handle_track_v2(struct http_request *request);
enum MHD_Result http_handle_region(struct http_request *request);
enum MHD_Result http_handle_settings(struct http_request *request);
enum MHD_Result http_handle_metrics(struct http_request *request);
enum MHD_Result http_handle_healthz(struct http_request *request);
enum MHD_Result http_handle_readyz(struct http_request *request);

/* Records a request refused before its body was parsed (413) in rejected_requests without
 * waiting for the write. */
void http_record_rejection(struct http_request *request, enum trackd_error code,
                           const char *message);

#endif
