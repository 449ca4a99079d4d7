/*
 * A growing NUL-terminated string for building text piece by piece (rendered templates, the
 * JSON argument of a write). Allocation failure sticks: once `failed`, appends do nothing, and
 * the caller checks once at the end.
 */
#ifndef TRACKD_COMMON_TEXTBUF_H
#define TRACKD_COMMON_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
    char *data; /* NULL until the first append; free() it */
    size_t len;
    size_t cap;
    bool failed;
};

/* Appends `len` bytes of `text`. */
void textbuf_append(struct textbuf *b, const char *text, size_t len);

/* Appends a NUL-terminated string. */
void textbuf_append_str(struct textbuf *b, const char *text);

#endif
