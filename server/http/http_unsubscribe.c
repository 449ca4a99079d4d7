/*
 * The unsubscribe link of emails: /unsubscribe/{token}, where the token is a delivery's public
 * id and its signature (trackd_unsubscribe_token; only the database can make or check one).
 *   GET shows a small page with a button once the database has checked the token; it changes
 *       nothing, because mail scanners and link previews follow links on their own.
 *   POST unsubscribes: the page's button (a form), or a mail client's one-click request
 *       (RFC 8058: List-Unsubscribe=One-Click, form-encoded). Either way the body is not read.
 * A POST whose segment is not a signed token is Customer.io's API call with a delivery id and a
 * JSON body (track_v1.c).
 */
#include <stdio.h>
#include <string.h>

#include "api/track_v1.h"
#include "http/http_internal.h"

/* Longest token taken: a public id (22 characters) and a signature (22), with room to spare. */
#define TOKEN_MAX 96

/* Whether `token` has the shape of a signed token: base64url text, one dot, base64url text. */
static bool token_shaped(const char *token)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t id = strspn(token, alphabet);
    if (id == 0 || token[id] != '.' || strlen(token) > TOKEN_MAX)
        return false;
    size_t signature = strspn(token + id + 1, alphabet);
    return signature > 0 && token[id + 1 + signature] == '\0';
}

static enum MHD_Result reply_page(struct http_request *request, unsigned status, const char *title,
                                  const char *body_html)
{
    char page[2048];
    int len = snprintf(page, sizeof page,
                       "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                       "<meta name=\"robots\" content=\"noindex\">"
                       "<title>%s</title></head>\n<body style=\"font-family:sans-serif;"
                       "max-width:32em;margin:3em auto;padding:0 1em\">\n<h1>%s</h1>\n%s\n"
                       "</body></html>\n",
                       title, title, body_html);
    struct MHD_Response *response =
        MHD_create_response_from_buffer((size_t)len, page, MHD_RESPMEM_MUST_COPY);
    if (response != NULL) {
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        /* The page is ours alone: no framing (clickjacking the button), no scripts. */
        MHD_add_response_header(response, "Content-Security-Policy",
                                "default-src 'none'; form-action 'self'; frame-ancestors 'none'");
        MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    }
    return http_reply_response(request, status, response);
}

static enum MHD_Result reply_invalid(struct http_request *request)
{
    return reply_page(request, MHD_HTTP_NOT_FOUND, "This link is not valid",
                      "<p>This unsubscribe link is not valid. Use the link in the most recent "
                      "email you received.</p>");
}

/* Asks the database about the token (the writers' queue: the only way to it from here):
 * `unsubscribe` 1 unsubscribes, -1 only checks. */
static enum MHD_Result submit_token(struct http_request *request, const char *token,
                                    int unsubscribe)
{
    struct command *cmd = api_result_add_command(&request->parsed);
    if (cmd == NULL || (cmd->delivery_id = strdup(token)) == NULL)
        return http_reply_unavailable(request, "out of memory");
    cmd->kind = COMMAND_UNSUBSCRIBE;
    cmd->unsubscribe = unsubscribe;
    cmd->received_us = request->received_us;
    cmd->timestamp_us = request->received_us;
    cmd->batch_index = -1;
    return http_submit_parsed(request);
}

/* Whether the token's delivery was found, once its command is written; false with the page
 * answered (*ret) when the database could not be asked. */
static bool token_found(struct http_request *request, enum MHD_Result *ret)
{
    if (request->counted_suspended) {
        request->counted_suspended = false;
        atomic_fetch_sub(&request->server->suspended, 1);
    }
    if (request->ingest.result != TRACKD_ERR_OK) {
        *ret = reply_page(request, MHD_HTTP_SERVICE_UNAVAILABLE, "Please try again",
                          "<p>We could not look at your request just now. Please try again in "
                          "a minute.</p>");
        return false;
    }
    return request->parsed.command_count == 1 && request->ingest.outcomes[0] == OUTCOME_STORED;
}

enum MHD_Result http_handle_unsubscribe_page(struct http_request *request)
{
    const char *token = request->params.count > 0 ? request->params.values[0] : "";
    if (!request->submitted)
        return token_shaped(token) ? submit_token(request, token, -1) : reply_invalid(request);
    enum MHD_Result ret;
    if (!token_found(request, &ret))
        return request->ingest.result != TRACKD_ERR_OK ? ret : reply_invalid(request);
    /* The form posts to this same address: the token is text of the alphabet above only. */
    char form[TOKEN_MAX + 512];
    snprintf(form, sizeof form,
             "<p>Stop receiving these emails?</p>\n<form method=\"post\" action=\"%s\">"
             "<button type=\"submit\" style=\"font-size:1em;padding:.5em 1em\">Unsubscribe"
             "</button></form>",
             token);
    return reply_page(request, MHD_HTTP_OK, "Unsubscribe", form);
}

enum MHD_Result http_handle_unsubscribe(struct http_request *request)
{
    const char *token = request->params.count > 0 ? request->params.values[0] : "";
    if (strchr(token, '.') == NULL)
        return http_handle_track_v1(request); /* POST /unsubscribe/{delivery_id}, JSON */
    if (!request->submitted)
        return token_shaped(token) ? submit_token(request, token, 1) : reply_invalid(request);
    enum MHD_Result ret;
    if (!token_found(request, &ret))
        return request->ingest.result != TRACKD_ERR_OK ? ret : reply_invalid(request);
    return reply_page(request, MHD_HTTP_OK, "You are unsubscribed",
                      "<p>You will not receive these emails any more.</p>");
}
