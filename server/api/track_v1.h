/*
 * The Track API v1 adapter (/api/v1/...): a request's path parameters and body become commands.
 * Pure: no I/O, no clock; the receive time is passed in. Messages follow Customer.io's wording
 * ("event name must not be blank", "cannot identify more than 300 attributes in one request").
 */
#ifndef TRACKD_API_TRACK_V1_H
#define TRACKD_API_TRACK_V1_H

#include <stdint.h>

#include "api/api.h"
#include "api/api_fields.h"

enum track_v1_endpoint {
    TRACK_V1_IDENTIFY,        /* PUT /api/v1/customers/{identifier} */
    TRACK_V1_DELETE,          /* DELETE /api/v1/customers/{identifier} */
    TRACK_V1_EVENT,           /* POST /api/v1/customers/{identifier}/events */
    TRACK_V1_ANONYMOUS_EVENT, /* POST /api/v1/events */
    TRACK_V1_ADD_DEVICE,      /* PUT /api/v1/customers/{identifier}/devices */
    TRACK_V1_DELETE_DEVICE,   /* DELETE /api/v1/customers/{identifier}/devices/{token} */
    TRACK_V1_SUPPRESS,        /* POST /api/v1/customers/{identifier}/suppress */
    TRACK_V1_UNSUPPRESS,      /* POST /api/v1/customers/{identifier}/unsuppress */
    TRACK_V1_MERGE,           /* POST /api/v1/merge_customers */
    TRACK_V1_METRIC,          /* POST /api/v1/metrics */
    TRACK_V1_PUSH_EVENT,      /* POST /api/v1/push/events */
    TRACK_V1_UNSUBSCRIBE,     /* POST /unsubscribe/{delivery_id} */
    TRACK_V1_SEGMENT_ADD,     /* POST /api/v1/segments/{segment_id}/add_customers?id_type= */
    TRACK_V1_SEGMENT_REMOVE,  /* POST /api/v1/segments/{segment_id}/remove_customers?id_type= */
};

/* Most ids one manual segment call may name (Customer.io's limit). */
#define TRACK_SEGMENT_IDS_MAX 1000

/*
 * Parses a v1 request into `out` (freed by the caller with api_result_free). `params` are the
 * percent-decoded path parameters in order ({identifier}, then {token}; for the segment
 * endpoints {segment_id}, then the `id_type` query parameter or NULL); `body` is `len` bytes
 * followed by a NUL. Problems are reported in out->problems; never fails as a whole.
 */
void track_v1_parse_request(enum track_v1_endpoint endpoint, const char *const *params,
                            const char *body, size_t len, int64_t received_us,
                            struct api_result *out);

/* Parses identify attributes (v1 body, v2 `attributes`) into a COMMAND_IDENTIFY: `id`,
 * `anonymous_id` and `_update` are instructions; `email` also sets the email. */
bool track_parse_identify(json_object *attributes, struct command *cmd, struct api_error *e);

/* Parses the body of an event (v1 `data`, or v2 `attributes` when `data_key` says so) into a
 * COMMAND_TRACK; shared with the v2 adapter. `type_name` is "event", "page" or "screen", or
 * NULL to read the call's own "type" field (v1). */
bool track_parse_event(json_object *call, const char *data_key, const char *type_name,
                       struct command *cmd, struct api_error *e);

/* Parses a device object ({"id"|"token", "platform", "last_used", "attributes"}) into a
 * COMMAND_ADD_DEVICE; `token_key` is "id" in v1 and "token" in v2. */
bool track_parse_device(json_object *device, const char *token_key, struct command *cmd,
                        struct api_error *e);

/* Parses a delivery metric ({delivery_id, metric, timestamp, recipient, reason, href}). */
bool track_parse_metric(json_object *call, const char *metric_key, struct command *cmd,
                        struct api_error *e);

#endif
