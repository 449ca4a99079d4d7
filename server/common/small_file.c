#include "common/small_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *small_file_read(const char *path, size_t max, size_t *len_out, char *why, size_t why_size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(why, why_size, "cannot read: %s", strerror(errno));
        return NULL;
    }
    /* One byte more than allowed tells a file of exactly `max` bytes from a larger one. */
    char *text = malloc(max + 1);
    size_t len = text ? fread(text, 1, max + 1, file) : 0;
    bool failed = text == NULL || ferror(file);
    int read_errno = text == NULL ? ENOMEM : errno; /* EISDIR for a directory */
    fclose(file);
    if (failed || len > max) {
        if (failed)
            snprintf(why, why_size, "cannot read: %s", strerror(read_errno));
        else
            snprintf(why, why_size, "larger than %zu bytes", max);
        small_file_free(text, len);
        return NULL;
    }
    text[len] = '\0';
    *len_out = len;
    return text;
}

void small_file_free(char *text, size_t len)
{
    if (text == NULL)
        return;
    explicit_bzero(text, len);
    free(text);
}
