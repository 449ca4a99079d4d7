/* SHA-256 (FIPS 180-4), used to store workspace keys hashed. Not for secrets at rest beyond that.
 */
#ifndef TRACKD_COMMON_SHA256_H
#define TRACKD_COMMON_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

/* Writes the digest of `len` bytes at `data` to `digest`. */
void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_SIZE]);

/* Compares two digests in time independent of where they differ. */
bool sha256_equal(const uint8_t a[SHA256_DIGEST_SIZE], const uint8_t b[SHA256_DIGEST_SIZE]);

#endif
