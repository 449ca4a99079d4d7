#include "api/pipelines.h"
#include "http/http_internal.h"

enum MHD_Result http_handle_pipelines(struct http_request *request)
{
    bool batch = request->route->variant == PIPELINES_BATCH;
    if (request->submitted)
        return http_answer_written(request, HTTP_ANSWER_PIPELINES, batch);
    json_object *parsed = request->body_json; /* taken over: NULL unless the body held the key */
    request->body_json = NULL;
    pipelines_parse_parsed((enum pipelines_endpoint)request->route->variant, request->body,
                           request->body_len, parsed, request->received_us, &request->parsed);
    return http_submit_parsed(request);
}
