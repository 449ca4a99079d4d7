/*
 * The modules of server/ are layers, and none includes a header of one above it:
 *
 *   main → app → http → api, ingest, engine, delivery → store → core, trigger → common
 *
 * (modules on one line of that chain are siblings: neither may include the other). This suite
 * reads every .c and .h under server/ (SOURCE_DIR) and fails on each `#include "module/..."`
 * that goes sideways or up, naming the file and line.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the server/ directory"
#endif

struct layer {
    const char *module;
    int rank; /* a module may include only modules of a lower rank (and itself) */
};

static const struct layer layers[] = {
    {"common", 0}, {"core", 1},     {"trigger", 1}, {"store", 2}, {"api", 3},    {"ingest", 3},
    {"engine", 3}, {"delivery", 3}, {"http", 4},    {"app", 5},   {"main.c", 6},
};

/* The rank of a module, or -1 for a directory the chain does not name. */
static int rank_of(const char *module, size_t len)
{
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (strlen(layers[i].module) == len && strncmp(layers[i].module, module, len) == 0)
            return layers[i].rank;
    return -1;
}

/* Whether a file of module `from` may include a header of module `to`. */
static bool include_allowed(const char *from, const char *to, size_t to_len)
{
    int from_rank = rank_of(from, strlen(from));
    int to_rank = rank_of(to, to_len);
    if (strlen(from) == to_len && strncmp(from, to, to_len) == 0)
        return true;
    return from_rank >= 0 && to_rank >= 0 && to_rank < from_rank;
}

static int violations;

static void check_file(const char *path, const char *module)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    char line[512];
    for (int number = 1; fgets(line, sizeof line, f); number++) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "#include \"", 10) != 0)
            continue;
        const char *target = p + 10;
        const char *slash = strchr(target, '/');
        const char *quote = strchr(target, '"');
        if (slash == NULL || (quote && quote < slash))
            continue; /* a header of the same directory */
        if (!include_allowed(module, target, (size_t)(slash - target))) {
            cr_log_error("%s:%d: module %s includes %.*s, which is not below it", path, number,
                         module, (int)(slash - target), target);
            violations++;
        }
    }
    fclose(f);
}

static void check_tree(const char *dir, const char *module)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            cr_expect(module != NULL || rank_of(e->d_name, n) >= 0,
                      "server/%s is not in the chain of layers; add it to tests/unit/test_layers.c",
                      e->d_name);
            check_tree(path, module ? module : e->d_name);
        } else if (n > 2 &&
                   (strcmp(e->d_name + n - 2, ".c") == 0 || strcmp(e->d_name + n - 2, ".h") == 0)) {
            check_file(path, module ? module : e->d_name);
        }
    }
    closedir(d);
}

Test(layers, no_module_includes_one_above_it_or_beside_it)
{
    violations = 0;
    check_tree(SOURCE_DIR, NULL);
    cr_assert_eq(violations, 0, "%d include(s) go sideways or up (listed above)", violations);
}

Test(layers, the_rule_refuses_sideways_and_upward_includes)
{
    cr_assert(include_allowed("store", "core", 4));
    cr_assert(include_allowed("http", "api", 3));
    cr_assert(include_allowed("store", "store", 5));
    cr_assert_not(include_allowed("store", "api", 3), "store must not include the adapters");
    cr_assert_not(include_allowed("engine", "delivery", 8), "siblings stay apart");
    cr_assert_not(include_allowed("core", "store", 5));
    cr_assert_not(include_allowed("store", "unknown", 7));
}
