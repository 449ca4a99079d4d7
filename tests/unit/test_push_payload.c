/* The push bodies the Customer.io mobile SDKs must recognise (push_payload.h). */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/push_payload.h"

#define PUBLIC_ID "q7Zx3H0kYVx0mS9Ab1c2dQ"

/* A rendered push action as the outbox holds it. */
static json_object *action(const char *json)
{
    json_object *a = json_tokener_parse(json);
    cr_assert_not_null(a, "bad test JSON: %s", json);
    return a;
}

/* Parses a built body, failing the test on NULL or bad JSON. */
static json_object *parsed(char *text)
{
    cr_assert_not_null(text);
    json_object *doc = json_tokener_parse(text);
    cr_assert_not_null(doc, "not JSON: %s", text);
    free(text);
    return doc;
}

static void assert_json_eq(json_object *got, const char *expected_json)
{
    json_object *expected = json_tokener_parse(expected_json);
    cr_assert_not_null(expected, "bad expected JSON: %s", expected_json);
    cr_assert(json_object_equal(got, expected), "got %s\nexpected %s",
              json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN),
              json_object_to_json_string_ext(expected, JSON_C_TO_STRING_PLAIN));
    json_object_put(expected);
}

static const char *const FULL =
    "{\"type\":\"push\",\"title\":\"Thanks, Ann!\",\"body\":\"Your socks ship today.\","
    "\"link\":\"shop://orders/42\",\"image\":\"https://cdn.example.com/socks.png\","
    "\"data\":{\"screen\":\"orders\"},\"token\":\"fcm-token-1\"}";

Test(push_payload, android_gets_a_data_only_message_the_sdk_renders_itself)
{
    json_object *a = action(FULL);
    json_object *doc = parsed(push_payload_fcm(a, PUBLIC_ID, "android"));
    assert_json_eq(doc, "{\"message\":{\"token\":\"fcm-token-1\","
                        "\"data\":{\"screen\":\"orders\",\"CIO-Delivery-ID\":\"" PUBLIC_ID "\","
                        "\"CIO-Delivery-Token\":\"fcm-token-1\",\"title\":\"Thanks, Ann!\","
                        "\"body\":\"Your socks ship today.\",\"link\":\"shop://orders/42\","
                        "\"image\":\"https://cdn.example.com/socks.png\"},"
                        "\"android\":{\"priority\":\"high\"}}}");
    json_object *message = json_object_object_get(doc, "message");
    cr_assert_not(json_object_object_get_ex(message, "notification", NULL),
                  "a notification block would keep the SDK from seeing the push");
    json_object_put(doc);
    json_object_put(a);
}

Test(push_payload, every_fcm_data_value_is_a_string)
{
    json_object *a = action("{\"type\":\"push\",\"title\":\"t\",\"body\":\"b\",\"token\":\"k\","
                            "\"data\":{\"n\":5,\"f\":1.5,\"yes\":true,\"none\":null,"
                            "\"o\":{\"a\":[1,\"x\"]},\"s\":\"text\"}}");
    json_object *doc = parsed(push_payload_fcm(a, PUBLIC_ID, "android"));
    json_object *data = json_object_object_get(json_object_object_get(doc, "message"), "data");
    json_object_object_foreach(data, key, value)
    {
        cr_assert(json_object_is_type(value, json_type_string), "data.%s is not a string", key);
    }
    cr_assert_str_eq(json_object_get_string(json_object_object_get(data, "n")), "5");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(data, "yes")), "true");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(data, "none")), "");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(data, "o")),
                     "{\"a\":[1,\"x\"]}");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(data, "s")), "text");
    json_object_put(doc);
    json_object_put(a);
}

Test(push_payload, reserved_keys_win_over_custom_data_of_the_same_name)
{
    json_object *a = action("{\"type\":\"push\",\"title\":\"T\",\"body\":\"B\",\"token\":\"k\","
                            "\"data\":{\"CIO-Delivery-ID\":\"forged\",\"CIO-Delivery-Token\":"
                            "\"forged\",\"title\":\"x\",\"body\":\"y\",\"aps\":\"z\","
                            "\"CIO\":\"w\",\"keep\":\"me\"}}");
    json_object *fcm = parsed(push_payload_fcm(a, PUBLIC_ID, "android"));
    json_object *data = json_object_object_get(json_object_object_get(fcm, "message"), "data");
    assert_json_eq(data, "{\"CIO-Delivery-ID\":\"" PUBLIC_ID "\",\"CIO-Delivery-Token\":\"k\","
                         "\"title\":\"T\",\"body\":\"B\",\"aps\":\"z\",\"CIO\":\"w\","
                         "\"keep\":\"me\"}");
    json_object *apns = parsed(push_payload_apns(a, PUBLIC_ID));
    assert_json_eq(apns, "{\"keep\":\"me\",\"title\":\"x\",\"body\":\"y\","
                         "\"aps\":{\"alert\":{\"title\":\"T\",\"body\":\"B\"},"
                         "\"mutable-content\":1,\"sound\":\"default\"},"
                         "\"CIO-Delivery-ID\":\"" PUBLIC_ID "\",\"CIO-Delivery-Token\":\"k\","
                         "\"CIO\":{\"push\":{}}}");
    json_object_put(fcm);
    json_object_put(apns);
    json_object_put(a);
}

Test(push_payload, empty_or_absent_link_and_image_are_left_out)
{
    json_object *a = action("{\"type\":\"push\",\"title\":\"t\",\"body\":\"b\",\"token\":\"k\","
                            "\"link\":\"\"}");
    json_object *fcm = parsed(push_payload_fcm(a, PUBLIC_ID, "android"));
    json_object *data = json_object_object_get(json_object_object_get(fcm, "message"), "data");
    cr_assert_not(json_object_object_get_ex(data, "link", NULL));
    cr_assert_not(json_object_object_get_ex(data, "image", NULL));
    json_object *apns = parsed(push_payload_apns(a, PUBLIC_ID));
    assert_json_eq(json_object_object_get(apns, "CIO"), "{\"push\":{}}");
    json_object_put(fcm);
    json_object_put(apns);
    json_object_put(a);
}

Test(push_payload, an_ios_device_through_fcm_gets_an_alert_and_the_cio_push_block)
{
    json_object *a = action(FULL);
    json_object *doc = parsed(push_payload_fcm(a, PUBLIC_ID, "ios"));
    assert_json_eq(doc, "{\"message\":{\"token\":\"fcm-token-1\","
                        "\"data\":{\"screen\":\"orders\",\"CIO-Delivery-ID\":\"" PUBLIC_ID "\","
                        "\"CIO-Delivery-Token\":\"fcm-token-1\",\"title\":\"Thanks, Ann!\","
                        "\"body\":\"Your socks ship today.\",\"link\":\"shop://orders/42\","
                        "\"image\":\"https://cdn.example.com/socks.png\"},"
                        "\"apns\":{\"headers\":{\"apns-push-type\":\"alert\","
                        "\"apns-priority\":\"10\"},"
                        "\"payload\":{\"aps\":{\"alert\":{\"title\":\"Thanks, Ann!\","
                        "\"body\":\"Your socks ship today.\"},\"mutable-content\":1},"
                        "\"CIO\":{\"push\":{\"link\":\"shop://orders/42\","
                        "\"image\":\"https://cdn.example.com/socks.png\"}}}}}}");
    json_object_put(doc);
    json_object_put(a);
}

Test(push_payload, an_unknown_platform_is_sent_as_android)
{
    json_object *a = action(FULL);
    json_object *doc = parsed(push_payload_fcm(a, PUBLIC_ID, ""));
    json_object *message = json_object_object_get(doc, "message");
    cr_assert(json_object_object_get_ex(message, "android", NULL));
    cr_assert_not(json_object_object_get_ex(message, "apns", NULL));
    json_object_put(doc);
    json_object_put(a);
}

Test(push_payload, apns_payload_has_the_alert_ids_at_the_top_and_rich_content_under_cio_push)
{
    json_object *a = action(FULL);
    json_object *doc = parsed(push_payload_apns(a, PUBLIC_ID));
    assert_json_eq(doc, "{\"aps\":{\"alert\":{\"title\":\"Thanks, Ann!\","
                        "\"body\":\"Your socks ship today.\"},\"mutable-content\":1,"
                        "\"sound\":\"default\"},"
                        "\"CIO-Delivery-ID\":\"" PUBLIC_ID "\","
                        "\"CIO-Delivery-Token\":\"fcm-token-1\","
                        "\"CIO\":{\"push\":{\"link\":\"shop://orders/42\","
                        "\"image\":\"https://cdn.example.com/socks.png\"}},"
                        "\"screen\":\"orders\"}");
    json_object_put(doc);
    json_object_put(a);
}

Test(push_payload, text_is_json_escaped_and_slashes_are_kept_plain)
{
    json_object *a = action("{\"type\":\"push\",\"title\":\"say \\\"hi\\\"\\n\",\"body\":\"b\","
                            "\"token\":\"k\",\"link\":\"https://x.test/a/b\"}");
    char *text = push_payload_fcm(a, PUBLIC_ID, "android");
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\"title\":\"say \\\"hi\\\"\\n\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"link\":\"https://x.test/a/b\"") != NULL, "%s", text);
    free(text);
    json_object_put(a);
}
