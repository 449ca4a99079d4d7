/*
 * A rule's "recheck": when one of its deliveries falls due, its conditions are checked again,
 * on the triggering event and the person as they are now (an attribute changed since the
 * firing, a plan upgraded): a delivery whose rule no longer holds is skipped.
 */
#ifndef TRACKD_DELIVERY_RECHECK_H
#define TRACKD_DELIVERY_RECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_engine.h"

enum recheck_verdict {
    RECHECK_HOLDS,   /* send it (also when its rule is gone: it fired as it was then) */
    RECHECK_SKIPPED, /* the conditions no longer hold: marked skipped, with the reason */
    RECHECK_ERROR,   /* the database could not be read: `error` says why (retry later) */
};

/* Checks delivery `delivery_id` again and, when its rule no longer holds, marks it skipped. */
enum recheck_verdict delivery_recheck(struct store *store, int64_t delivery_id, char *error,
                                      size_t error_size);

#endif
