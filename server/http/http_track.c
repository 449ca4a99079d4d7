#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "api/track_v1.h"
#include "api/track_v2.h"
#include "http/http_internal.h"

enum MHD_Result http_handle_track_v1(struct http_request *request)
{
    if (request->submitted)
        return http_answer_written(request, HTTP_ANSWER_TRACK_V1, false);
    const char *params[HTTP_MAX_PARAMS + 1] = {NULL};
    for (size_t i = 0; i < request->params.count; i++)
        params[i] = request->params.values[i];
    /* The segment calls say what their ids are in the query string. */
    if (request->route->variant == TRACK_V1_SEGMENT_ADD ||
        request->route->variant == TRACK_V1_SEGMENT_REMOVE)
        params[1] =
            MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, "id_type");
    track_v1_parse_request((enum track_v1_endpoint)request->route->variant, params, request->body,
                           request->body_len, request->received_us, &request->parsed);
    return http_submit_parsed(request);
}

enum MHD_Result http_handle_track_v2(struct http_request *request)
{
    bool batch = request->route->variant == TRACK_V2_BATCH;
    if (request->submitted)
        return http_answer_written(request, HTTP_ANSWER_TRACK_V2, batch);
    track_v2_parse_request((enum track_v2_endpoint)request->route->variant, request->body,
                           request->body_len, request->received_us, &request->parsed);
    return http_submit_parsed(request);
}

/* GET /api/v1/accounts/region: where this workspace's data lives. There is one region, this
 * server, so the URL is the one the client used. */
enum MHD_Result http_handle_region(struct http_request *request)
{
    const char *host =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char url[300];
    snprintf(url, sizeof url, "http://%s", host ? host : "127.0.0.1");
    json_object *root = json_object_new_object();
    json_object_object_add(root, "url", json_object_new_string(url));
    json_object_object_add(root, "region", json_object_new_string("us"));
    json_object_object_add(root, "environment_id",
                           json_object_new_int64(request->workspace.environment_id));
    enum MHD_Result ret = http_reply_json(
        request, MHD_HTTP_OK, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return ret;
}
