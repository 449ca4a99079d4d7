#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/cli_internal.h"
#include "common/config.h"
#include "common/log.h"
#include "store/store.h"

#ifndef TRACKD_VERSION
#define TRACKD_VERSION "dev"
#endif

static void print_usage(FILE *out)
{
    fprintf(
        out,
        "usage: trackd COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  serve [--no-workers]     serve HTTP and write events; also evaluate rules and\n"
        "                           send deliveries unless --no-workers (until SIGINT/SIGTERM)\n"
        "  worker                   evaluate rules and send deliveries only, without HTTP\n"
        "  migrate                  apply pending database migrations\n"
        "  workspace create NAME    create a workspace and print its keys (shown once)\n"
        "  workspace list           list each workspace's working keys, one per line: the\n"
        "                           workspace, its site id, the kind, a fingerprint of the\n"
        "                           key's hash, when created, last used and (rotated) expiring\n"
        "  workspace rotate-keys NAME [--write] [--api] [--grace DURATION]\n"
        "                           new keys (both unless one is named), printed once; the\n"
        "                           old ones keep working for DURATION (default 24h; 0s: none)\n"
        "  rules load --workspace NAME PATH...\n"
        "                           load rule files or directories of *.json, all or none\n"
        "  rules list --workspace NAME\n"
        "                           list a workspace's rules\n"
        "  rules test --workspace NAME RULE.json [--since 7d] [--person ID]\n"
        "                           replay stored events through a rule: whom it would fire\n"
        "                           for, per day, and what it would send; writes nothing\n"
        "  tail [--workspace NAME] [--person ID] [--event NAME] [--type TYPE] [--rejected]\n"
        "       [--json]            show calls as they are committed, one line each (refused\n"
        "                           ones with their reasons), until SIGINT\n"
        "  version                  print the version\n"
        "  --help                   print this help\n"
        "\n"
        "settings (environment variables):\n");
    config_describe(out);
    fprintf(out, "\nexit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n");
}

static const char *lookup_env(const char *name)
{
    return getenv(name);
}

/* Loads the configuration; prints every problem and returns false if there is one. */
static bool load_config(struct config *cfg, bool need_database)
{
    if (config_load(cfg, lookup_env, need_database, stderr) != 0) {
        config_free(cfg);
        return false;
    }
    log_current_level = cfg->log_level;
    log_current_format = cfg->log_format;
    return true;
}

static int cmd_migrate(void)
{
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    char error[512];
    int applied = store_migrate(cfg.database_url, stdout, error, sizeof error);
    config_free(&cfg);
    if (applied < 0) {
        fprintf(stderr, "trackd migrate: %s\n", error);
        return CLI_EXIT_RUNTIME;
    }
    printf("schema is current (%d migration%s applied now)\n", applied, applied == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* Runs a `workspace` subcommand with the configuration's database. */
static int cmd_workspace(const char *action, char **args, int count)
{
    bool create = strcmp(action, "create") == 0 && count == 1;
    bool list = strcmp(action, "list") == 0 && count == 0;
    bool rotate = strcmp(action, "rotate-keys") == 0;
    if (!create && !list && !rotate) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    int code = create ? cli_workspace_create(cfg.database_url, args[0])
               : list ? cli_workspace_list(cfg.database_url)
                      : cli_workspace_rotate_keys(cfg.database_url, args, count);
    config_free(&cfg);
    return code;
}

static int cmd_rules_test(char **args, int count)
{
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    int code = cli_rules_test(cfg.database_url, args, count);
    config_free(&cfg);
    return code;
}

static int cmd_tail(char **args, int count)
{
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    int code = cli_tail(cfg.database_url, args, count);
    config_free(&cfg);
    return code;
}

static int cmd_serve(struct app_parts parts)
{
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    if (!app_check_settings(&cfg, parts, stderr)) {
        config_free(&cfg);
        return CLI_EXIT_USAGE;
    }
    /* Shutdown signals are taken by sigwait below; every thread started after this inherits
     * the mask, so none of them is interrupted. A peer closing a socket must not kill us. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char error[512], masked[512];
    config_mask_url(cfg.database_url, masked, sizeof masked);
    /* libcurl's global state must be set up once, before any thread uses it. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct app *app = app_start(&cfg, parts, error, sizeof error);
    if (app == NULL) {
        fprintf(stderr, "trackd serve: %s\n", error);
        config_free(&cfg);
        return CLI_EXIT_RUNTIME;
    }
    if (parts.http)
        LOG_INFO("main", "trackd %s serving on %s:%u%s (database %s)", TRACKD_VERSION,
                 cfg.listen_host, app_port(app), parts.workers ? " with workers" : "", masked);
    else
        LOG_INFO("main", "trackd %s worker running (database %s)", TRACKD_VERSION, masked);
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    LOG_INFO("main", "received %s, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    app_stop(app);
    curl_global_cleanup();
    config_free(&cfg);
    LOG_INFO("main", "stopped");
    return CLI_EXIT_OK;
}

static int cmd_rules(const char *action, const char *workspace, char **paths, int count)
{
    bool load = strcmp(action, "load") == 0;
    if ((!load && strcmp(action, "list") != 0) || (load && count == 0) || (!load && count > 0)) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    struct config cfg;
    if (!load_config(&cfg, true))
        return CLI_EXIT_USAGE;
    int code = load ? cli_rules_load(cfg.database_url, workspace, paths, count)
                    : cli_rules_list(cfg.database_url, workspace);
    config_free(&cfg);
    return code;
}

int app_main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("trackd %s\n", TRACKD_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(command, "migrate") == 0 && argc == 2)
        return cmd_migrate();
    if (strcmp(command, "serve") == 0 && argc == 2)
        return cmd_serve((struct app_parts){.http = true, .workers = true});
    if (strcmp(command, "serve") == 0 && argc == 3 && strcmp(argv[2], "--no-workers") == 0)
        return cmd_serve((struct app_parts){.http = true, .workers = false});
    if (strcmp(command, "worker") == 0 && argc == 2)
        return cmd_serve((struct app_parts){.http = false, .workers = true});
    if (strcmp(command, "rules") == 0 && argc >= 3 && strcmp(argv[2], "test") == 0)
        return cmd_rules_test(argv + 3, argc - 3);
    if (strcmp(command, "rules") == 0 && argc >= 5 && strcmp(argv[3], "--workspace") == 0)
        return cmd_rules(argv[2], argv[4], argv + 5, argc - 5);
    if (strcmp(command, "tail") == 0)
        return cmd_tail(argv + 2, argc - 2);
    if (strcmp(command, "workspace") == 0 && argc >= 3)
        return cmd_workspace(argv[2], argv + 3, argc - 3);
    fprintf(stderr, "trackd: unknown command or wrong arguments: ");
    for (int i = 1; i < argc; i++)
        fprintf(stderr, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
    print_usage(stderr);
    return CLI_EXIT_USAGE;
}
