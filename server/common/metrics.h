/*
 * Process-wide counters and histograms for GET /metrics (Prometheus text format). Every update is
 * one atomic operation, so any thread may count without locks. Labels are bounded by
 * construction (route patterns, status codes, outcomes): never a person, key or raw path.
 */
#ifndef TRACKD_COMMON_METRICS_H
#define TRACKD_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Routes are counted by their index in the route table; the HTTP layer names them. */
#define METRICS_MAX_ROUTES 48

/* Outcomes of deliveries. */
enum metrics_delivery_outcome {
    METRICS_DELIVERY_SENT,
    METRICS_DELIVERY_RETRIED,
    METRICS_DELIVERY_DEAD,
    METRICS_DELIVERY_SKIPPED,
    METRICS_DELIVERY_OUTCOMES_
};

/* One HTTP request answered: `route` is its index (METRICS_MAX_ROUTES - 1 for none). */
void metrics_count_request(unsigned route, unsigned status, int64_t duration_us);

/* Calls accepted (committed or duplicates) and refused (4xx items). */
void metrics_count_calls(uint64_t accepted, uint64_t refused);

/* One write group committed: how many commands, and how long the transaction took. */
void metrics_count_write(uint64_t commands, int64_t duration_us);

/* Anonymous ids that could not be linked (they belong to someone else). */
void metrics_count_link_refusal(void);

/* Events evaluated and rules fired. */
void metrics_count_evaluations(uint64_t events, uint64_t firings);

/* A delivery attempt's outcome and how long the send took (0 when nothing was sent). */
void metrics_count_delivery(enum metrics_delivery_outcome outcome, int64_t duration_us);

/* Gauges sampled when the page is rendered. */
struct metrics_gauges {
    uint64_t queue_depth;
    int database_up;
    uint64_t suspended_requests;
};

/*
 * Renders every metric. `route_name(i)` names route i (NULL: unused index). Returns a new string
 * the caller frees, or NULL when out of memory.
 */
char *metrics_render(const char *(*route_name)(unsigned index), const struct metrics_gauges *g);

#endif
