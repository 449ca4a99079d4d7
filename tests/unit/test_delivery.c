/* The pure parts of the delivery workers: backoff and the verdict on an answer. */
#include <criterion/criterion.h>

#include "delivery/delivery_worker.h"

Test(delivery, backoff_doubles_from_the_base_up_to_the_cap_with_jitter)
{
    cr_assert_eq(delivery_backoff_ms(1, 10, 3600, 1.0), 10000);
    cr_assert_eq(delivery_backoff_ms(2, 10, 3600, 1.0), 20000);
    cr_assert_eq(delivery_backoff_ms(4, 10, 3600, 1.0), 80000);
    cr_assert_eq(delivery_backoff_ms(20, 10, 3600, 1.0), 3600000, "capped");
    cr_assert_eq(delivery_backoff_ms(200, 10, 3600, 1.0), 3600000, "no overflow");
    cr_assert_eq(delivery_backoff_ms(1, 10, 3600, 0.5), 5000, "jitter scales down");
}

Test(delivery, answers_are_classified_as_the_contract_says)
{
    struct {
        long status;
        const char *body;
        int push;
        enum delivery_verdict verdict;
    } cases[] = {
        {200, "", 0, DELIVERY_SENT},
        {204, "", 0, DELIVERY_SENT},
        {0, "", 0, DELIVERY_RETRY},
        {408, "", 0, DELIVERY_RETRY},
        {429, "", 0, DELIVERY_RETRY},
        {500, "", 0, DELIVERY_RETRY},
        {503, "", 1, DELIVERY_RETRY},
        {400, "", 0, DELIVERY_DEAD},
        {401, "", 0, DELIVERY_DEAD},
        {404, "", 0, DELIVERY_DEAD},
        {404, "", 1, DELIVERY_GONE},
        {400, "{\"error\":{\"details\":[{\"errorCode\":\"UNREGISTERED\"}]}}", 1, DELIVERY_GONE},
        {400, "{\"error\":{\"status\":\"INVALID_ARGUMENT\"}}", 1, DELIVERY_DEAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(delivery_classify(cases[i].status, cases[i].body, cases[i].push),
                     cases[i].verdict, "case %zu (status %ld)", i, cases[i].status);
}
