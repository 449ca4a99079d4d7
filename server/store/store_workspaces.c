#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/randomkey.h"
#include "common/sha256.h"

/* Key sizes: the site id is a public user name; the keys are secrets of 160 random bits. */
#define SITE_ID_BYTES 10
#define KEY_BYTES 20

const struct store_statement store_workspace_statements[] = {
    /* The workspace and its two keys, in one statement: all three rows or none. */
    {"workspace_insert",
     "WITH workspace AS ("
     "  INSERT INTO workspaces (name, site_id) VALUES ($1, $2)"
     "  ON CONFLICT (name) DO NOTHING"
     "  RETURNING id, created_at, environment_id),"
     " keys AS ("
     "  INSERT INTO workspace_keys (workspace_id, kind, key_hash)"
     "  SELECT workspace.id, k.kind, k.key_hash FROM workspace,"
     "   (VALUES ('api', $3::bytea), ('write', $4::bytea)) AS k (kind, key_hash))"
     " SELECT id, created_at, environment_id FROM workspace"},
    {"workspace_list",
     "SELECT id, name, site_id, created_at, environment_id FROM workspaces ORDER BY id"},
    {"workspace_keys",
     "SELECT k.id, w.id, w.name, w.site_id, w.created_at, w.environment_id, k.kind,"
     " encode(k.key_hash, 'hex'), k.created_at, coalesce(k.last_used_at::text, ''),"
     " coalesce(k.expires_at::text, ''),"
     /* 'infinity' (set by hand) is no end; '-infinity' is already past */
     " CASE WHEN k.expires_at IS NULL OR k.expires_at = 'infinity' THEN 0"
     " WHEN k.expires_at = '-infinity' THEN 1"
     " ELSE (extract(epoch FROM k.expires_at) * 1000000)::bigint END"
     " FROM workspace_keys k JOIN workspaces w ON w.id = k.workspace_id"
     " WHERE $1 OR k.expires_at IS NULL OR k.expires_at > now()"
     " ORDER BY w.id, k.created_at, k.id"},
    {"workspace_keys_touch",
     "UPDATE workspace_keys SET last_used_at = date_trunc('minute', now())"
     " WHERE id = ANY($1::bigint[])"
     " AND (last_used_at IS NULL OR last_used_at < date_trunc('minute', now()))"},
    {"workspace_lock", "SELECT id FROM workspaces WHERE name = $1 FOR UPDATE"},
    {"workspace_rotate_key",
     "SELECT coalesce(trackd_rotate_key($1, $2, $3::bytea, make_interval(secs => $4))::text, '')"},
};
const size_t store_workspace_statement_count =
    sizeof store_workspace_statements / sizeof store_workspace_statements[0];

static bool hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
    if (strlen(hex) != 2 * len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return false;
        out[i] = (uint8_t)byte;
    }
    return true;
}

/* bytea input in hex form: "\x" followed by the digits. */
static void bytea_literal(const uint8_t digest[SHA256_DIGEST_SIZE], char out[2 + 64 + 1])
{
    out[0] = '\\';
    out[1] = 'x';
    randomkey_to_hex(digest, SHA256_DIGEST_SIZE, out + 2);
}

/* A fresh random key (40 hex digits) and the bytea literal of its hash. */
static bool new_key(char key[41], char hash_literal[2 + 64 + 1])
{
    if (!randomkey_hex(KEY_BYTES, key))
        return false;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(key, strlen(key), digest);
    bytea_literal(digest, hash_literal);
    return true;
}

enum store_status store_create_workspace(struct store *store, const char *name,
                                         struct store_workspace *out, char api_key[41],
                                         char write_key[41])
{
    memset(out, 0, sizeof *out);
    char api_hash[67], write_hash[67];
    if (!randomkey_hex(SITE_ID_BYTES, out->site_id) || !new_key(api_key, api_hash) ||
        !new_key(write_key, write_hash)) {
        snprintf(store->last_error, sizeof store->last_error, "the kernel gave no randomness");
        return STORE_HARD_ERROR;
    }
    snprintf(out->name, sizeof out->name, "%s", name);

    const char *params[4] = {name, out->site_id, api_hash, write_hash};
    PGresult *res = PQexecPrepared(store->conn, "workspace_insert", 4, params, NULL, NULL, 0);
    enum store_status status;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "creating the workspace", res);
        status = store_failure_status(res);
    } else if (PQntuples(res) == 0) {
        status = STORE_NO_RESULTS;
    } else {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(out->created_at, sizeof out->created_at, "%s", PQgetvalue(res, 0, 1));
        out->environment_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        status = STORE_ONE_RESULT;
    }
    PQclear(res);
    return status;
}

/* Reads a workspace from five columns of `res` starting at `column`. */
static void read_workspace(const PGresult *res, int row, int column, struct store_workspace *ws)
{
    ws->id = strtoll(PQgetvalue(res, row, column), NULL, 10);
    snprintf(ws->name, sizeof ws->name, "%s", PQgetvalue(res, row, column + 1));
    snprintf(ws->site_id, sizeof ws->site_id, "%s", PQgetvalue(res, row, column + 2));
    snprintf(ws->created_at, sizeof ws->created_at, "%s", PQgetvalue(res, row, column + 3));
    ws->environment_id = strtoll(PQgetvalue(res, row, column + 4), NULL, 10);
}

enum store_status store_list_workspaces(struct store *store,
                                        void (*each)(void *cls, const struct store_workspace *ws),
                                        void *cls)
{
    PGresult *res = PQexecPrepared(store->conn, "workspace_list", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "listing workspaces", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_workspace ws = {0};
        read_workspace(res, i, 0, &ws);
        each(cls, &ws);
    }
    PQclear(res);
    return (enum store_status)rows;
}

enum store_status store_list_keys(struct store *store, bool expired,
                                  void (*each)(void *cls, const struct store_key *key), void *cls)
{
    const char *params[1] = {expired ? "true" : "false"};
    PGresult *res = PQexecPrepared(store->conn, "workspace_keys", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "listing workspace keys", res);
        enum store_status status = store_failure_status(res);
        PQclear(res);
        return status;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        struct store_key key = {0};
        key.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        read_workspace(res, i, 1, &key.workspace);
        key.kind = strcmp(PQgetvalue(res, i, 6), "api") == 0 ? STORE_KEY_API : STORE_KEY_WRITE;
        hex_to_bytes(PQgetvalue(res, i, 7), key.hash, sizeof key.hash);
        snprintf(key.created_at, sizeof key.created_at, "%s", PQgetvalue(res, i, 8));
        snprintf(key.last_used_at, sizeof key.last_used_at, "%s", PQgetvalue(res, i, 9));
        snprintf(key.expires_at, sizeof key.expires_at, "%s", PQgetvalue(res, i, 10));
        key.expires_at_us = strtoll(PQgetvalue(res, i, 11), NULL, 10);
        each(cls, &key);
    }
    PQclear(res);
    return (enum store_status)rows;
}

/* Rotates one kind of key inside rotate's transaction; false with the error recorded. */
static bool rotate_one(struct store *store, const char *workspace_id, const char *kind,
                       const char *grace_s, char key[41], char old_keys_expire_at[40])
{
    char hash[67];
    if (!new_key(key, hash)) {
        snprintf(store->last_error, sizeof store->last_error, "the kernel gave no randomness");
        return false;
    }
    const char *params[4] = {workspace_id, kind, hash, grace_s};
    PGresult *res = PQexecPrepared(store->conn, "workspace_rotate_key", 4, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (!ok) {
        store_set_error(store, "rotating a key", res);
    } else {
        const char *expires = PQgetvalue(res, 0, 0);
        /* Of the two kinds, the later end of grace is the one to tell. */
        if (strcmp(expires, old_keys_expire_at) > 0)
            snprintf(old_keys_expire_at, 40, "%s", expires);
    }
    PQclear(res);
    return ok;
}

enum store_status store_rotate_keys(struct store *store, const char *name, bool write, bool api,
                                    int64_t grace_us, char write_key[41], char api_key[41],
                                    char old_keys_expire_at[40])
{
    old_keys_expire_at[0] = '\0';
    if (!store_exec_command(store, "BEGIN"))
        return STORE_HARD_ERROR;
    const char *params[1] = {name};
    PGresult *res = PQexecPrepared(store->conn, "workspace_lock", 1, params, NULL, NULL, 0);
    enum store_status status = STORE_ONE_RESULT;
    char workspace_id[24] = "";
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_set_error(store, "finding the workspace", res);
        status = store_failure_status(res);
    } else if (PQntuples(res) == 0) {
        status = STORE_NO_RESULTS;
    } else {
        snprintf(workspace_id, sizeof workspace_id, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    char grace_s[32];
    snprintf(grace_s, sizeof grace_s, "%.6f", (double)grace_us / 1e6);
    if (status == STORE_ONE_RESULT &&
        ((write &&
          !rotate_one(store, workspace_id, "write", grace_s, write_key, old_keys_expire_at)) ||
         (api && !rotate_one(store, workspace_id, "api", grace_s, api_key, old_keys_expire_at))))
        status = STORE_HARD_ERROR;
    if (status != STORE_ONE_RESULT) {
        char kept[sizeof store->last_error];
        memcpy(kept, store->last_error, sizeof kept);
        store_exec_command(store, "ROLLBACK");
        memcpy(store->last_error, kept, sizeof kept);
        return status;
    }
    return store_exec_command(store, "COMMIT") ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

enum store_status store_touch_keys(struct store *store, const int64_t *ids, size_t count)
{
    /* An array literal of ids, "{1,2,3}": 20 digits and a comma each. */
    char *list = malloc(count * 21 + 3);
    if (list == NULL) {
        snprintf(store->last_error, sizeof store->last_error, "out of memory");
        return STORE_HARD_ERROR;
    }
    size_t len = 0;
    list[len++] = '{';
    for (size_t i = 0; i < count; i++)
        len += (size_t)sprintf(list + len, "%s%lld", i ? "," : "", (long long)ids[i]);
    list[len++] = '}';
    list[len] = '\0';
    const char *params[1] = {list};
    PGresult *res = PQexecPrepared(store->conn, "workspace_keys_touch", 1, params, NULL, NULL, 0);
    free(list);
    enum store_status status = STORE_ONE_RESULT;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_set_error(store, "recording when keys were used", res);
        status = store_failure_status(res);
    }
    PQclear(res);
    return status;
}
