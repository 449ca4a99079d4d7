#include "common/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Status codes counted one by one; anything else counts as "other". */
static const unsigned statuses[] = {200, 204, 207, 400, 401, 404, 405, 413, 415, 500, 503};
#define STATUS_SLOTS (sizeof statuses / sizeof statuses[0] + 1)

/* Histogram bucket bounds, in microseconds (seconds on the page). */
static const int64_t latency_bounds_us[] = {500,   1000,   2500,   5000,   10000,   25000,
                                            50000, 100000, 250000, 500000, 1000000, 5000000};
#define LATENCY_BUCKETS (sizeof latency_bounds_us / sizeof latency_bounds_us[0])
static const uint64_t size_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
#define SIZE_BUCKETS (sizeof size_bounds / sizeof size_bounds[0])

struct histogram {
    atomic_uint_fast64_t buckets[16]; /* cumulative on render, not here */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum; /* microseconds, or units */
};

static atomic_uint_fast64_t requests[METRICS_MAX_ROUTES][STATUS_SLOTS];
static atomic_uint_fast64_t calls_accepted, calls_refused, link_refusals;
static atomic_uint_fast64_t evaluations, firings;
static atomic_uint_fast64_t deliveries[METRICS_DELIVERY_OUTCOMES_];
static struct histogram request_latency, commit_latency, batch_size, delivery_latency;

static void observe(struct histogram *h, const int64_t *bounds_us, const uint64_t *bounds, size_t n,
                    uint64_t value)
{
    size_t i = 0;
    while (i < n && value > (bounds_us ? (uint64_t)bounds_us[i] : bounds[i]))
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum, value);
}

static size_t status_slot(unsigned status)
{
    for (size_t i = 0; i < STATUS_SLOTS - 1; i++)
        if (statuses[i] == status)
            return i;
    return STATUS_SLOTS - 1;
}

void metrics_count_request(unsigned route, unsigned status, int64_t duration_us)
{
    if (route >= METRICS_MAX_ROUTES)
        route = METRICS_MAX_ROUTES - 1;
    atomic_fetch_add(&requests[route][status_slot(status)], 1);
    observe(&request_latency, latency_bounds_us, NULL, LATENCY_BUCKETS,
            (uint64_t)(duration_us > 0 ? duration_us : 0));
}

void metrics_count_calls(uint64_t accepted, uint64_t refused)
{
    atomic_fetch_add(&calls_accepted, accepted);
    atomic_fetch_add(&calls_refused, refused);
}

void metrics_count_write(uint64_t commands, int64_t duration_us)
{
    observe(&batch_size, NULL, size_bounds, SIZE_BUCKETS, commands);
    observe(&commit_latency, latency_bounds_us, NULL, LATENCY_BUCKETS,
            (uint64_t)(duration_us > 0 ? duration_us : 0));
}

void metrics_count_link_refusal(void)
{
    atomic_fetch_add(&link_refusals, 1);
}

void metrics_count_evaluations(uint64_t events, uint64_t fired)
{
    atomic_fetch_add(&evaluations, events);
    atomic_fetch_add(&firings, fired);
}

void metrics_count_delivery(enum metrics_delivery_outcome outcome, int64_t duration_us)
{
    if ((unsigned)outcome >= METRICS_DELIVERY_OUTCOMES_)
        return;
    atomic_fetch_add(&deliveries[outcome], 1);
    if (duration_us > 0)
        observe(&delivery_latency, latency_bounds_us, NULL, LATENCY_BUCKETS, (uint64_t)duration_us);
}

/* A growing text buffer for the page. */
struct page {
    char *text;
    size_t len, cap;
    int failed;
};

static void add(struct page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct page *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->text + p->len, p->cap - p->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            p->failed = 1;
            return;
        }
        if ((size_t)n < p->cap - p->len) {
            p->len += (size_t)n;
            return;
        }
        size_t cap = p->cap * 2 + (size_t)n;
        char *grown = realloc(p->text, cap);
        if (grown == NULL) {
            p->failed = 1;
            return;
        }
        p->text = grown;
        p->cap = cap;
    }
}

static void render_histogram(struct page *p, const char *name, const char *help,
                             struct histogram *h, const int64_t *bounds_us, const uint64_t *bounds,
                             size_t n)
{
    add(p, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += atomic_load(&h->buckets[i]);
        if (bounds_us)
            add(p, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds_us[i] / 1e6,
                (unsigned long long)cumulative);
        else
            add(p, "%s_bucket{le=\"%llu\"} %llu\n", name, (unsigned long long)bounds[i],
                (unsigned long long)cumulative);
    }
    cumulative += atomic_load(&h->buckets[n]);
    add(p, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    if (bounds_us)
        add(p, "%s_sum %g\n", name, (double)atomic_load(&h->sum) / 1e6);
    else
        add(p, "%s_sum %llu\n", name, (unsigned long long)atomic_load(&h->sum));
    add(p, "%s_count %llu\n", name, (unsigned long long)atomic_load(&h->count));
}

static void counter(struct page *p, const char *name, const char *help, uint64_t value)
{
    add(p, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)value);
}

static void gauge(struct page *p, const char *name, const char *help, uint64_t value)
{
    add(p, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
        (unsigned long long)value);
}

char *metrics_render(const char *(*route_name)(unsigned index), const struct metrics_gauges *g)
{
    struct page p = {malloc(8192), 0, 8192, 0};
    if (p.text == NULL)
        return NULL;
    add(&p, "# HELP trackd_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE trackd_http_requests_total counter\n");
    for (unsigned r = 0; r < METRICS_MAX_ROUTES; r++) {
        const char *name = r == METRICS_MAX_ROUTES - 1 ? "unmatched" : route_name(r);
        if (name == NULL)
            continue;
        for (size_t s = 0; s < STATUS_SLOTS; s++) {
            uint64_t n = atomic_load(&requests[r][s]);
            if (n == 0)
                continue;
            if (s == STATUS_SLOTS - 1)
                add(&p, "trackd_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", name,
                    (unsigned long long)n);
            else
                add(&p, "trackd_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n", name,
                    statuses[s], (unsigned long long)n);
        }
    }
    render_histogram(&p, "trackd_http_request_duration_seconds", "Time to answer a request.",
                     &request_latency, latency_bounds_us, NULL, LATENCY_BUCKETS);
    counter(&p, "trackd_calls_accepted_total", "Calls committed (or recognised as duplicates).",
            atomic_load(&calls_accepted));
    counter(&p, "trackd_calls_rejected_total",
            "Calls refused with a 4xx (recorded in "
            "rejected_requests).",
            atomic_load(&calls_refused));
    counter(&p, "trackd_anonymous_link_refusals_total",
            "Anonymous ids not linked because they belong to another person.",
            atomic_load(&link_refusals));
    render_histogram(&p, "trackd_write_batch_size", "Calls committed per write transaction.",
                     &batch_size, NULL, size_bounds, SIZE_BUCKETS);
    render_histogram(&p, "trackd_write_commit_seconds", "Time to write and commit a group.",
                     &commit_latency, latency_bounds_us, NULL, LATENCY_BUCKETS);
    gauge(&p, "trackd_write_queue_depth", "Requests admitted and not yet committed.",
          g->queue_depth);
    gauge(&p, "trackd_requests_waiting_for_database",
          "Connections suspended until their "
          "write commits.",
          g->suspended_requests);
    gauge(&p, "trackd_database_up", "1 while the writers' connection to PostgreSQL is up.",
          (uint64_t)(g->database_up ? 1 : 0));
    counter(&p, "trackd_rule_evaluations_total", "Events evaluated against their rules.",
            atomic_load(&evaluations));
    counter(&p, "trackd_rule_firings_total", "Rules that fired (firings recorded).",
            atomic_load(&firings));
    static const char *const outcomes[] = {"sent", "retried", "dead", "skipped"};
    add(&p, "# HELP trackd_deliveries_total Delivery attempts by outcome.\n"
            "# TYPE trackd_deliveries_total counter\n");
    for (unsigned i = 0; i < METRICS_DELIVERY_OUTCOMES_; i++)
        add(&p, "trackd_deliveries_total{outcome=\"%s\"} %llu\n", outcomes[i],
            (unsigned long long)atomic_load(&deliveries[i]));
    render_histogram(&p, "trackd_delivery_duration_seconds", "Time a webhook or push took.",
                     &delivery_latency, latency_bounds_us, NULL, LATENCY_BUCKETS);
    if (p.failed) {
        free(p.text);
        return NULL;
    }
    return p.text;
}
