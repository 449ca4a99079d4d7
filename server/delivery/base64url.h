/*
 * Unpadded base64url (RFC 4648 §5, as JWTs use it, RFC 7515 §2): the encoding of the tokens
 * FCM's OAuth exchange and APNs need. Pure.
 */
#ifndef TRACKD_DELIVERY_BASE64URL_H
#define TRACKD_DELIVERY_BASE64URL_H

#include <stddef.h>

/* Room for the unpadded base64url form of `n` bytes, with its NUL. */
#define BASE64URL_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Writes the unpadded base64url form of `len` bytes to `out`, which must hold
 * BASE64URL_SIZE(len) chars, NUL-terminated. Returns the length written (without the NUL). */
size_t base64url_encode(const unsigned char *in, size_t len, char *out);

/* The bytes of `len` characters of unpadded base64url, in a new buffer (with a NUL after them,
 * for text) that the caller frees; *out_len their count. NULL on any other character or an
 * impossible length. */
unsigned char *base64url_decode(const char *in, size_t len, size_t *out_len);

#endif
