/*
 * What an adapter makes of one request body: the valid calls as commands, in order, and one
 * problem per invalid call (or one for the whole body). Shared by every API family.
 */
#ifndef TRACKD_API_API_H
#define TRACKD_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "core/command.h"
#include "common/errors.h"

/* Bytes of a refused call kept in rejected_requests.payload. */
#define API_REJECTED_PAYLOAD_MAX 8192
/* Refusals listed one by one per request; beyond this they are only counted, so that a body of
 * 256,000 tiny invalid items cannot turn into hundreds of megabytes of answers and records. */
#define API_PROBLEMS_MAX 100
/* Largest single call or batch item. */
#define API_CALL_MAX_BYTES 32768

struct api_problem {
    long batch_index; /* position in the batch; -1 for a single call or the whole body */
    enum trackd_error code;
    char field[96];    /* the offending field, as the client named it ("event", "traits.x") */
    char message[320]; /* a sentence naming the field and the limit */
    char *payload;     /* owned: the refused call as received, capped */
};

struct api_result {
    struct command *commands; /* owned array of command_count valid calls */
    size_t command_count;
    struct api_problem *problems; /* owned array of problem_count refusals */
    size_t problem_count;
    size_t problems_omitted;    /* refusals beyond API_PROBLEMS_MAX, counted only */
    bool whole_request_invalid; /* the body itself is unusable; no commands */
};

/* Frees everything the result owns and zeroes it; accepts NULL. */
void api_result_free(struct api_result *result);

/* Appends a zeroed command and returns it, or NULL when out of memory. */
struct command *api_result_add_command(struct api_result *result);

/* Appends a problem with a formatted message; `payload` is copied (capped). Returns false when
 * out of memory. */
bool api_result_add_problem(struct api_result *result, long batch_index, enum trackd_error code,
                            const char *field, const char *payload, size_t payload_len,
                            const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Parses a request body that must be one JSON object. With `max_bytes` > 0 a longer body is
 * refused as "`what` cannot be larger than ..." ("a call", "an operation"). `parsed`, when not
 * NULL, is the body already parsed by json_check_parse (taken over, put on refusal): it is
 * checked, not parsed again. Returns the root, which the caller puts, or NULL with the problem
 * recorded and whole_request_invalid set. */
json_object *api_parse_body(const char *body, size_t len, size_t max_bytes, const char *what,
                            json_object *parsed, struct api_result *out);

/* Turns every problem into a COMMAND_REJECT appended to the commands, so that each refusal is
 * committed in rejected_requests with the rest of the request. */
bool api_result_add_rejections(struct api_result *result, int64_t workspace_id,
                               const char *endpoint, int64_t received_us);

#endif
