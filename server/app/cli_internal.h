/* Shared by the files of the command line (cli.c, cli_rules.c, cli_tail.c,
 * cli_workspace.c). */
#ifndef TRACKD_APP_CLI_INTERNAL_H
#define TRACKD_APP_CLI_INTERNAL_H

#include <stdint.h>

struct store;

enum cli_exit_code {
    CLI_EXIT_OK = 0,      /* success */
    CLI_EXIT_RUNTIME = 1, /* the database or the network failed, or the input was refused */
    CLI_EXIT_USAGE = 2,   /* bad arguments or configuration */
};

/* `trackd rules load --workspace NAME PATH...`: validates every file first (printing each
 * problem with its file and field), then stores all of them in one transaction, or nothing. */
int cli_rules_load(const char *database_url, const char *workspace, char **paths, int count);

/* `trackd rules list --workspace NAME`: one line per rule. */
int cli_rules_list(const char *database_url, const char *workspace);

/* Connects and finds workspace `name` (*id); prints why not ("trackd rules: ...") and returns
 * NULL. */
struct store *cli_open_workspace(const char *database_url, const char *name, int64_t *id);

/* `trackd rules test --workspace NAME RULE.json [--since 7d] [--person ID]` (args: after
 * "test"): replays stored events through a rule, writing and sending nothing. */
int cli_rules_test(const char *database_url, char **args, int count);

/* `trackd workspace create NAME`: prints the new workspace's keys, once, as JSON. */
int cli_workspace_create(const char *database_url, const char *name);

/* `trackd workspace list`: one line per working key (see print_usage). */
int cli_workspace_list(const char *database_url);

/* `trackd workspace rotate-keys NAME [--write] [--api] [--grace DURATION]` (args: after
 * "rotate-keys"): prints the new keys, once, as JSON, and when the old ones stop working. */
int cli_workspace_rotate_keys(const char *database_url, char **args, int count);

/* `trackd tail [--workspace W] [--person ID] [--event NAME] [--type T] [--rejected] [--json]`
 * (args: after "tail"): prints calls as they are committed until SIGINT or SIGTERM. */
int cli_tail(const char *database_url, char **args, int count);

#endif
