/*
 * The email messages handed to SMTP (email_message.h). Every message is taken apart again by the
 * small decoders below (header unfolding, RFC 2047 "B" words, quoted-printable, multipart
 * splitting), written here independently of the module, so the tests check what a mail reader
 * would show, and that the wire form keeps the line rules (CRLF only, 998, 78 and 76).
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/email_message.h"

#define URL "https://shop.example.com/unsubscribe?d=q7Zx&sig=a1b2"
#define URL_IN_HTML "https://shop.example.com/unsubscribe?d=q7Zx&amp;sig=a1b2"
#define PLACEHOLDER TRIGGER_UNSUBSCRIBE_PLACEHOLDER
#define TEXT_FOOTER "\r\n\r\n--\r\nUnsubscribe: " URL "\r\n"
#define HTML_FOOTER                                                                                \
    "<p style=\"font-size:12px;color:#666\"><a href=\"" URL_IN_HTML "\">Unsubscribe</a></p>"

static struct email_message_input input(const char *text, const char *html)
{
    return (struct email_message_input){
        .from = "Trackd Shop <shop@example.com>",
        .to = "Ann <ann@example.org>",
        .subject = "Your order shipped",
        .text = text,
        .html = html,
        .message_id = "abc123@example.com",
        .unsubscribe_url = URL,
        .delivery_id = "q7Zx3H0kYVx0mS9Ab1c2dQ",
        .date_unix = 1796533946, /* Sun, 06 Dec 2026 05:12:26 UTC */
    };
}

/* ---- Independent decoders ---- */

/* Every line of `s` ends with CRLF (no bare CR or LF) and holds at most `max` bytes before it. */
static void assert_lines(const char *s, size_t max, const char *what)
{
    size_t len = strlen(s);
    cr_assert(len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n', "%s does not end with CRLF",
              what);
    for (const char *line = s; *line != '\0';) {
        const char *end = line;
        while (*end != '\r' && *end != '\n')
            end++;
        cr_assert(end[0] == '\r' && end[1] == '\n', "bare CR or LF in %s at byte %zu", what,
                  (size_t)(end - s));
        cr_assert((size_t)(end - line) <= max, "a line of %s has %zu bytes (max %zu): %.*s", what,
                  (size_t)(end - line), max, (int)(end - line), line);
        line = end + 2;
    }
}

/* A copy of `s` with each \r\n, lone \r and lone \n as CRLF. */
static char *crlf(const char *s)
{
    char *out = malloc(2 * strlen(s) + 1);
    size_t k = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n') {
            out[k++] = '\r';
            out[k++] = '\n';
            if (p[0] == '\r' && p[1] == '\n')
                p++;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return out;
}

static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Header `name` of the header block `head`: unfolded (CRLF before whitespace removed), without
 * the space after the colon. NULL when absent. `raw` gets the folded form when not NULL. */
static char *header(const char *head, const char *name, char **raw)
{
    size_t n = strlen(name);
    for (const char *line = head; *line != '\0';) {
        const char *end = line;
        while (!(end[0] == '\r' && end[1] == '\n' && end[2] != ' ' && end[2] != '\t'))
            end++;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            if (*v == ' ')
                v++;
            if (raw != NULL)
                *raw = strndup(line, (size_t)(end - line));
            char *out = malloc((size_t)(end - v) + 1);
            size_t k = 0;
            for (const char *p = v; p < end; p++) {
                if (p[0] == '\r' && p[1] == '\n')
                    p++;
                else
                    out[k++] = *p;
            }
            out[k] = '\0';
            return out;
        }
        line = end + 2;
    }
    return NULL;
}

static size_t base64_decode(const char *s, size_t len, unsigned char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    cr_assert(len % 4 == 0, "base64 of %zu characters: %.*s", len, (int)len, s);
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = s[i + j];
            const char *at = c == '=' ? NULL : strchr(alphabet, c);
            cr_assert(c == '=' || (c != '\0' && at != NULL), "not base64: %c", c);
            pad += c == '=';
            v = v << 6 | (at ? (uint32_t)(at - alphabet) : 0);
        }
        out[k++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[k++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[k++] = (unsigned char)v;
    }
    return k;
}

/* Whole UTF-8 sequences only (structurally: a lead byte and its continuation bytes). */
static bool utf8_whole(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = p[i] < 0x80             ? 1
                     : (p[i] & 0xE0) == 0xC0 ? 2
                     : (p[i] & 0xF0) == 0xE0 ? 3
                     : (p[i] & 0xF8) == 0xF0 ? 4
                                             : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t j = 1; j < len; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* RFC 2047: "=?UTF-8?B?...?=" words decoded, whitespace between two adjacent words dropped.
 * Checks each word's length (at most 75) and, when `whole_chars`, that each holds whole UTF-8
 * characters. `words` gets the number of words. */
static char *decode_words(const char *value, bool whole_chars, size_t *words)
{
    char *out = malloc(strlen(value) + 1);
    size_t k = 0, count = 0;
    bool after_word = false;
    for (const char *p = value; *p != '\0';) {
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            const char *end = strstr(p + 10, "?=");
            cr_assert_not_null(end, "unterminated encoded word: %s", p);
            cr_assert(end + 2 - p <= 75, "an encoded word of %zu characters",
                      (size_t)(end + 2 - p));
            size_t n = base64_decode(p + 10, (size_t)(end - p - 10), (unsigned char *)out + k);
            cr_assert(!whole_chars || utf8_whole((unsigned char *)out + k, n),
                      "an encoded word splits a character: %.*s", (int)(end + 2 - p), p);
            k += n;
            count++;
            p = end + 2;
            after_word = true;
            continue;
        }
        if (after_word && (*p == ' ' || *p == '\t')) {
            const char *q = p + strspn(p, " \t");
            if (strncmp(q, "=?UTF-8?B?", 10) == 0) {
                p = q;
                continue;
            }
        }
        after_word = false;
        out[k++] = *p++;
    }
    out[k] = '\0';
    if (words != NULL)
        *words = count;
    return out;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Quoted-printable decoding that also checks the encoder's promises: lines of at most 76,
 * only printable ASCII, space and tab literally, no whitespace before a line break, no '.' or
 * "From " opening a line, uppercase hex. Hard breaks stay CRLF. */
static char *qp_decode(const char *s)
{
    assert_lines(s, 76, "a quoted-printable part");
    char *out = malloc(strlen(s) + 1);
    size_t k = 0;
    bool line_start = true;
    for (const char *p = s; *p != '\0';) {
        cr_assert(!line_start || (*p != '.' && strncmp(p, "From ", 5) != 0),
                  "a line opens with '.' or \"From \": %.40s", p);
        line_start = false;
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
            line_start = true;
        } else if (*p == '=') {
            int hi = hex_value(p[1]), lo = hex_value(p[2]);
            cr_assert(hi >= 0 && lo >= 0, "bad escape: %.3s", p);
            out[k++] = (char)(hi * 16 + lo);
            p += 3;
        } else if (p[0] == '\r' && p[1] == '\n') {
            out[k++] = '\r';
            out[k++] = '\n';
            p += 2;
            line_start = true;
        } else {
            unsigned char c = (unsigned char)*p;
            cr_assert((c >= 0x20 && c < 0x7F) || c == '\t', "literal byte 0x%02x", c);
            cr_assert(!((c == ' ' || c == '\t') && p[1] == '\r'), "whitespace before a break");
            out[k++] = *p++;
        }
    }
    out[k] = '\0';
    return out;
}

/* A message taken apart: its header block and the decoded bodies (NULL when absent). */
struct decoded {
    char *head;
    char *text;
    char *html;
    char *boundary; /* NULL for a single part */
};

/* Sets *text or *html from one part's headers and encoded content. */
static void decode_part(const char *head, const char *content, struct decoded *d)
{
    char *type = header(head, "Content-Type", NULL);
    char *encoding = header(head, "Content-Transfer-Encoding", NULL);
    cr_assert_not_null(type);
    cr_assert_not_null(encoding);
    cr_assert_str_eq(encoding, "quoted-printable");
    if (strcmp(type, "text/plain; charset=utf-8") == 0) {
        cr_assert_null(d->text, "two text parts");
        d->text = qp_decode(content);
    } else {
        cr_assert_str_eq(type, "text/html; charset=utf-8");
        cr_assert_null(d->html, "two html parts");
        d->html = qp_decode(content);
    }
    free(type);
    free(encoding);
}

/* Splits a built message (which it frees) and checks the whole: CRLF only, lines of at most 998
 * bytes, the boundary only on delimiter lines, text/plain before text/html. */
static struct decoded decode(char *msg)
{
    cr_assert_not_null(msg);
    assert_lines(msg, 998, "the message");
    struct decoded d = {0};
    const char *blank = strstr(msg, "\r\n\r\n");
    cr_assert_not_null(blank);
    d.head = strndup(msg, (size_t)(blank + 2 - msg));
    const char *body = blank + 4;
    char *type = header(d.head, "Content-Type", NULL);
    cr_assert_not_null(type);
    const char *param = strstr(type, "boundary=\"");
    if (param == NULL) {
        decode_part(d.head, body, &d);
        free(type);
        free(msg);
        return d;
    }
    cr_assert(strncmp(type, "multipart/alternative;", 22) == 0, "%s", type);
    param += strlen("boundary=\"");
    d.boundary = strndup(param, strcspn(param, "\""));
    free(type);

    /* Once in the header, then on the three delimiter lines only. */
    cr_assert_eq(count_of(msg, d.boundary), 4, "the boundary occurs %zu times",
                 count_of(msg, d.boundary));
    char open[128], delimiter[128];
    snprintf(open, sizeof open, "--%s\r\n", d.boundary);
    snprintf(delimiter, sizeof delimiter, "\r\n--%s", d.boundary);
    cr_assert(strncmp(body, open, strlen(open)) == 0, "the body does not open with a delimiter");
    const char *p = body + strlen(open);
    bool text_first = false;
    for (size_t parts = 0;; parts++) {
        cr_assert(parts < 2, "more than two parts");
        const char *end = strstr(p, delimiter);
        cr_assert_not_null(end, "no closing delimiter");
        const char *part_blank = strstr(p, "\r\n\r\n");
        cr_assert(part_blank != NULL && part_blank < end, "a part without headers");
        char *part_head = strndup(p, (size_t)(part_blank + 2 - p));
        char *content = strndup(part_blank + 4, (size_t)(end - part_blank - 4));
        decode_part(part_head, content, &d);
        if (parts == 0)
            text_first = d.text != NULL;
        free(part_head);
        free(content);
        const char *after = end + strlen(delimiter);
        if (strncmp(after, "--\r\n", 4) == 0) {
            cr_assert_str_eq(after + 4, "", "something after the closing delimiter");
            break;
        }
        cr_assert(strncmp(after, "\r\n", 2) == 0, "a delimiter line goes on: %.20s", after);
        p = after + 2;
    }
    cr_assert(text_first, "text/plain must come before text/html (RFC 2046)");
    free(msg);
    return d;
}

static void decoded_free(struct decoded *d)
{
    free(d->head);
    free(d->text);
    free(d->html);
    free(d->boundary);
}

static struct decoded build(const struct email_message_input *in)
{
    char error[256] = "";
    char *msg = email_message_build(in, error, sizeof error);
    cr_assert_not_null(msg, "refused: %s", error);
    return decode(msg);
}

/* The subject as a reader shows it; asserts every line of the header block is within 78. */
static char *subject_of(const struct email_message_input *in, size_t *words, bool whole_chars)
{
    struct decoded d = build(in);
    assert_lines(d.head, 78, "the header block");
    char *value = header(d.head, "Subject", NULL);
    cr_assert_not_null(value);
    char *subject = decode_words(value, whole_chars, words);
    free(value);
    decoded_free(&d);
    return subject;
}

static void assert_refused(const struct email_message_input *in, const char *expected)
{
    char error[256] = "";
    char *msg = email_message_build(in, error, sizeof error);
    cr_assert_null(msg, "built although %s", expected);
    cr_assert(strstr(error, expected) != NULL, "error \"%s\" does not mention \"%s\"", error,
              expected);
}

/* ---- Headers ---- */

Test(email_message, headers_carry_the_delivery_and_one_click_unsubscribe)
{
    struct email_message_input in = input("Hi", NULL);
    struct decoded d = build(&in);
    static const char *const expected[][2] = {
        {"From", "Trackd Shop <shop@example.com>"},
        {"To", "Ann <ann@example.org>"},
        {"Subject", "Your order shipped"},
        {"Date", "Sun, 06 Dec 2026 05:12:26 +0000"},
        {"Message-ID", "<abc123@example.com>"},
        {"MIME-Version", "1.0"},
        {"List-Unsubscribe", "<" URL ">"},
        {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
        {"X-Trackd-Delivery", "q7Zx3H0kYVx0mS9Ab1c2dQ"},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char *value = header(d.head, expected[i][0], NULL);
        cr_assert_not_null(value, "no %s header", expected[i][0]);
        cr_assert_str_eq(value, expected[i][1], "%s", expected[i][0]);
        free(value);
    }
    assert_lines(d.head, 78, "the header block");
    decoded_free(&d);
}

Test(email_message, date_is_rfc5322_in_utc_without_the_locale)
{
    static const struct {
        int64_t unix_seconds;
        const char *date;
    } cases[] = {
        {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
        {1709251199, "Thu, 29 Feb 2024 23:59:59 +0000"},
        {1796533946, "Sun, 06 Dec 2026 05:12:26 +0000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct email_message_input in = input("Hi", NULL);
        in.date_unix = cases[i].unix_seconds;
        struct decoded d = build(&in);
        char *date = header(d.head, "Date", NULL);
        cr_assert_str_eq(date, cases[i].date);
        free(date);
        decoded_free(&d);
    }
}

Test(email_message, ascii_subject_is_sent_as_it_is)
{
    struct email_message_input in = input("Hi", NULL);
    size_t words = 99;
    char *subject = subject_of(&in, &words, true);
    cr_assert_str_eq(subject, "Your order shipped");
    cr_assert_eq(words, 0);
    free(subject);
}

Test(email_message, long_ascii_subject_is_folded_into_encoded_words)
{
    const char *long_subject =
        "Your order #12345 has shipped and is on its way: track it, change the address, or "
        "tell us what you think of the socks you bought last week from the autumn collection";
    struct email_message_input in = input("Hi", NULL);
    in.subject = long_subject;
    size_t words = 0;
    char *subject = subject_of(&in, &words, true);
    cr_assert_str_eq(subject, long_subject);
    cr_assert_gt(words, 2);
    free(subject);
}

Test(email_message, non_ascii_subject_never_splits_a_character)
{
    char long_subject[1024] = "";
    for (int i = 0; i < 12; i++)
        strcat(long_subject, "Grüße 👋 from Zoë’s café, ");
    struct email_message_input in = input("Hi", NULL);
    in.subject = long_subject;
    size_t words = 0;
    char *subject = subject_of(&in, &words, true);
    cr_assert_str_eq(subject, long_subject);
    cr_assert_gt(words, 5);
    free(subject);

    in.subject = "Grüße";
    subject = subject_of(&in, &words, true);
    cr_assert_str_eq(subject, "Grüße");
    cr_assert_eq(words, 1);
    free(subject);
}

Test(email_message, subject_line_breaks_and_tabs_become_spaces)
{
    struct email_message_input in = input("Hi", NULL);
    in.subject = "Hello\r\nBcc: evil@example.com\tthere\n\nend\r";
    char *subject = subject_of(&in, NULL, true);
    cr_assert_str_eq(subject, "Hello Bcc: evil@example.com there end ");
    free(subject);
}

Test(email_message, odd_subjects_round_trip)
{
    static const char *const subjects[] = {
        "",
        "=?UTF-8?B?looks encoded?=",
        "bell\a and del\x7f",
        "broken \xff\xfe utf-8 \xc3 and \xe2\x82 cut",
        "\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b"
        "\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b"
        "\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b\xf0\x9f\x91\x8b",
    };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        struct email_message_input in = input("Hi", NULL);
        in.subject = subjects[i];
        char *subject = subject_of(&in, NULL, i != 3);
        cr_assert_str_eq(subject, subjects[i], "subject %zu", i);
        free(subject);
    }
}

Test(email_message, mailboxes_are_quoted_or_encoded_as_needed)
{
    static const struct {
        const char *mailbox;
        const char *header; /* unfolded, as sent */
        const char *shown;  /* after RFC 2047 decoding */
    } cases[] = {
        {"ann@example.org", "ann@example.org", "ann@example.org"},
        {"  <ann@example.org> ", "ann@example.org", "ann@example.org"},
        {"Ann Smith <ann@example.org>", "Ann Smith <ann@example.org>", NULL},
        {"Smith, Ann <ann@example.org>", "\"Smith, Ann\" <ann@example.org>", NULL},
        {"\"Smith, Ann\" <ann@example.org>", "\"Smith, Ann\" <ann@example.org>", NULL},
        {"\"Ann \\\"the\\\" Smith\" <ann@example.org>",
         "\"Ann \\\"the\\\" Smith\" <ann@example.org>", NULL},
        {"Zoë’s Café <zoe@example.org>", NULL, "Zoë’s Café <zoe@example.org>"},
        {"\"Grüße, 👋\" <zoe@example.org>", NULL, "Grüße, 👋 <zoe@example.org>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct email_message_input in = input("Hi", NULL);
        in.to = cases[i].mailbox;
        in.from = cases[i].mailbox;
        struct decoded d = build(&in);
        assert_lines(d.head, 78, "the header block");
        for (int j = 0; j < 2; j++) {
            char *value = header(d.head, j == 0 ? "From" : "To", NULL);
            cr_assert_not_null(value);
            if (cases[i].header != NULL)
                cr_assert_str_eq(value, cases[i].header, "case %zu", i);
            if (cases[i].shown != NULL) {
                cr_assert_null(strpbrk(value, "\x80\x81\xc3\xe2\xf0"), "raw UTF-8 in a header");
                char *shown = decode_words(value, true, NULL);
                cr_assert_str_eq(shown, cases[i].shown, "case %zu", i);
                free(shown);
            }
            free(value);
        }
        decoded_free(&d);
    }
}

Test(email_message, long_display_name_folds_within_78)
{
    char name[512] = "";
    for (int i = 0; i < 8; i++)
        strcat(name, "The Very Long Name Of A Shop ");
    strcat(name, "<news@shop.example.com>");
    struct email_message_input in = input("Hi", NULL);
    in.from = name;
    struct decoded d = build(&in);
    assert_lines(d.head, 78, "the header block");
    char *value = header(d.head, "From", NULL);
    char *shown = decode_words(value, true, NULL);
    cr_assert_str_eq(shown, name);
    free(shown);
    free(value);
    decoded_free(&d);
}

/* ---- Bodies ---- */

Test(email_message, quoted_printable_round_trips_awkward_text)
{
    char body[4096] = "";
    strcat(body, "a=b, 1+1=2 and trailing spaces   \n"
                 "tab at the end\t\r\n"
                 "lone CR\rthen LF\n\n"
                 ".a dot opens this line\n"
                 "From the shop, with love\n"
                 "Grüße 👋 and \x01 control and \x7f del and \xff bad byte\n");
    for (int i = 0; i < 40; i++)
        strcat(body, "long-line ");
    strcat(body, "\n");
    for (int i = 0; i < 100; i++)
        strcat(body, "==");
    strcat(body, "\n");
    for (int i = 0; i < 90; i++)
        strcat(body, "é");
    strcat(body, "\n");
    for (int i = 0; i < 80; i++)
        strcat(body, " ");
    strcat(body, "\nno line break at the end");
    struct email_message_input in = input(body, NULL);
    struct decoded d = build(&in);
    char *normalized = crlf(body);
    char expected[8192];
    snprintf(expected, sizeof expected, "%s%s", normalized, TEXT_FOOTER);
    cr_assert_str_eq(d.text, expected);
    cr_assert_null(d.html);
    free(normalized);
    decoded_free(&d);
}

Test(email_message, random_bodies_round_trip)
{
    static const unsigned char alphabet[] = {'a',  'F',  'r',  'o',  'm',  ' ',  '\t', '=',
                                             '.',  '\r', '\n', 0xc3, 0xa9, 0xf0, 0x9f, 0x91,
                                             0x8b, 0x01, 0x7f, 'x',  '_',  '-'};
    uint32_t state = 12345;
    for (int round = 0; round < 300; round++) {
        char body[700];
        state = state * 1103515245u + 12345u;
        size_t len = (state >> 8) % (sizeof body - 1);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            body[i] = (char)alphabet[(state >> 16) % sizeof alphabet];
        }
        body[len] = '\0';
        struct email_message_input in = input(body, round % 2 ? body : NULL);
        struct decoded d = build(&in);
        char *normalized = crlf(body);
        char *expected = malloc(strlen(normalized) + sizeof TEXT_FOOTER);
        strcpy(expected, normalized);
        strcat(expected, TEXT_FOOTER);
        cr_assert_str_eq(d.text, expected, "round %d", round);
        if (round % 2) {
            char *html = malloc(strlen(normalized) + sizeof HTML_FOOTER);
            strcpy(html, normalized);
            strcat(html, HTML_FOOTER);
            cr_assert_str_eq(d.html, html, "round %d", round);
            free(html);
        }
        free(expected);
        free(normalized);
        decoded_free(&d);
    }
}

Test(email_message, placeholder_becomes_the_link_escaped_in_html)
{
    struct email_message_input in = input("Had enough? " PLACEHOLDER "\nOr: " PLACEHOLDER,
                                          "<html><body><a href=\"" PLACEHOLDER
                                          "\">Unsubscribe</a> " PLACEHOLDER "</body></html>");
    struct decoded d = build(&in);
    cr_assert_str_eq(d.text, "Had enough? " URL "\r\nOr: " URL);
    cr_assert_str_eq(d.html, "<html><body><a href=\"" URL_IN_HTML "\">Unsubscribe</a> " URL_IN_HTML
                             "</body></html>");
    decoded_free(&d);
}

Test(email_message, a_body_without_the_placeholder_gets_a_footer)
{
    static const struct {
        const char *html;
        const char *expected;
    } cases[] = {
        {"<html><BODY>Hi</BODY></html>", "<html><BODY>Hi" HTML_FOOTER "</BODY></html>"},
        {"<body>a</body> b </Body>\n", "<body>a</body> b " HTML_FOOTER "</Body>\r\n"},
        {"<p>Hi</p>", "<p>Hi</p>" HTML_FOOTER},
        {"", HTML_FOOTER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct email_message_input in = input("Hello\n", cases[i].html);
        struct decoded d = build(&in);
        cr_assert_str_eq(d.text, "Hello\r\n" TEXT_FOOTER);
        cr_assert_str_eq(d.html, cases[i].expected, "case %zu", i);
        decoded_free(&d);
    }
}

Test(email_message, one_body_is_a_single_part)
{
    struct email_message_input in = input("Only text " PLACEHOLDER, NULL);
    struct decoded d = build(&in);
    cr_assert_null(d.boundary);
    cr_assert_null(strstr(d.head, "multipart"));
    cr_assert_str_eq(d.text, "Only text " URL);
    cr_assert_null(d.html);
    decoded_free(&d);

    in = input(NULL, "<b>Only html</b> " PLACEHOLDER);
    d = build(&in);
    cr_assert_null(d.boundary);
    cr_assert_null(d.text);
    cr_assert_str_eq(d.html, "<b>Only html</b> " URL_IN_HTML);
    decoded_free(&d);
}

Test(email_message, two_bodies_are_multipart_alternative_with_a_boundary_from_the_message_id)
{
    struct email_message_input in = input("text\n", "<p>html</p>\n");
    struct decoded d = build(&in);
    cr_assert_not_null(d.boundary);
    cr_assert(strncmp(d.boundary, "=_", 2) == 0, "%s", d.boundary);
    char *first = strdup(d.boundary);
    decoded_free(&d);

    /* The same input gives the same message; another message id another boundary. */
    d = build(&in);
    cr_assert_str_eq(d.boundary, first);
    decoded_free(&d);
    in.message_id = "other@example.com";
    d = build(&in);
    cr_assert_str_neq(d.boundary, first);
    decoded_free(&d);
    free(first);
}

Test(email_message, invalid_utf8_bodies_are_carried_byte_for_byte)
{
    const char *body = "\xff\xfe\xc3(\xe2\x82\n\xf0\x9f";
    struct email_message_input in = input(body, body);
    struct decoded d = build(&in);
    char *normalized = crlf(body);
    char expected[256];
    snprintf(expected, sizeof expected, "%s%s", normalized, TEXT_FOOTER);
    cr_assert_str_eq(d.text, expected);
    snprintf(expected, sizeof expected, "%s%s", normalized, HTML_FOOTER);
    cr_assert_str_eq(d.html, expected);
    free(normalized);
    decoded_free(&d);
}

Test(email_message, a_long_unsubscribe_url_stays_on_one_line_within_998)
{
    char url[1024] = "https://shop.example.com/u?t=";
    while (strlen(url) < 900)
        strcat(url, "a");
    struct email_message_input in = input("Hi", "<p>Hi</p>");
    in.unsubscribe_url = url;
    struct decoded d = build(&in);
    char *value = header(d.head, "List-Unsubscribe", NULL);
    cr_assert_eq(strlen(value), 902);
    cr_assert(strstr(d.text, url) != NULL);
    free(value);
    decoded_free(&d);

    strcat(url, "a");
    assert_refused(&in, "longer than 900 bytes");
}

/* ---- Refusals ---- */

Test(email_message, refuses_what_would_break_a_header)
{
    struct email_message_input in = input("Hi", NULL);
    in.to = "ann@example.org\r\nBcc: evil@example.com";
    assert_refused(&in, "To header");
    in = input("Hi", NULL);
    in.to = "Ann\n <ann@example.org>";
    assert_refused(&in, "To header");
    in = input("Hi", NULL);
    in.from = "Shop <shop@example.com>\r";
    assert_refused(&in, "From header");
    in = input("Hi", NULL);
    in.message_id = "abc@example.com>\r\nBcc: x@y.z";
    assert_refused(&in, "Message-ID header");
    in = input("Hi", NULL);
    in.unsubscribe_url = "https://x.example/u\nBcc: x@y.z";
    assert_refused(&in, "List-Unsubscribe header");
    in = input("Hi", NULL);
    in.delivery_id = "abc\r\n";
    assert_refused(&in, "X-Trackd-Delivery header");
}

Test(email_message, refuses_bad_input_naming_it)
{
    struct email_message_input in = input(NULL, NULL);
    assert_refused(&in, "the email has neither a text nor an html body");
    in = input("Hi", NULL);
    in.to = "not an address";
    assert_refused(&in, "action.to is not an email address");
    in = input("Hi", NULL);
    in.to = NULL;
    assert_refused(&in, "action.to is not an email address");
    in = input("Hi", NULL);
    in.from = "shop";
    assert_refused(&in, "TRACKD_EMAIL_FROM is not an email address");
    in = input("Hi", NULL);
    in.unsubscribe_url = "javascript:alert(1)";
    assert_refused(&in, "unsubscribe URL");
    in = input("Hi", NULL);
    in.unsubscribe_url = "https://x.example/a b";
    assert_refused(&in, "unsubscribe URL");
    in = input("Hi", NULL);
    in.message_id = "no-at-sign";
    assert_refused(&in, "Message-ID");
    in = input("Hi", NULL);
    in.message_id = "<abc@example.com>";
    assert_refused(&in, "Message-ID");
    in = input("Hi", NULL);
    in.delivery_id = "";
    assert_refused(&in, "delivery id");
    in = input("Hi", NULL);
    in.date_unix = INT64_MAX;
    assert_refused(&in, "Date");

    /* A NULL error buffer is allowed. */
    in = input(NULL, NULL);
    cr_assert_null(email_message_build(&in, NULL, 0));
}

/* ---- Envelope addresses ---- */

Test(email_message, address_of_takes_the_addr_spec_of_plausible_mailboxes)
{
    static const struct {
        const char *mailbox;
        const char *address; /* NULL: refused */
    } cases[] = {
        {"a@b.c", "a@b.c"},
        {"Name <a@b.c>", "a@b.c"},
        {"<a@b.c>", "a@b.c"},
        {"  Ann Smith   <ann.smith+tag@mail.example.org>  ", "ann.smith+tag@mail.example.org"},
        {"\"Smith, Ann <boss>\" <a@b.c>", NULL},
        {"\"Smith, Ann\" <a@b.c>", "a@b.c"},
        {"Zoë <zoe@example.org>", "zoe@example.org"},
        {"user@localhost", "user@localhost"},
        {"a@b@c", NULL},
        {"a b@c.d", NULL},
        {"", NULL},
        {"   ", NULL},
        {"a@", NULL},
        {"@b", NULL},
        {"ab", NULL},
        {"é@x.y", NULL},
        {"a@é.y", NULL},
        {"a@b.c\r\n", NULL},
        {"a@b.c\n", NULL},
        {"Ann\t<a@b.c>", NULL},
        {"a@b.c>", NULL},
        {"<a@b.c", NULL},
        {"<a@b.c> x", NULL},
        {"<<a@b.c>>", NULL},
        {"<>", NULL},
        {"Name <>", NULL},
        {"a..b@c.d", NULL},
        {".a@c.d", NULL},
        {"a@c..d", NULL},
        {"a@c.d.", NULL},
        {"\"quoted\"@c.d", NULL},
        {"a@[127.0.0.1]", NULL},
        {"a,b@c.d", NULL},
        {"\"Unclosed <a@b.c>", NULL},
        {"\"Escaped close\\\" <a@b.c>", NULL},
        {"Un\"balanced <a@b.c>", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[300] = "untouched";
        bool ok = email_address_of(cases[i].mailbox, out, sizeof out);
        if (cases[i].address == NULL) {
            cr_assert_not(ok, "accepted \"%s\" as %s", cases[i].mailbox, out);
        } else {
            cr_assert(ok, "refused \"%s\"", cases[i].mailbox);
            cr_assert_str_eq(out, cases[i].address);
        }
    }
    char small[6];
    cr_assert_not(email_address_of("a@b.cd", small, sizeof small), "does not fit");
    cr_assert(email_address_of("a@b.c", small, sizeof small));
    cr_assert_not(email_address_of(NULL, small, sizeof small));
}

Test(email_message, address_of_limits_lengths)
{
    char mailbox[400], out[400];
    memset(mailbox, 'a', 64);
    strcpy(mailbox + 64, "@example.org");
    cr_assert(email_address_of(mailbox, out, sizeof out));
    memset(mailbox, 'a', 65);
    strcpy(mailbox + 65, "@example.org");
    cr_assert_not(email_address_of(mailbox, out, sizeof out), "local part over 64");

    strcpy(mailbox, "a@");
    while (strlen(mailbox) < 250)
        strcat(mailbox, "b.");
    strcat(mailbox, "cd"); /* 252 */
    cr_assert(email_address_of(mailbox, out, sizeof out));
    strcat(mailbox, "ef"); /* 254 */
    cr_assert(email_address_of(mailbox, out, sizeof out));
    strcat(mailbox, "g"); /* 255 */
    cr_assert_not(email_address_of(mailbox, out, sizeof out), "longer than 254");
}
