/* How many refused calls are kept one by one: ingest/rejection_limit.c. */
#include <criterion/criterion.h>

#include "common/timeutil.h"
#include "ingest/rejection_limit.h"

#define MINUTE (60 * TIMEUTIL_US_PER_SEC)
/* 2026-12-05 12:00:00 UTC, the start of a minute. */
#define NOON INT64_C(1796472000000000)

Test(rejection_limit, keeps_the_first_n_a_minute_per_workspace_and_counts_the_rest)
{
    struct rejection_limit *limit = rejection_limit_new(3);
    int kept_a = 0, kept_b = 0;
    for (int i = 0; i < 10; i++) {
        kept_a += rejection_limit_admit(limit, 1, NOON + i * TIMEUTIL_US_PER_SEC);
        kept_b += rejection_limit_admit(limit, 2, NOON + i * TIMEUTIL_US_PER_SEC);
    }
    cr_assert_eq(kept_a, 3);
    cr_assert_eq(kept_b, 3);

    /* Nothing to summarise while the minute lasts. */
    struct rejection_summary out[8];
    cr_assert_eq(rejection_limit_take(limit, NOON + 30 * TIMEUTIL_US_PER_SEC, out, 8), 0);

    /* A new minute keeps three again; the last one's counts come out once. */
    cr_assert(rejection_limit_admit(limit, 1, NOON + MINUTE + 1));
    size_t n = rejection_limit_take(limit, NOON + MINUTE + 2, out, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].dropped, 7);
        cr_assert_eq(out[i].minute_us, NOON);
    }
    cr_assert_eq(rejection_limit_take(limit, NOON + MINUTE + 3, out, 8), 0);
    rejection_limit_free(limit);
}

Test(rejection_limit, calls_without_a_workspace_are_only_counted_even_without_a_limit)
{
    struct rejection_limit *limit = rejection_limit_new(0);
    cr_assert(rejection_limit_admit(limit, 3, NOON));
    for (int i = 0; i < 500; i++)
        cr_assert_not(rejection_limit_admit(limit, 0, NOON + i));
    struct rejection_summary out[2];
    cr_assert_eq(rejection_limit_take(limit, NOON + 2 * MINUTE, out, 2), 1);
    cr_assert_eq(out[0].workspace_id, 0);
    cr_assert_eq(out[0].dropped, 500);
    rejection_limit_free(limit);
}

Test(rejection_limit, a_summary_not_taken_in_time_gathers_the_next_minute)
{
    struct rejection_limit *limit = rejection_limit_new(1);
    cr_assert(rejection_limit_admit(limit, 7, NOON));
    cr_assert_not(rejection_limit_admit(limit, 7, NOON));
    cr_assert(rejection_limit_admit(limit, 7, NOON + MINUTE));
    cr_assert_not(rejection_limit_admit(limit, 7, NOON + MINUTE));
    cr_assert_not(rejection_limit_admit(limit, 7, NOON + MINUTE));
    struct rejection_summary out[1];
    cr_assert_eq(rejection_limit_take(limit, NOON + 5 * MINUTE, out, 1), 1);
    cr_assert_eq(out[0].dropped, 3);
    cr_assert_eq(out[0].minute_us, NOON);
    /* Idle workspaces are forgotten: nothing more comes out. */
    cr_assert_eq(rejection_limit_take(limit, NOON + 6 * MINUTE, out, 1), 0);
    rejection_limit_free(limit);
    rejection_limit_free(NULL);
}
