#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>

#include "delivery/delivery_worker.h"
#include "engine/evaluator.h"
#include "engine/journey_runner.h"
#include "http/http_server.h"
#include "ingest/ingest_queue.h"
#include "ingest/rejection_limit.h"
#include "ingest/retention.h"

/* The most delivery threads a process runs (TRACKD_DELIVERY_WORKERS is bounded by it). */
#define MAX_DELIVERY_WORKERS 64

struct app {
    struct ingest_queue *ingest;        /* NULL without HTTP */
    struct http_server *http;           /* NULL without HTTP */
    struct retention *retention;        /* NULL when disabled */
    struct rejection_limit *rejections; /* NULL without HTTP */
    struct evaluator *evaluator;        /* NULL without workers */
    struct journey_runner *journeys;    /* NULL without workers */
    struct delivery_worker *deliveries[MAX_DELIVERY_WORKERS];
    unsigned delivery_count;
};

/* The delivery threads' settings, from the loaded config. */
static struct delivery_options delivery_options_of(const struct config *cfg)
{
    return (struct delivery_options){
        .database_url = cfg->database_url,
        .fcm_url = cfg->fcm_url,
        .fcm_token = cfg->fcm_token,
        .fcm_credentials = cfg->fcm_credentials,
        .apns_key_file = cfg->apns_key_file,
        .apns_key_id = cfg->apns_key_id,
        .apns_team_id = cfg->apns_team_id,
        .apns_topic = cfg->apns_topic,
        .apns_url = cfg->apns_url,
        .ca_file = cfg->ca_file,
        .default_timezone = cfg->default_timezone,
        .smtp_url = cfg->smtp_url,
        .smtp_tls = cfg->smtp_tls,
        .smtp_user = cfg->smtp_user,
        .smtp_password = cfg->smtp_password,
        .email_from = cfg->email_from,
        .public_url = cfg->public_url,
        .concurrency = cfg->delivery_concurrency,
        .max_attempts = cfg->delivery_attempts,
        .retry_base_s = cfg->retry_base,
        .retry_cap_s = cfg->retry_cap,
        .connect_timeout_s = cfg->delivery_timeout < 5 ? cfg->delivery_timeout : 5,
        .request_timeout_s = cfg->delivery_timeout,
    };
}

/* The HTTP front's settings, from the loaded config. */
static struct http_options http_options_of(const struct config *cfg)
{
    return (struct http_options){
        .listen_host = cfg->listen_host,
        .listen_port = cfg->listen_port,
        .threads = cfg->http_threads,
        .max_connections = cfg->max_connections,
        .conns_per_address = cfg->conns_per_address,
        .uploads_per_address = cfg->uploads_per_address,
        .connection_timeout = cfg->connection_timeout,
        .read_timeout = cfg->read_timeout,
        .receive_max_bytes = cfg->receive_max_bytes,
        .database_url = cfg->database_url,
        /* Past the write timeout every waiting request has been answered 503. */
        .drain_timeout = cfg->write_timeout + 5,
        .public_url = cfg->public_url,
        .cors_origins = cfg->cors_origins,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
    };
}

bool app_check_settings(const struct config *cfg, struct app_parts parts, FILE *errors)
{
    bool valid = true;
    if (parts.http) {
        struct http_options http = http_options_of(cfg);
        valid = http_check_options(&http, errors) && valid;
    }
    if (parts.workers) {
        struct delivery_options delivery = delivery_options_of(cfg);
        valid = delivery_check_options(&delivery, errors) && valid;
    }
    return valid;
}

/* Starts the evaluator and the delivery threads. */
static bool start_workers(struct app *app, const struct config *cfg, char *error, size_t error_size)
{
    app->evaluator = evaluator_start(cfg->database_url, cfg->default_timezone);
    if (app->evaluator == NULL) {
        snprintf(error, error_size, "cannot start the rule evaluator");
        return false;
    }
    app->journeys = journey_runner_start(cfg->database_url, cfg->default_timezone);
    if (app->journeys == NULL) {
        snprintf(error, error_size, "cannot start the journey runner");
        return false;
    }
    struct delivery_options options = delivery_options_of(cfg);
    for (unsigned i = 0; i < cfg->delivery_workers && i < MAX_DELIVERY_WORKERS; i++) {
        app->deliveries[i] = delivery_start(&options);
        if (app->deliveries[i] == NULL) {
            snprintf(error, error_size, "cannot start a delivery worker");
            return false;
        }
        app->delivery_count++;
    }
    return true;
}

struct app *app_start(const struct config *cfg, struct app_parts parts, char *error,
                      size_t error_size)
{
    struct app *app = calloc(1, sizeof *app);
    if (app == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (parts.workers && !start_workers(app, cfg, error, error_size))
        goto failed;
    if (!parts.http)
        return app;
    app->rejections = rejection_limit_new(cfg->rejections_per_minute);
    if (app->rejections == NULL) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    struct ingest_options ingest = {
        .rejections = app->rejections,
        .database_url = cfg->database_url,
        .max_requests = cfg->queue_max_requests,
        .max_bytes = cfg->queue_max_bytes,
        .batch_max_commands = cfg->write_batch_max,
        .writers = cfg->writers,
        .write_timeout_s = cfg->write_timeout,
    };
    app->ingest = ingest_start(&ingest, error, error_size);
    if (app->ingest == NULL)
        goto failed;
    struct http_options http = http_options_of(cfg);
    app->http = http_server_start(&http, app->ingest, error, error_size);
    if (app->http == NULL)
        goto failed;
    /* Without purges it still writes the counts of refused calls, once a minute. */
    struct retention_options retention = {
        .database_url = cfg->database_url,
        .purge_interval_s = cfg->purge_interval,
        .event_retention_days = cfg->event_retention_days,
        .rejection_retention_days = cfg->rejection_retention_days,
        .rejections = app->rejections,
    };
    app->retention = retention_start(&retention);
    return app;
failed:
    app_stop(app);
    return NULL;
}

unsigned app_port(const struct app *app)
{
    return app->http ? http_server_port(app->http) : 0;
}

void app_stop(struct app *app)
{
    if (app == NULL)
        return;
    http_server_stop(app->http);
    ingest_stop(app->ingest);
    /* After the writers: its last round writes the counts of the calls refused until the end. */
    retention_stop(app->retention);
    rejection_limit_free(app->rejections);
    evaluator_stop(app->evaluator);
    journey_runner_stop(app->journeys);
    for (unsigned i = 0; i < app->delivery_count; i++)
        delivery_stop(app->deliveries[i]);
    free(app);
}
