#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "http/http_internal.h"

/* Names the request in its log line: the client's X-Request-Id when it is a plausible id (1 to
 * 64 of [A-Za-z0-9._-]), else a process-unique one. */
static void take_request_id(struct http_request *request)
{
    static atomic_uint_fast64_t next_id;
    const char *given =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, "X-Request-Id");
    size_t len = given ? strlen(given) : 0;
    if (len > 0 && len < sizeof request->request_id &&
        strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len) {
        memcpy(request->request_id, given, len + 1);
        return;
    }
    snprintf(request->request_id, sizeof request->request_id, "%llx-%llx",
             (unsigned long long)(request->received_us / 1000000),
             (unsigned long long)atomic_fetch_add(&next_id, 1));
}

/* Bodies larger than this are not read to the end just to answer politely: the connection is
 * answered and closed at once. */
#define DISCARD_MAX (4 * HTTP_BODY_MAX)

/* The memory libmicrohttpd gives each connection for its request line, headers, read buffer
 * and answer headers. Its default, 32 KB, is cleared on every request of a kept connection,
 * which for a single-event call cost more than the call's JSON parsing; 16 KB still holds
 * headers of about 8 KB (browsers' cookies included) and a read buffer of several KB, while
 * request bodies are copied out as they arrive. Larger headers are answered 431. */
#define CONNECTION_MEMORY (16 * 1024)

/* Connections over TRACKD_MAX_CONNECTIONS that libmicrohttpd may hold per thread while they are
 * being refused (see http_server_start). */
#define MHD_LIMIT_SLACK 64

static enum MHD_Result reply_too_large(struct http_request *request)
{
    char message[96];
    snprintf(message, sizeof message, "body cannot be larger than 500 KB (%d bytes)%s",
             HTTP_BODY_MAX, request->encoding != BODY_ENCODING_IDENTITY ? " once inflated" : "");
    http_record_rejection(request, TRACKD_ERR_BODY_TOO_LARGE, message);
    return http_reply_error(request, MHD_HTTP_CONTENT_TOO_LARGE, message);
}

/* Sends the answer decided on the first callback. */
static enum MHD_Result reply_early(struct http_request *request)
{
    char allowed[64];
    switch (request->early_status) {
    case MHD_HTTP_NOT_FOUND:
        return http_reply_error(request, MHD_HTTP_NOT_FOUND, "no such endpoint");
    case MHD_HTTP_METHOD_NOT_ALLOWED:
        http_allowed_methods(request->path, allowed, sizeof allowed);
        return http_reply_method_not_allowed(request, allowed);
    case MHD_HTTP_UNAUTHORIZED:
        return http_reply_unauthorized(request);
    case MHD_HTTP_CONTENT_TOO_LARGE:
        return reply_too_large(request);
    case MHD_HTTP_NO_CONTENT:
        return http_reply_preflight(request);
    case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE:
        return http_reply_error(request, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, request->early_message);
    case MHD_HTTP_SERVICE_UNAVAILABLE:
        return http_reply_unavailable(request, request->early_message[0]
                                                   ? request->early_message
                                                   : "too many uploads in progress; retry later");
    case MHD_HTTP_NOT_IMPLEMENTED:
        return http_reply_error(request, MHD_HTTP_NOT_IMPLEMENTED, request->early_message);
    default:
        return http_reply_error(request, MHD_HTTP_BAD_REQUEST,
                                request->early_message[0]
                                    ? request->early_message
                                    : "path segments must be UTF-8 text without NUL characters");
    }
}

/*
 * First callback of a request: check its framing, route and authenticate. What can be refused
 * now is decided now (request->early_status) but answered after the body has been read and
 * dropped, so the client reads the answer rather than a reset. Answered at once, and the
 * connection closed, are a request whose framing is unsound (where its body ends is unknown)
 * and a declared body too large even to drop (*answer_now).
 */
static void begin_request(struct http_request *request, bool *answer_now)
{
    bool path_known = false;
    *answer_now = false;
    request->early_status = http_check_framing(request->connection, request->early_message,
                                               sizeof request->early_message);
    if (request->early_status != 0) {
        *answer_now = true;
        request->close_after = true;
        return;
    }
    request->route = http_find_route(request->method, request->path, &request->params, &path_known);
    const char *length = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = length ? strtoull(length, NULL, 10) : 0;
    const char *transfer = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (request->route == NULL && path_known && strcmp(request->method, "OPTIONS") == 0)
        request->early_status = MHD_HTTP_NO_CONTENT; /* a CORS preflight */
    else if (request->route == NULL)
        request->early_status = path_known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND;
    else if (!request->params.valid)
        request->early_status = MHD_HTTP_BAD_REQUEST;
    else if (!http_authenticate(request))
        request->early_status = MHD_HTTP_UNAUTHORIZED;
    else if (declared > HTTP_BODY_MAX)
        request->early_status = MHD_HTTP_CONTENT_TOO_LARGE;
    else
        http_body_begin(request, declared, transfer != NULL);
    *answer_now = request->early_status != 0 && declared > DISCARD_MAX;
    request->close_after = *answer_now;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *server = cls;
    struct http_request *request = *con_cls;
    if (request == NULL) {
        request = calloc(1, sizeof *request);
        if (request == NULL)
            return MHD_NO;
        request->server = server;
        request->connection = connection;
        request->method = method;
        request->path = url;
        request->started_us = timeutil_monotonic_us();
        request->received_us = timeutil_now_us();
        request->params.valid = true;
        atomic_init(&request->written, false);
        take_request_id(request);
        *con_cls = request;
        bool answer_now = false;
        begin_request(request, &answer_now);
        return answer_now ? reply_early(request) : MHD_YES;
    }
    if (request->status != 0)
        return MHD_YES; /* answered already; libmicrohttpd drops the rest */
    if (*upload_data_size != 0) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (request->early_status != 0) {
            /* Dropped unread; a body beyond DISCARD_MAX ends it. */
            request->body_len += size;
            return request->body_len > DISCARD_MAX ? reply_early(request) : MHD_YES;
        }
        return http_body_receive(request, upload_data, size) ? MHD_YES : MHD_NO;
    }
    /* The request has arrived whole. */
    http_body_end(request);
    http_conns_request_received(request);
    if (request->early_status != 0)
        return reply_early(request);
    if (request->body_too_large)
        return reply_too_large(request);
    if (request->body == NULL && (request->body = calloc(1, 1)) == NULL)
        return MHD_NO; /* handlers always get a NUL-terminated body, if empty */
    if (request->auth_from_body && !request->authenticated && !request->submitted &&
        !http_authenticate_body(request))
        return http_reply_unauthorized(request);
    return request->route->handler(request);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *server = cls;
    http_conns_request_done(server, connection);
    struct http_request *request = *con_cls;
    if (request == NULL)
        return;
    int64_t duration_us = timeutil_monotonic_us() - request->started_us;
    metrics_count_request(http_route_index(request->route), request->status, duration_us);
    /* Health checks come every few seconds (Docker, orchestrators): answered, only at debug. */
    bool health = request->route != NULL && (request->route->handler == http_handle_healthz ||
                                             request->route->handler == http_handle_readyz);
    enum log_level level = health && request->status / 100 == 2 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    if (level <= log_current_level) {
        char route[96];
        snprintf(route, sizeof route, "%s %s", request->method,
                 request->route ? request->route->path : "-");
        struct log_request_line line = {
            .request_id = request->request_id,
            .method = request->method,
            .route = route,
            .status = request->status,
            .duration_ms = (double)duration_us / 1000.0,
            .workspace = request->authenticated ? request->workspace.name : "-",
            .closed_early = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK,
        };
        if (level == LOG_LEVEL_INFO)
            log_request(&line);
        else
            LOG_DEBUG("http", "%s %u %.1fms request_id=%s", route, line.status, line.duration_ms,
                      line.request_id);
    }
    /* A client that left while its write was pending is never answered: uncount it here. */
    if (request->counted_suspended)
        atomic_fetch_sub(&request->server->suspended, 1);
    http_params_clear(&request->params);
    api_result_free(&request->parsed);
    free(request->ingest.outcomes);
    http_release_body(request);
    http_conns_end_upload(request);
    body_inflater_free(request->inflater);
    json_object_put(request->body_json);
    free(request->body);
    free(request);
    *con_cls = NULL;
}

/* Keeps the path as sent: routes split it into segments first and decode each one, so that an
 * identifier holding an encoded '/' stays one segment. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
    (void)cls;
    (void)connection;
    return strlen(text);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    LOG_WARN("http", "libmicrohttpd: %s", line);
}

/* Resolves host:port into `addr`; false when the host is unknown. */
static bool resolve(const char *host, unsigned port, struct sockaddr_storage *addr,
                    socklen_t *addr_len)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host[0] ? host : NULL, service, &hints, &found) != 0 || found == NULL)
        return false;
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    return true;
}

struct http_server *http_server_start(const struct http_options *options,
                                      struct ingest_queue *ingest, char *error, size_t error_size)
{
    struct http_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    server->ingest = ingest;
    server->drain_timeout = options->drain_timeout;
    if (options->public_url != NULL && *options->public_url != '\0')
        server->public_url = strdup(options->public_url);
    if (options->cors_origins != NULL && strcmp(options->cors_origins, "*") != 0)
        server->cors_origins = strdup(options->cors_origins);
    atomic_init(&server->suspended, 0);
    atomic_init(&server->receiving_bytes, 0);
    atomic_init(&server->unauthenticated_bytes, 0);
    server->receive_max_bytes = options->receive_max_bytes;
    atomic_init(&server->draining, false);
    pthread_mutex_init(&server->control_lock, NULL);
    server->database_url = strdup(options->database_url);
    server->empty_ok = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    if (server->database_url == NULL || server->empty_ok == NULL) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    MHD_add_response_header(server->empty_ok, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(server->empty_ok, "Access-Control-Allow-Origin", "*");
    server->auth = http_auth_new(server);
    if (server->auth == NULL) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }

    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (!resolve(options->listen_host, options->listen_port, &addr, &addr_len)) {
        snprintf(error, error_size, "TRACKD_LISTEN: cannot resolve host '%s'",
                 options->listen_host);
        goto failed;
    }
    unsigned threads = options->threads;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 1;
    }
    if (!http_conns_init(&server->conns, options)) {
        snprintf(error, error_size, "cannot start the connection watchdog");
        goto failed;
    }
    /* libmicrohttpd splits its limit between the threads and, at it, stops accepting (clients
     * then wait unanswered in the listen backlog). Its limit is set so that it never binds,
     * whichever thread the connections land on; http_conns_accept refuses at ours. */
    unsigned mhd_limit = (options->max_connections + MHD_LIMIT_SLACK) * threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!http_tls_load(server, options, error, error_size))
        goto failed;
    server->tls = server->tls_cert_pem != NULL;
    if (server->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)http_tls_priorities()},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!server->tls)
        tls_options[0].option = MHD_OPTION_END;
    /* One option per line reads better than packed pairs. */
    // clang-format off
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)options->listen_port, http_conns_accept, server, on_request, server,
        /* The logger goes first so that errors about the options below reach it. */
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, http_conns_notify, server,
        MHD_OPTION_URI_LOG_CALLBACK, http_conns_request_line, server,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, server,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        /* HTTP/1.1 without Host, and blanks in the request target, are refused; the rest of
         * the framing is checked by http_check_framing. */
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        /* Empty without TLS: libmicrohttpd warns about HTTPS options on a plain daemon. */
        MHD_OPTION_ARRAY, tls_options,
        MHD_OPTION_END);
    // clang-format on
    if (server->daemon == NULL) {
        snprintf(error, error_size, "cannot listen on %s:%u (in use, or not permitted%s?)",
                 options->listen_host, options->listen_port,
                 server->tls ? ", or TLS refused the certificate" : "");
        goto failed;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : options->listen_port;
    return server;

failed:
    http_server_stop(server);
    return NULL;
}

unsigned http_server_port(const struct http_server *server)
{
    return server->port;
}

void http_server_stop(struct http_server *server)
{
    if (server == NULL)
        return;
    http_conns_stop_watching(&server->conns);
    if (server->daemon != NULL) {
        /* Stop accepting, then let suspended requests get their answers before stopping. */
        atomic_store(&server->draining, true);
        MHD_socket listener = MHD_quiesce_daemon(server->daemon);
        int64_t deadline =
            timeutil_monotonic_us() + (int64_t)server->drain_timeout * TIMEUTIL_US_PER_SEC;
        while (atomic_load(&server->suspended) > 0 && timeutil_monotonic_us() < deadline) {
            struct timespec tick = {0, 10 * 1000 * 1000};
            nanosleep(&tick, NULL);
        }
        if (atomic_load(&server->suspended) > 0) {
            /* libmicrohttpd aborts the process when stopped with suspended connections, and
             * the writers still hold those requests: leave the daemon to the process exit. */
            LOG_ERROR("http", "%zu requests still waiting for the database at shutdown",
                      atomic_load(&server->suspended));
            return;
        }
        MHD_stop_daemon(server->daemon);
        if (listener != MHD_INVALID_SOCKET)
            close(listener);
    }
    http_conns_destroy(&server->conns);
    http_auth_free(server->auth);
    if (server->empty_ok != NULL)
        MHD_destroy_response(server->empty_ok);
    store_close(server->control);
    pthread_mutex_destroy(&server->control_lock);
    free(server->database_url);
    free(server->public_url);
    free(server->cors_origins);
    http_tls_free(server);
    free(server);
}
