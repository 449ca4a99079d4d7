/* Random identifiers and secrets from the kernel's random source (getrandom(2)). */
#ifndef TRACKD_COMMON_RANDOMKEY_H
#define TRACKD_COMMON_RANDOMKEY_H

#include <stdbool.h>
#include <stddef.h>

/* Fills `out` with 2*bytes lowercase hex digits from `bytes` random bytes plus a NUL;
 * `out` must hold 2*bytes+1 chars. Returns false if the kernel gave no randomness. */
bool randomkey_hex(size_t bytes, char *out);

/* Writes the lowercase hex form of `len` bytes to `out` (2*len+1 chars). */
void randomkey_to_hex(const unsigned char *data, size_t len, char *out);

#endif
