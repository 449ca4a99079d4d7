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
    {"workspace_insert", "INSERT INTO workspaces (name, site_id, api_key_hash, write_key_hash)"
                         " VALUES ($1, $2, $3::bytea, $4::bytea)"
                         " ON CONFLICT (name) DO NOTHING"
                         " RETURNING id, created_at, environment_id"},
    {"workspace_list",
     "SELECT id, name, site_id, encode(api_key_hash, 'hex'), encode(write_key_hash, 'hex'),"
     " created_at, environment_id FROM workspaces ORDER BY id"},
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

enum store_status store_create_workspace(struct store *store, const char *name,
                                         struct store_workspace *out, char api_key[41],
                                         char write_key[41])
{
    memset(out, 0, sizeof *out);
    if (!randomkey_hex(SITE_ID_BYTES, out->site_id) || !randomkey_hex(KEY_BYTES, api_key) ||
        !randomkey_hex(KEY_BYTES, write_key)) {
        snprintf(store->last_error, sizeof store->last_error, "the kernel gave no randomness");
        return STORE_HARD_ERROR;
    }
    sha256(api_key, strlen(api_key), out->api_key_hash);
    sha256(write_key, strlen(write_key), out->write_key_hash);
    char api_hash[67], write_hash[67];
    bytea_literal(out->api_key_hash, api_hash);
    bytea_literal(out->write_key_hash, write_hash);
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
        ws.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        snprintf(ws.name, sizeof ws.name, "%s", PQgetvalue(res, i, 1));
        snprintf(ws.site_id, sizeof ws.site_id, "%s", PQgetvalue(res, i, 2));
        hex_to_bytes(PQgetvalue(res, i, 3), ws.api_key_hash, sizeof ws.api_key_hash);
        hex_to_bytes(PQgetvalue(res, i, 4), ws.write_key_hash, sizeof ws.write_key_hash);
        snprintf(ws.created_at, sizeof ws.created_at, "%s", PQgetvalue(res, i, 5));
        ws.environment_id = strtoll(PQgetvalue(res, i, 6), NULL, 10);
        each(cls, &ws);
    }
    PQclear(res);
    return (enum store_status)rows;
}
