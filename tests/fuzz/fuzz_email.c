/*
 * libFuzzer harness for the email builder (delivery/email_message.c), whose inputs are rendered
 * templates and so carry whatever events and people hold. The input is cut at NUL bytes into
 * the To address, the subject, the text body and the html body. Invariants: email_address_of
 * accepts only one plain ASCII address; a message that builds has CRLF line endings only, no
 * line over 998 bytes, and headers that the input could not add to or break (each header line
 * is one trackd writes, or a folded continuation of one).
 */
#include <stdlib.h>
#include <string.h>

#include "delivery/email_message.h"
#include "fuzz_check.h"

/* The headers trackd writes, before the body; anything else there is an injection. */
static const char *const headers[] = {"From:",
                                      "To:",
                                      "Subject:",
                                      "Date:",
                                      "Message-ID:",
                                      "MIME-Version:",
                                      "List-Unsubscribe:",
                                      "List-Unsubscribe-Post:",
                                      "X-Trackd-Delivery:",
                                      "Content-Type:",
                                      "Content-Transfer-Encoding:",
                                      NULL};

static bool known_header(const char *line)
{
    if (line[0] == ' ' || line[0] == '\t')
        return true; /* a continuation */
    for (const char *const *h = headers; *h; h++)
        if (strncmp(line, *h, strlen(*h)) == 0)
            return true;
    return false;
}

static void check_message(const char *message)
{
    bool in_headers = true;
    int to_lines = 0;
    for (const char *line = message; *line;) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            fuzz_fail("the message does not end with CRLF");
        size_t len = (size_t)(end - line);
        if (len > 998)
            fuzz_fail("a line of %zu bytes", len);
        if (memchr(line, '\n', len) != NULL || memchr(line, '\r', len) != NULL)
            fuzz_fail("a bare CR or LF");
        if (in_headers && len == 0) {
            in_headers = false;
        } else if (in_headers) {
            char copy[1000];
            memcpy(copy, line, len);
            copy[len] = '\0';
            if (!known_header(copy))
                fuzz_fail("a header trackd does not write: %.60s", copy);
            to_lines += strncmp(copy, "To:", 3) == 0;
        }
        line = end + 2;
    }
    if (in_headers || to_lines != 1)
        fuzz_fail("the headers are not followed by a body, or To appears %d times", to_lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    /* Fields at NUL bytes; missing ones are NULL (the bodies) or empty. */
    const char *fields[4] = {NULL, NULL, NULL, NULL};
    const char *at = text;
    for (size_t i = 0; i < 4 && at <= text + size; i++) {
        fields[i] = at;
        at += strlen(at) + 1;
    }
    char address[300];
    if (email_address_of(fields[0], address, sizeof address)) {
        if (strchr(address, '@') == NULL || strpbrk(address, " <>\r\n\t,") != NULL)
            fuzz_fail("accepted address %s", address);
        for (const char *p = address; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x21)
                fuzz_fail("accepted address with byte 0x%02x", (unsigned char)*p);
    }
    struct email_message_input input = {
        .from = "\"Tëst\" <news@example.com>",
        .to = fields[0],
        .subject = fields[1],
        .text = fields[2],
        .html = fields[3],
        .message_id = "AbCdEf0123456789abcdef@example.com",
        .unsubscribe_url = "https://track.example.com/unsubscribe/AbCd.EfGh?a=1&b=2",
        .delivery_id = "AbCdEf0123456789abcdef",
        .date_unix = 1795859400,
    };
    char error[256] = "";
    char *message = email_message_build(&input, error, sizeof error);
    if (message == NULL && error[0] == '\0')
        fuzz_fail("refused without a reason");
    if (message != NULL)
        check_message(message);
    free(message);
    free(text);
    return 0;
}
