#include "delivery/delivery_worker.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "delivery/apns.h"
#include "delivery/apns_token.h"
#include "delivery/fcm_auth.h"
#include "delivery/outbound_tls.h"
#include "delivery/push_payload.h"
#include "delivery/recheck.h"
#include "delivery/smtp.h"
#include "delivery/webhook.h"
#include "store/store_engine.h"

/* How long an idle worker waits before looking for due deliveries again. */
#define IDLE_POLL_MS 200
/* Bytes of an answer kept for last_error. */
#define RESPONSE_KEPT 1024

/* One send in flight. */
struct transfer {
    int64_t id;
    int64_t device_id;
    int attempts;
    bool push;                 /* FCM or APNs */
    bool apns;                 /* sent to APNs */
    bool resent;               /* APNs: sent again after ExpiredProviderToken */
    uint64_t token_generation; /* APNs: number of the provider token it carries */
    char device_token[APNS_DEVICE_TOKEN_MAX + 1]; /* APNs: for the resend */
    struct smtp_upload *email;                    /* an email: the message being uploaded */
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char response[RESPONSE_KEPT + 1];
    size_t response_len;
    char curl_error[CURL_ERROR_SIZE];
};

struct delivery_worker {
    struct delivery_options options; /* strings owned (copies) */
    pthread_t thread;
    pthread_mutex_t lock;
    bool stopping; /* guarded by lock */
    bool started;  /* the thread runs (and must be joined) */
    atomic_uint_fast64_t sent, retried, dead;
    /* Touched by the worker thread only: */
    struct store *store;
    struct fcm_auth *fcm;
    char fcm_error[256];      /* why push is not configured, when fcm is NULL */
    char *fcm_url;            /* resolved endpoint */
    struct apns *apns;        /* NULL: ios devices go through FCM (unless apns_wanted) */
    bool apns_wanted;         /* TRACKD_APNS_KEY_FILE is set */
    char apns_error[256];     /* why apns is NULL although wanted */
    struct outbound_tls *tls; /* TRACKD_CA_FILE, or NULL */
    CURLM *multi;
    unsigned inflight;
    unsigned seed;
    /* Sends that succeeded since the last flush: recorded together in one statement. */
    int64_t *sent_ids;
    int *sent_codes;
    size_t sent_count;
};

int64_t delivery_backoff_ms(unsigned attempt, unsigned base_s, unsigned cap_s, double jitter)
{
    double delay = (double)base_s * 1000.0;
    for (unsigned i = 1; i < attempt && delay < (double)cap_s * 1000.0; i++)
        delay *= 2;
    if (delay > (double)cap_s * 1000.0)
        delay = (double)cap_s * 1000.0;
    return (int64_t)(delay * jitter);
}

enum delivery_verdict delivery_classify(long status, const char *body, int is_push)
{
    if (status >= 200 && status < 300)
        return DELIVERY_SENT;
    if (is_push && (status == 404 || (body != NULL && strstr(body, "UNREGISTERED") != NULL)))
        return DELIVERY_GONE;
    if (status == 0 || status == 408 || status == 429 || status >= 500)
        return DELIVERY_RETRY;
    return DELIVERY_DEAD;
}

enum delivery_verdict delivery_classify_failure(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return DELIVERY_DEAD;
    default:
        return DELIVERY_RETRY;
    }
}

static bool is_running(struct delivery_worker *w)
{
    pthread_mutex_lock(&w->lock);
    bool running = !w->stopping;
    pthread_mutex_unlock(&w->lock);
    return running;
}

static size_t keep_response(char *data, size_t size, size_t n, void *cls)
{
    struct transfer *t = cls;
    size_t len = size * n;
    size_t room = RESPONSE_KEPT - t->response_len;
    size_t take = len < room ? len : room;
    memcpy(t->response + t->response_len, data, take);
    t->response_len += take;
    t->response[t->response_len] = '\0';
    return len;
}

static void transfer_free(struct transfer *t)
{
    if (t == NULL)
        return;
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    smtp_upload_free(t->email);
    free(t);
}

/* Records a failed attempt: retried with backoff while attempts remain, else dead. */
static void record_failure(struct delivery_worker *w, int64_t id, int attempts, long status,
                           const char *error, bool retryable)
{
    int64_t retry_ms = -1;
    char message[1100];
    if (retryable && (unsigned)attempts < w->options.max_attempts) {
        double jitter = 0.5 + 0.5 * ((double)rand_r(&w->seed) / ((double)RAND_MAX + 1.0));
        retry_ms = delivery_backoff_ms((unsigned)attempts, w->options.retry_base_s,
                                       w->options.retry_cap_s, jitter);
        snprintf(message, sizeof message, "%s", error);
        atomic_fetch_add(&w->retried, 1);
        metrics_count_delivery(METRICS_DELIVERY_RETRIED, 0);
    } else {
        snprintf(message, sizeof message, "%s%s",
                 retryable ? "gave up after the last attempt: " : "", error);
        atomic_fetch_add(&w->dead, 1);
        metrics_count_delivery(METRICS_DELIVERY_DEAD, 0);
    }
    if (store_delivery_failed(w->store, id, (int)status, message, retry_ms) < 0)
        LOG_WARN("delivery", "cannot record the outcome of delivery %lld: %s", (long long)id,
                 store_last_error(w->store));
}

/* Sets up the easy handle of a prepared request (url, method, t->headers, t->body), with the
 * extra CAs; false with `error` (retryable) when it cannot. */
static bool open_transfer(struct delivery_worker *w, struct transfer *t, const char *url,
                          const char *method, char *error, size_t error_size, bool *retryable)
{
    t->easy = curl_easy_init();
    if (t->easy == NULL || !outbound_tls_apply(w->tls, t->easy)) {
        snprintf(error, error_size, "cannot create an HTTP request");
        *retryable = true;
        return false;
    }
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, (long)w->options.connect_timeout_s);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, (long)w->options.request_timeout_s);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (t->apns) {
        /* APNs speaks HTTP/2 only. PIPEWAIT makes a push wait for the connection another one
         * is opening and share it, instead of opening one connection per push. */
        curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(t->easy, CURLOPT_PIPEWAIT, 1L);
    }
    return true;
}

/* A webhook: the rendered body to the rule's URL, with the delivery id as Idempotency-Key. A
 * request that webhook_prepare refuses is not retryable: it would be refused again. */
static bool prepare_webhook(struct delivery_worker *w, struct transfer *t, json_object *action,
                            char *error, size_t error_size, bool *retryable)
{
    struct webhook_request request;
    if (!webhook_prepare(action, t->id, &request, error, error_size, retryable))
        return false;
    /* libcurl copies the URL and method when they are set; the headers and body it only points
     * to, so the transfer takes them. */
    t->headers = request.headers;
    t->body = request.body;
    request.headers = NULL;
    request.body = NULL;
    bool ok = open_transfer(w, t, request.url, request.method, error, error_size, retryable);
    webhook_request_clear(&request);
    return ok;
}

/* A push through FCM HTTP v1 (Android devices, and iOS devices when APNs is not configured). */
static bool prepare_fcm(struct delivery_worker *w, struct transfer *t, json_object *action,
                        const struct store_delivery *d, char *error, size_t error_size,
                        bool *retryable)
{
    if (w->fcm == NULL) {
        snprintf(error, error_size, "%s", w->fcm_error);
        return false;
    }
    char auth_error[256], header[300];
    const char *token = fcm_auth_token(w->fcm, timeutil_now_us() / TIMEUTIL_US_PER_SEC, auth_error,
                                       sizeof auth_error);
    if (token == NULL) {
        snprintf(error, error_size, "FCM authentication failed: %s", auth_error);
        *retryable = true;
        return false;
    }
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    snprintf(header, sizeof header, "Authorization: Bearer %s", token);
    t->headers = curl_slist_append(t->headers, header);
    t->body = push_payload_fcm(action, d->public_id, d->platform);
    if (t->body == NULL) {
        snprintf(error, error_size, "out of memory");
        *retryable = true;
        return false;
    }
    return open_transfer(w, t, w->fcm_url, "POST", error, error_size, retryable);
}

/* A push to an iOS device through APNs. */
static bool prepare_apns(struct delivery_worker *w, struct transfer *t, json_object *action,
                         const struct store_delivery *d, char *error, size_t error_size,
                         bool *retryable)
{
    t->apns = true;
    json_object *token = NULL;
    json_object_object_get_ex(action, "token", &token);
    char url[512];
    if (!apns_prepare(w->apns, token ? json_object_get_string(token) : "",
                      timeutil_now_us() / TIMEUTIL_US_PER_SEC, url, sizeof url, &t->headers,
                      &t->token_generation, error, error_size, retryable))
        return false;
    snprintf(t->device_token, sizeof t->device_token, "%s", json_object_get_string(token));
    t->body = push_payload_apns(action, d->public_id);
    if (t->body == NULL) {
        snprintf(error, error_size, "out of memory");
        *retryable = true;
        return false;
    }
    return open_transfer(w, t, url, "POST", error, error_size, retryable);
}

/* An email through the mail server of TRACKD_SMTP_URL. */
static bool prepare_email(struct delivery_worker *w, struct transfer *t, json_object *action,
                          const struct store_delivery *d, char *error, size_t error_size,
                          bool *retryable)
{
    const struct delivery_options *o = &w->options;
    struct smtp_settings settings = {
        .url = o->smtp_url,
        .tls_required = o->smtp_tls != NULL && strcmp(o->smtp_tls, "required") == 0,
        .user = o->smtp_user,
        .password = o->smtp_password,
        .from = o->email_from,
        .public_url = o->public_url ? o->public_url : "",
    };
    t->easy = curl_easy_init();
    if (t->easy == NULL || !outbound_tls_apply(w->tls, t->easy)) {
        snprintf(error, error_size, "cannot create an SMTP request");
        *retryable = true;
        return false;
    }
    t->email = smtp_prepare(t->easy, &settings, action, d->id, d->public_id, d->unsubscribe_token,
                            timeutil_now_us() / TIMEUTIL_US_PER_SEC, error, error_size, retryable);
    if (t->email == NULL)
        return false;
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, (long)o->request_timeout_s);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    return true;
}

/* Starts one claimed delivery (called while claiming). */
static void start_delivery(void *cls, const struct store_delivery *d)
{
    struct delivery_worker *w = cls;
    json_object *action = json_tokener_parse(d->action);
    json_object *type_value = NULL;
    const char *type = action && json_object_object_get_ex(action, "type", &type_value)
                           ? json_object_get_string(type_value)
                           : "";
    /* A rule that asked for it is checked again now that the delivery falls due: on its first
     * attempt only (a retry goes out as decided, or a webhook half received would be skipped). */
    json_object *recheck = NULL;
    if (d->attempts == 1 && action && json_object_object_get_ex(action, "recheck", &recheck) &&
        json_object_get_boolean(recheck)) {
        char why[512];
        enum recheck_verdict verdict = delivery_recheck(w->store, d->id, why, sizeof why);
        if (verdict != RECHECK_HOLDS) {
            if (verdict == RECHECK_SKIPPED)
                metrics_count_delivery(METRICS_DELIVERY_SKIPPED, 0);
            else
                record_failure(w, d->id, d->attempts, 0, why, true);
            json_object_put(action);
            return;
        }
    }
    if (strcmp(type, "set_attributes") == 0) {
        if (store_delivery_apply_attributes(w->store, d->id) < 0)
            LOG_WARN("delivery", "set_attributes %lld: %s", (long long)d->id,
                     store_last_error(w->store));
        else {
            atomic_fetch_add(&w->sent, 1);
            metrics_count_delivery(METRICS_DELIVERY_SENT, 0);
        }
        json_object_put(action);
        return;
    }
    struct transfer *t = calloc(1, sizeof *t);
    char error[512] = "";
    bool retryable = false, ok = false;
    if (t == NULL) {
        snprintf(error, sizeof error, "out of memory");
        retryable = true;
    } else {
        t->id = d->id;
        t->device_id = d->device_id;
        t->attempts = d->attempts;
        t->push = strcmp(type, "push") == 0;
        if (strcmp(type, "webhook") == 0)
            ok = prepare_webhook(w, t, action, error, sizeof error, &retryable);
        else if (strcmp(type, "email") == 0)
            ok = prepare_email(w, t, action, d, error, sizeof error, &retryable);
        else if (t->push && w->apns_wanted && strcmp(d->platform, "ios") == 0 && w->apns == NULL)
            snprintf(error, sizeof error, "APNs is not usable: %s", w->apns_error);
        else if (t->push && w->apns != NULL && strcmp(d->platform, "ios") == 0)
            ok = prepare_apns(w, t, action, d, error, sizeof error, &retryable);
        else if (t->push)
            ok = prepare_fcm(w, t, action, d, error, sizeof error, &retryable);
        else
            snprintf(error, sizeof error, "unknown action type '%s'", type);
    }
    json_object_put(action);
    if (!ok) {
        record_failure(w, d->id, d->attempts, 0, error, retryable);
        transfer_free(t);
        return;
    }
    curl_multi_add_handle(w->multi, t->easy);
    w->inflight++;
}

/* Apple refused the provider token as expired (a clock ahead of Apple's, or a token kept too
 * long): sends the push again at once with a new token, once. false when it cannot, and the
 * answer stands. */
static bool resend_with_new_token(struct delivery_worker *w, struct transfer *t)
{
    apns_token_expired(w->apns, t->token_generation);
    curl_multi_remove_handle(w->multi, t->easy);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    char url[512], error[256];
    bool retryable;
    t->resent = true;
    /* The token is the one the action carried; prepare_apns checked it already. */
    if (!apns_prepare(w->apns, t->device_token, timeutil_now_us() / TIMEUTIL_US_PER_SEC, url,
                      sizeof url, &t->headers, &t->token_generation, error, sizeof error,
                      &retryable)) {
        LOG_WARN("delivery", "cannot resend delivery %lld to APNs: %s", (long long)t->id, error);
        return false;
    }
    t->response_len = 0;
    t->response[0] = '\0';
    t->curl_error[0] = '\0';
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    return curl_multi_add_handle(w->multi, t->easy) == CURLM_OK;
}

/* Records the outcome of a finished transfer and frees it (or sends it again, see above). */
static void finish_transfer(struct delivery_worker *w, struct transfer *t, CURLcode result)
{
    long status = 0;
    curl_off_t took_us = 0;
    /* A mail server's reply code is known even when the exchange failed (a refused RCPT). */
    if (result == CURLE_OK || t->email != NULL)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &took_us);
    char reason[128] = "";
    enum delivery_verdict verdict = t->apns
                                        ? apns_classify(status, t->response, reason, sizeof reason)
                                        : delivery_classify(status, t->response, t->push);
    if (result != CURLE_OK)
        verdict = delivery_classify_failure((int)result);
    if (t->apns && !t->resent && status == 403 && strcmp(reason, "ExpiredProviderToken") == 0 &&
        resend_with_new_token(w, t))
        return;
    char error[RESPONSE_KEPT + 128];
    if (result != CURLE_OK)
        snprintf(error, sizeof error, "%s: %s",
                 verdict == DELIVERY_DEAD ? "the request cannot be sent" : "network error",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
    else if (t->apns && reason[0] != '\0')
        snprintf(error, sizeof error, "APNs answered HTTP %ld: %s", status, reason);
    else
        snprintf(error, sizeof error, "HTTP %ld: %s", status, t->response);
    if (t->email != NULL)
        verdict = smtp_classify(result, status, t->email, t->curl_error, error, sizeof error);
    switch (verdict) {
    case DELIVERY_SENT:
        metrics_count_delivery(METRICS_DELIVERY_SENT, (int64_t)took_us);
        w->sent_ids[w->sent_count] = t->id;
        w->sent_codes[w->sent_count] = (int)status;
        w->sent_count++;
        break;
    case DELIVERY_GONE:
        if (t->device_id != 0)
            store_delete_device(w->store, t->device_id);
        snprintf(error, sizeof error, "the device is unregistered (removed)%s%s",
                 reason[0] ? ": " : "", reason);
        record_failure(w, t->id, t->attempts, status, error, false);
        break;
    case DELIVERY_RETRY:
        record_failure(w, t->id, t->attempts, status, error, true);
        break;
    case DELIVERY_DEAD:
        record_failure(w, t->id, t->attempts, status, error, false);
        break;
    }
    curl_multi_remove_handle(w->multi, t->easy);
    w->inflight--;
    transfer_free(t);
}

/* Records the sends that succeeded since the last flush. If that fails (database down) they
 * stay leased: when the lease runs out they are sent again, with the same delivery id. */
static void flush_sent(struct delivery_worker *w)
{
    if (w->sent_count == 0)
        return;
    if (store_deliveries_sent(w->store, w->sent_ids, w->sent_codes, w->sent_count) < 0)
        LOG_WARN("delivery", "cannot record %zu sent deliveries: %s", w->sent_count,
                 store_last_error(w->store));
    else
        atomic_fetch_add(&w->sent, w->sent_count);
    w->sent_count = 0;
}

/* Makes sure the worker has a connection; false (after a pause) when the database is down. */
static bool connected(struct delivery_worker *w)
{
    if (w->store != NULL && store_is_connected(w->store))
        return true;
    char error[256] = "";
    if (w->store == NULL)
        w->store = store_connect(w->options.database_url, error, sizeof error);
    else if (!store_reconnect(w->store))
        snprintf(error, sizeof error, "%s", store_last_error(w->store));
    if (w->store != NULL && store_is_connected(w->store))
        return true;
    LOG_WARN("delivery", "cannot reach the database: %s", error);
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
    return false;
}

static void *worker_main(void *arg)
{
    struct delivery_worker *w = arg;
    /* A lease outlives the longest send, so a live worker never loses its claims. */
    unsigned lease_s = w->options.request_timeout_s * 2 + 5;
    int64_t next_claim = 0;
    bool running = true;
    while (running || w->inflight > 0) {
        running = is_running(w);
        int64_t now = timeutil_monotonic_us();
        /* Claims come in chunks (when at most half the slots are busy): each claim is a query,
         * and claiming one delivery per finished send would spend more on queries than sends. */
        bool room = w->inflight <= w->options.concurrency / 2;
        if (running && room && now >= next_claim && connected(w)) {
            enum store_status claimed =
                store_claim_deliveries(w->store, w->options.concurrency - w->inflight, lease_s,
                                       w->options.default_timezone, start_delivery, w);
            if (claimed < 0)
                LOG_WARN("delivery", "%s", store_last_error(w->store));
            /* Nothing due: look again after a pause. Something due: right away. */
            next_claim = claimed <= 0 ? now + IDLE_POLL_MS * 1000 : now;
        }
        int still = 0;
        curl_multi_perform(w->multi, &still);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct transfer *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            finish_transfer(w, t, msg->data.result);
        }
        flush_sent(w);
        /* Wait for network activity, or until the next claim is due. */
        int64_t until_claim = (next_claim - timeutil_monotonic_us()) / 1000;
        int wait_ms = w->inflight > 0 ? 50 : (int)(until_claim > 0 ? until_claim : 0);
        if (wait_ms > 0)
            curl_multi_poll(w->multi, NULL, 0, wait_ms, NULL);
    }
    return NULL;
}

static char *copy(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Settings left empty count as unset. */
static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

struct delivery_worker *delivery_start(const struct delivery_options *options)
{
    struct delivery_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->options = *options;
    w->options.database_url = copy(options->database_url);
    w->options.fcm_url = copy(options->fcm_url);
    w->options.fcm_token = copy(options->fcm_token);
    w->options.fcm_credentials = copy(options->fcm_credentials);
    w->options.smtp_url = copy(options->smtp_url);
    w->options.smtp_tls = copy(options->smtp_tls);
    w->options.smtp_user = copy(options->smtp_user);
    w->options.smtp_password = copy(options->smtp_password);
    w->options.email_from = copy(options->email_from);
    w->options.public_url = copy(options->public_url);
    w->seed = (unsigned)timeutil_now_us();
    pthread_mutex_init(&w->lock, NULL);
    atomic_init(&w->sent, 0);
    atomic_init(&w->retried, 0);
    atomic_init(&w->dead, 0);
    w->fcm = fcm_auth_new(options->fcm_token, options->fcm_credentials, w->fcm_error,
                          sizeof w->fcm_error);
    if (w->fcm != NULL) {
        const char *project = fcm_auth_project_id(w->fcm);
        char url[512];
        if (options->fcm_url != NULL)
            snprintf(url, sizeof url, "%s", options->fcm_url);
        else if (project != NULL)
            snprintf(url, sizeof url, "https://fcm.googleapis.com/v1/projects/%s/messages:send",
                     project);
        else
            url[0] = '\0';
        if (url[0] == '\0') {
            snprintf(w->fcm_error, sizeof w->fcm_error,
                     "push is not configured: TRACKD_FCM_URL is required with TRACKD_FCM_TOKEN");
            fcm_auth_free(w->fcm);
            w->fcm = NULL;
        } else {
            w->fcm_url = strdup(url);
        }
    }
    char why[256];
    bool tls_loaded = outbound_tls_load(options->ca_file, &w->tls, why, sizeof why);
    if (!tls_loaded)
        LOG_ERROR("delivery", "TRACKD_CA_FILE=%s: %s", options->ca_file, why);
    if (w->fcm != NULL)
        fcm_auth_use_tls(w->fcm, w->tls);
    w->apns_wanted = is_set(options->apns_key_file);
    if (w->apns_wanted && (w->apns = apns_new(options, why, sizeof why)) == NULL) {
        snprintf(w->apns_error, sizeof w->apns_error, "TRACKD_APNS_KEY_FILE=%s: %s",
                 options->apns_key_file, why);
        LOG_ERROR("delivery", "%s", w->apns_error);
    }
    /* What the worker needs of these settings is loaded now: it keeps no pointer to them. */
    w->options.apns_key_file = w->options.apns_key_id = w->options.apns_team_id = NULL;
    w->options.apns_topic = w->options.apns_url = w->options.ca_file = NULL;
    w->sent_ids = calloc(options->concurrency, sizeof *w->sent_ids);
    w->sent_codes = calloc(options->concurrency, sizeof *w->sent_codes);
    w->multi = curl_multi_init();
    /* Pushes to one host (APNs, FCM) share HTTP/2 connections, many streams on each. */
    if (w->multi != NULL)
        curl_multi_setopt(w->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    w->started = tls_loaded && w->sent_ids != NULL && w->sent_codes != NULL && w->multi != NULL &&
                 pthread_create(&w->thread, NULL, worker_main, w) == 0;
    if (!w->started) {
        LOG_ERROR("delivery", "cannot start a delivery worker");
        delivery_stop(w);
        return NULL;
    }
    return w;
}

struct delivery_stats delivery_stats(struct delivery_worker *w)
{
    return (struct delivery_stats){atomic_load(&w->sent), atomic_load(&w->retried),
                                   atomic_load(&w->dead)};
}

void delivery_stop(struct delivery_worker *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_mutex_unlock(&w->lock);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }
    if (w->multi != NULL)
        curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->lock);
    free(w->sent_ids);
    free(w->sent_codes);
    store_close(w->store);
    fcm_auth_free(w->fcm);
    free(w->fcm_url);
    apns_free(w->apns);
    outbound_tls_free(w->tls);
    free((char *)w->options.database_url);
    free((char *)w->options.fcm_url);
    free((char *)w->options.fcm_token);
    free((char *)w->options.fcm_credentials);
    free((char *)w->options.smtp_url);
    free((char *)w->options.smtp_tls);
    free((char *)w->options.smtp_user);
    free((char *)w->options.smtp_password);
    free((char *)w->options.email_from);
    free((char *)w->options.public_url);
    free(w);
}

/* A header value that cannot break the request: visible ASCII, no spaces. */
static bool is_header_word(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* The shape of an IANA time zone name ("UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5");
 * whether PostgreSQL knows it is its own business (trackd_window_opening falls back to UTC). */
static bool timezone_name_plausible(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 64 || name[0] == '/' || name[len - 1] == '/' || strstr(name, "//"))
        return false;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/+-") ==
           len;
}

bool delivery_check_options(const struct delivery_options *options, FILE *errors)
{
    bool valid = true;
    char why[256];
    if (is_set(options->apns_key_file)) {
        const struct {
            const char *name;
            const char *value;
        } required[] = {{"TRACKD_APNS_KEY_ID", options->apns_key_id},
                        {"TRACKD_APNS_TEAM_ID", options->apns_team_id},
                        {"TRACKD_APNS_TOPIC", options->apns_topic}};
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
            if (!is_set(required[i].value)) {
                fprintf(errors, "trackd: %s is required with TRACKD_APNS_KEY_FILE\n",
                        required[i].name);
                valid = false;
            } else if (!is_header_word(required[i].value)) {
                fprintf(errors, "trackd: %s may hold only visible ASCII characters (no spaces)\n",
                        required[i].name);
                valid = false;
            }
        }
        if (!apns_token_check_key(options->apns_key_file, why, sizeof why)) {
            fprintf(errors, "trackd: TRACKD_APNS_KEY_FILE=%s: %s\n", options->apns_key_file, why);
            valid = false;
        }
    }
    if (is_set(options->apns_url) && strncmp(options->apns_url, "https://", 8) != 0) {
        fprintf(errors, "trackd: TRACKD_APNS_URL must start with https://\n");
        valid = false;
    }
    if (options->default_timezone != NULL && !timezone_name_plausible(options->default_timezone)) {
        fprintf(errors,
                "trackd: TRACKD_DEFAULT_TIMEZONE must be an IANA time zone name such as UTC or "
                "Europe/Paris\n");
        valid = false;
    }
    if (options->smtp_tls != NULL && strcmp(options->smtp_tls, "opportunistic") != 0 &&
        strcmp(options->smtp_tls, "required") != 0) {
        fprintf(errors, "trackd: TRACKD_SMTP_TLS must be opportunistic or required\n");
        valid = false;
    }
    struct smtp_settings email = {
        .url = options->smtp_url, .from = options->email_from, .public_url = options->public_url};
    if (!smtp_check_settings(&email, errors))
        valid = false;
    struct outbound_tls *tls = NULL;
    if (!outbound_tls_load(options->ca_file, &tls, why, sizeof why)) {
        fprintf(errors, "trackd: TRACKD_CA_FILE=%s: %s\n", options->ca_file, why);
        valid = false;
    }
    outbound_tls_free(tls);
    return valid;
}
