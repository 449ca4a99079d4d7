/*
 * bench_loadgen: a constant-rate HTTP/1.1 load generator for the fixed-load scenario of
 * bench/run.sh (wrk2, which does this, is not packaged in Debian).
 *
 *   bench_loadgen -u URL -a USER:PASSWORD -t TEMPLATE -r RATE -d DURATION [-c CONNECTIONS]
 *
 * Request i is due at start + i / RATE whatever happened before it, and its latency is counted
 * from that due time, not from when it was written: a server that stalls for 100 ms is charged
 * for every request that should have gone out during the stall, as a real client population
 * would see it ("coordinated omission" is what a closed-loop tool like wrk gets wrong). Due
 * requests go out in order on whichever keep-alive connection is idle, one request per
 * connection at a time; when all connections are busy, due requests wait and that wait is part
 * of their latency.
 *
 * The body of each request is TEMPLATE (a file of bench/events/) with the placeholders that
 * bench/common.lua documents; newlines and the blanks after them are removed. The person of
 * request i is user-(i mod 5000), the people the first scenario creates.
 *
 * After DURATION, requests still due or in flight get up to 10 s to finish; what is left then
 * counts as unsent or as an error. Prints one line for bench/run.sh (times in milliseconds):
 *   LOADGEN offered=R scheduled=N ok=N non2xx=N errors=N unsent=N seconds=S rate=R
 *           p50_ms=X p99_ms=X p999_ms=X max_ms=X
 * Exit status: 0 when the run completed (whatever the answers were), 1 when it could not run
 * (no connection), 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PEOPLE 5000
#define DRAIN_SECONDS 10.0
#define MAX_CONNECTIONS 4096
#define MAX_TEMPLATE_BYTES (256 * 1024)
#define RESPONSE_BUFFER 16384
#define TIMER_TAG UINT32_MAX

/* What a template segment stands for. */
enum part_kind {
    PART_TEXT,       /* literal text */
    PART_TIMESTAMP,  /* now, ISO-8601 UTC with milliseconds */
    PART_UNIX,       /* now, unix seconds */
    PART_MESSAGE_ID, /* unique per request */
    PART_USER_ID,    /* user-(i mod PEOPLE) */
    PART_N,          /* the request's number */
};

struct part {
    enum part_kind kind;
    const char *text; /* PART_TEXT: points into the template; not NUL-terminated */
    size_t len;
};

struct template
{
    char *text; /* owns the storage the parts point into */
    struct part *parts;
    size_t count;
    size_t max_body; /* an upper bound of a rendered body's size */
};

/* One keep-alive connection. */
struct conn {
    int fd;       /* -1 once it could not be reopened */
    bool busy;    /* a request is written or being written, its answer not yet read */
    long request; /* the request in flight when busy */
    char *out;    /* the request being written */
    size_t out_len, out_sent;
    bool want_out; /* registered for EPOLLOUT (a write was partial) */
    char in[RESPONSE_BUFFER];
    size_t in_len;
};

struct stats {
    long ok, non2xx, errors;
    double *latency_ms; /* one per answered request, in completion order */
    long answered;
    double last_answer; /* monotonic seconds */
};

static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_loadgen -u http://HOST:PORT/PATH -a USER:PASSWORD -t TEMPLATE "
                    "-r RATE -d DURATION[s|m] [-c CONNECTIONS]\n");
    exit(2);
}

/* "10", "10s", "2m" or "1h" to seconds; negative when malformed. */
static double parse_duration(const char *text)
{
    char *end;
    double value = strtod(text, &end);
    if (end == text || value <= 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return value;
    if (strcmp(end, "m") == 0)
        return value * 60;
    if (strcmp(end, "h") == 0)
        return value * 3600;
    return -1;
}

static void base64(const char *in, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned n = (unsigned char)in[i] << 16;
        if (i + 1 < len)
            n |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            n |= (unsigned char)in[i + 2];
        out[o++] = alphabet[(n >> 18) & 63];
        out[o++] = alphabet[(n >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[n & 63] : '=';
    }
    out[o] = '\0';
}

/* Reads and splits the template; exits 2 on an unknown placeholder. */
static void load_template(const char *path, struct template *t)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_loadgen: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    t->text = malloc(MAX_TEMPLATE_BYTES);
    size_t len = 0;
    bool after_newline = false;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') {
            after_newline = true;
            continue;
        }
        if (after_newline && (c == ' ' || c == '\t'))
            continue;
        after_newline = false;
        if (len + 1 >= MAX_TEMPLATE_BYTES) {
            fprintf(stderr, "bench_loadgen: %s is larger than %d bytes\n", path,
                    MAX_TEMPLATE_BYTES);
            exit(2);
        }
        t->text[len++] = (char)c;
    }
    fclose(f);
    t->text[len] = '\0';

    static const struct {
        const char *name;
        enum part_kind kind;
    } names[] = {{"timestamp", PART_TIMESTAMP},
                 {"unix", PART_UNIX},
                 {"message_id", PART_MESSAGE_ID},
                 {"user_id", PART_USER_ID},
                 {"n", PART_N}};
    t->parts = calloc(len + 1, sizeof *t->parts); /* never more parts than bytes, plus one */
    t->count = 0;
    t->max_body = 0;
    const char *p = t->text;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open, "}}") : NULL;
        size_t text_len = open && close ? (size_t)(open - p) : strlen(p);
        t->parts[t->count++] = (struct part){PART_TEXT, p, text_len};
        t->max_body += text_len;
        if (open == NULL || close == NULL)
            break;
        const char *name = open + 2;
        size_t name_len = (size_t)(close - name);
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] &&
               !(strlen(names[k].name) == name_len && strncmp(names[k].name, name, name_len) == 0))
            k++;
        if (k == sizeof names / sizeof names[0]) {
            fprintf(stderr, "bench_loadgen: unknown placeholder {{%.*s}} in %s\n", (int)name_len,
                    name, path);
            exit(2);
        }
        t->parts[t->count++] = (struct part){names[k].kind, NULL, 0};
        t->max_body += 64; /* each value is far shorter */
        p = close + 2;
    }
}

/* Renders request i's body into out (at least t->max_body + 1 bytes); returns its length. */
static size_t render(const struct template *t, long i, const char *prefix, char *out)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char iso[32], date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso, sizeof iso, "%s.%03ldZ", date, now.tv_nsec / 1000000);
    long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;

    size_t len = 0;
    for (size_t k = 0; k < t->count; k++) {
        const struct part *part = &t->parts[k];
        switch (part->kind) {
        case PART_TEXT:
            memcpy(out + len, part->text, part->len);
            len += part->len;
            break;
        case PART_TIMESTAMP:
            len += (size_t)sprintf(out + len, "%s", iso);
            break;
        case PART_UNIX:
            len += (size_t)sprintf(out + len, "%lld", (long long)now.tv_sec);
            break;
        case PART_MESSAGE_ID:
            len += (size_t)sprintf(out + len, "node-next-%lld-%s-%ld", ms, prefix, i);
            break;
        case PART_USER_ID:
            len += (size_t)sprintf(out + len, "user-%ld", i % PEOPLE);
            break;
        case PART_N:
            len += (size_t)sprintf(out + len, "%ld", i);
            break;
        }
    }
    out[len] = '\0';
    return len;
}

/* Splits http://HOST:PORT/PATH and resolves HOST into server_addr; exits 2 on failure. */
static void parse_url(const char *url, char *host_port, size_t host_port_size, char *path,
                      size_t path_size)
{
    if (strncmp(url, "http://", 7) != 0)
        usage();
    const char *authority = url + 7;
    const char *slash = strchr(authority, '/');
    size_t authority_len = slash ? (size_t)(slash - authority) : strlen(authority);
    if (authority_len == 0 || authority_len >= host_port_size)
        usage();
    memcpy(host_port, authority, authority_len);
    host_port[authority_len] = '\0';
    snprintf(path, path_size, "%s", slash ? slash : "/");

    char host[256];
    const char *port = "80";
    snprintf(host, sizeof host, "%s", host_port);
    char *colon = strrchr(host, ':');
    if (colon != NULL) {
        *colon = '\0';
        port = host_port + (colon - host) + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0) {
        fprintf(stderr, "bench_loadgen: cannot resolve %s: %s\n", host_port, gai_strerror(rc));
        exit(2);
    }
    memcpy(&server_addr, found->ai_addr, found->ai_addrlen);
    server_addr_len = found->ai_addrlen;
    freeaddrinfo(found);
}

/* A connected, non-blocking socket registered with epoll under tag; -1 on failure. */
static int open_connection(int epoll_fd, uint32_t tag)
{
    int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Blocking connect: on loopback it is immediate, and it happens only at start and after
     * the server closed a connection. */
    if (connect(fd, (struct sockaddr *)&server_addr, server_addr_len) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Closes c and opens a new connection in its place (fd -1 if that fails). A request in flight
 * is lost and counted as an error by the caller. */
static void reopen(struct conn *c, int epoll_fd, uint32_t tag)
{
    close(c->fd); /* also removes it from the epoll set */
    c->busy = false;
    c->want_out = false;
    c->in_len = 0;
    c->fd = open_connection(epoll_fd, tag);
}

/* Writes what is left of c's request; false on a connection error. */
static bool flush_out(struct conn *c, int epoll_fd, uint32_t tag)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
        if (n > 0) {
            c->out_sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = tag};
                epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = true;
            }
            return true;
        }
        return false;
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = false;
    }
    return true;
}

/* Looks for a complete response in c->in. Returns 1 when one is complete (*status set,
 * *must_close when the server asked to close), 0 when more bytes are needed, -1 when the
 * response cannot be read (no Content-Length, or too large). */
static int parse_response(struct conn *c, int *status, bool *must_close)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL)
        return c->in_len >= sizeof c->in ? -1 : 0;
    size_t header_len = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->in + 9);
    long content_length = -1;
    *must_close = strncmp(c->in, "HTTP/1.0", 8) == 0;
    for (char *line = memchr(c->in, '\n', header_len); line != NULL && line + 1 < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        char *name = line + 1;
        if (strncasecmp(name, "Content-Length:", 15) == 0)
            content_length = strtol(name + 15, NULL, 10);
        else if (strncasecmp(name, "Connection:", 11) == 0 &&
                 strncasecmp(name + 11 + strspn(name + 11, " "), "close", 5) == 0)
            *must_close = true;
        else if (strncasecmp(name, "Transfer-Encoding:", 18) == 0)
            return -1; /* trackd always sends Content-Length; chunked is not needed here */
    }
    if (content_length < 0 || header_len + (size_t)content_length > sizeof c->in)
        return -1;
    if (c->in_len < header_len + (size_t)content_length)
        return 0;
    if (c->in_len != header_len + (size_t)content_length)
        return -1; /* bytes beyond the answer to the one request in flight */
    return 1;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of sorted values; 0 when there are none. */
static double percentile(const double *sorted, long count, double p)
{
    if (count == 0)
        return 0;
    long rank = (long)ceil(p / 100.0 * (double)count);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

int main(int argc, char **argv)
{
    const char *url = NULL, *credentials = NULL, *template_path = NULL;
    double rate = 0, duration = 0;
    long connections = 64;
    int opt;
    while ((opt = getopt(argc, argv, "u:a:t:r:d:c:")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'a':
            credentials = optarg;
            break;
        case 't':
            template_path = optarg;
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'd':
            duration = parse_duration(optarg);
            break;
        case 'c':
            connections = strtol(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (url == NULL || credentials == NULL || template_path == NULL || rate <= 0 || duration <= 0 ||
        connections < 1 || connections > MAX_CONNECTIONS || strlen(credentials) > 512)
        usage();

    char host_port[300], path[1024];
    parse_url(url, host_port, sizeof host_port, path, sizeof path);
    struct template t;
    load_template(template_path, &t);
    char auth[700];
    base64(credentials, auth);

    /* Message ids: a random prefix per run, then the request number. */
    unsigned char random_bytes[8];
    if (getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes) {
        fprintf(stderr, "bench_loadgen: getrandom failed: %s\n", strerror(errno));
        return 1;
    }
    char prefix[17];
    for (int k = 0; k < 8; k++)
        sprintf(prefix + 2 * k, "%02x", random_bytes[k]);

    long total = (long)llround(rate * duration);
    struct stats stats = {.latency_ms = calloc((size_t)total + 1, sizeof(double))};
    char header[2048];
    size_t body_cap = t.max_body + 1;
    char *body = malloc(body_cap);
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    long *idle = malloc((size_t)connections * sizeof *idle); /* a stack of idle connections */
    long idle_count = 0;
    if (stats.latency_ms == NULL || body == NULL || conns == NULL || idle == NULL) {
        fprintf(stderr, "bench_loadgen: out of memory\n");
        return 1;
    }

    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event timer_ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &timer_ev);
    for (long k = connections - 1; k >= 0; k--) {
        conns[k].fd = open_connection(epoll_fd, (uint32_t)k);
        if (conns[k].fd < 0) {
            fprintf(stderr, "bench_loadgen: cannot connect to %s: %s\n", host_port,
                    strerror(errno));
            return 1;
        }
        conns[k].out = malloc(sizeof header + body_cap);
        idle[idle_count++] = k;
    }

    double start = monotonic_now() + 0.05;
    double deadline = start + duration + DRAIN_SECONDS;
    long next = 0; /* the next request to send */
    long in_flight = 0;
    struct epoll_event events[256];
    for (;;) {
        double now = monotonic_now();
        /* Send every due request while a connection is free. */
        while (next < total && idle_count > 0 && start + (double)next / rate <= now) {
            long k = idle[--idle_count];
            struct conn *c = &conns[k];
            if (c->fd < 0)
                continue; /* closed while idle and could not be reopened */
            size_t body_len = render(&t, next, prefix, body);
            int header_len =
                snprintf(header, sizeof header,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         path, host_port, auth, body_len);
            memcpy(c->out, header, (size_t)header_len);
            memcpy(c->out + header_len, body, body_len);
            c->out_len = (size_t)header_len + body_len;
            c->out_sent = 0;
            c->in_len = 0;
            c->busy = true;
            c->request = next++;
            in_flight++;
            if (!flush_out(c, epoll_fd, (uint32_t)k)) {
                stats.errors++;
                in_flight--;
                reopen(c, epoll_fd, (uint32_t)k);
                if (c->fd >= 0)
                    idle[idle_count++] = k;
            }
        }
        if ((next == total && in_flight == 0) || now >= deadline)
            break;
        /* Wake at the next due time when a connection is free to send it. */
        if (next < total && idle_count > 0) {
            double due = start + (double)next / rate;
            struct itimerspec when = {0};
            when.it_value.tv_sec = (time_t)due;
            when.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
            if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0)
                when.it_value.tv_nsec = 1;
            timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, NULL);
        }
        long live = 0;
        for (long k = 0; k < connections; k++)
            live += conns[k].fd >= 0;
        if (live == 0) {
            fprintf(stderr, "bench_loadgen: every connection to %s failed\n", host_port);
            return 1;
        }
        int n = epoll_wait(epoll_fd, events, 256, 100);
        if (n < 0 && errno != EINTR) {
            perror("bench_loadgen: epoll_wait");
            return 1;
        }
        for (int e = 0; e < n; e++) {
            uint32_t tag = events[e].data.u32;
            if (tag == TIMER_TAG) {
                uint64_t expirations;
                while (read(timer_fd, &expirations, sizeof expirations) > 0)
                    ;
                continue;
            }
            struct conn *c = &conns[tag];
            if (c->fd < 0)
                continue;
            bool was_busy = c->busy; /* an idle connection is already on the idle stack */
            bool failed = false;
            if (c->busy && (events[e].events & EPOLLOUT))
                failed = !flush_out(c, epoll_fd, tag);
            if (!failed && (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                for (;;) {
                    ssize_t got = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
                    if (got > 0) {
                        c->in_len += (size_t)got;
                        if (c->in_len == sizeof c->in)
                            break;
                        continue;
                    }
                    if (got < 0 && errno == EINTR)
                        continue;
                    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                    failed = true; /* closed by the server, or an error */
                    break;
                }
            }
            int status = 0;
            bool must_close = false;
            int parsed = c->busy ? parse_response(c, &status, &must_close) : 0;
            if (parsed == 1) {
                double answered = monotonic_now();
                double due = start + (double)c->request / rate;
                stats.latency_ms[stats.answered++] = (answered - due) * 1000.0;
                stats.last_answer = answered;
                if (status >= 200 && status < 300)
                    stats.ok++;
                else
                    stats.non2xx++;
                c->busy = false;
                c->in_len = 0;
                in_flight--;
                if (must_close)
                    failed = true;
            } else if (parsed < 0) {
                failed = true;
            }
            if (failed) {
                if (c->busy) {
                    stats.errors++;
                    in_flight--;
                }
                reopen(c, epoll_fd, tag);
            }
            if (was_busy && !c->busy && c->fd >= 0)
                idle[idle_count++] = (long)tag;
        }
    }

    double end = stats.last_answer > start + duration ? stats.last_answer : start + duration;
    double seconds = end - start;
    qsort(stats.latency_ms, (size_t)stats.answered, sizeof(double), compare_doubles);
    printf("LOADGEN offered=%.0f scheduled=%ld ok=%ld non2xx=%ld errors=%ld unsent=%ld "
           "seconds=%.3f rate=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
           rate, total, stats.ok, stats.non2xx, stats.errors + in_flight, total - next, seconds,
           (double)stats.ok / seconds, percentile(stats.latency_ms, stats.answered, 50),
           percentile(stats.latency_ms, stats.answered, 99),
           percentile(stats.latency_ms, stats.answered, 99.9),
           stats.answered ? stats.latency_ms[stats.answered - 1] : 0.0);
    return 0;
}
