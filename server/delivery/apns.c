#include "delivery/apns.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/apns_token.h"

struct apns {
    struct apns_token *token;
    char *base_url; /* without a trailing '/' */
    char *topic;
};

struct apns *apns_new(const struct delivery_options *options, char *why, size_t why_size)
{
    struct apns *apns = calloc(1, sizeof *apns);
    if (apns == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    const char *url = options->apns_url ? options->apns_url : "https://api.push.apple.com";
    size_t url_len = strlen(url);
    while (url_len > 0 && url[url_len - 1] == '/')
        url_len--;
    apns->base_url = strndup(url, url_len);
    apns->topic = strdup(options->apns_topic ? options->apns_topic : "");
    apns->token = apns_token_new(options->apns_key_file, options->apns_key_id,
                                 options->apns_team_id, why, why_size);
    if (apns->token == NULL || apns->base_url == NULL || apns->topic == NULL) {
        if (apns->token != NULL)
            snprintf(why, why_size, "out of memory");
        apns_free(apns);
        return NULL;
    }
    return apns;
}

bool apns_device_token_ok(const char *token)
{
    size_t len = strlen(token);
    return len > 0 && len <= APNS_DEVICE_TOKEN_MAX &&
           strspn(token, "0123456789abcdefABCDEF"
                         "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-._~") == len;
}

static bool append(struct curl_slist **headers, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*headers, line);
    if (grown == NULL)
        return false;
    *headers = grown;
    return true;
}

bool apns_prepare(struct apns *apns, const char *device_token, int64_t now_s, char *url,
                  size_t url_size, struct curl_slist **headers, uint64_t *token_generation,
                  char *error, size_t error_size, bool *retryable)
{
    *retryable = false;
    if (!apns_device_token_ok(device_token)) {
        snprintf(error, error_size,
                 "the device token is not an APNs device token (hex digits, at most %d): an iOS "
                 "app that registers FCM tokens must be reached through FCM, with "
                 "TRACKD_APNS_KEY_FILE unset",
                 APNS_DEVICE_TOKEN_MAX);
        return false;
    }
    char why[256];
    const char *jwt = apns_token_get(apns->token, now_s, token_generation, why, sizeof why);
    if (jwt == NULL) {
        snprintf(error, error_size, "APNs authentication failed: %s", why);
        *retryable = true;
        return false;
    }
    snprintf(url, url_size, "%s/3/device/%s", apns->base_url, device_token);
    /* The JWT is three base64url parts, the topic was checked at start: no CR/LF can slip in. */
    size_t line_size = strlen(jwt) + strlen(apns->topic) + 32;
    char *line = malloc(line_size);
    bool ok = line != NULL;
    if (ok) {
        snprintf(line, line_size, "authorization: bearer %s", jwt);
        ok = append(headers, line);
    }
    if (ok) {
        snprintf(line, line_size, "apns-topic: %s", apns->topic);
        ok = append(headers, line);
    }
    ok = ok && append(headers, "apns-push-type: alert") && append(headers, "apns-priority: 10") &&
         append(headers, "content-type: application/json");
    free(line);
    if (!ok) {
        snprintf(error, error_size, "out of memory");
        *retryable = true;
    }
    return ok;
}

void apns_token_expired(struct apns *apns, uint64_t token_generation)
{
    apns_token_expire(apns->token, token_generation);
}

/* Copies the "reason" of an APNs answer body, printable ASCII only (it goes into last_error). */
static void reason_of(const char *body, char *reason, size_t reason_size)
{
    reason[0] = '\0';
    json_object *doc = body && *body ? json_tokener_parse(body) : NULL;
    json_object *value = NULL;
    if (doc != NULL && json_object_is_type(doc, json_type_object) &&
        json_object_object_get_ex(doc, "reason", &value) &&
        json_object_is_type(value, json_type_string)) {
        const char *text = json_object_get_string(value);
        size_t i = 0;
        for (; text[i] && i + 1 < reason_size; i++)
            reason[i] = (text[i] < 0x20 || text[i] > 0x7e) ? '?' : text[i];
        reason[i] = '\0';
    }
    json_object_put(doc);
}

enum delivery_verdict apns_classify(long status, const char *body, char *reason, size_t reason_size)
{
    reason_of(body, reason, reason_size);
    if (status >= 200 && status < 300)
        return DELIVERY_SENT;
    /* 410: the token is no longer active for the topic; BadDeviceToken: it never was (or is a
     * sandbox token sent to production). Either way nothing sent to it will arrive. */
    if (status == 410 || (status == 400 && strcmp(reason, "BadDeviceToken") == 0))
        return DELIVERY_GONE;
    /* The worker re-signs and resends once at once; should that fail too, back off. */
    if (status == 403 && strcmp(reason, "ExpiredProviderToken") == 0)
        return DELIVERY_RETRY;
    if (status == 0 || status == 408 || status == 429 || status >= 500)
        return DELIVERY_RETRY;
    return DELIVERY_DEAD;
}

void apns_free(struct apns *apns)
{
    if (apns == NULL)
        return;
    apns_token_free(apns->token);
    free(apns->base_url);
    free(apns->topic);
    free(apns);
}
