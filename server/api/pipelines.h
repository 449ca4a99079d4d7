/*
 * The Data Pipelines adapter (Segment's format): request bodies of /v1/identify, /v1/track,
 * /v1/page, /v1/screen, /v1/group, /v1/alias and /v1/batch become commands. Pure: no I/O, no
 * clock; the receive time is passed in.
 */
#ifndef TRACKD_API_PIPELINES_H
#define TRACKD_API_PIPELINES_H

#include <json-c/json.h>
#include <stdint.h>

#include "api/api.h"

enum pipelines_endpoint {
    PIPELINES_IDENTIFY,
    PIPELINES_TRACK,
    PIPELINES_PAGE,
    PIPELINES_SCREEN,
    PIPELINES_GROUP,
    PIPELINES_ALIAS,
    PIPELINES_BATCH, /* {"batch":[...]}, each item naming its own type */
};

/*
 * Parses `len` bytes of `body` sent to `endpoint`, received at `received_us`, into `out` (which
 * the caller frees with api_result_free). Never fails as a whole: problems are reported in
 * `out->problems`, and `out->whole_request_invalid` is set when the body is unusable.
 * Commands carry workspace_id 0; the caller sets it.
 */
void pipelines_parse_request(enum pipelines_endpoint endpoint, const char *body, size_t len,
                             int64_t received_us, struct api_result *out);

/* The same for a body already parsed with json_check_parse (to find its writeKey): `parsed` is
 * taken over and not parsed again; NULL parses `body`. */
void pipelines_parse_parsed(enum pipelines_endpoint endpoint, const char *body, size_t len,
                            json_object *parsed, int64_t received_us, struct api_result *out);

#endif
