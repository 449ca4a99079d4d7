/*
 * The RFC 5322 text of an `email` action's message, as the email sender hands it to libcurl's
 * SMTP upload: headers (From, To, Subject, Date, Message-ID, the RFC 8058 one-click
 * List-Unsubscribe pair, X-Trackd-Delivery), then a text/plain part, a text/html part, or both as
 * multipart/alternative, each quoted-printable in UTF-8. Every line ends with CRLF and is at most
 * 998 bytes; header lines stay within 78 unless a URL, id or address alone is longer.
 * Pure: no I/O, no clock, no globals.
 */
#ifndef TRACKD_DELIVERY_EMAIL_MESSAGE_H
#define TRACKD_DELIVERY_EMAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The placeholder that templates render `{{ unsubscribe_url }}` to; the real link is per
 * delivery and known only when the message is built. */
#include "trigger/trigger_template.h" /* TRIGGER_UNSUBSCRIBE_PLACEHOLDER */

/* What a message is built from; every string is only read. */
struct email_message_input {
    const char *from;            /* TRACKD_EMAIL_FROM: "addr@example.com" or "Display Name
                                    <addr@example.com>"; display name may be UTF-8 */
    const char *to;              /* one recipient address, rendered from the rule: "addr@x" or
                                    "Name <addr@x>" */
    const char *subject;         /* UTF-8, may be empty (or NULL: empty) */
    const char *text;            /* text/plain body, UTF-8; NULL when absent */
    const char *html;            /* text/html body, UTF-8; NULL when absent; at least one of
                                    text/html */
    const char *message_id;      /* the Message-ID value without angle brackets, e.g.
                                    "abc123@example.com" */
    const char *unsubscribe_url; /* absolute https?:// URL of the person's unsubscribe page, at
                                    most 900 bytes */
    const char *delivery_id;     /* the delivery's number, sent as X-Trackd-Delivery */
    int64_t date_unix;           /* seconds since the epoch, for the Date header (UTC, "+0000") */
};

/*
 * Extracts the addr-spec of a mailbox ("a@b.c" from "Name <a@b.c>", "<a@b.c>" or "a@b.c") into
 * out (for the SMTP envelope). False when it is not one plausible address: empty local part or
 * domain, no '@' or two, spaces, control characters, CR/LF, '<' '>' misplaced, longer than 254
 * bytes, non-ASCII (no SMTPUTF8 support), a local part outside RFC 5322's dot-atom or a domain
 * other than letters, digits, '-' and dots; or when it does not fit out_size. The display name
 * may be UTF-8 or a "quoted string", and must not hold '<', '>' or control characters.
 */
bool email_address_of(const char *mailbox, char *out, size_t out_size);

/*
 * Builds the message. Returns a new NUL-terminated string (caller frees) with CRLF line
 * endings, or NULL with a sentence in `error` (e.g. "action.to is not an email address",
 * "the email has neither a text nor an html body", "out of memory"). A CR or LF in from, to,
 * message_id, unsubscribe_url or delivery_id is refused, naming the header; in the subject it
 * is folded into a space. Every TRIGGER_UNSUBSCRIBE_PLACEHOLDER in a body becomes
 * unsubscribe_url (HTML-escaped in the html body); a body without one gets an unsubscribe
 * footer instead.
 */
char *email_message_build(const struct email_message_input *in, char *error, size_t error_size);

#endif
