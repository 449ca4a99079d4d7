#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/sha256.h"
#include "common/timeutil.h"
#include "http/http_internal.h"

/* An unknown key reloads the directory from the database at most this often, so a workspace
 * created while trackd runs is usable within a second, and a flood of bad keys costs little. */
#define RELOAD_INTERVAL_US (1 * TIMEUTIL_US_PER_SEC)

/* Longest Authorization value considered (a write key is 40 characters). */
#define CREDENTIALS_MAX 512

struct http_auth {
    struct http_server *server;
    pthread_rwlock_t lock;
    /* Guarded by lock: */
    struct store_workspace *workspaces;
    size_t count, capacity;
    int64_t last_reload_us; /* monotonic */
};

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard base64 (padding optional) into `out`; returns the length, or -1. */
static long base64_decode(const char *in, char *out, size_t out_size)
{
    size_t len = strlen(in);
    while (len > 0 && in[len - 1] == '=')
        len--;
    size_t used = 0;
    unsigned bits = 0, nbits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        bits = (bits << 6) | (unsigned)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            if (used + 1 >= out_size)
                return -1;
            out[used++] = (char)((bits >> nbits) & 0xff);
        }
    }
    out[used] = '\0';
    return (long)used;
}

struct collect {
    struct store_workspace *list;
    size_t count, capacity;
    bool failed;
};

static void collect_one(void *cls, const struct store_workspace *ws)
{
    struct collect *c = cls;
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 16;
        struct store_workspace *grown = realloc(c->list, capacity * sizeof *grown);
        if (grown == NULL) {
            c->failed = true;
            return;
        }
        c->list = grown;
        c->capacity = capacity;
    }
    c->list[c->count++] = *ws;
}

static bool load_workspaces(struct store *store, void *cls)
{
    return store_list_workspaces(store, collect_one, cls) >= 0;
}

/* Replaces the directory with the database's workspaces. Call with the write lock held. */
static void reload(struct http_auth *auth)
{
    struct collect c = {0};
    auth->last_reload_us = timeutil_monotonic_us();
    if (!http_with_control(auth->server, load_workspaces, &c) || c.failed) {
        free(c.list);
        return;
    }
    free(auth->workspaces);
    auth->workspaces = c.list;
    auth->count = c.count;
    auth->capacity = c.capacity;
}

struct http_auth *http_auth_new(struct http_server *server)
{
    struct http_auth *auth = calloc(1, sizeof *auth);
    if (auth == NULL)
        return NULL;
    auth->server = server;
    pthread_rwlock_init(&auth->lock, NULL);
    reload(auth);
    return auth;
}

void http_auth_free(struct http_auth *auth)
{
    if (auth == NULL)
        return;
    pthread_rwlock_destroy(&auth->lock);
    free(auth->workspaces);
    free(auth);
}

/* Looks the digest up among all workspaces, comparing every entry so that the time taken does
 * not depend on which one matched. Call with a lock held. */
static bool find_write_key(struct http_auth *auth, const uint8_t digest[SHA256_DIGEST_SIZE],
                           struct http_workspace *out)
{
    const struct store_workspace *match = NULL;
    for (size_t i = 0; i < auth->count; i++) {
        if (sha256_equal(auth->workspaces[i].write_key_hash, digest))
            match = &auth->workspaces[i];
    }
    if (match == NULL)
        return false;
    out->id = match->id;
    memcpy(out->name, match->name, sizeof out->name);
    return true;
}

static bool lookup_write_key(struct http_auth *auth, const char *key, struct http_workspace *out)
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(key, strlen(key), digest);
    pthread_rwlock_rdlock(&auth->lock);
    bool found = find_write_key(auth, digest, out);
    pthread_rwlock_unlock(&auth->lock);
    if (found)
        return true;
    pthread_rwlock_wrlock(&auth->lock);
    if (timeutil_monotonic_us() - auth->last_reload_us >= RELOAD_INTERVAL_US)
        reload(auth);
    found = find_write_key(auth, digest, out);
    pthread_rwlock_unlock(&auth->lock);
    return found;
}

/* Splits "Basic base64(user:password)" into `user`; false if malformed. */
static bool basic_user(const char *header, char *user, size_t user_size)
{
    if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *encoded = header + 6;
    while (*encoded == ' ')
        encoded++;
    char decoded[CREDENTIALS_MAX];
    if (strlen(encoded) >= sizeof decoded || base64_decode(encoded, decoded, sizeof decoded) < 0)
        return false;
    char *colon = strchr(decoded, ':');
    if (colon != NULL)
        *colon = '\0'; /* the password of a write key is empty and not checked */
    if (strlen(decoded) + 1 > user_size || decoded[0] == '\0')
        return false;
    memcpy(user, decoded, strlen(decoded) + 1);
    return true;
}

bool http_authenticate(struct http_request *request)
{
    switch (request->route->auth) {
    case HTTP_AUTH_NONE:
        return true;
    case HTTP_AUTH_WRITE_KEY: {
        const char *header = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_AUTHORIZATION);
        char key[CREDENTIALS_MAX];
        if (!basic_user(header, key, sizeof key))
            return false;
        request->authenticated = lookup_write_key(request->server->auth, key, &request->workspace);
        return request->authenticated;
    }
    }
    return false;
}
