#include "delivery/push_payload.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The string member `key` of the action, lent; "" when absent or not a string. */
static const char *text_of(json_object *action, const char *key)
{
    json_object *value = NULL;
    if (!json_object_object_get_ex(action, key, &value) ||
        !json_object_is_type(value, json_type_string))
        return "";
    return json_object_get_string(value);
}

/* Sets `key` of `object` to a new string (replacing a custom key of the same name). */
static bool put_text(json_object *object, const char *key, const char *text)
{
    json_object *value = json_object_new_string(text);
    if (value == NULL || json_object_object_add(object, key, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

static bool put_object(json_object *object, const char *key, json_object *value)
{
    if (value == NULL || json_object_object_add(object, key, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* Copies the action's custom data into `out`: as strings (FCM data values must be strings) or
 * as they are (APNs takes any JSON). Rules only allow strings; this does not rely on it. */
static bool add_custom_data(json_object *action, json_object *out, bool as_strings)
{
    json_object *data = NULL;
    if (!json_object_object_get_ex(action, "data", &data) ||
        !json_object_is_type(data, json_type_object))
        return true;
    json_object_object_foreach(data, key, value)
    {
        bool ok;
        if (!as_strings)
            ok = put_object(out, key, json_object_get(value));
        else if (value == NULL)
            ok = put_text(out, key, "");
        else if (json_object_is_type(value, json_type_string))
            ok = put_text(out, key, json_object_get_string(value));
        else
            ok = put_text(out, key, json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));
        if (!ok)
            return false;
    }
    return true;
}

/* {"link"?, "image"?}: what the iOS SDK's notification service extension reads as CIO.push. */
static json_object *cio_push(json_object *action)
{
    json_object *push = json_object_new_object();
    const char *link = text_of(action, "link"), *image = text_of(action, "image");
    if (push == NULL || (*link && !put_text(push, "link", link)) ||
        (*image && !put_text(push, "image", image))) {
        json_object_put(push);
        return NULL;
    }
    json_object *cio = json_object_new_object();
    if (!put_object(cio, "push", push)) {
        json_object_put(cio);
        return NULL;
    }
    return cio;
}

/* {"title","body"}, the alert iOS shows. */
static json_object *alert_of(json_object *action)
{
    json_object *alert = json_object_new_object();
    if (alert == NULL || !put_text(alert, "title", text_of(action, "title")) ||
        !put_text(alert, "body", text_of(action, "body"))) {
        json_object_put(alert);
        return NULL;
    }
    return alert;
}

/* Serialises `root` into a new string and releases it. */
static char *finish(json_object *root, bool ok)
{
    char *text = NULL;
    if (ok)
        text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return text;
}

/* message.apns for an ios device reached through FCM: iOS shows nothing without an alert, and
 * mutable-content lets the SDK's notification service extension add the image and record the
 * delivery. */
static json_object *fcm_apns_block(json_object *action)
{
    json_object *apns = json_object_new_object();
    json_object *headers = json_object_new_object();
    json_object *payload = json_object_new_object();
    json_object *aps = json_object_new_object();
    bool ok = apns != NULL && headers != NULL && payload != NULL && aps != NULL &&
              put_text(headers, "apns-push-type", "alert") &&
              put_text(headers, "apns-priority", "10") &&
              put_object(aps, "alert", alert_of(action)) &&
              put_object(aps, "mutable-content", json_object_new_int(1));
    if (ok) {
        ok = put_object(payload, "aps", aps);
        aps = NULL;
    }
    ok = ok && put_object(payload, "CIO", cio_push(action));
    if (ok) {
        ok = put_object(apns, "headers", headers);
        headers = NULL;
    }
    if (ok) {
        ok = put_object(apns, "payload", payload);
        payload = NULL;
    }
    json_object_put(aps);
    json_object_put(headers);
    json_object_put(payload);
    if (!ok) {
        json_object_put(apns);
        return NULL;
    }
    return apns;
}

char *push_payload_fcm(json_object *action, const char *public_id, const char *platform)
{
    const char *token = text_of(action, "token");
    const char *link = text_of(action, "link"), *image = text_of(action, "image");
    json_object *root = json_object_new_object();
    json_object *message = json_object_new_object();
    json_object *data = json_object_new_object();
    bool ok = root != NULL && message != NULL && data != NULL &&
              add_custom_data(action, data, true) && put_text(data, "CIO-Delivery-ID", public_id) &&
              put_text(data, "CIO-Delivery-Token", token) &&
              put_text(data, "title", text_of(action, "title")) &&
              put_text(data, "body", text_of(action, "body")) &&
              (*link == '\0' || put_text(data, "link", link)) &&
              (*image == '\0' || put_text(data, "image", image)) &&
              put_text(message, "token", token);
    if (ok) {
        ok = put_object(message, "data", data);
        data = NULL;
    }
    /*
     * No "notification" block, for Android: with one, FCM itself shows the notification while
     * the app is in the background and the app's onMessageReceived never runs, so the
     * Customer.io SDK never sees the push: no delivered metric, no deep link, no image. A
     * data-only message reaches the SDK, which renders it and reports it delivered. High
     * priority so that a data-only message is handed over at once even in Doze.
     */
    if (ok && platform != NULL && strcmp(platform, "ios") == 0) {
        ok = put_object(message, "apns", fcm_apns_block(action));
    } else if (ok) {
        json_object *android = json_object_new_object();
        ok = put_object(message, "android", android) && put_text(android, "priority", "high");
    }
    if (ok) {
        ok = put_object(root, "message", message);
        message = NULL;
    }
    json_object_put(message);
    json_object_put(data);
    return finish(root, ok);
}

char *push_payload_apns(json_object *action, const char *public_id)
{
    json_object *root = json_object_new_object();
    json_object *aps = json_object_new_object();
    bool ok = root != NULL && aps != NULL && add_custom_data(action, root, false) &&
              put_object(aps, "alert", alert_of(action)) &&
              put_object(aps, "mutable-content", json_object_new_int(1)) &&
              put_text(aps, "sound", "default");
    if (ok) {
        ok = put_object(root, "aps", aps);
        aps = NULL;
    }
    ok = ok && put_text(root, "CIO-Delivery-ID", public_id) &&
         put_text(root, "CIO-Delivery-Token", text_of(action, "token")) &&
         put_object(root, "CIO", cio_push(action));
    json_object_put(aps);
    return finish(root, ok);
}
