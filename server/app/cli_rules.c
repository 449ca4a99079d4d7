/* `trackd rules load --workspace NAME PATH...` and `trackd rules list --workspace NAME`. */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/cli_internal.h"
#include "store/store_engine.h"
#include "trigger/trigger_rule.h"

/* A rule file read and validated, waiting to be stored. */
struct loaded_rule {
    char *path;
    char *name;
    char *definition; /* compact JSON */
    bool enabled;
    char *event;
    const char *type;
    char *watch_events; /* JSON array of the events its exit_on and goal name */
};

struct loaded_rules {
    struct loaded_rule *items;
    size_t count, capacity;
    int errors;
};

static void loaded_free(struct loaded_rules *rules)
{
    for (size_t i = 0; i < rules->count; i++) {
        free(rules->items[i].path);
        free(rules->items[i].name);
        free(rules->items[i].definition);
        free(rules->items[i].event);
        free(rules->items[i].watch_events);
    }
    free(rules->items);
}

/* Prints one warning about a rule that loads anyway; `cls` is the file's path. */
static void print_warning(void *cls, const char *field, const char *message)
{
    fprintf(stderr, "%s: warning: %s: %s\n", (const char *)cls, field, message);
}

/* The events a rule's exit_on and goal name, as a JSON array (new; NULL when out of memory). */
static char *watched_events(const struct trigger_rule *rule)
{
    json_object *events = json_object_new_array();
    for (size_t i = 0; events != NULL && i < rule->exit_count; i++)
        json_object_array_add(events, json_object_new_string(rule->exits[i].event));
    if (events != NULL && rule->goal.event != NULL)
        json_object_array_add(events, json_object_new_string(rule->goal.event));
    for (size_t i = 0; events != NULL && i < rule->journey_event_count; i++)
        json_object_array_add(events, json_object_new_string(rule->journey_events[i]));
    char *text =
        events ? strdup(json_object_to_json_string_ext(events, JSON_C_TO_STRING_PLAIN)) : NULL;
    json_object_put(events);
    return text;
}

/* Reads and validates one file; problems are printed naming the file and the field, and so are
 * warnings, which do not stop the load. */
static void load_file(struct loaded_rules *rules, const char *path)
{
    json_object *definition = json_object_from_file(path);
    if (definition == NULL) {
        fprintf(stderr, "%s: not a readable JSON file: %s\n", path, json_util_get_last_err());
        rules->errors++;
        return;
    }
    char field[160], message[256];
    struct trigger_rule *rule =
        trigger_rule_parse(definition, field, sizeof field, message, sizeof message);
    if (rule == NULL) {
        fprintf(stderr, "%s: %s: %s\n", path, field, message);
        rules->errors++;
        json_object_put(definition);
        return;
    }
    trigger_rule_warnings(rule, print_warning, (void *)path);
    for (size_t i = 0; i < rules->count; i++) {
        if (strcmp(rules->items[i].name, rule->name) == 0) {
            fprintf(stderr, "%s: name: rule '%s' is also defined in %s\n", path, rule->name,
                    rules->items[i].path);
            rules->errors++;
        }
    }
    if (rules->count == rules->capacity) {
        size_t capacity = rules->capacity ? rules->capacity * 2 : 16;
        struct loaded_rule *grown = realloc(rules->items, capacity * sizeof *rules->items);
        if (grown == NULL)
            goto out_of_memory;
        rules->items = grown;
        rules->capacity = capacity;
    }
    struct loaded_rule item = {
        .watch_events = watched_events(rule),
        .path = strdup(path),
        .name = strdup(rule->name),
        .definition = strdup(json_object_to_json_string_ext(definition, JSON_C_TO_STRING_PLAIN)),
        .enabled = rule->enabled,
        .event = strdup(rule->event),
        .type = trigger_event_type_name(rule->type),
    };
    if (!item.path || !item.name || !item.definition || !item.event || !item.watch_events) {
        free(item.watch_events);
        free(item.path);
        free(item.name);
        free(item.definition);
        free(item.event);
        goto out_of_memory;
    }
    rules->items[rules->count++] = item;
    trigger_rule_free(rule);
    json_object_put(definition);
    return;

out_of_memory:
    fprintf(stderr, "%s: out of memory\n", path);
    rules->errors++;
    trigger_rule_free(rule);
    json_object_put(definition);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads a file, or every *.json file of a directory in name order. */
static void load_path(struct loaded_rules *rules, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: no such file or directory\n", path);
        rules->errors++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(rules, path);
        return;
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "%s: cannot read the directory\n", path);
        rules->errors++;
        return;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0) {
            char **grown = realloc(names, (count + 1) * sizeof *names);
            char *name = grown ? strdup(entry->d_name) : NULL;
            if (grown)
                names = grown;
            if (name == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                rules->errors++;
                break;
            }
            names[count++] = name;
        }
    }
    closedir(dir);
    /* A directory without rule files leaves names NULL, and qsort's array must be valid even
     * when empty. */
    if (count > 1)
        qsort(names, count, sizeof *names, compare_names);
    /* "rules/" (as make run passes it) names the files "rules/x.json", not "rules//x.json". */
    size_t dir_len = strlen(path);
    while (dir_len > 1 && path[dir_len - 1] == '/')
        dir_len--;
    const char *separator = path[dir_len - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < count; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%.*s%s%s", (int)dir_len, path, separator, names[i]);
        load_file(rules, file);
        free(names[i]);
    }
    free(names);
}

struct store *cli_open_workspace(const char *database_url, const char *name, int64_t *id)
{
    char error[512];
    struct store *store = store_connect(database_url, error, sizeof error);
    if (store == NULL) {
        fprintf(stderr, "trackd rules: %s\n", error);
        return NULL;
    }
    enum store_status status = store_find_workspace(store, name, id);
    if (status == STORE_ONE_RESULT)
        return store;
    fprintf(stderr, "trackd rules: %s\n",
            status == STORE_NO_RESULTS ? "no workspace of that name" : store_last_error(store));
    store_close(store);
    return NULL;
}

int cli_rules_load(const char *database_url, const char *workspace, char **paths, int count)
{
    struct loaded_rules rules = {0};
    for (int i = 0; i < count; i++)
        load_path(&rules, paths[i]);
    int code = CLI_EXIT_RUNTIME;
    if (rules.errors > 0 || rules.count == 0) {
        if (rules.count == 0 && rules.errors == 0)
            fprintf(stderr, "trackd rules load: no *.json rule files found\n");
        fprintf(stderr, "trackd rules load: nothing was changed\n");
        loaded_free(&rules);
        return CLI_EXIT_RUNTIME;
    }
    int64_t workspace_id = 0;
    struct store *store = cli_open_workspace(database_url, workspace, &workspace_id);
    if (store != NULL) {
        struct store_rule_input *inputs = calloc(rules.count, sizeof *inputs);
        for (size_t i = 0; inputs != NULL && i < rules.count; i++)
            inputs[i] = (struct store_rule_input){
                rules.items[i].name,  rules.items[i].definition,   rules.items[i].enabled,
                rules.items[i].event, rules.items[i].watch_events, rules.items[i].type};
        if (inputs == NULL) {
            fprintf(stderr, "trackd rules load: out of memory; nothing was changed\n");
        } else if (store_upsert_rules(store, workspace_id, inputs, rules.count) < 0) {
            fprintf(stderr, "trackd rules load: %s; nothing was changed\n",
                    store_last_error(store));
        } else {
            for (size_t i = 0; i < rules.count; i++)
                printf("loaded %s from %s\n", rules.items[i].name, rules.items[i].path);
            code = CLI_EXIT_OK;
        }
        free(inputs);
        store_close(store);
    }
    loaded_free(&rules);
    return code;
}

static void print_rule(void *cls, const struct store_rule_row *rule)
{
    (void)cls;
    json_object *definition = json_tokener_parse(rule->definition);
    json_object *trigger = NULL, *event = NULL, *type = NULL;
    json_object_object_get_ex(definition, "trigger", &trigger);
    json_object_object_get_ex(trigger, "event", &event);
    json_object_object_get_ex(trigger, "type", &type);
    printf("%s\t%s\t%s:%s\tupdated_at=%s\n", rule->name, rule->enabled ? "enabled" : "disabled",
           type ? json_object_get_string(type) : "event",
           event ? json_object_get_string(event) : "?", rule->updated_at);
    json_object_put(definition);
}

int cli_rules_list(const char *database_url, const char *workspace)
{
    int64_t workspace_id = 0;
    struct store *store = cli_open_workspace(database_url, workspace, &workspace_id);
    if (store == NULL)
        return CLI_EXIT_RUNTIME;
    int code = CLI_EXIT_OK;
    if (store_list_rules(store, workspace_id, print_rule, NULL) < 0) {
        fprintf(stderr, "trackd rules list: %s\n", store_last_error(store));
        code = CLI_EXIT_RUNTIME;
    }
    store_close(store);
    return code;
}
