/*
 * libFuzzer harness for the Track API v2 adapter: track_v2_parse_request.
 * Input: one byte choosing the endpoint ('e'ntity, 'b'atch; any other byte modulo 2), then the
 * request body.
 */
#include <stdlib.h>

#include "api/track_v2.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum track_v2_endpoint endpoint = data[0] == 'e'   ? TRACK_V2_ENTITY
                                      : data[0] == 'b' ? TRACK_V2_BATCH
                                                       : (enum track_v2_endpoint)(data[0] % 2);
    size_t len = size - 1;
    char *body = fuzz_copy(data + 1, len);
    struct api_result result;
    track_v2_parse_request(endpoint, body, len, FUZZ_RECEIVED_US, &result);
    size_t calls = endpoint == TRACK_V2_BATCH ? fuzz_batch_length(body, len) : 1;
    fuzz_check_and_free_result(&result, calls, endpoint == TRACK_V2_BATCH);
    free(body);
    return 0;
}
