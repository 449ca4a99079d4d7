/*
 * The real server on a free port, on its own database clone, driven over HTTP(S) with libcurl:
 * shared by the http_* suites. One server per test process (Criterion runs each test in its
 * own), so the state below is plain globals.
 */
#ifndef TRACKD_TESTS_HTTP_HARNESS_H
#define TRACKD_TESTS_HTTP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

struct app;

/* The running server and its database (valid between harness_start and harness_stop). */
extern char *url;          /* the database's conninfo */
extern struct app *app;    /* the server */
extern char base[64];      /* "http://127.0.0.1:PORT" (https:// with TLS) */
extern char write_key[41]; /* of workspace alpha */
extern char other_write_key[41];
extern char site_credentials[64]; /* "site_id:api_key" of workspace alpha */

/* Settings a suite may change before its server starts (0 or NULL: the default). */
extern size_t harness_receive_max_bytes;
extern unsigned harness_conns_per_address;   /* TRACKD_MAX_CONNECTIONS_PER_ADDRESS */
extern unsigned harness_uploads_per_address; /* TRACKD_MAX_UPLOADS_PER_ADDRESS */
extern const char *harness_public_url;       /* TRACKD_PUBLIC_URL */
extern const char *harness_tls_cert;         /* PEM files: serve HTTPS */
extern const char *harness_tls_key;
extern const char *harness_ca_file; /* what the client trusts for HTTPS */

/* Creates the database with workspaces alpha and beta and starts the HTTP server (no workers). */
void start_server_with(unsigned queue_max_requests, unsigned write_timeout);
void start_server(unsigned queue_max_requests); /* write timeout 5 s */
void harness_stop(void);

struct reply {
    long status;
    char body[16384];
    size_t body_len;
    char headers[4096];
    size_t headers_len;
};

/* Sends one request; `key` NULL sends no Authorization, a key with a ':' is "user:password",
 * else a write key (empty password). `body` NULL sends none. `headers` (NULL-terminated, may be
 * NULL) replace or add request headers, e.g. "Content-Encoding: gzip", "Transfer-Encoding:
 * chunked" (the body then goes chunked). The caller frees the reply (expect() does). */
struct reply *request_with(const char *method, const char *path, const char *key, const char *body,
                           size_t body_len, const char *const *headers);
struct reply *request(const char *method, const char *path, const char *key, const char *body,
                      size_t body_len);
struct reply *post(const char *path, const char *body); /* with alpha's write key */

bool has_header(const struct reply *r, const char *line);

/* The first column of the first row of `sql` on the server's database, as a number. */
long count(const char *sql);

/* Asserts the status, a JSON Content-Type and (if given) a part of the body; frees `r`. */
void expect(struct reply *r, long status, const char *body_part);

/* ---- raw sockets: what libcurl will not send, and clients from other addresses ---- */

/* A connection to the server from `source` (a local address such as "127.0.0.2": every
 * 127.x.y.z is this machine's; NULL: any), answers awaited at most 10 s. */
int raw_connect_from(const char *source);
int raw_connect(void);

void raw_send(int fd, const char *data, size_t len);

/* Reads the answer's head and returns its status (0: none came); `head` gets the text. */
long raw_status(int fd, char *head, size_t size);

/* Reads everything until the server closes the connection or `seconds` pass; `out` gets the
 * text (cut at its size). True if the server closed it. */
bool raw_read_to_close(int fd, double seconds, char *out, size_t size);

/* "Authorization: Basic base64(write_key:)" */
void basic_header(char *out, size_t size);

#endif
