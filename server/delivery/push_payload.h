/*
 * The bodies of push requests, built so that Customer.io's mobile SDKs recognise them: the SDKs
 * handle a push only when its data carries CIO-Delivery-ID (here the delivery's public id, which
 * they report delivered/opened metrics against) and CIO-Delivery-Token (the device token), and
 * they read title, body, link (a deep link) and image from it. Pure: no I/O.
 *
 * `action` is a rendered push action as the deliveries outbox holds it:
 * {"type":"push","title","body","data":{...},"link","image","token"}; link, image and data are
 * optional, and an empty link or image counts as absent. Custom data keys come along, but the
 * keys these payloads reserve win over custom keys of the same name.
 */
#ifndef TRACKD_DELIVERY_PUSH_PAYLOAD_H
#define TRACKD_DELIVERY_PUSH_PAYLOAD_H

#include <json-c/json.h>

/*
 * The FCM HTTP v1 message for a device of `platform` ("ios", "android", or "" when unknown:
 * treated as android):
 *   {"message":{"token":T,"data":{"CIO-Delivery-ID","CIO-Delivery-Token","title","body",
 *    "link"?,"image"?, custom...},"android":{"priority":"high"}}}
 * with every data value a string. An ios device gets, instead of the android block,
 *   "apns":{"headers":{"apns-push-type":"alert","apns-priority":"10"},
 *           "payload":{"aps":{"alert":{"title","body"},"mutable-content":1},
 *                      "CIO":{"push":{"link"?,"image"?}}}}
 * A new string the caller frees; NULL when out of memory.
 */
char *push_payload_fcm(json_object *action, const char *public_id, const char *platform);

/*
 * The APNs payload (the request body of POST /3/device/{token}):
 *   {"aps":{"alert":{"title","body"},"mutable-content":1,"sound":"default"},
 *    "CIO-Delivery-ID","CIO-Delivery-Token","CIO":{"push":{"link"?,"image"?}}, custom...}
 * with the custom data keys at the top level. A new string the caller frees; NULL when out of
 * memory.
 */
char *push_payload_apns(json_object *action, const char *public_id);

#endif
