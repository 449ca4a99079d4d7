#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/*
 * One-dimensional arrays in PostgreSQL's binary wire format (what array_recv reads): a header
 * of five 32-bit big-endian words (dimensions, a has-nulls flag, the element type's OID, the
 * length, the lower bound), then each element as a 32-bit length (-1 for NULL) and its bytes.
 * Values cross as they are: no quoting, no escaping, and the server parses each one once.
 */

/* Offsets of the header words patched when the array is finished. */
#define HEADER_FLAGS 4
#define HEADER_LENGTH 12

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC). */
#define POSTGRES_EPOCH_US INT64_C(946684800000000)

/* jsonb's binary input takes a format version byte before the JSON text. */
#define JSONB_BINARY_VERSION 1

static void put_u32(unsigned char out[4], uint32_t v)
{
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

static void append_u32(struct textbuf *b, uint32_t v)
{
    unsigned char word[4];
    put_u32(word, v);
    textbuf_append(b, (const char *)word, sizeof word);
}

static void append_u64(struct textbuf *b, uint64_t v)
{
    append_u32(b, (uint32_t)(v >> 32));
    append_u32(b, (uint32_t)v);
}

void store_array_begin(struct store_array *a, uint32_t element_oid)
{
    *a = (struct store_array){.element_oid = element_oid};
    append_u32(&a->buf, 1); /* dimensions */
    append_u32(&a->buf, 0); /* has nulls: patched */
    append_u32(&a->buf, element_oid);
    append_u32(&a->buf, 0); /* length: patched */
    append_u32(&a->buf, 1); /* lower bound */
}

void store_array_add_null(struct store_array *a)
{
    append_u32(&a->buf, UINT32_MAX); /* -1 */
    a->has_null = true;
    a->count++;
}

/* Appends one element of `prefix_len` bytes of `prefix` followed by `text` (NULL: SQL NULL). */
static void add_prefixed_text(struct store_array *a, const char *prefix, size_t prefix_len,
                              const char *text)
{
    if (text == NULL) {
        store_array_add_null(a);
        return;
    }
    size_t len = strlen(text);
    append_u32(&a->buf, (uint32_t)(prefix_len + len));
    textbuf_append(&a->buf, prefix, prefix_len);
    textbuf_append(&a->buf, text, len);
    a->count++;
}

void store_array_add_text(struct store_array *a, const char *text)
{
    add_prefixed_text(a, "", 0, text);
}

void store_array_add_jsonb(struct store_array *a, const char *json)
{
    const char version = JSONB_BINARY_VERSION;
    add_prefixed_text(a, &version, 1, json);
}

void store_array_add_int8(struct store_array *a, int64_t v)
{
    append_u32(&a->buf, 8);
    append_u64(&a->buf, (uint64_t)v);
    a->count++;
}

void store_array_add_bool(struct store_array *a, bool v)
{
    char byte = v ? 1 : 0;
    append_u32(&a->buf, 1);
    textbuf_append(&a->buf, &byte, 1);
    a->count++;
}

void store_array_add_timestamptz(struct store_array *a, int64_t unix_us)
{
    append_u32(&a->buf, 8);
    append_u64(&a->buf, (uint64_t)(unix_us - POSTGRES_EPOCH_US));
    a->count++;
}

bool store_array_finish(struct store_array *a)
{
    if (a->buf.failed || a->count > INT32_MAX)
        return false;
    put_u32((unsigned char *)a->buf.data + HEADER_FLAGS, a->has_null ? 1 : 0);
    put_u32((unsigned char *)a->buf.data + HEADER_LENGTH, (uint32_t)a->count);
    return true;
}

void store_array_free(struct store_array *a)
{
    free(a->buf.data);
    a->buf = (struct textbuf){0};
}

bool store_arrays_send(PGconn *conn, const char *name, struct store_array *arrays, size_t n)
{
    const char *values[STORE_ARRAYS_MAX];
    int lengths[STORE_ARRAYS_MAX];
    int formats[STORE_ARRAYS_MAX];
    if (n > STORE_ARRAYS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!store_array_finish(&arrays[i]))
            return false;
        values[i] = arrays[i].buf.data;
        lengths[i] = (int)arrays[i].buf.len;
        formats[i] = 1;
    }
    return PQsendQueryPrepared(conn, name, (int)n, values, lengths, formats, 0);
}

char *store_int8_array_literal(const int64_t *values, size_t count)
{
    size_t size = count * 21 + 3;
    char *text = malloc(size);
    if (text == NULL)
        return NULL;
    size_t used = (size_t)snprintf(text, size, "{");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%" PRId64, i ? "," : "", values[i]);
    snprintf(text + used, size - used, "}");
    return text;
}
