/* `trackd workspace ...`: create a workspace, list workspaces and their keys, rotate keys. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "app/cli_internal.h"
#include "common/sha256.h"
#include "store/store.h"
#include "trigger/trigger_rule.h"

#define WORKSPACE_NAME_MAX 100

/* How long rotated keys keep working unless --grace says otherwise. */
#define DEFAULT_GRACE "24h"

/* Hex digits of a key's hash shown as its fingerprint: enough to tell keys apart, far too few
 * to find the key from. */
#define FINGERPRINT_DIGITS 12

static bool valid_workspace_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > WORKSPACE_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* Connects for command `what`, printing why not; NULL on failure. */
static struct store *connect_for(const char *database_url, const char *what)
{
    char error[512];
    struct store *store = store_connect(database_url, error, sizeof error);
    if (store == NULL)
        fprintf(stderr, "trackd workspace %s: %s\n", what, error);
    return store;
}

int cli_workspace_create(const char *database_url, const char *name)
{
    if (!valid_workspace_name(name)) {
        fprintf(stderr,
                "trackd workspace create: NAME must be 1 to %d characters of letters, "
                "digits, '.', '_' or '-'\n",
                WORKSPACE_NAME_MAX);
        return CLI_EXIT_USAGE;
    }
    struct store *store = connect_for(database_url, "create");
    if (store == NULL)
        return CLI_EXIT_RUNTIME;
    int code = CLI_EXIT_RUNTIME;
    struct store_workspace ws;
    char api_key[41], write_key[41];
    enum store_status status = store_create_workspace(store, name, &ws, api_key, write_key);
    if (status == STORE_NO_RESULTS) {
        fprintf(stderr, "trackd workspace create: workspace '%s' already exists\n", name);
    } else if (status < 0) {
        fprintf(stderr, "trackd workspace create: %s\n", store_last_error(store));
    } else {
        json_object *out = json_object_new_object();
        json_object_object_add(out, "name", json_object_new_string(ws.name));
        json_object_object_add(out, "site_id", json_object_new_string(ws.site_id));
        json_object_object_add(out, "api_key", json_object_new_string(api_key));
        json_object_object_add(out, "write_key", json_object_new_string(write_key));
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
        json_object_put(out);
        code = CLI_EXIT_OK;
    }
    store_close(store);
    return code;
}

/* One line per key; the workspace's name first, so that `awk '$1 == NAME'` finds it. */
static void print_key(void *cls, const struct store_key *key)
{
    (void)cls;
    char fingerprint[2 * SHA256_DIGEST_SIZE + 1];
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < FINGERPRINT_DIGITS / 2; i++) {
        fingerprint[2 * i] = hex[key->hash[i] >> 4];
        fingerprint[2 * i + 1] = hex[key->hash[i] & 15];
    }
    fingerprint[FINGERPRINT_DIGITS] = '\0';
    printf("%s\tsite_id=%s\t%s\tkey=%s\tcreated_at=%s\tlast_used_at=%s", key->workspace.name,
           key->workspace.site_id, key->kind == STORE_KEY_API ? "api" : "write", fingerprint,
           key->created_at, key->last_used_at[0] ? key->last_used_at : "never");
    if (key->expires_at[0])
        printf("\texpires_at=%s", key->expires_at);
    printf("\n");
}

int cli_workspace_list(const char *database_url)
{
    struct store *store = connect_for(database_url, "list");
    if (store == NULL)
        return CLI_EXIT_RUNTIME;
    int code = CLI_EXIT_OK;
    if (store_list_keys(store, false, print_key, NULL) < 0) {
        fprintf(stderr, "trackd workspace list: %s\n", store_last_error(store));
        code = CLI_EXIT_RUNTIME;
    }
    store_close(store);
    return code;
}

/* Options of `workspace rotate-keys NAME [--write] [--api] [--grace DURATION]`. */
struct rotate_options {
    const char *name;
    bool write, api;
    int64_t grace_us;
};

static bool parse_rotate_options(char **args, int count, struct rotate_options *out)
{
    *out = (struct rotate_options){0};
    const char *grace = DEFAULT_GRACE;
    for (int i = 0; i < count; i++) {
        if (strcmp(args[i], "--write") == 0) {
            out->write = true;
        } else if (strcmp(args[i], "--api") == 0) {
            out->api = true;
        } else if (strcmp(args[i], "--grace") == 0 && i + 1 < count) {
            grace = args[++i];
        } else if (args[i][0] != '-' && out->name == NULL) {
            out->name = args[i];
        } else {
            fprintf(stderr, "trackd workspace rotate-keys: unexpected argument '%s'\n", args[i]);
            return false;
        }
    }
    if (out->name == NULL) {
        fprintf(stderr, "trackd workspace rotate-keys: which workspace? (NAME)\n");
        return false;
    }
    if (!trigger_parse_duration(grace, &out->grace_us)) {
        fprintf(stderr,
                "trackd workspace rotate-keys: --grace must be a whole number and a unit, s, m, h "
                "or d (e.g. 24h, 0s), at most 365d; not '%s'\n",
                grace);
        return false;
    }
    if (!out->write && !out->api)
        out->write = out->api = true; /* neither named: both */
    return true;
}

int cli_workspace_rotate_keys(const char *database_url, char **args, int count)
{
    struct rotate_options options;
    if (!parse_rotate_options(args, count, &options))
        return CLI_EXIT_USAGE;
    struct store *store = connect_for(database_url, "rotate-keys");
    if (store == NULL)
        return CLI_EXIT_RUNTIME;
    int code = CLI_EXIT_RUNTIME;
    char write_key[41] = "", api_key[41] = "", old_expire[40] = "";
    enum store_status status = store_rotate_keys(store, options.name, options.write, options.api,
                                                 options.grace_us, write_key, api_key, old_expire);
    if (status == STORE_NO_RESULTS) {
        fprintf(stderr, "trackd workspace rotate-keys: no workspace '%s'\n", options.name);
    } else if (status < 0) {
        fprintf(stderr, "trackd workspace rotate-keys: %s\n", store_last_error(store));
    } else {
        json_object *out = json_object_new_object();
        json_object_object_add(out, "name", json_object_new_string(options.name));
        if (options.write)
            json_object_object_add(out, "write_key", json_object_new_string(write_key));
        if (options.api)
            json_object_object_add(out, "api_key", json_object_new_string(api_key));
        json_object_object_add(out, "old_keys_expire_at",
                               old_expire[0] ? json_object_new_string(old_expire) : NULL);
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
        json_object_put(out);
        code = CLI_EXIT_OK;
    }
    store_close(store);
    return code;
}
