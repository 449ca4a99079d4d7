/*
 * libFuzzer harness for the Data Pipelines adapter: pipelines_parse_request on every endpoint.
 * Input: one byte choosing the endpoint ('i'dentify, 't'rack, 'p'age, 's'creen, 'g'roup,
 * 'a'lias, 'b'atch; any other byte modulo 7), then the request body.
 */
#include <stdlib.h>

#include "api/pipelines.h"
#include "fuzz_check.h"

static enum pipelines_endpoint endpoint_of(uint8_t byte)
{
    switch (byte) {
    case 'i':
        return PIPELINES_IDENTIFY;
    case 't':
        return PIPELINES_TRACK;
    case 'p':
        return PIPELINES_PAGE;
    case 's':
        return PIPELINES_SCREEN;
    case 'g':
        return PIPELINES_GROUP;
    case 'a':
        return PIPELINES_ALIAS;
    case 'b':
        return PIPELINES_BATCH;
    default:
        return (enum pipelines_endpoint)(byte % (PIPELINES_BATCH + 1));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum pipelines_endpoint endpoint = endpoint_of(data[0]);
    size_t len = size - 1;
    char *body = fuzz_copy(data + 1, len);
    struct api_result result;
    pipelines_parse_request(endpoint, body, len, FUZZ_RECEIVED_US, &result);
    size_t calls = endpoint == PIPELINES_BATCH ? fuzz_batch_length(body, len) : 1;
    fuzz_check_and_free_result(&result, calls, endpoint == PIPELINES_BATCH);
    free(body);
    return 0;
}
