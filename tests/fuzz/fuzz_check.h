/*
 * What every libFuzzer harness of tests/fuzz shares: the libFuzzer entry point's prototype, a
 * NUL-terminated copy of the input, and the invariants of an adapter's result. A broken invariant
 * aborts, which libFuzzer reports as a crash and saves the input that broke it.
 */
#ifndef TRACKD_FUZZ_CHECK_H
#define TRACKD_FUZZ_CHECK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "trigger/trigger_eval.h"

/* 2026-11-28T09:50:00Z: the receive time of every call the harnesses parse. */
#define FUZZ_RECEIVED_US (INT64_C(1795859400) * INT64_C(1000000))

/* Instants that PostgreSQL and timeutil_format agree on: years 0001-9999. */
#define FUZZ_EARLIEST_US (INT64_C(-62135596800) * INT64_C(1000000))
#define FUZZ_LATEST_US (INT64_C(253402300799) * INT64_C(1000000))

/* libFuzzer calls this once per input; 0 is the only allowed answer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints the broken invariant and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A malloc'd copy of `size` bytes with a NUL after them (so text[size] == '\0', as the HTTP
 * layer guarantees for bodies); the caller frees it. */
char *fuzz_copy(const uint8_t *data, size_t size);

/*
 * Checks everything an adapter promises about `result` (api.h, command.h): a clear 4xx for every
 * refusal, valid UTF-8 strings without NUL, JSON fields that parse again as the right type,
 * timestamps PostgreSQL can store, the fields each command kind needs, limits. `calls` is the
 * number of calls the request held (1 for a single call, the batch length), or 0 when unknown;
 * every call must come out as exactly one command or one problem. `batch` says whether calls
 * carry their batch index (else -1). Then turns the problems into
 * rejections, checks them, frees `result` with api_result_free and checks it is zeroed.
 */
void fuzz_check_and_free_result(struct api_result *result, size_t calls, bool batch);

/* The length of the "batch" array of a body that json_check_parse accepts as an object, or 0. */
size_t fuzz_batch_length(const char *body, size_t len);

/*
 * Fills `facts` from `root` (lent; the facts borrow from it), for the template harnesses. An object
 * may name "event" (properties), "person" (attributes), "name", "id" and "email"; any other JSON
 * value, or an object naming neither "event" nor "person", is used as both the event's properties
 * and the person's attributes.
 */
void fuzz_facts_from(json_object *root, struct trigger_facts *facts);

#endif
