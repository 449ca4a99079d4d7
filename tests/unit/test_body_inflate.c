/* Compressed request bodies: common/body_inflate.c against streams made here with zlib. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/body_inflate.h"

/* What a sink collected, up to `limit` bytes (then it refuses, as the HTTP layer does). */
struct collected {
    char *data;
    size_t len, limit;
    unsigned blocks;
};

static bool collect(void *cls, const char *data, size_t size)
{
    struct collected *c = cls;
    cr_assert_leq(size, BODY_INFLATE_BLOCK);
    if (c->len + size > c->limit)
        return false;
    c->data = realloc(c->data, c->len + size + 1);
    memcpy(c->data + c->len, data, size);
    c->len += size;
    c->data[c->len] = '\0';
    c->blocks++;
    return true;
}

/* Compresses `len` bytes with zlib: windowBits 31 for gzip, 15 for zlib, -15 for raw deflate.
 * Returns a malloc'd buffer; *out_len its size. */
static unsigned char *compress_with(const void *data, size_t len, int window_bits, size_t *out_len)
{
    z_stream s = {0};
    cr_assert_eq(
        deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&s, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    s.next_in = (Bytef *)data;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    *out_len = cap - s.avail_out;
    deflateEnd(&s);
    return out;
}

/* Feeds `in` in pieces of `step` bytes; returns the last status. */
static enum body_inflate_status feed_in_steps(struct body_inflater *inflater,
                                              const unsigned char *in, size_t len, size_t step,
                                              struct collected *c)
{
    enum body_inflate_status status = BODY_INFLATE_MORE;
    for (size_t at = 0; at < len && status == BODY_INFLATE_MORE; at += step) {
        size_t n = len - at < step ? len - at : step;
        status = body_inflater_feed(inflater, in + at, n, collect, c);
    }
    return status;
}

static const char sample[] = "{\"batch\":[{\"type\":\"track\",\"event\":\"Application Installed\","
                             "\"anonymousId\":\"a1\"}],\"writeKey\":\"wk\"}";

Test(body_inflate, encodings_are_read_from_the_header_and_unknown_ones_refused)
{
    enum body_encoding e;
    cr_assert(body_encoding_parse(NULL, &e) && e == BODY_ENCODING_IDENTITY);
    cr_assert(body_encoding_parse("", &e) && e == BODY_ENCODING_IDENTITY);
    cr_assert(body_encoding_parse("identity", &e) && e == BODY_ENCODING_IDENTITY);
    cr_assert(body_encoding_parse(" GZIP ", &e) && e == BODY_ENCODING_GZIP);
    cr_assert(body_encoding_parse("x-gzip", &e) && e == BODY_ENCODING_GZIP);
    cr_assert(body_encoding_parse("Deflate", &e) && e == BODY_ENCODING_DEFLATE);
    cr_assert_not(body_encoding_parse("br", &e));
    cr_assert_not(body_encoding_parse("gzip, gzip", &e));
    cr_assert_not(body_encoding_parse("zstd", &e));
}

Test(body_inflate, gzip_split_into_single_bytes_inflates_to_the_original)
{
    size_t len = 0;
    unsigned char *gz = compress_with(sample, strlen(sample), 31, &len);
    struct body_inflater *inflater = body_inflater_new(BODY_ENCODING_GZIP);
    struct collected c = {.limit = 1 << 20};
    cr_assert_eq(feed_in_steps(inflater, gz, len, 1, &c), BODY_INFLATE_MORE);
    cr_assert(body_inflater_complete(inflater));
    cr_assert_str_eq(c.data, sample);
    body_inflater_free(inflater);
    free(gz);
    free(c.data);
}

Test(body_inflate, deflate_takes_the_zlib_format_and_the_raw_stream)
{
    int formats[] = {15, -15};
    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        unsigned char *z = compress_with(sample, strlen(sample), formats[i], &len);
        for (size_t step = 1; step <= 3; step++) {
            struct body_inflater *inflater = body_inflater_new(BODY_ENCODING_DEFLATE);
            struct collected c = {.limit = 1 << 20};
            cr_assert_eq(feed_in_steps(inflater, z, len, step, &c), BODY_INFLATE_MORE,
                         "window bits %d, step %zu", formats[i], step);
            cr_assert(body_inflater_complete(inflater));
            cr_assert_str_eq(c.data, sample);
            body_inflater_free(inflater);
            free(c.data);
        }
        free(z);
    }
}

Test(body_inflate, several_gzip_members_make_one_body)
{
    size_t a_len = 0, b_len = 0;
    unsigned char *a = compress_with("{\"a\":", 5, 31, &a_len);
    unsigned char *b = compress_with("1}", 2, 31, &b_len);
    unsigned char *both = malloc(a_len + b_len);
    memcpy(both, a, a_len);
    memcpy(both + a_len, b, b_len);
    struct body_inflater *inflater = body_inflater_new(BODY_ENCODING_GZIP);
    struct collected c = {.limit = 100};
    cr_assert_eq(feed_in_steps(inflater, both, a_len + b_len, 7, &c), BODY_INFLATE_MORE);
    cr_assert(body_inflater_complete(inflater));
    cr_assert_str_eq(c.data, "{\"a\":1}");
    body_inflater_free(inflater);
    free(a);
    free(b);
    free(both);
    free(c.data);
}

Test(body_inflate, a_bomb_stops_at_the_limit_without_inflating_the_rest)
{
    /* 64 MB of zeros compress to about 64 KB. */
    size_t plain_len = 64u << 20, len = 0;
    char *zeros = calloc(1, plain_len);
    unsigned char *gz = compress_with(zeros, plain_len, 31, &len);
    free(zeros);
    cr_assert_lt(len, 200u * 1024);
    struct body_inflater *inflater = body_inflater_new(BODY_ENCODING_GZIP);
    struct collected c = {.limit = 500 * 1024};
    enum body_inflate_status status = feed_in_steps(inflater, gz, len, 4096, &c);
    cr_assert_eq(status, BODY_INFLATE_STOPPED);
    cr_assert_leq(c.len, 500u * 1024);
    cr_assert_not(body_inflater_complete(inflater));
    body_inflater_free(inflater);
    free(gz);
    free(c.data);
}

Test(body_inflate, corrupt_truncated_empty_and_trailing_bytes_are_refused)
{
    size_t len = 0;
    unsigned char *gz = compress_with(sample, strlen(sample), 31, &len);
    struct collected c = {.limit = 1 << 20};

    /* A flipped byte in the deflate data (past the 10-byte gzip header). */
    unsigned char *bad = malloc(len);
    memcpy(bad, gz, len);
    bad[12] ^= 0xff;
    struct body_inflater *inflater = body_inflater_new(BODY_ENCODING_GZIP);
    enum body_inflate_status status = body_inflater_feed(inflater, bad, len, collect, &c);
    cr_assert(status == BODY_INFLATE_CORRUPT || !body_inflater_complete(inflater));
    body_inflater_free(inflater);

    /* Not gzip at all. */
    inflater = body_inflater_new(BODY_ENCODING_GZIP);
    cr_assert_eq(body_inflater_feed(inflater, "{\"plain\":1}", 11, collect, &c),
                 BODY_INFLATE_CORRUPT);
    cr_assert_str_neq(body_inflater_error(inflater), "");
    body_inflater_free(inflater);

    /* Cut short: everything taken, but the stream never ends. */
    inflater = body_inflater_new(BODY_ENCODING_GZIP);
    cr_assert_eq(body_inflater_feed(inflater, gz, len - 6, collect, &c), BODY_INFLATE_MORE);
    cr_assert_not(body_inflater_complete(inflater));
    body_inflater_free(inflater);

    /* Nothing at all, and a single byte of a deflate body. */
    inflater = body_inflater_new(BODY_ENCODING_GZIP);
    cr_assert_not(body_inflater_complete(inflater));
    body_inflater_free(inflater);
    inflater = body_inflater_new(BODY_ENCODING_DEFLATE);
    cr_assert_eq(body_inflater_feed(inflater, "x", 1, collect, &c), BODY_INFLATE_MORE);
    cr_assert_not(body_inflater_complete(inflater));
    body_inflater_free(inflater);

    /* Bytes after the end of a deflate stream. */
    size_t z_len = 0;
    unsigned char *z = compress_with(sample, strlen(sample), 15, &z_len);
    unsigned char *tail = malloc(z_len + 3);
    memcpy(tail, z, z_len);
    memcpy(tail + z_len, "abc", 3);
    inflater = body_inflater_new(BODY_ENCODING_DEFLATE);
    cr_assert_eq(body_inflater_feed(inflater, tail, z_len + 3, collect, &c), BODY_INFLATE_CORRUPT);
    body_inflater_free(inflater);

    free(z);
    free(tail);
    free(bad);
    free(gz);
    free(c.data);
}

Test(body_inflate, identity_needs_no_inflater_and_free_accepts_null)
{
    cr_assert_null(body_inflater_new(BODY_ENCODING_IDENTITY));
    body_inflater_free(NULL);
}
