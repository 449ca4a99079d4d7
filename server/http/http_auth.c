#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/sha256.h"
#include "common/timeutil.h"
#include "core/json_check.h"
#include "http/http_internal.h"

/* An unknown key reloads the directory from the database at most this often, so a workspace
 * created while trackd runs is usable within a second, and a flood of bad keys costs little. */
#define RELOAD_INTERVAL_US (1 * TIMEUTIL_US_PER_SEC)

/* A directory older than this is reloaded by the next request that finds it so (without making
 * that request wait if another is reloading): a key revoked or given an end in the database
 * (`workspace rotate-keys`, or SQL) is honoured within this time. */
#define DIRECTORY_MAX_AGE_US (30 * TIMEUTIL_US_PER_SEC)

/* Longest Authorization value considered (a write key is 40 characters). */
#define CREDENTIALS_MAX 512

/* A key as the directory holds it. */
struct directory_key {
    struct store_key key;
    atomic_bool used; /* since the directory was loaded: written (last_used_at) by the next
                       * reload, so that a request never waits for it */
};

struct http_auth {
    struct http_server *server;
    pthread_rwlock_t lock;
    /* Guarded by lock: */
    struct directory_key *keys;
    size_t count;
    /* Guarded by reload_lock, which is never held while waiting for `lock`'s writers: */
    pthread_mutex_t reload_lock;
    int64_t last_reload_us;        /* monotonic; when a reload was last tried */
    atomic_int_fast64_t loaded_us; /* monotonic; when the directory was last loaded */
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
    struct directory_key *list;
    size_t count, capacity;
    bool failed;
};

static void collect_one(void *cls, const struct store_key *key)
{
    struct collect *c = cls;
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 16;
        struct directory_key *grown = realloc(c->list, capacity * sizeof *grown);
        if (grown == NULL) {
            c->failed = true;
            return;
        }
        c->list = grown;
        c->capacity = capacity;
    }
    struct directory_key *entry = &c->list[c->count++];
    entry->key = *key;
    atomic_init(&entry->used, false);
}

/* What a reload does on the control connection: record the uses of the keys used since the
 * last one (failing that only costs their last_used_at), then read the working keys. */
struct reload_work {
    int64_t *used_ids;
    size_t used_count;
    struct collect collect;
};

static bool load_keys(struct store *store, void *cls)
{
    struct reload_work *work = cls;
    if (work->used_count > 0 && store_touch_keys(store, work->used_ids, work->used_count) < 0)
        LOG_WARN("http", "could not record when keys were last used: %s", store_last_error(store));
    return store_list_keys(store, false, collect_one, &work->collect) >= 0;
}

/* The ids of the keys used since the directory was loaded (NULL when none, or out of memory). */
static int64_t *used_key_ids(struct http_auth *auth, size_t *count)
{
    *count = 0;
    pthread_rwlock_rdlock(&auth->lock);
    int64_t *ids = auth->count ? malloc(auth->count * sizeof *ids) : NULL;
    for (size_t i = 0; ids != NULL && i < auth->count; i++)
        if (atomic_load(&auth->keys[i].used))
            ids[(*count)++] = auth->keys[i].key.id;
    pthread_rwlock_unlock(&auth->lock);
    return ids;
}

enum reload_when {
    RELOAD_NOW,      /* at start */
    RELOAD_UNKNOWN,  /* a key was not found: at most once per RELOAD_INTERVAL_US */
    RELOAD_IF_STALE, /* older than DIRECTORY_MAX_AGE_US, and nobody else is reloading */
};

/*
 * Replaces the directory with the database's working keys. The query runs without holding
 * `lock`, so lookups of known keys never wait for the database; only the swap takes the write
 * lock. reload_lock is held through the swap, so that a slow reload never installs its list
 * after a newer one (nobody holding `lock` waits for reload_lock).
 */
static void reload(struct http_auth *auth, enum reload_when when)
{
    if (when == RELOAD_IF_STALE) {
        if (pthread_mutex_trylock(&auth->reload_lock) != 0)
            return;
    } else {
        pthread_mutex_lock(&auth->reload_lock);
    }
    int64_t now = timeutil_monotonic_us();
    bool due =
        when == RELOAD_NOW ||
        (when == RELOAD_UNKNOWN && now - auth->last_reload_us >= RELOAD_INTERVAL_US) ||
        (when == RELOAD_IF_STALE && now - atomic_load(&auth->loaded_us) >= DIRECTORY_MAX_AGE_US &&
         now - auth->last_reload_us >= RELOAD_INTERVAL_US);
    if (!due) {
        pthread_mutex_unlock(&auth->reload_lock);
        return;
    }
    auth->last_reload_us = now;
    struct reload_work work = {0};
    work.used_ids = used_key_ids(auth, &work.used_count);
    bool loaded = http_with_control(auth->server, load_keys, &work) && !work.collect.failed;
    free(work.used_ids);
    if (!loaded) {
        pthread_mutex_unlock(&auth->reload_lock);
        free(work.collect.list);
        return;
    }
    pthread_rwlock_wrlock(&auth->lock);
    struct directory_key *old = auth->keys;
    auth->keys = work.collect.list;
    auth->count = work.collect.count;
    atomic_store(&auth->loaded_us, now);
    pthread_rwlock_unlock(&auth->lock);
    pthread_mutex_unlock(&auth->reload_lock);
    free(old);
}

struct http_auth *http_auth_new(struct http_server *server)
{
    struct http_auth *auth = calloc(1, sizeof *auth);
    if (auth == NULL)
        return NULL;
    auth->server = server;
    pthread_rwlock_init(&auth->lock, NULL);
    pthread_mutex_init(&auth->reload_lock, NULL);
    atomic_init(&auth->loaded_us, 0);
    reload(auth, RELOAD_NOW);
    return auth;
}

void http_auth_free(struct http_auth *auth)
{
    if (auth == NULL)
        return;
    pthread_rwlock_destroy(&auth->lock);
    pthread_mutex_destroy(&auth->reload_lock);
    free(auth->keys);
    free(auth);
}

/* Which key of a workspace a credential presents. */
enum key_kind {
    KEY_WRITE, /* Pipelines write key, the user name */
    KEY_SITE,  /* Track API: site_id user name and api_key password */
};

/* Looks a credential up among all working keys. Every entry is compared, so that the time taken
 * does not depend on which one matched; digests are compared in constant time. A rotated key
 * past its end is skipped here, whenever the directory was loaded. Call with `lock` held (for
 * reading: the match's `used` flag is atomic). */
static bool find_key(struct http_auth *auth, enum key_kind kind, const char *site_id,
                     const uint8_t digest[SHA256_DIGEST_SIZE], struct http_workspace *out)
{
    int64_t now_us = timeutil_now_us();
    struct directory_key *match = NULL;
    for (size_t i = 0; i < auth->count; i++) {
        struct directory_key *entry = &auth->keys[i];
        const struct store_key *key = &entry->key;
        bool same = kind == KEY_WRITE ? key->kind == STORE_KEY_WRITE
                                      : key->kind == STORE_KEY_API &&
                                            strcmp(key->workspace.site_id, site_id) == 0;
        same = sha256_equal(key->hash, digest) && same;
        if (same && (key->expires_at_us == 0 || now_us < key->expires_at_us))
            match = entry;
    }
    if (match == NULL)
        return false;
    out->id = match->key.workspace.id;
    out->environment_id = match->key.workspace.environment_id;
    memcpy(out->name, match->key.workspace.name, sizeof out->name);
    if (!atomic_load_explicit(&match->used, memory_order_relaxed))
        atomic_store_explicit(&match->used, true, memory_order_relaxed);
    return true;
}

/* True when `text` has something besides blanks: a blank key or site id is refused before
 * any look-up, so that it cannot match by accident nor make the directory reload. */
static bool present(const char *text)
{
    return text != NULL && text[strspn(text, " \t\r\n")] != '\0';
}

static bool lookup_key(struct http_auth *auth, enum key_kind kind, const char *site_id,
                       const char *secret, struct http_workspace *out)
{
    if (!present(secret) || (kind == KEY_SITE && !present(site_id)))
        return false;
    if (timeutil_monotonic_us() - atomic_load(&auth->loaded_us) >= DIRECTORY_MAX_AGE_US)
        reload(auth, RELOAD_IF_STALE);
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(secret, strlen(secret), digest);
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&auth->lock);
        bool found = find_key(auth, kind, site_id, digest, out);
        pthread_rwlock_unlock(&auth->lock);
        if (found)
            return true;
        if (attempt == 0)
            reload(auth, RELOAD_UNKNOWN); /* perhaps a workspace or key created since */
    }
    return false;
}

/* Splits "Basic base64(user:password)" into `user` and `password`; false if malformed. */
static bool basic_credentials(const char *header, char *user, char *password, size_t size)
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
    const char *pass = "";
    if (colon != NULL) {
        *colon = '\0';
        pass = colon + 1;
    }
    if (decoded[0] == '\0' || strlen(decoded) >= size || strlen(pass) >= size)
        return false;
    memcpy(user, decoded, strlen(decoded) + 1);
    memcpy(password, pass, strlen(pass) + 1);
    return true;
}

bool http_auth_write_key(struct http_server *server, const char *key, struct http_workspace *out)
{
    return lookup_key(server->auth, KEY_WRITE, NULL, key, out);
}

bool http_authenticate(struct http_request *request)
{
    enum http_auth_kind kind = request->route->auth;
    if (kind == HTTP_AUTH_NONE)
        return true;
    const char *header = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    if (header == NULL && kind == HTTP_AUTH_SITE_KEY_OPTIONAL)
        return true; /* anonymous: workspace id 0 */
    if (header == NULL && kind == HTTP_AUTH_WRITE_KEY_OR_BODY) {
        request->auth_from_body = true; /* decided by http_authenticate_body */
        return true;
    }
    char user[CREDENTIALS_MAX], password[CREDENTIALS_MAX];
    if (!basic_credentials(header, user, password, sizeof user))
        return false;
    /* The password of a write key is empty and not checked, as Segment does. */
    request->authenticated =
        kind == HTTP_AUTH_SITE_KEY || kind == HTTP_AUTH_SITE_KEY_OPTIONAL
            ? lookup_key(request->server->auth, KEY_SITE, user, password, &request->workspace)
            : lookup_key(request->server->auth, KEY_WRITE, NULL, user, &request->workspace);
    return request->authenticated;
}

bool http_authenticate_body(struct http_request *request)
{
    char error[160];
    json_object *root = json_check_parse(request->body, request->body_len, error, sizeof error);
    json_object *key = NULL;
    if (root != NULL && json_object_is_type(root, json_type_object))
        json_object_object_get_ex(root, "writeKey", &key);
    request->authenticated = key != NULL && json_object_is_type(key, json_type_string) &&
                             json_object_get_string_len(key) < CREDENTIALS_MAX &&
                             lookup_key(request->server->auth, KEY_WRITE, NULL,
                                        json_object_get_string(key), &request->workspace);
    /* The handler takes the tree rather than parse the body a second time. */
    if (request->authenticated)
        request->body_json = root;
    else
        json_object_put(root);
    return request->authenticated;
}
