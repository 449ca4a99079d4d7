/*
 * The Track API v2 adapter: POST /api/v2/entity (one operation) and POST /api/v2/batch
 * ({"batch":[operations]}). Person actions identify, delete, event, page, screen, add_device,
 * delete_device, merge, suppress, unsuppress, and delivery events. Pure, like the others.
 */
#ifndef TRACKD_API_TRACK_V2_H
#define TRACKD_API_TRACK_V2_H

#include <stdint.h>

#include "api/api.h"

enum track_v2_endpoint {
    TRACK_V2_ENTITY, /* one operation */
    TRACK_V2_BATCH,  /* {"batch":[...]}, each at most 32 KB */
};

/* Parses a v2 request into `out` (freed by the caller); `body` is `len` bytes and a NUL. */
void track_v2_parse_request(enum track_v2_endpoint endpoint, const char *body, size_t len,
                            int64_t received_us, struct api_result *out);

#endif
