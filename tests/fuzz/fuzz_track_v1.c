/*
 * libFuzzer harness for the Track API v1 adapter: track_v1_parse_request with its path
 * parameters taken from the input.
 *
 * Input: one byte choosing the endpoint (see endpoint_of; any other byte modulo 14), then
 * {identifier} up to a NUL byte, {token} up to a NUL byte, then the body. For the segment
 * endpoints, {identifier} is the segment id and {token} the id_type query parameter. A missing NUL
 * leaves the rest of the parameters empty. Parameters reach the adapter as the HTTP layer hands
 * them over: percent-decoded, valid UTF-8, without NUL (bad bytes are replaced here, as the HTTP
 * layer would refuse them), and present for every "{}" of the route.
 */
#include <stdlib.h>
#include <string.h>

#include "api/track_v1.h"
#include "common/utf8.h"
#include "fuzz_check.h"

static enum track_v1_endpoint endpoint_of(uint8_t byte)
{
    static const char letters[] = "IDEAVXSUMRPQGH"; /* in the order of enum track_v1_endpoint */
    const char *at = byte != 0 ? strchr(letters, byte) : NULL;
    if (at != NULL)
        return (enum track_v1_endpoint)(at - letters);
    return (enum track_v1_endpoint)(byte % (TRACK_V1_SEGMENT_REMOVE + 1));
}

/* Takes bytes up to the next NUL (or the end) as a parameter. */
static char *take_param(const uint8_t **data, size_t *size)
{
    const uint8_t *end = memchr(*data, 0, *size);
    size_t len = end ? (size_t)(end - *data) : *size;
    char *param = fuzz_copy(*data, len);
    utf8_sanitize(param, len);
    *data += end ? len + 1 : len;
    *size -= end ? len + 1 : len;
    return param;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum track_v1_endpoint endpoint = endpoint_of(data[0]);
    data++;
    size--;
    char *identifier = take_param(&data, &size);
    char *token = take_param(&data, &size);
    char *body = fuzz_copy(data, size);
    /* The router never matches an empty segment; NULL ends the list as the HTTP layer's does. */
    const char *params[3] = {identifier, token, NULL};
    if (*identifier == '\0')
        params[0] = "u1";
    if (*token == '\0')
        params[1] = endpoint == TRACK_V1_DELETE_DEVICE ? "tok1" : NULL;
    struct api_result result;
    track_v1_parse_request(endpoint, params, body, size, FUZZ_RECEIVED_US, &result);
    fuzz_check_and_free_result(&result, 1, false);
    free(identifier);
    free(token);
    free(body);
    return 0;
}
