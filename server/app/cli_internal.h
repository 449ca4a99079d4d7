/* Shared by the files of the command line (cli.c, cli_rules.c). */
#ifndef TRACKD_APP_CLI_INTERNAL_H
#define TRACKD_APP_CLI_INTERNAL_H

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

#endif
