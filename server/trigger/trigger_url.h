/*
 * Webhook URL templates (action.url). Pure: no I/O, no clock, no globals.
 *
 * A URL template is split in two where the authority ends (the first '/', '?' or '#' after
 * "://"): the origin, "http(s)://host[:port]", which must be written out, and the rest, where
 * templates may appear. A value rendered into the rest is percent-encoded: it stays data inside
 * the path segment, query component or fragment it is written in, and cannot add a segment, a
 * parameter or a fragment, end the query the rule wrote, or reach the host.
 */
#ifndef TRACKD_TRIGGER_URL_H
#define TRACKD_TRIGGER_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "trigger/trigger_eval.h"

/* Longest action.url as written (the template, before rendering). */
#define TRIGGER_URL_MAX_BYTES 2048

/*
 * Checks a URL template: at most TRIGGER_URL_MAX_BYTES; "http://" or "https://", then a host
 * written out (with an optional user:password@ and :port, no template); after it, templates
 * and the characters a URL may hold (RFC 3986: letters, digits, -._~ :/?#[]@ !$&'()*+,;= and
 * %XX). False with a sentence naming action.url in `message` (truncated to its size; NULL with
 * size 0 for none) when not.
 */
bool trigger_url_check(const char *url_template, char *message, size_t message_size);

/*
 * Renders a URL template that trigger_url_check accepted: the origin as written, then the rest
 * with every value percent-encoded (each byte but A-Z a-z 0-9 - . _ ~ becomes %XX), in the path,
 * the query (after the rule's first '?') and the fragment (after its first '#') alike. A path
 * segment that a value makes "." or ".." has its dots encoded too (%2E), so that no one removes
 * it as a dot-segment. Returns a new string the caller frees; NULL when out of memory, or when
 * the origin holds a template (trigger_url_check refuses it).
 */
char *trigger_render_url(const char *url_template, const struct trigger_facts *facts);

/* The length of the origin of a URL starting "http://" or "https://": up to the first '/', '?'
 * or '#' after the scheme, or the whole text. 0 for any other text. */
size_t trigger_url_origin_length(const char *url);

#endif
