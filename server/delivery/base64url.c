#include "delivery/base64url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t base64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = digits[v >> 18];
        out[o++] = digits[(v >> 12) & 63];
        out[o++] = digits[(v >> 6) & 63];
        out[o++] = digits[v & 63];
    }
    /* One or two bytes left: two or three digits, no padding. */
    if (len - i > 0) {
        uint32_t v = (uint32_t)in[i] << 16 | (len - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = digits[v >> 18];
        out[o++] = digits[(v >> 12) & 63];
        if (len - i == 2)
            out[o++] = digits[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

unsigned char *base64url_decode(const char *s, size_t len, size_t *out_len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len * 3 / 4 + 1);
    if (out == NULL)
        return NULL;
    uint32_t bits = 0;
    int nbits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *d = s[i] ? strchr(digits, s[i]) : NULL;
        if (d == NULL) {
            free(out);
            return NULL;
        }
        bits = bits << 6 | (uint32_t)(d - digits);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (unsigned char)(bits >> nbits);
            bits &= (1u << nbits) - 1;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
