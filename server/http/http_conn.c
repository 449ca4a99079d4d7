/*
 * Connections: the limit on how many are held at once, and the deadline by which a client must
 * have sent a whole request.
 *
 * libmicrohttpd, at its own connection limit, stops accepting: further clients wait in the
 * kernel's listen backlog, unanswered, for as long as the slots stay taken. trackd keeps the
 * count itself instead (connection notifications) and refuses a connection over the limit as
 * soon as it is accepted (the accept policy callback closes it), while libmicrohttpd's own
 * limit is set high enough never to be the one that binds. So it does per client address
 * (http_peers.c), so that one client cannot hold every slot: a connection over
 * TRACKD_MAX_CONNECTIONS_PER_ADDRESS is closed in the same way.
 *
 * libmicrohttpd's connection timeout is an idle timeout: every byte received restarts it, so a
 * client that drips its request one byte a second is kept forever. Each connection therefore
 * carries a deadline, and a watchdog thread shuts down the socket of a connection past it (the
 * event loop then sees the connection end and closes it as usual):
 *
 *   - from the connection's start, or the end of its previous request, until the request line
 *     has arrived: max(read timeout, idle timeout), so that an idle keep-alive connection is
 *     still governed by the idle timeout alone;
 *   - from the request line until the whole request (headers and body) has arrived: the read
 *     timeout;
 *   - while the request is handled and answered: none (a request waiting for the writers is
 *     bounded by the write timeout, a slow reader of the answer by the idle timeout).
 *
 * The watchdog shuts a socket down only under `lock`, and a connection leaves the list under
 * `lock` when libmicrohttpd reports it closed, which it does before closing the socket: the
 * watchdog never touches a descriptor that was closed and perhaps reused.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "http/http_internal.h"

/* How often the watchdog looks for connections past their deadline. */
#define WATCH_INTERVAL_MS 200
/* At most one warning about refused connections per this many microseconds. */
#define REFUSAL_LOG_INTERVAL_US (10 * TIMEUTIL_US_PER_SEC)

/* One accepted connection, from its start to its close notification. */
struct http_conn {
    struct http_conn *prev, *next; /* in conns->head, under conns->lock */
    MHD_socket fd;
    atomic_int_fast64_t deadline_us; /* monotonic; 0 while no request is being received */
    bool cut;                        /* shut down by the watchdog (under conns->lock) */
    struct http_peer *peer;          /* its client address; NULL when no cap is set */
};

static struct http_conn *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* Arms the deadline for a request yet to come: its first line must arrive in time. */
static void await_request(struct http_conns *conns, struct http_conn *conn)
{
    if (conns->read_timeout_us > 0)
        atomic_store(&conn->deadline_us, timeutil_monotonic_us() + conns->first_line_timeout_us);
}

/* Whether a warning about refused connections is due (at most one per interval). */
static bool refusal_log_due(atomic_int_fast64_t *logged_us)
{
    int64_t now = timeutil_monotonic_us();
    int64_t last = atomic_load(logged_us);
    return now - last >= REFUSAL_LOG_INTERVAL_US &&
           atomic_compare_exchange_strong(logged_us, &last, now);
}

static void refuse_for_address(struct http_conns *conns, const struct sockaddr *addr)
{
    atomic_fetch_add(&conns->peers.refused, 1);
    if (!refusal_log_due(&conns->peers.refusal_logged_us))
        return;
    char address[64];
    http_peers_describe(addr, address, sizeof address);
    LOG_WARN("http",
             "%s holds TRACKD_MAX_CONNECTIONS_PER_ADDRESS=%u connections: refusing its new ones "
             "(%llu refused so far, all addresses)",
             address, conns->peers.max_connections,
             (unsigned long long)atomic_load(&conns->peers.refused));
}

enum MHD_Result http_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addr_len)
{
    (void)addr_len;
    struct http_server *server = cls;
    struct http_conns *conns = &server->conns;
    if (atomic_load(&conns->count) >= conns->limit) {
        atomic_fetch_add(&conns->refused, 1);
        if (refusal_log_due(&conns->refusal_logged_us))
            LOG_WARN("http",
                     "connection limit reached (TRACKD_MAX_CONNECTIONS=%u): refusing new "
                     "connections (%llu so far)",
                     conns->limit, (unsigned long long)atomic_load(&conns->refused));
        return MHD_NO;
    }
    if (!http_peers_may_connect(&conns->peers, addr)) {
        refuse_for_address(conns, addr);
        return MHD_NO;
    }
    return MHD_YES;
}

/* Whether connections are counted per address at all. */
static bool per_address(const struct http_conns *conns)
{
    return conns->peers.max_connections > 0 || conns->peers.max_uploads > 0;
}

void http_conns_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct http_server *server = cls;
    struct http_conns *conns = &server->conns;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct http_conn *conn = *socket_context;
        if (conn != NULL) {
            pthread_mutex_lock(&conns->lock);
            if (conn->prev != NULL)
                conn->prev->next = conn->next;
            else
                conns->head = conn->next;
            if (conn->next != NULL)
                conn->next->prev = conn->prev;
            pthread_mutex_unlock(&conns->lock);
            http_peers_disconnect(&conns->peers, conn->peer);
            free(conn);
            *socket_context = NULL;
        }
        atomic_fetch_sub(&conns->count, 1);
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    MHD_socket fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
    /* Two threads may both have passed the accept policy at limit - 1: the later one ends. */
    bool over = atomic_fetch_add(&conns->count, 1) >= conns->limit;
    struct http_conn *conn = over ? NULL : calloc(1, sizeof *conn);
    if (conn != NULL && per_address(conns)) {
        /* The same race, per address. */
        const union MHD_ConnectionInfo *client =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *addr = client ? client->client_addr : NULL;
        enum http_peers_admission admission = http_peers_connect(&conns->peers, addr, &conn->peer);
        if (admission != HTTP_PEERS_ADMITTED) {
            if (admission == HTTP_PEERS_OVER_CAP)
                refuse_for_address(conns, addr);
            free(conn);
            conn = NULL;
        }
    }
    *socket_context = conn;
    if (conn == NULL) {
        /* Over a limit, or no memory to watch it: end it now (it counts until closed). */
        if (fd != MHD_INVALID_SOCKET)
            shutdown(fd, SHUT_RDWR);
        return;
    }
    conn->fd = fd;
    atomic_init(&conn->deadline_us, 0);
    await_request(conns, conn);
    pthread_mutex_lock(&conns->lock);
    conn->next = conns->head;
    if (conns->head != NULL)
        conns->head->prev = conn;
    conns->head = conn;
    pthread_mutex_unlock(&conns->lock);
}

void *http_conns_request_line(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)uri;
    struct http_server *server = cls;
    struct http_conn *conn = conn_of(connection);
    if (conn != NULL && server->conns.read_timeout_us > 0)
        atomic_store(&conn->deadline_us, timeutil_monotonic_us() + server->conns.read_timeout_us);
    return NULL; /* the request state is made by the first call of the handler */
}

bool http_conns_begin_upload(struct http_request *request)
{
    struct http_conns *conns = &request->server->conns;
    struct http_conn *conn = conn_of(request->connection);
    struct http_peer *peer = conn ? conn->peer : NULL;
    if (!http_peers_begin_upload(&conns->peers, peer))
        return false;
    request->upload_peer = peer;
    request->upload_counted = true;
    return true;
}

void http_conns_end_upload(struct http_request *request)
{
    if (!request->upload_counted)
        return;
    http_peers_end_upload(&request->server->conns.peers, request->upload_peer);
    request->upload_peer = NULL;
    request->upload_counted = false;
}

void http_conns_request_received(struct http_request *request)
{
    struct http_conn *conn = conn_of(request->connection);
    if (conn != NULL)
        atomic_store(&conn->deadline_us, 0);
}

void http_conns_request_done(struct http_server *server, struct MHD_Connection *connection)
{
    struct http_conn *conn = conn_of(connection);
    if (conn != NULL)
        await_request(&server->conns, conn);
}

/* Shuts down every connection past its deadline. */
static void cut_late(struct http_conns *conns)
{
    int64_t now = timeutil_monotonic_us();
    unsigned cut = 0;
    pthread_mutex_lock(&conns->lock);
    for (struct http_conn *conn = conns->head; conn != NULL; conn = conn->next) {
        int64_t deadline = atomic_load(&conn->deadline_us);
        if (conn->cut || deadline == 0 || deadline > now || conn->fd == MHD_INVALID_SOCKET)
            continue;
        /* The event loop sees the end of the stream and closes the connection itself. */
        shutdown(conn->fd, SHUT_RDWR);
        conn->cut = true;
        cut++;
    }
    pthread_mutex_unlock(&conns->lock);
    if (cut > 0) {
        atomic_fetch_add(&conns->timed_out, cut);
        LOG_INFO("http", "closed %u connection(s) whose request did not arrive in time", cut);
    }
}

static void *watchdog_main(void *arg)
{
    struct http_conns *conns = arg;
    pthread_mutex_lock(&conns->stop_lock);
    while (!conns->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&conns->stop_wake, &conns->stop_lock, &until);
        if (conns->stopping)
            break;
        pthread_mutex_unlock(&conns->stop_lock);
        cut_late(conns);
        pthread_mutex_lock(&conns->stop_lock);
    }
    pthread_mutex_unlock(&conns->stop_lock);
    return NULL;
}

bool http_conns_init(struct http_conns *conns, const struct http_options *options)
{
    conns->limit = options->max_connections;
    if (!http_peers_init(&conns->peers, options->max_connections, options->conns_per_address,
                         options->uploads_per_address))
        return false;
    conns->read_timeout_us = (int64_t)options->read_timeout * TIMEUTIL_US_PER_SEC;
    int64_t idle_us = (int64_t)options->connection_timeout * TIMEUTIL_US_PER_SEC;
    conns->first_line_timeout_us =
        conns->read_timeout_us > idle_us ? conns->read_timeout_us : idle_us;
    atomic_init(&conns->count, 0);
    atomic_init(&conns->refused, 0);
    atomic_init(&conns->timed_out, 0);
    atomic_init(&conns->refusal_logged_us, 0);
    pthread_mutex_init(&conns->lock, NULL);
    pthread_mutex_init(&conns->stop_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&conns->stop_wake, &attr);
    pthread_condattr_destroy(&attr);
    conns->initialized = true;
    if (conns->read_timeout_us == 0)
        return true; /* no deadline: nothing to watch */
    conns->watching = pthread_create(&conns->watchdog, NULL, watchdog_main, conns) == 0;
    return conns->watching;
}

void http_conns_stop_watching(struct http_conns *conns)
{
    if (!conns->watching)
        return;
    pthread_mutex_lock(&conns->stop_lock);
    conns->stopping = true;
    pthread_cond_signal(&conns->stop_wake);
    pthread_mutex_unlock(&conns->stop_lock);
    pthread_join(conns->watchdog, NULL);
    conns->watching = false;
}

void http_conns_destroy(struct http_conns *conns)
{
    if (!conns->initialized)
        return;
    http_conns_stop_watching(conns);
    pthread_mutex_destroy(&conns->lock);
    pthread_mutex_destroy(&conns->stop_lock);
    pthread_cond_destroy(&conns->stop_wake);
    http_peers_destroy(&conns->peers);
    conns->initialized = false;
}
