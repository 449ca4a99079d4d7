/*
 * Request bodies sent compressed (Content-Encoding: gzip or deflate), inflated as a stream.
 *
 * Compressed bytes go in as they arrive; inflated bytes come out in blocks of at most
 * BODY_INFLATE_BLOCK to a sink that the caller gives, which may refuse more (a size limit):
 * inflation then stops at once, so a small "bomb" never costs more than the limit plus one
 * block. Pure: no I/O, no global state; one inflater per request, not shared between threads.
 */
#ifndef TRACKD_COMMON_BODY_INFLATE_H
#define TRACKD_COMMON_BODY_INFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest block handed to the sink at once. */
#define BODY_INFLATE_BLOCK (16 * 1024)

/* Heap an inflater holds while it works (zlib's state and its 32 KB window, rounded up): what
 * the HTTP layer reserves from its receive budget for each compressed upload. */
#define BODY_INFLATE_MEMORY (48 * 1024)

enum body_encoding {
    BODY_ENCODING_IDENTITY, /* not compressed */
    BODY_ENCODING_GZIP,     /* RFC 1952; several members one after another are one body */
    BODY_ENCODING_DEFLATE,  /* RFC 1950 (zlib), or the raw RFC 1951 stream some clients send */
};

/* Reads a Content-Encoding value: absent, empty or "identity" is identity; "gzip", "x-gzip" and
 * "deflate" (any case, blanks around) are those. False for anything else, including lists of
 * several encodings: the caller answers 415. */
bool body_encoding_parse(const char *header, enum body_encoding *out);

/* The name of an encoding as clients write it, for messages. */
const char *body_encoding_name(enum body_encoding encoding);

enum body_inflate_status {
    BODY_INFLATE_MORE,    /* all input taken; more may come */
    BODY_INFLATE_STOPPED, /* the sink refused a block: stop reading this body */
    BODY_INFLATE_CORRUPT, /* not a valid stream (or bytes after its end); see the message */
    BODY_INFLATE_NO_MEMORY,
};

/* Takes one inflated block; returns false to stop inflating (the body is over a limit). */
typedef bool (*body_inflate_sink)(void *cls, const char *data, size_t size);

struct body_inflater;

/* A new inflater for `encoding` (gzip or deflate), or NULL when out of memory. Free with
 * body_inflater_free. */
struct body_inflater *body_inflater_new(enum body_encoding encoding);

/* Inflates `size` more compressed bytes, handing the output to `sink`. After anything but
 * BODY_INFLATE_MORE the inflater is spent: feed it no more. */
enum body_inflate_status body_inflater_feed(struct body_inflater *inflater, const void *data,
                                            size_t size, body_inflate_sink sink, void *cls);

/* Whether the input so far ends exactly at the end of a complete stream; false for a body that
 * stopped in the middle (truncated) or never started (empty). Call when the body is over. */
bool body_inflater_complete(const struct body_inflater *inflater);

/* Why the stream was refused as corrupt (or "" if it was not), for the 400 answer. */
const char *body_inflater_error(const struct body_inflater *inflater);

/* Releases the inflater; accepts NULL. */
void body_inflater_free(struct body_inflater *inflater);

#endif
