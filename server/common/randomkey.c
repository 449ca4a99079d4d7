#include "common/randomkey.h"

#include <errno.h>
#include <sys/random.h>

void randomkey_to_hex(const unsigned char *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

bool randomkey_hex(size_t bytes, char *out)
{
    unsigned char buf[64];
    if (bytes > sizeof buf)
        return false;
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(buf + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        got += (size_t)n;
    }
    randomkey_to_hex(buf, bytes, out);
    return true;
}
