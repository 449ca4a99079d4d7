#include "common/body_inflate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* zlib's windowBits: 15 is the largest window (32 KB), which any encoder may have used;
 * +16 reads a gzip wrapper, a negative value a raw deflate stream without one. */
#define WINDOW_BITS 15
#define GZIP_WRAPPER 16

struct body_inflater {
    z_stream stream;
    enum body_encoding encoding;
    bool started;          /* inflateInit2 has run (deflate waits for its first two bytes) */
    bool ended;            /* the input so far ends with the end of a stream */
    unsigned char head[2]; /* deflate: the first bytes, which tell zlib from raw */
    size_t head_len;
    char error[128];
};

bool body_encoding_parse(const char *header, enum body_encoding *out)
{
    *out = BODY_ENCODING_IDENTITY;
    if (header == NULL)
        return true;
    while (*header == ' ' || *header == '\t')
        header++;
    size_t len = strlen(header);
    while (len > 0 && (header[len - 1] == ' ' || header[len - 1] == '\t'))
        len--;
    static const struct {
        const char *name;
        enum body_encoding encoding;
    } known[] = {
        {"identity", BODY_ENCODING_IDENTITY},
        {"gzip", BODY_ENCODING_GZIP},
        {"x-gzip", BODY_ENCODING_GZIP},
        {"deflate", BODY_ENCODING_DEFLATE},
    };
    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (len == strlen(known[i].name) && strncasecmp(header, known[i].name, len) == 0) {
            *out = known[i].encoding;
            return true;
        }
    }
    return false;
}

const char *body_encoding_name(enum body_encoding encoding)
{
    switch (encoding) {
    case BODY_ENCODING_GZIP:
        return "gzip";
    case BODY_ENCODING_DEFLATE:
        return "deflate";
    case BODY_ENCODING_IDENTITY:
        break;
    }
    return "identity";
}

struct body_inflater *body_inflater_new(enum body_encoding encoding)
{
    if (encoding == BODY_ENCODING_IDENTITY)
        return NULL;
    struct body_inflater *inflater = calloc(1, sizeof *inflater);
    if (inflater == NULL)
        return NULL;
    inflater->encoding = encoding;
    if (encoding == BODY_ENCODING_GZIP) {
        if (inflateInit2(&inflater->stream, WINDOW_BITS + GZIP_WRAPPER) != Z_OK) {
            free(inflater);
            return NULL;
        }
        inflater->started = true;
    }
    return inflater;
}

static enum body_inflate_status corrupt(struct body_inflater *inflater, const char *why)
{
    snprintf(inflater->error, sizeof inflater->error, "%s", why ? why : "invalid data");
    return BODY_INFLATE_CORRUPT;
}

/* "deflate" in HTTP means the zlib format (RFC 1950), but some clients send the raw stream: a
 * zlib stream starts with two bytes that say "deflate, window <= 32 KB" and are a multiple of 31
 * read as a big-endian number, which a raw stream's first block almost never is. */
static bool start_deflate(struct body_inflater *inflater)
{
    unsigned cmf = inflater->head[0], flg = inflater->head[1];
    bool zlib = (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
    if (inflateInit2(&inflater->stream, zlib ? WINDOW_BITS : -WINDOW_BITS) != Z_OK)
        return false;
    inflater->started = true;
    return true;
}

/* Runs zlib over the input in the stream until it is used up and every output is handed on. */
static enum body_inflate_status drain(struct body_inflater *inflater, body_inflate_sink sink,
                                      void *cls)
{
    z_stream *s = &inflater->stream;
    char block[BODY_INFLATE_BLOCK];
    for (;;) {
        if (inflater->ended) {
            if (s->avail_in == 0)
                return BODY_INFLATE_MORE;
            /* Another gzip member may follow (RFC 1952 §2.2); nothing may follow deflate. */
            if (inflater->encoding != BODY_ENCODING_GZIP || inflateReset(s) != Z_OK)
                return corrupt(inflater, "data after the end of the compressed stream");
            inflater->ended = false;
        }
        s->next_out = (Bytef *)block;
        s->avail_out = sizeof block;
        int ret = inflate(s, Z_NO_FLUSH);
        size_t produced = sizeof block - s->avail_out;
        if (ret == Z_NEED_DICT)
            return corrupt(inflater, "the stream needs a preset dictionary");
        if (ret == Z_DATA_ERROR || ret == Z_STREAM_ERROR)
            return corrupt(inflater, s->msg);
        if (ret == Z_MEM_ERROR)
            return BODY_INFLATE_NO_MEMORY;
        if (produced > 0 && !sink(cls, block, produced))
            return BODY_INFLATE_STOPPED;
        if (ret == Z_STREAM_END) {
            inflater->ended = true;
            continue;
        }
        /* Z_BUF_ERROR: no progress possible until more input comes. Z_OK with room left in the
         * block: everything available has been inflated. */
        if (ret == Z_BUF_ERROR || (s->avail_in == 0 && s->avail_out > 0))
            return BODY_INFLATE_MORE;
    }
}

enum body_inflate_status body_inflater_feed(struct body_inflater *inflater, const void *data,
                                            size_t size, body_inflate_sink sink, void *cls)
{
    const unsigned char *in = data;
    if (!inflater->started) {
        while (size > 0 && inflater->head_len < sizeof inflater->head) {
            inflater->head[inflater->head_len++] = *in++;
            size--;
        }
        if (inflater->head_len < sizeof inflater->head)
            return BODY_INFLATE_MORE;
        if (!start_deflate(inflater))
            return BODY_INFLATE_NO_MEMORY;
        inflater->stream.next_in = inflater->head;
        inflater->stream.avail_in = sizeof inflater->head;
        enum body_inflate_status status = drain(inflater, sink, cls);
        if (status != BODY_INFLATE_MORE)
            return status;
    }
    /* zlib counts input in uInt: feed very large uploads in slices. */
    while (size > 0) {
        size_t slice = size < UINT32_MAX ? size : UINT32_MAX;
        inflater->stream.next_in = (Bytef *)in;
        inflater->stream.avail_in = (uInt)slice;
        enum body_inflate_status status = drain(inflater, sink, cls);
        if (status != BODY_INFLATE_MORE)
            return status;
        in += slice;
        size -= slice;
    }
    return BODY_INFLATE_MORE;
}

bool body_inflater_complete(const struct body_inflater *inflater)
{
    return inflater->started && inflater->ended;
}

const char *body_inflater_error(const struct body_inflater *inflater)
{
    return inflater->error;
}

void body_inflater_free(struct body_inflater *inflater)
{
    if (inflater == NULL)
        return;
    if (inflater->started)
        inflateEnd(&inflater->stream);
    free(inflater);
}
