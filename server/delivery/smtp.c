#include "delivery/smtp.h"

#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "delivery/email_message.h"

/* Longest address kept (RFC 5321's path limit is 256 with the brackets). */
#define ADDRESS_MAX 256

/* libcurl reads the message from here as it uploads it. */
static size_t read_message(char *buffer, size_t size, size_t n, void *cls)
{
    struct smtp_upload *u = cls;
    size_t room = size * n, left = u->length - u->offset;
    size_t take = left < room ? left : room;
    memcpy(buffer, u->message + u->offset, take);
    u->offset += take;
    return take;
}

/* Keeps the server's last refusal (a reply line starting 4 or 5): what last_error quotes. The
 * replies after it (to QUIT) are not kept. Only what the server sent is looked at, so the
 * password the client sends never lands here. */
static int keep_reply(CURL *easy, curl_infotype type, char *data, size_t size, void *cls)
{
    (void)easy;
    struct smtp_upload *u = cls;
    if (type != CURLINFO_HEADER_IN || size == 0 || (data[0] != '4' && data[0] != '5'))
        return 0;
    size_t take = size < SMTP_REPLY_KEPT ? size : SMTP_REPLY_KEPT;
    memcpy(u->reply, data, take);
    while (take > 0 && (u->reply[take - 1] == '\n' || u->reply[take - 1] == '\r'))
        take--;
    u->reply[take] = '\0';
    /* Replies are the server's text: keep them printable for the logs and last_error. */
    for (size_t i = 0; i < take; i++)
        if ((unsigned char)u->reply[i] < 0x20 || (unsigned char)u->reply[i] == 0x7f)
            u->reply[i] = ' ';
    return 0;
}

void smtp_upload_free(struct smtp_upload *u)
{
    if (u == NULL)
        return;
    free(u->message);
    curl_slist_free_all(u->recipients);
    free(u);
}

static const char *string_of(json_object *action, const char *key)
{
    json_object *value = NULL;
    return json_object_object_get_ex(action, key, &value) &&
                   json_object_is_type(value, json_type_string)
               ? json_object_get_string(value)
               : NULL;
}

struct smtp_upload *smtp_prepare(CURL *easy, const struct smtp_settings *s, json_object *action,
                                 int64_t delivery_id, const char *public_id, const char *token,
                                 int64_t now_unix, char *error, size_t error_size, bool *retryable)
{
    char from[ADDRESS_MAX], to[ADDRESS_MAX], path[ADDRESS_MAX + 2];
    if (s->url == NULL || *s->url == '\0') {
        snprintf(error, error_size, "email is not configured: TRACKD_SMTP_URL is not set");
        return NULL;
    }
    if (!email_address_of(s->from, from, sizeof from)) {
        snprintf(error, error_size, "TRACKD_EMAIL_FROM is not an email address");
        return NULL;
    }
    const char *recipient = string_of(action, "to");
    if (recipient == NULL || !email_address_of(recipient, to, sizeof to)) {
        snprintf(error, error_size, "action.to is not one email address");
        return NULL;
    }
    if (token == NULL || *token == '\0') {
        snprintf(error, error_size, "the unsubscribe link could not be signed");
        *retryable = true;
        return NULL;
    }
    /* The link: TRACKD_PUBLIC_URL without its trailing slashes, then the signed token. */
    size_t base = strlen(s->public_url);
    while (base > 0 && s->public_url[base - 1] == '/')
        base--;
    char link[1024], message_id[300], delivery[24];
    snprintf(link, sizeof link, "%.*s/unsubscribe/%s", (int)base, s->public_url, token);
    /* The public id never appears in the headers: replies and forwards copy Message-ID to
     * others, and the public id names the delivery to the endpoints that take metrics without
     * credentials. The Message-ID is the delivery's number and 64 bits of a hash of the public
     * id (unique across installations, the same for every attempt), the delivery header its
     * number, as webhooks carry it. */
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(public_id, strlen(public_id), digest);
    snprintf(message_id, sizeof message_id, "%lld.%02x%02x%02x%02x%02x%02x%02x%02x.trackd@%s",
             (long long)delivery_id, digest[0], digest[1], digest[2], digest[3], digest[4],
             digest[5], digest[6], digest[7], strchr(from, '@') + 1);
    snprintf(delivery, sizeof delivery, "%lld", (long long)delivery_id);
    struct email_message_input input = {
        .from = s->from,
        .to = recipient,
        .subject = string_of(action, "subject"),
        .text = string_of(action, "text"),
        .html = string_of(action, "html"),
        .message_id = message_id,
        .unsubscribe_url = link,
        .delivery_id = delivery,
        .date_unix = now_unix,
    };
    struct smtp_upload *u = calloc(1, sizeof *u);
    if (u == NULL) {
        snprintf(error, error_size, "out of memory");
        *retryable = true;
        return NULL;
    }
    u->message = email_message_build(&input, error, error_size);
    if (u->message == NULL) {
        *retryable = strcmp(error, "out of memory") == 0;
        smtp_upload_free(u);
        return NULL;
    }
    u->length = strlen(u->message);
    snprintf(path, sizeof path, "<%s>", to);
    u->recipients = curl_slist_append(NULL, path);
    if (u->recipients == NULL) {
        snprintf(error, error_size, "out of memory");
        *retryable = true;
        smtp_upload_free(u);
        return NULL;
    }
    snprintf(path, sizeof path, "<%s>", from);
    curl_easy_setopt(easy, CURLOPT_URL, s->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, path);
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, u->recipients);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(easy, CURLOPT_READDATA, u);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->length);
    /* smtp://: STARTTLS whenever the server offers it, or not at all unless required;
     * smtps:// is TLS from the first byte either way. */
    curl_easy_setopt(easy, CURLOPT_USE_SSL,
                     (long)(s->tls_required ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    /* smtp:// with a login: TLS is required whatever TRACKD_SMTP_TLS says, so that the password
     * never crosses the network in the clear (a server, or someone between, that offers no
     * STARTTLS would otherwise get it). */
    if (s->user != NULL && *s->user != '\0') {
        curl_easy_setopt(easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        curl_easy_setopt(easy, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, keep_reply);
    curl_easy_setopt(easy, CURLOPT_DEBUGDATA, u);
    curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L); /* feeds keep_reply; nothing is printed */
    return u;
}

enum delivery_verdict smtp_classify(CURLcode result, long code, const struct smtp_upload *u,
                                    const char *curl_error, char *error, size_t error_size)
{
    if (result == CURLE_OK && code >= 200 && code < 300)
        return DELIVERY_SENT;
    const char *reply = u && u->reply[0] ? u->reply : NULL;
    if (code >= 400 && code < 600) {
        snprintf(error, error_size, "the mail server answered %s", reply ? reply : "an error");
        return code < 500 ? DELIVERY_RETRY : DELIVERY_DEAD;
    }
    snprintf(error, error_size, "%s%s%s",
             result == CURLE_USE_SSL_FAILED
                 ? "the mail server does not offer STARTTLS (TRACKD_SMTP_TLS=required)"
                 : "network error",
             result == CURLE_USE_SSL_FAILED ? "" : ": ",
             result == CURLE_USE_SSL_FAILED ? ""
             : curl_error && *curl_error    ? curl_error
                                            : curl_easy_strerror(result));
    return result == CURLE_UNSUPPORTED_PROTOCOL || result == CURLE_URL_MALFORMAT ? DELIVERY_DEAD
                                                                                 : DELIVERY_RETRY;
}

bool smtp_check_settings(const struct smtp_settings *s, FILE *errors)
{
    bool valid = true;
    if (s->url == NULL || *s->url == '\0')
        return true;
    if (strncmp(s->url, "smtp://", 7) != 0 && strncmp(s->url, "smtps://", 8) != 0) {
        fprintf(errors, "trackd: TRACKD_SMTP_URL must start with smtp:// or smtps://\n");
        valid = false;
    }
    char address[ADDRESS_MAX];
    if (s->from == NULL || !email_address_of(s->from, address, sizeof address)) {
        fprintf(errors, "trackd: TRACKD_EMAIL_FROM is required with TRACKD_SMTP_URL and must be "
                        "an address such as news@example.com or \"Example <news@example.com>\"\n");
        valid = false;
    }
    if (s->public_url == NULL ||
        (strncmp(s->public_url, "https://", 8) != 0 && strncmp(s->public_url, "http://", 7) != 0)) {
        fprintf(errors, "trackd: TRACKD_PUBLIC_URL (http:// or https://) is required with "
                        "TRACKD_SMTP_URL: emails link to its /unsubscribe page\n");
        valid = false;
    }
    if (s->public_url != NULL && strlen(s->public_url) > 600) {
        fprintf(errors, "trackd: TRACKD_PUBLIC_URL cannot be longer than 600 bytes\n");
        valid = false;
    }
    return valid;
}
