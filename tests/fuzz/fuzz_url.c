/*
 * libFuzzer harness for webhook URL templates: trigger_url_check, then, for a template it
 * accepts, trigger_render_url, and libcurl's reading of the result.
 *
 * Input: the template up to the first NUL byte, then the facts as JSON (as fuzz_template reads
 * them; fixed hostile facts without a NUL, or when the rest is not JSON).
 *
 * What a rendered URL must keep, whatever the values: the origin as written (and the host that
 * libcurl reads in it); only URL characters, every '%' starting an escape; exactly the
 * delimiters the template wrote ('/', '?', '#', '&', '=', '@', ':' and the rest), so a value can
 * add no segment, parameter or fragment; no dot-segment the template did not write; and a URL
 * libcurl accepts and reads back unchanged, path and all.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "fuzz_check.h"
#include "trigger/trigger_template.h"
#include "trigger/trigger_url.h"

#define UNRESERVED "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
#define URL_CHARACTERS UNRESERVED "!$&'()*+,;=:/?#[]@%"
/* Beyond this libcurl is not asked: the delivery refuses such a URL before libcurl sees it. */
#define CURL_CHECKED_MAX_BYTES 8192

static const char default_facts[] =
    "{\"name\":\"purchase\",\"id\":\"../../admin?x=1#\",\"email\":\"a+b@example.com\","
    "\"event\":{\"ref\":\"a&b=c #d\",\"at\":\"@169.254.169.254/latest\",\"dots\":\"..\","
    "\"dot\":\".\",\"bs\":\"\\\\evil\",\"crlf\":\"a\\r\\nb\",\"nul\":\"a\\u0000b\","
    "\"utf\":\"\\u00e9\\ud83d\\ude00\",\"pct\":\"%2F%\",\"n\":-1.5e3,\"o\":{\"a\":[1]}},"
    "\"person\":{\"plan\":\"pro\",\"empty\":\"\",\"nil\":null}}";

static bool is_hex(char c)
{
    return c != '\0' && strchr("0123456789abcdefABCDEF", c) != NULL;
}

/* Appends to `out` the delimiters of `text` (every character but unreserved ones and escapes). */
static void delimiters(const char *text, size_t len, struct textbuf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '%' && i + 2 < len && is_hex(text[i + 1]) && is_hex(text[i + 2]))
            i += 2;
        else if (text[i] == '\0' || strchr(UNRESERVED, text[i]) == NULL)
            textbuf_append(out, &text[i], 1);
    }
}

/* What the template itself writes after the origin, collected by walking it. */
struct skeleton {
    struct textbuf delimiters; /* of its literal text, in order */
    struct textbuf marked;     /* its literal text with "\x01" for each value */
};

static void skeleton_literal(void *cls, const char *text, size_t len)
{
    struct skeleton *s = cls;
    delimiters(text, len, &s->delimiters);
    textbuf_append(&s->marked, text, len);
}

static void skeleton_value(void *cls, const char *text, size_t len)
{
    (void)text, (void)len;
    textbuf_append(&((struct skeleton *)cls)->marked, "\x01", 1);
}

/* The number of "." and ".." segments in the path of `rest` (what follows the origin). */
static size_t dot_segments(const char *rest)
{
    size_t path_len = strcspn(rest, "?#"), count = 0;
    for (size_t start = 0; start < path_len;) {
        size_t len = strcspn(rest + start, "/?#");
        if (start + len > path_len)
            len = path_len - start;
        if ((len == 1 && rest[start] == '.') ||
            (len == 2 && rest[start] == '.' && rest[start + 1] == '.'))
            count++;
        start += len + 1;
    }
    return count;
}

/* libcurl's reading of `url`: the host, and the path; both NULL when it refuses the URL. */
static void curl_reads(const char *url, char **host, char **path)
{
    *host = *path = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        fuzz_fail("out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_HOST, host, 0);
        curl_url_get(u, CURLUPART_PATH, path, 0);
    }
    curl_url_cleanup(u);
}

static void check_rendered(const char *template_text, const char *url)
{
    size_t origin = trigger_url_origin_length(template_text);
    if (origin == 0 || memchr(template_text, '{', origin) != NULL)
        fuzz_fail("an accepted template has no origin or a brace in it: %s", template_text);
    if (strncmp(url, template_text, origin) != 0)
        fuzz_fail("the origin changed: \"%s\" rendered \"%s\"", template_text, url);
    const char *rest = url + origin;
    for (const char *p = rest; *p; p++) {
        if (strchr(URL_CHARACTERS, *p) == NULL)
            fuzz_fail("byte 0x%02X in the rendered URL %s", (unsigned char)*p, url);
        if (*p == '%' && (!is_hex(p[1]) || !is_hex(p[2])))
            fuzz_fail("a '%%' that starts no escape in %s", url);
    }

    struct skeleton s = {0};
    static const struct trigger_liquid_sink sink = {skeleton_literal, skeleton_value};
    if (!trigger_template_walk(template_text + origin, NULL, &sink, &s))
        fuzz_fail("out of memory");
    struct textbuf got = {0};
    textbuf_append(&got, "", 0);
    textbuf_append(&s.delimiters, "", 0);
    textbuf_append(&s.marked, "", 0);
    delimiters(rest, strlen(rest), &got);
    if (strcmp(got.data, s.delimiters.data) != 0)
        fuzz_fail("the delimiters changed: the template writes \"%s\", %s has \"%s\"",
                  s.delimiters.data, url, got.data);
    if (dot_segments(rest) != dot_segments(s.marked.data))
        fuzz_fail("a value made a dot-segment in %s", url);

    if (strlen(url) <= CURL_CHECKED_MAX_BYTES) {
        char *host = NULL, *path = NULL, *origin_host = NULL, *origin_path = NULL;
        curl_reads(url, &host, &path);
        char *origin_only = strndup(template_text, origin);
        curl_reads(origin_only, &origin_host, &origin_path);
        free(origin_only);
        if (host == NULL || origin_host == NULL)
            fuzz_fail("libcurl refuses %s", url);
        if (strcmp(host, origin_host) != 0)
            fuzz_fail("libcurl reads the host %s in %s, not %s", host, url, origin_host);
        /* libcurl removes dot-segments: a path it reads unchanged has none that a value made. */
        size_t path_len = strcspn(rest, "?#");
        if (dot_segments(s.marked.data) == 0 && path_len > 0 &&
            (strlen(path) != path_len || strncmp(path, rest, path_len) != 0))
            fuzz_fail("libcurl reads the path of %s as %s", url, path);
        curl_free(host);
        curl_free(path);
        curl_free(origin_host);
        curl_free(origin_path);
    }
    free(got.data);
    free(s.delimiters.data);
    free(s.marked.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = fuzz_copy(data, size);
    size_t template_len = strlen(input); /* up to the first NUL */
    json_object *facts_json = NULL;
    if (template_len < size)
        facts_json = json_tokener_parse(input + template_len + 1);
    if (facts_json == NULL)
        facts_json = json_tokener_parse(default_facts);
    struct trigger_facts facts;
    fuzz_facts_from(facts_json, &facts);

    char message[320] = "";
    bool accepted = trigger_url_check(input, message, sizeof message);
    if (!accepted && strncmp(message, "action.url", 10) != 0)
        fuzz_fail("a refusal that does not name action.url: \"%s\"", message);
    if (accepted && template_len > TRIGGER_URL_MAX_BYTES)
        fuzz_fail("a template of %zu bytes is accepted", template_len);
    if (accepted != trigger_url_check(input, NULL, 0))
        fuzz_fail("the verdict depends on the message buffer");

    /* Rendering never fails but when out of memory, accepted or not. */
    char *url = trigger_render_url(input, &facts);
    if (url == NULL)
        fuzz_fail("trigger_render_url returned NULL");
    char *again = trigger_render_url(input, &facts);
    if (again == NULL || strcmp(url, again) != 0)
        fuzz_fail("rendering twice gave different URLs");
    free(again);
    if (accepted)
        check_rendered(input, url);
    free(url);
    json_object_put(facts_json);
    free(input);
    return 0;
}
