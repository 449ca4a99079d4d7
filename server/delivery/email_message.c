#include "delivery/email_message.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/textbuf.h"

enum {
    ADDRESS_MAX = 254,     /* RFC 5321 §4.5.3.1.3 (a path of 256 with its brackets) */
    LOCAL_PART_MAX = 64,   /* RFC 5321 §4.5.3.1.1 */
    HEADER_LINE_MAX = 78,  /* RFC 5322 §2.1.1: lines "SHOULD" stay within 78 */
    ENCODED_WORD_MAX = 75, /* RFC 2047 §2 */
    QP_LINE_MAX = 76,      /* RFC 2045 §6.7 rule 5 */
    URL_MAX = 900,         /* keeps "List-Unsubscribe: <url>" within 998 unfolded */
    ID_MAX = 250,          /* Message-ID and delivery id: one header line within 998 */
    PLAIN_NAME_MAX = 60,   /* longer ASCII display names go as encoded-words, which fold */
};

static const char ENCODED_WORD_OPEN[] = "=?UTF-8?B?";
static const char ENCODED_WORD_CLOSE[] = "?=";

/* ---- Addresses ---- */

/* A mailbox as written: its display name (raw: maybe "quoted", maybe empty) and its addr-spec,
 * both pointing into the caller's string. */
struct mailbox {
    const char *name;
    size_t name_len;
    const char *addr;
    size_t addr_len;
};

/* RFC 5322 atext: what a dot-atom (and an unquoted phrase word) is made of. */
static bool is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dots only between non-empty runs: no leading, trailing or doubled '.'. */
static bool dots_well_placed(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 1; i < len; i++)
        if (s[i] == '.' && s[i - 1] == '.')
            return false;
    return true;
}

/* local@domain with a dot-atom local part (no quoted local parts: nobody needs them and they
 * would reach the SMTP envelope) and a host name for domain (no address literals). */
static bool addr_spec_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (len > ADDRESS_MAX || at == NULL || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
        return false;
    size_t local_len = (size_t)(at - s), domain_len = len - local_len - 1;
    const char *domain = at + 1;
    if (local_len > LOCAL_PART_MAX || !dots_well_placed(s, local_len) ||
        !dots_well_placed(domain, domain_len))
        return false;
    for (size_t i = 0; i < local_len; i++)
        if (s[i] != '.' && !is_atext((unsigned char)s[i]))
            return false;
    for (size_t i = 0; i < domain_len; i++) {
        char c = domain[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A display name as written is either a "quoted string" (with \-escapes) or text without '"'. */
static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || s[0] != '"')
        return memchr(s, '"', len) == NULL;
    if (len < 2 || s[len - 1] != '"')
        return false;
    size_t i = 1;
    while (i < len - 1) {
        if (s[i] == '"')
            return false;
        i += s[i] == '\\' ? 2 : 1; /* a backslash escapes the next character */
    }
    return i == len - 1; /* else the closing quote was escaped */
}

/*
 * Splits "addr", "<addr>" or "Name <addr>" (spaces around allowed) into a mailbox. False for
 * control characters anywhere (CR and LF included), anything but exactly one '<' before a final
 * '>' (or neither), or an implausible addr-spec.
 */
static bool parse_mailbox(const char *text, struct mailbox *m)
{
    if (text == NULL)
        return false;
    size_t start = 0, end = strlen(text), lt = 0, gt = 0;
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7F)
            return false;
        lt += c == '<';
        gt += c == '>';
    }
    while (start < end && text[start] == ' ')
        start++;
    while (end > start && text[end - 1] == ' ')
        end--;
    if (lt == 0 && gt == 0) {
        m->name = text + start;
        m->name_len = 0;
        m->addr = text + start;
        m->addr_len = end - start;
    } else if (lt == 1 && gt == 1 && text[end - 1] == '>') {
        const char *open = strchr(text, '<');
        size_t name_end = (size_t)(open - text);
        while (name_end > start && text[name_end - 1] == ' ')
            name_end--;
        m->name = text + start;
        m->name_len = name_end - start;
        m->addr = open + 1;
        m->addr_len = (size_t)(text + end - 1 - m->addr);
    } else {
        return false;
    }
    return addr_spec_ok(m->addr, m->addr_len) && name_ok(m->name, m->name_len);
}

bool email_address_of(const char *mailbox, char *out, size_t out_size)
{
    struct mailbox m;
    if (out == NULL || !parse_mailbox(mailbox, &m) || m.addr_len + 1 > out_size)
        return false;
    memcpy(out, m.addr, m.addr_len);
    out[m.addr_len] = '\0';
    return true;
}

/* ---- Header encodings ---- */

static void put_base64(struct textbuf *b, const unsigned char *p, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char quad[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                        i + 1 < len ? alphabet[(v >> 6) & 63] : '=',
                        i + 2 < len ? alphabet[v & 63] : '='};
        textbuf_append(b, quad, sizeof quad);
    }
}

/* The length of the character at p (of `left` bytes): that of a UTF-8 sequence whose
 * continuation bytes are all there, else 1 (an invalid byte counts as one character). */
static size_t char_length(const unsigned char *p, size_t left)
{
    size_t n = p[0] < 0x80             ? 1
               : (p[0] & 0xE0) == 0xC0 ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 1;
    if (n > left)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

/*
 * Appends `len` (> 0) bytes of `text` as RFC 2047 "B" encoded-words, the current line being at
 * column `col`: each word at most 75 characters, each line at most 78, further words on
 * continuation lines ("\r\n "), which decoders join without the whitespace. A word holds whole
 * characters only, so no decoder meets half a UTF-8 sequence. Returns the column after the last
 * word.
 */
static size_t put_encoded_words(struct textbuf *b, size_t col, const unsigned char *text,
                                size_t len)
{
    const size_t overhead = sizeof ENCODED_WORD_OPEN - 1 + sizeof ENCODED_WORD_CLOSE - 1;
    size_t done = 0;
    while (done < len) {
        size_t room = col < HEADER_LINE_MAX ? HEADER_LINE_MAX - col : 0;
        if (room > ENCODED_WORD_MAX)
            room = ENCODED_WORD_MAX;
        if (room < overhead + 8) { /* not even 4 bytes fit (headers here start far left) */
            textbuf_append_str(b, "\r\n ");
            col = 1;
            continue;
        }
        size_t max_bytes = (room - overhead) / 4 * 3, take = 0;
        while (done + take < len) {
            size_t n = char_length(text + done + take, len - done - take);
            if (take + n > max_bytes)
                break;
            take += n;
        }
        textbuf_append_str(b, ENCODED_WORD_OPEN);
        put_base64(b, text + done, take);
        textbuf_append_str(b, ENCODED_WORD_CLOSE);
        col += overhead + (take + 2) / 3 * 4;
        done += take;
        if (done < len) {
            textbuf_append_str(b, "\r\n ");
            col = 1;
        }
    }
    return col;
}

/* True when text may stand in a header as it is: printable ASCII and spaces, and nothing a
 * reader would take for an encoded-word. */
static bool plain_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F)
            return false;
        if (c == '=' && i + 1 < len && s[i + 1] == '?')
            return false;
    }
    return true;
}

/* Subject: CR, LF and TAB runs become one space (a line break must never reach a header); short
 * printable ASCII goes as it is, anything else as encoded-words. */
static void put_subject(struct textbuf *b, const char *subject)
{
    static const char name[] = "Subject:";
    struct textbuf clean = {0};
    for (const char *p = subject ? subject : ""; *p != '\0';) {
        size_t run = strcspn(p, "\r\n\t");
        textbuf_append(&clean, p, run);
        p += run;
        if (*p != '\0') {
            textbuf_append(&clean, " ", 1);
            p += strspn(p, "\r\n\t");
        }
    }
    textbuf_append_str(b, name);
    if (clean.failed) {
        b->failed = true;
    } else if (clean.len > 0 && sizeof name + clean.len <= HEADER_LINE_MAX &&
               plain_ascii(clean.data, clean.len)) {
        textbuf_append(b, " ", 1);
        textbuf_append(b, clean.data, clean.len);
    } else if (clean.len > 0) {
        textbuf_append(b, " ", 1);
        put_encoded_words(b, sizeof name, (const unsigned char *)clean.data, clean.len);
    }
    textbuf_append_str(b, "\r\n");
    free(clean.data);
}

/* Words of atext separated by single spaces: a display name that needs no quotes. */
static bool plain_phrase(const char *s, size_t len)
{
    if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_atext((unsigned char)s[i]) && !(s[i] == ' ' && s[i - 1] != ' '))
            return false;
    return true;
}

/*
 * "From: " or "To: " and a mailbox parse_mailbox accepted: the display name (unquoted first) as
 * it is when it is a plain phrase, "quoted" when it holds specials, as encoded-words when it is
 * not ASCII or long; then <addr>, on a continuation line when it would not fit the first.
 */
static void put_mailbox_header(struct textbuf *b, const char *header, const struct mailbox *m)
{
    struct textbuf name = {0};
    bool quoted = m->name_len >= 2 && m->name[0] == '"';
    const char *raw = quoted ? m->name + 1 : m->name;
    size_t raw_len = quoted ? m->name_len - 2 : m->name_len;
    for (size_t i = 0; i < raw_len; i++) {
        if (quoted && raw[i] == '\\')
            i++;
        textbuf_append(&name, raw + i, 1);
    }
    if (name.failed) {
        b->failed = true;
        free(name.data);
        return;
    }
    textbuf_append_str(b, header);
    textbuf_append_str(b, ": ");
    size_t col = strlen(header) + 2;
    if (name.len == 0) {
        textbuf_append(b, m->addr, m->addr_len);
        textbuf_append_str(b, "\r\n");
        free(name.data);
        return;
    }
    if (name.len > PLAIN_NAME_MAX || !plain_ascii(name.data, name.len)) {
        col = put_encoded_words(b, col, (const unsigned char *)name.data, name.len);
    } else if (plain_phrase(name.data, name.len)) {
        textbuf_append(b, name.data, name.len);
        col += name.len;
    } else {
        textbuf_append(b, "\"", 1);
        for (size_t i = 0; i < name.len; i++) {
            if (name.data[i] == '"' || name.data[i] == '\\') {
                textbuf_append(b, "\\", 1);
                col++;
            }
            textbuf_append(b, name.data + i, 1);
        }
        textbuf_append(b, "\"", 1);
        col += name.len + 2;
    }
    textbuf_append_str(b, col + 2 + m->addr_len + 1 > HEADER_LINE_MAX ? "\r\n <" : " <");
    textbuf_append(b, m->addr, m->addr_len);
    textbuf_append_str(b, ">\r\n");
    free(name.data);
}

/* "Date: Sun, 06 Dec 2026 05:12:26 +0000", without the locale (strftime's names follow it).
 * False for a year outside 1900..9999. */
static bool put_date(struct textbuf *b, int64_t unix_seconds)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if ((int64_t)t != unix_seconds || gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
        tm.tm_year > 9999 - 1900)
        return false;
    char line[64];
    snprintf(line, sizeof line, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    textbuf_append_str(b, line);
    return true;
}

/* ---- Bodies ---- */

static void put_html_escaped(struct textbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            textbuf_append_str(b, "&amp;");
            break;
        case '"':
            textbuf_append_str(b, "&quot;");
            break;
        case '<':
            textbuf_append_str(b, "&lt;");
            break;
        case '>':
            textbuf_append_str(b, "&gt;");
            break;
        case '\'':
            textbuf_append_str(b, "&#39;");
            break;
        default:
            textbuf_append(b, s, 1);
        }
    }
}

/* Where the last "</body>" (any case) starts, or NULL. */
static const char *last_body_close(const char *html)
{
    const char *last = NULL;
    for (const char *p = strchr(html, '<'); p != NULL; p = strchr(p + 1, '<'))
        if (strncasecmp(p, "</body>", 7) == 0)
            last = p;
    return last;
}

/*
 * `body` with every placeholder replaced by the unsubscribe link (`link`: the URL, HTML-escaped
 * for html), or, when it has none, with an unsubscribe footer: after a text body; before the
 * last </body> of an html body, or after it when there is none.
 */
static void put_body(struct textbuf *b, const char *body, const char *url, const char *link,
                     bool html)
{
    static const char placeholder[] = TRIGGER_UNSUBSCRIBE_PLACEHOLDER;
    const char *p = body, *hit;
    bool found = false;
    while ((hit = strstr(p, placeholder)) != NULL) {
        textbuf_append(b, p, (size_t)(hit - p));
        textbuf_append_str(b, link);
        p = hit + sizeof placeholder - 1;
        found = true;
    }
    if (found) {
        textbuf_append_str(b, p);
    } else if (!html) {
        /* CRLF, not LF: after a body ending in a lone CR, an LF would join it into one break. */
        textbuf_append_str(b, body);
        textbuf_append_str(b, "\r\n\r\n--\r\nUnsubscribe: ");
        textbuf_append_str(b, url);
        textbuf_append_str(b, "\r\n");
    } else {
        const char *close = last_body_close(body);
        size_t before = close ? (size_t)(close - body) : strlen(body);
        textbuf_append(b, body, before);
        textbuf_append_str(b, "<p style=\"font-size:12px;color:#666\"><a href=\"");
        textbuf_append_str(b, link);
        textbuf_append_str(b, "\">Unsubscribe</a></p>");
        textbuf_append_str(b, body + before);
    }
}

/* Whether the byte at p must go as =XX: see put_quoted_printable. */
static bool qp_encoded(const unsigned char *p, bool line_start, bool line_end)
{
    unsigned char c = *p;
    if (c == ' ' || c == '\t')
        return line_end; /* trailing whitespace may be stripped in transit */
    if (c == '=' || c < 0x20 || c >= 0x7F)
        return true;
    /* A '.' opening a line would need SMTP dot-stuffing; "From " is mangled by mbox readers. */
    return line_start && (c == '.' || strncmp((const char *)p, "From ", 5) == 0);
}

/*
 * Appends `text` quoted-printable (RFC 2045 §6.7): \r\n, \n and a lone \r all become hard line
 * breaks (CRLF); '=', control characters and bytes of 0x80 and above are =XX, as is a space or
 * tab before a line break, a '.' or the F of "From " opening a line; lines of at most 76
 * characters, cut with soft breaks ("=\r\n"). The output ends with CRLF unless text is empty:
 * a soft break when text does not end with a line break, so that it decodes to exactly `text`.
 * It never holds "=_" ('=' is always followed by a hex digit or CR), which is what keeps the
 * "=_" boundaries of email_message_build out of it.
 */
static void put_quoted_printable(struct textbuf *b, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)text;
    size_t col = 0;
    while (*p != '\0') {
        if (*p == '\r' || *p == '\n') {
            textbuf_append_str(b, "\r\n");
            col = 0;
            p += p[0] == '\r' && p[1] == '\n' ? 2 : 1;
            continue;
        }
        bool line_end = p[1] == '\0' || p[1] == '\r' || p[1] == '\n';
        /* The last character before a line break may reach column 76; any other leaves room for
         * a soft '=' (also the last of the text, which the final soft break follows). */
        size_t limit = p[1] == '\r' || p[1] == '\n' ? QP_LINE_MAX : QP_LINE_MAX - 1;
        bool encode = qp_encoded(p, col == 0, line_end);
        if (col + (encode ? 3 : 1) > limit) {
            textbuf_append_str(b, "=\r\n");
            col = 0;
            encode = qp_encoded(p, true, line_end);
        }
        if (encode) {
            char triple[3] = {'=', hex[*p >> 4], hex[*p & 15]};
            textbuf_append(b, triple, sizeof triple);
            col += 3;
        } else {
            textbuf_append(b, (const char *)p, 1);
            col++;
        }
        p++;
    }
    if (col > 0)
        textbuf_append_str(b, "=\r\n");
}

/* ---- The message ---- */

static bool has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Non-empty, at most `max` bytes, all printable ASCII other than space, '<' and '>'. */
static bool header_token_ok(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>')
            return false;
    }
    return true;
}

/* The first problem with `in`, as a sentence, or NULL. Fills the two mailboxes. */
static const char *check_input(const struct email_message_input *in, struct mailbox *from,
                               struct mailbox *to)
{
    if (in->from != NULL && has_line_break(in->from))
        return "the From header cannot contain CR or LF (TRACKD_EMAIL_FROM)";
    if (!parse_mailbox(in->from, from))
        return "TRACKD_EMAIL_FROM is not an email address";
    if (in->to != NULL && has_line_break(in->to))
        return "the To header cannot contain CR or LF (action.to)";
    if (!parse_mailbox(in->to, to))
        return "action.to is not an email address";
    if (in->message_id == NULL)
        return "the Message-ID is missing";
    if (has_line_break(in->message_id))
        return "the Message-ID header cannot contain CR or LF";
    const char *at = strchr(in->message_id, '@');
    if (!header_token_ok(in->message_id, ID_MAX) || at == NULL || at == in->message_id ||
        at[1] == '\0')
        return "the Message-ID must be left@right in printable ASCII, at most 250 bytes";
    const char *url = in->unsubscribe_url;
    if (url == NULL)
        return "the unsubscribe URL is missing";
    if (has_line_break(url))
        return "the List-Unsubscribe header cannot contain CR or LF";
    if (strlen(url) > URL_MAX)
        return "the unsubscribe URL cannot be longer than 900 bytes";
    size_t scheme = strncasecmp(url, "https://", 8) == 0  ? 8
                    : strncasecmp(url, "http://", 7) == 0 ? 7
                                                          : 0;
    if (scheme == 0 || url[scheme] == '\0' || !header_token_ok(url, URL_MAX))
        return "the unsubscribe URL is not an absolute http(s) URL in printable ASCII";
    if (in->delivery_id == NULL)
        return "the delivery id is missing";
    if (has_line_break(in->delivery_id))
        return "the X-Trackd-Delivery header cannot contain CR or LF";
    if (!header_token_ok(in->delivery_id, ID_MAX))
        return "the delivery id must be printable ASCII of at most 250 bytes";
    if (in->text == NULL && in->html == NULL)
        return "the email has neither a text nor an html body";
    return NULL;
}

/* FNV-1a: a boundary that differs from message to message without any randomness. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

static void put_part_headers(struct textbuf *b, const char *subtype)
{
    textbuf_append_str(b, "Content-Type: text/");
    textbuf_append_str(b, subtype);
    textbuf_append_str(b, "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n");
}

static void set_error(char *error, size_t error_size, const char *message)
{
    if (error != NULL && error_size > 0)
        snprintf(error, error_size, "%s", message);
}

char *email_message_build(const struct email_message_input *in, char *error, size_t error_size)
{
    struct mailbox from, to;
    const char *problem = check_input(in, &from, &to);
    if (problem != NULL) {
        set_error(error, error_size, problem);
        return NULL;
    }
    struct textbuf msg = {0}, link = {0}, text = {0}, html = {0}, qp_text = {0}, qp_html = {0};
    const char *encoded_text = "", *encoded_html = "";
    char *result = NULL;

    put_mailbox_header(&msg, "From", &from);
    put_mailbox_header(&msg, "To", &to);
    put_subject(&msg, in->subject);
    if (!put_date(&msg, in->date_unix)) {
        set_error(error, error_size, "the Date is out of range");
        goto cleanup;
    }
    textbuf_append_str(&msg, "Message-ID: <");
    textbuf_append_str(&msg, in->message_id);
    textbuf_append_str(&msg, ">\r\nMIME-Version: 1.0\r\nList-Unsubscribe: <");
    textbuf_append_str(&msg, in->unsubscribe_url);
    textbuf_append_str(&msg, ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
                             "X-Trackd-Delivery: ");
    textbuf_append_str(&msg, in->delivery_id);
    textbuf_append_str(&msg, "\r\n");

    put_html_escaped(&link, in->unsubscribe_url);
    if (link.failed)
        goto out_of_memory;
    if (in->text != NULL) {
        put_body(&text, in->text, in->unsubscribe_url, in->unsubscribe_url, false);
        put_quoted_printable(&qp_text, text.failed ? "" : text.data);
    }
    if (in->html != NULL) {
        put_body(&html, in->html, in->unsubscribe_url, link.data, true);
        put_quoted_printable(&qp_html, html.failed ? "" : html.data);
    }
    if (text.failed || html.failed || qp_text.failed || qp_html.failed)
        goto out_of_memory;
    /* Neither is empty (a body without the placeholder gets a footer), but strstr wants text. */
    if (qp_text.data != NULL)
        encoded_text = qp_text.data;
    if (qp_html.data != NULL)
        encoded_html = qp_html.data;

    if (in->text != NULL && in->html != NULL) {
        /*
         * Quoted-printable output never holds "=_" (put_quoted_printable), nor do the part
         * headers, so a boundary starting with "=_" cannot occur inside a part; the search
         * below only makes that visible, and the counter would move past a collision.
         */
        char boundary[48];
        uint64_t hash = fnv1a(in->message_id);
        for (unsigned counter = 0;; counter++) {
            snprintf(boundary, sizeof boundary, "=_trackd_%016" PRIx64 "_%u", hash, counter);
            if (strstr(encoded_text, boundary) == NULL && strstr(encoded_html, boundary) == NULL)
                break;
        }
        /* Parts in RFC 2046 §5.1.4's order: the least preferred (plain text) first. */
        textbuf_append_str(&msg, "Content-Type: multipart/alternative;\r\n boundary=\"");
        textbuf_append_str(&msg, boundary);
        textbuf_append_str(&msg, "\"\r\n\r\n--");
        textbuf_append_str(&msg, boundary);
        textbuf_append_str(&msg, "\r\n");
        put_part_headers(&msg, "plain");
        textbuf_append_str(&msg, "\r\n");
        textbuf_append_str(&msg, encoded_text);
        /* The CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1). */
        textbuf_append_str(&msg, "\r\n--");
        textbuf_append_str(&msg, boundary);
        textbuf_append_str(&msg, "\r\n");
        put_part_headers(&msg, "html");
        textbuf_append_str(&msg, "\r\n");
        textbuf_append_str(&msg, encoded_html);
        textbuf_append_str(&msg, "\r\n--");
        textbuf_append_str(&msg, boundary);
        textbuf_append_str(&msg, "--\r\n");
    } else {
        put_part_headers(&msg, in->text != NULL ? "plain" : "html");
        textbuf_append_str(&msg, "\r\n");
        textbuf_append_str(&msg, in->text != NULL ? encoded_text : encoded_html);
    }
    if (msg.failed)
        goto out_of_memory;
    result = msg.data;
    msg.data = NULL;
    goto cleanup;

out_of_memory:
    set_error(error, error_size, "out of memory");
cleanup:
    free(msg.data);
    free(link.data);
    free(text.data);
    free(html.data);
    free(qp_text.data);
    free(qp_html.data);
    return result;
}
