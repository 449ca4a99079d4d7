/* The error registry (errors.def) as an enum, with lookups for status, reason and hint. */
#ifndef TRACKD_COMMON_ERRORS_H
#define TRACKD_COMMON_ERRORS_H

enum trackd_error {
#define TRACKD_ERROR(name, status, reason, hint) TRACKD_ERR_##name,
#include "common/errors.def"
#undef TRACKD_ERROR
    TRACKD_ERR_COUNT_
};

/* The HTTP status an error maps to. */
unsigned errors_http_status(enum trackd_error err);

/* The stable reason word ("invalid_field"); never NULL. */
const char *errors_reason(enum trackd_error err);

/* A one-sentence description; never NULL. */
const char *errors_hint(enum trackd_error err);

#endif
