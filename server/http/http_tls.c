#include <stdio.h>

#include "http/http_internal.h"

bool http_check_options(const struct http_options *options, FILE *errors)
{
    (void)options;
    (void)errors;
    return true;
}
