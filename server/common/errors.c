#include "common/errors.h"

struct error_entry {
    unsigned status;
    const char *reason;
    const char *hint;
};

static const struct error_entry registry[] = {
#define TRACKD_ERROR(name, status, reason, hint) {status, reason, hint},
#include "common/errors.def"
#undef TRACKD_ERROR
};

static const struct error_entry *lookup(enum trackd_error err)
{
    if ((unsigned)err >= TRACKD_ERR_COUNT_)
        return &registry[TRACKD_ERR_INTERNAL];
    return &registry[err];
}

unsigned errors_http_status(enum trackd_error err)
{
    return lookup(err)->status;
}

const char *errors_reason(enum trackd_error err)
{
    return lookup(err)->reason;
}

const char *errors_hint(enum trackd_error err)
{
    return lookup(err)->hint;
}
