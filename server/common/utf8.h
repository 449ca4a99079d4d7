/* UTF-8 checks for text that reaches PostgreSQL outside a JSON parser (paths, raw payloads). */
#ifndef TRACKD_COMMON_UTF8_H
#define TRACKD_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when `len` bytes at `s` are well-formed UTF-8 (no overlongs, surrogates or NUL). */
bool utf8_valid(const char *s, size_t len);

/* Replaces, in place, every byte that is not part of a well-formed sequence (and every NUL)
 * with '?', so that the text can be stored as PostgreSQL text. Keeps the length. */
void utf8_sanitize(char *s, size_t len);

#endif
