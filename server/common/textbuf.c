#include "common/textbuf.h"

#include <stdlib.h>
#include <string.h>

void textbuf_append(struct textbuf *b, const char *text, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void textbuf_append_str(struct textbuf *b, const char *text)
{
    textbuf_append(b, text, strlen(text));
}
