/*
 * Small files read whole: certificates, keys and key files named by settings. Every reader of
 * such a file reports the same reasons ("cannot read: No such file or directory", "cannot read:
 * Is a directory", "larger than N bytes"), and a key never lingers in freed memory.
 */
#ifndef TRACKD_COMMON_SMALL_FILE_H
#define TRACKD_COMMON_SMALL_FILE_H

#include <stddef.h>

/* The whole of `path`, at most `max` bytes, as a new NUL-terminated buffer (*len_out bytes
 * before the NUL) that the caller releases with small_file_free. NULL with the reason in `why`
 * when it cannot be opened or read, or is larger. */
char *small_file_read(const char *path, size_t max, size_t *len_out, char *why, size_t why_size);

/* Wipes the `len` bytes of `text` (it may hold a private key), then frees it; accepts NULL. */
void small_file_free(char *text, size_t len);

#endif
