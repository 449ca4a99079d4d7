#include <criterion/criterion.h>

#include "common/timeutil.h"

struct iso_case {
    const char *text;
    bool valid;
    int64_t seconds; /* expected seconds since the epoch when valid */
    int64_t micros;  /* expected sub-second microseconds */
};

static struct iso_case parses_iso8601_cases[] = {
    {"1970-01-01T00:00:00Z", true, 0, 0},
    {"2026-11-28T09:50:00Z", true, 1795859400, 0},
    {"2026-11-28T09:50:00.123Z", true, 1795859400, 123000},
    {"2026-11-28T09:50:00.123456789Z", true, 1795859400, 123456},
    {"2026-11-28T10:50:00+01:00", true, 1795859400, 0},
    {"2026-11-28T10:50:00+0100", true, 1795859400, 0},
    {"2026-11-28T08:50:00-01", true, 1795859400, 0},
    {"2026-11-28t09:50:00z", true, 1795859400, 0},
    {"2026-11-28 09:50:00", true, 1795859400, 0},
    {"2026-11-28T09:50", true, 1795859400, 0},
    {"2026-11-28", true, 1795824000, 0},
    {"2024-02-29T00:00:00Z", true, 1709164800, 0},
    {"1969-12-31T23:59:59Z", true, -1, 0},
    {"2016-12-31T23:59:60Z", true, 1483228799, 0},
    {"2023-02-29T00:00:00Z", false, 0, 0},
    {"2026-13-01T00:00:00Z", false, 0, 0},
    {"2026-11-31T00:00:00Z", false, 0, 0},
    {"2026-11-28T24:00:00Z", false, 0, 0},
    {"2026-11-28T09:60:00Z", false, 0, 0},
    {"2026-11-28T09:50:00.Z", false, 0, 0},
    {"2026-11-28T09:50:00.1234567890Z", false, 0, 0},
    {"2026-11-28T09:50:00+25:00", false, 0, 0},
    {"2026-11-28T09:50:00Zjunk", false, 0, 0},
    {"0000-01-01T00:00:00Z", false, 0, 0},
    {"26-11-28", false, 0, 0},
    {"yesterday", false, 0, 0},
    {"", false, 0, 0},
    {"1795859400", false, 0, 0},
};

static void check_parses_iso8601(const struct iso_case *c)
{
    int64_t us = 42;
    bool ok = timeutil_parse_iso8601(c->text, &us);
    cr_assert_eq(ok, c->valid, "'%s' should be %s", c->text, c->valid ? "valid" : "invalid");
    if (c->valid)
        cr_assert_eq(us, c->seconds * TIMEUTIL_US_PER_SEC + c->micros, "'%s' parsed to %lld",
                     c->text, (long long)us);
    else
        cr_assert_eq(us, 42, "a refused text must leave the output alone");
}

Test(timeutil, parses_iso8601)
{
    for (size_t i = 0; i < sizeof parses_iso8601_cases / sizeof parses_iso8601_cases[0]; i++)
        check_parses_iso8601(&parses_iso8601_cases[i]);
}

Test(timeutil, formats_what_it_parses)
{
    char text[TIMEUTIL_FORMAT_SIZE];
    timeutil_format(INT64_C(1795859400123456), text);
    cr_assert_str_eq(text, "2026-11-28T09:50:00.123456Z");
    int64_t back = 0;
    cr_assert(timeutil_parse_iso8601(text, &back));
    cr_assert_eq(back, INT64_C(1795859400123456));
    timeutil_format(-1, text);
    cr_assert_str_eq(text, "1969-12-31T23:59:59.999999Z");
}
