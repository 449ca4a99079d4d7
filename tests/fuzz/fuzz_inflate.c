/*
 * libFuzzer harness for compressed request bodies (common/body_inflate.c), with the limit the
 * HTTP layer applies: inflated bytes go to a sink that refuses past HTTP's 500 KB body limit.
 *
 * Input: one byte choosing the encoding ('g'zip, else deflate) and the size of the pieces the
 * body arrives in (the byte's low bits + 1), then the compressed body.
 *
 * Checks beyond "does not crash": the sink never receives a block larger than
 * BODY_INFLATE_BLOCK nor anything after it refused; output never passes the limit; the same
 * body fed whole and fed in pieces is accepted or refused alike, and when accepted gives the same
 * bytes and the same completeness.
 */
#include <stdlib.h>
#include <string.h>

#include "common/body_inflate.h"
#include "fuzz_check.h"

/* HTTP_BODY_MAX of server/http/http_internal.h. */
#define LIMIT (500 * 1024)

struct sink_state {
    char *data; /* LIMIT bytes */
    size_t len;
    bool refused;
};

static bool sink(void *cls, const char *data, size_t size)
{
    struct sink_state *s = cls;
    if (s->refused)
        fuzz_fail("the sink was called again after it refused");
    if (size == 0 || size > BODY_INFLATE_BLOCK)
        fuzz_fail("a block of %zu bytes", size);
    if (s->len + size > LIMIT) {
        s->refused = true;
        return false;
    }
    memcpy(s->data + s->len, data, size);
    s->len += size;
    return true;
}

/* Feeds `body` in pieces of `step` bytes until it is used up or the inflater stops. */
static enum body_inflate_status run(enum body_encoding encoding, const uint8_t *body, size_t len,
                                    size_t step, struct sink_state *out, bool *complete)
{
    struct body_inflater *inflater = body_inflater_new(encoding);
    if (inflater == NULL)
        fuzz_fail("no inflater");
    enum body_inflate_status status = BODY_INFLATE_MORE;
    for (size_t at = 0; at < len && status == BODY_INFLATE_MORE; at += step)
        status =
            body_inflater_feed(inflater, body + at, len - at < step ? len - at : step, sink, out);
    if (status == BODY_INFLATE_STOPPED && !out->refused)
        fuzz_fail("stopped although the sink never refused");
    if (status == BODY_INFLATE_CORRUPT && body_inflater_error(inflater)[0] == '\0')
        fuzz_fail("corrupt without a reason");
    *complete = status == BODY_INFLATE_MORE && body_inflater_complete(inflater);
    body_inflater_free(inflater);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum body_encoding encoding = data[0] == 'g' ? BODY_ENCODING_GZIP : BODY_ENCODING_DEFLATE;
    size_t step = (size_t)(data[0] & 0x3f) + 1;
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    struct sink_state whole = {.data = malloc(LIMIT)}, pieces = {.data = malloc(LIMIT)};
    bool whole_complete = false, pieces_complete = false;
    enum body_inflate_status a = run(encoding, body, len, len ? len : 1, &whole, &whole_complete);
    enum body_inflate_status b = run(encoding, body, len, step, &pieces, &pieces_complete);
    /* A stream corrupt just past the limit may be refused for either reason, depending on where
     * the pieces end; whether it is refused may not. */
    if ((a == BODY_INFLATE_MORE) != (b == BODY_INFLATE_MORE))
        fuzz_fail("fed whole: status %d, in pieces of %zu: status %d", a, step, b);
    if (whole_complete != pieces_complete)
        fuzz_fail("complete whole: %d, in pieces: %d", whole_complete, pieces_complete);
    /* Past a refusal or corruption, how much came out first may depend on the pieces. */
    if (a == BODY_INFLATE_MORE &&
        (whole.len != pieces.len || memcmp(whole.data, pieces.data, whole.len) != 0))
        fuzz_fail("fed whole and in pieces of %zu, the output differs", step);
    free(whole.data);
    free(pieces.data);
    return 0;
}
