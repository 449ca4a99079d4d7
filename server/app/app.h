/* The whole server in one process: writer, HTTP front, wired from a loaded config. */
#ifndef TRACKD_APP_APP_H
#define TRACKD_APP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/config.h"

struct app;

/* What a process runs. */
struct app_parts {
    bool http;    /* the HTTP server and its writers */
    bool workers; /* the rule evaluator and the delivery workers */
};

/* Checks the settings that name files (TLS certificate and key, APNs key, extra CAs) or that
 * depend on each other, for what `parts` will run: prints one line per problem to `errors`,
 * naming the variable, and returns false if there is any (the command then exits 2). */
bool app_check_settings(const struct config *cfg, struct app_parts parts, FILE *errors);

/* Starts what `parts` asks for; NULL with a message in `error` on failure. */
struct app *app_start(const struct config *cfg, struct app_parts parts, char *error,
                      size_t error_size);

/* The HTTP port actually bound (0 without HTTP). */
unsigned app_port(const struct app *app);

/* Stops HTTP (draining requests in flight), then the writer; accepts NULL. */
void app_stop(struct app *app);

/* The command line: runs `trackd ARGS...` and returns the process exit code
 * (0 success, 1 runtime failure, 2 usage or configuration error). */
int app_main(int argc, char **argv);

#endif
