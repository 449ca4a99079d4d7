/*
 * Every SQL statement is parameterised (STYLE.md "Store", issue 7 item 8): this suite reads every
 * .c file under server/ and fails on
 *
 *   1. a printf-family call whose format string holds SQL followed by a conversion
 *      ("DELETE FROM people WHERE id = %s"): SQL text built from values;
 *   2. a libpq call whose query text is not a string literal (PQexec, PQexecParams, PQsendQuery,
 *      PQsendQueryParams, PQprepare, PQsendPrepare, and the query helpers listed below): text
 *      put together at run time, however it was built.
 *
 * The printf family is the C library's, the LOG_* macros, and every function declared with
 * __attribute__((format(printf, N, M))) under server/ (found by reading the sources, so a new
 * wrapper is covered without listing it). *Prepared calls take a statement's name, not SQL, and
 * are not checked. The sources are read as tokens (comments dropped, strings kept), not compiled,
 * so a call hidden behind a macro other than those above is not seen.
 *
 * A non-literal query is allowed only when listed in `allowed_queries` with the reason it is
 * fixed at build time; an entry that no longer matches anything fails the suite, so the list
 * cannot rot. TRACKD_SCAN_DIR overrides the directory scanned (SOURCE_DIR, set by CMake), which
 * is how to check the suite against a scratch copy holding a bad line.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the server/ directory"
#endif

/* ---- what is checked, and the allow-list ---- */

/* A function whose argument `index` (from 0) is a printf format or a query text. NULL file: any. */
struct checked_function {
    const char *file;
    const char *name;
    int index;
};

static const struct checked_function printf_family[] = {
    {NULL, "printf", 0},    {NULL, "fprintf", 1},  {NULL, "dprintf", 1},   {NULL, "sprintf", 1},
    {NULL, "snprintf", 2},  {NULL, "asprintf", 1}, {NULL, "vprintf", 0},   {NULL, "vfprintf", 1},
    {NULL, "vdprintf", 1},  {NULL, "vsprintf", 1}, {NULL, "vsnprintf", 2}, {NULL, "vasprintf", 1},
    {NULL, "LOG_ERROR", 1}, {NULL, "LOG_WARN", 1}, {NULL, "LOG_INFO", 1},  {NULL, "LOG_DEBUG", 1},
    {NULL, "LOG_AT", 2},
};

static const struct checked_function query_functions[] = {
    {NULL, "PQexec", 1},
    {NULL, "PQexecParams", 1},
    {NULL, "PQsendQuery", 1},
    {NULL, "PQsendQueryParams", 1},
    {NULL, "PQprepare", 2},
    {NULL, "PQsendPrepare", 2},
    /* Query helpers: functions that hand their argument to PQexec; their callers are
     * checked as if they called libpq themselves. */
    {"store/store_migrate.c", "exec_ok", 1},
    {"store/store.c", "store_exec_command", 1},
    {"store/store_tail.c", "tail_query", 1},
};

/* A query argument that is not a literal, in `function` of `file`, written exactly so. */
struct allowed_query {
    const char *file;
    const char *function;
    const char *argument;
    const char *why;
};

static const struct allowed_query allowed_queries[] = {
    {"store/store.c", "prepare_list", "list[i].sql",
     "the statement registry: each store file lists its statements as literals in a struct "
     "store_statement table, all prepared at connect"},
    {"store/store_migrate.c", "apply_one", "m->sql",
     "a migration (migrations/NNNN_*.sql), embedded in the binary at build time"},
    {"store/store_migrate.c", "apply_definitions", "d->sql",
     "a function or view of sql/, embedded in the binary at build time"},
    {"store/store_migrate.c", "apply_definitions", "drop_stale_definitions",
     "a static const string literal of the same file"},
    {"store/store_migrate.c", "exec_ok", "sql", "a query helper: its callers are checked"},
    {"store/store.c", "store_exec_command", "sql", "a query helper: its callers are checked"},
    {"store/store_tail.c", "tail_query", "sql", "a query helper: its callers are checked"},
};

#define ALLOWED_QUERY_COUNT (sizeof allowed_queries / sizeof allowed_queries[0])

/* ---- a C tokenizer: enough to find calls and their arguments ---- */

enum token_kind { TOKEN_IDENT, TOKEN_STRING, TOKEN_OTHER };

struct token {
    enum token_kind kind;
    const char *text; /* into the file's text; a string's text is its content, without quotes */
    size_t len;
    int line;
    bool directive; /* part of a preprocessor line */
};

struct source {
    char path[512];     /* as given to the scan */
    char relative[256]; /* under the scanned directory: "store/store.c" */
    char *text;
    struct token *tokens;
    size_t count;
};

static void add_token(struct source *s, size_t *cap, struct token t)
{
    if (s->count == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        s->tokens = realloc(s->tokens, *cap * sizeof *s->tokens);
        cr_assert_not_null(s->tokens);
    }
    s->tokens[s->count++] = t;
}

/* Splits s->text into tokens; comments are dropped, character literals are TOKEN_OTHER. */
static void tokenize(struct source *s)
{
    size_t cap = 0;
    const char *p = s->text;
    int line = 1;
    bool line_start = true, directive = false;
    while (*p) {
        if (*p == '\n') {
            /* A directive ends at a newline that is not escaped. */
            if (!(p > s->text && p[-1] == '\\'))
                directive = false;
            line++;
            line_start = true;
            p++;
            continue;
        }
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            p += 2;
            while (*p && !(p[0] == '*' && p[1] == '/')) {
                line += *p == '\n';
                p++;
            }
            p += *p ? 2 : 0;
            continue;
        }
        if (line_start && *p == '#')
            directive = true;
        line_start = false;
        struct token t = {.line = line, .directive = directive};
        if (*p == '"' || *p == '\'') {
            char quote = *p++;
            const char *start = p;
            while (*p && *p != quote && *p != '\n') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
            t.kind = quote == '"' ? TOKEN_STRING : TOKEN_OTHER;
            t.text = start;
            t.len = (size_t)(p - start);
            p += *p == quote;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *start = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            t = (struct token){TOKEN_IDENT, start, (size_t)(p - start), line, directive};
        } else if (isdigit((unsigned char)*p)) {
            const char *start = p;
            while (isalnum((unsigned char)*p) || *p == '.')
                p++;
            t = (struct token){TOKEN_OTHER, start, (size_t)(p - start), line, directive};
        } else {
            t = (struct token){TOKEN_OTHER, p, 1, line, directive};
            p++;
        }
        add_token(s, &cap, t);
    }
}

static bool token_is(const struct token *t, const char *text)
{
    return t->len == strlen(text) && memcmp(t->text, text, t->len) == 0;
}

/* ---- reading a directory tree ---- */

struct source_list {
    struct source *items;
    size_t count;
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size, "cannot read %s", path);
    text[size] = '\0';
    fclose(f);
    return text;
}

static void add_source(struct source_list *list, const char *path, const char *relative, char *text)
{
    list->items = realloc(list->items, (list->count + 1) * sizeof *list->items);
    cr_assert_not_null(list->items);
    struct source *s = &list->items[list->count++];
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->relative, sizeof s->relative, "%s", relative);
    s->text = text;
    tokenize(s);
}

/* Adds every .c and .h file under `dir` (`relative` is its path under the scan root). */
static void read_tree(struct source_list *list, const char *dir, const char *relative)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open directory %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], rel[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(rel, sizeof rel, "%s%s%s", relative, *relative ? "/" : "", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        size_t len = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            read_tree(list, path, rel);
        else if (len > 2 && e->d_name[len - 2] == '.' &&
                 (e->d_name[len - 1] == 'c' || e->d_name[len - 1] == 'h'))
            add_source(list, path, rel, read_file(path));
    }
    closedir(d);
}

static void free_sources(struct source_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].text);
        free(list->items[i].tokens);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

static const char *scan_root(void)
{
    const char *dir = getenv("TRACKD_SCAN_DIR");
    return dir && *dir ? dir : SOURCE_DIR;
}

/* ---- printf wrappers declared in the sources ---- */

struct function_table {
    struct checked_function *items;
    size_t count;
};

static void add_function(struct function_table *t, const char *file, const char *name,
                         size_t name_len, int index)
{
    t->items = realloc(t->items, (t->count + 1) * sizeof *t->items);
    cr_assert_not_null(t->items);
    t->items[t->count++] =
        (struct checked_function){file ? strdup(file) : NULL, strndup(name, name_len), index};
}

static void free_functions(struct function_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free((char *)t->items[i].file);
        free((char *)t->items[i].name);
    }
    free(t->items);
    memset(t, 0, sizeof *t);
}

/* Index of the token closing the bracket opened at `open`, or s->count. */
static size_t matching(const struct source *s, size_t open)
{
    int depth = 0;
    for (size_t i = open; i < s->count; i++) {
        if (token_is(&s->tokens[i], "("))
            depth++;
        else if (token_is(&s->tokens[i], ")") && --depth == 0)
            return i;
    }
    return s->count;
}

/*
 * Finds `__attribute__((format(printf, N, M)))` and the function it belongs to: the declarator
 * just before it ("f(...) __attribute__") or, when it comes first, the next one
 * ("__attribute__(...) static bool f(").
 */
static void find_printf_wrappers(const struct source *s, struct function_table *out)
{
    for (size_t i = 0; i + 1 < s->count; i++) {
        if (!token_is(&s->tokens[i], "__attribute__") || !token_is(&s->tokens[i + 1], "("))
            continue;
        size_t end = matching(s, i + 1);
        int format_index = -1;
        for (size_t j = i; j + 4 < end; j++)
            if (token_is(&s->tokens[j], "format") && token_is(&s->tokens[j + 1], "(") &&
                (token_is(&s->tokens[j + 2], "printf") ||
                 token_is(&s->tokens[j + 2], "__printf__")) &&
                token_is(&s->tokens[j + 3], ","))
                format_index = atoi(s->tokens[j + 4].text) - 1;
        if (format_index < 0)
            continue;
        const struct token *name = NULL;
        if (i > 0 && token_is(&s->tokens[i - 1], ")")) {
            /* After the parameter list: walk back to its "(", the name is before it. */
            int depth = 0;
            for (size_t j = i - 1; j > 0; j--) {
                if (token_is(&s->tokens[j], ")"))
                    depth++;
                else if (token_is(&s->tokens[j], "(") && --depth == 0) {
                    name = &s->tokens[j - 1];
                    break;
                }
            }
        } else {
            for (size_t j = end + 1; j + 1 < s->count && name == NULL; j++)
                if (s->tokens[j].kind == TOKEN_IDENT && token_is(&s->tokens[j + 1], "("))
                    name = &s->tokens[j];
        }
        /* A wrapper defined in a .c file is that file's own (static, or declared in a header
         * too, where it is found again for every file). */
        size_t len = strlen(s->relative);
        const char *scope = strcmp(s->relative + len - 2, ".c") == 0 ? s->relative : NULL;
        if (name != NULL && name->kind == TOKEN_IDENT)
            add_function(out, scope, name->text, name->len, format_index);
    }
}

/* ---- calls ---- */

/* One call: the function, its arguments as token ranges, where it is. */
struct call {
    const struct source *source;
    const struct token *name;
    const char *function; /* the function the call is in, or "" */
    size_t arg_start[16], arg_end[16];
    size_t arg_count;
};

/* The text of tokens [start, end), spaced only between two words ("m->sql", "list[i].sql"). */
static void tokens_text(const struct source *s, size_t start, size_t end, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = start; i < end && used + 1 < size; i++) {
        const struct token *t = &s->tokens[i];
        bool space = i > start && t->kind != TOKEN_OTHER && s->tokens[i - 1].kind != TOKEN_OTHER;
        int n = snprintf(out + used, size - used, "%s%s%.*s%s", space ? " " : "",
                         t->kind == TOKEN_STRING ? "\"" : "", (int)t->len, t->text,
                         t->kind == TOKEN_STRING ? "\"" : "");
        used += n > 0 ? (size_t)n : 0;
    }
}

/*
 * A literal: string pieces, possibly joined by macros ("%" PRId64, "..." LOCK_KEY ")"), possibly
 * in parentheses, or a choice between two literals (ok ? "COMMIT" : "ROLLBACK"). `text` receives
 * the pieces joined, a PRI* macro read as "d" (NULL: not needed; a choice has no single text).
 */
static bool is_literal(const struct source *s, size_t start, size_t end, char *text, size_t size)
{
    while (end > start + 1 && token_is(&s->tokens[start], "(") && matching(s, start) == end - 1) {
        start++;
        end--;
    }
    int nesting = 0;
    for (size_t i = start; i < end; i++) {
        const struct token *t = &s->tokens[i];
        nesting += token_is(t, "(") || token_is(t, "[");
        nesting -= token_is(t, ")") || token_is(t, "]");
        if (nesting != 0 || !token_is(t, "?"))
            continue;
        for (size_t j = i + 1, inner = 0; j < end; j++) {
            inner += token_is(&s->tokens[j], "?");
            if (token_is(&s->tokens[j], ":") && inner-- == 0)
                return text == NULL && is_literal(s, i + 1, j, NULL, 0) &&
                       is_literal(s, j + 1, end, NULL, 0);
        }
        return false;
    }
    bool any_string = false;
    size_t used = 0;
    if (text)
        text[0] = '\0';
    for (size_t i = start; i < end; i++) {
        const struct token *t = &s->tokens[i];
        bool macro = t->kind == TOKEN_IDENT && isupper((unsigned char)t->text[0]);
        if (t->kind != TOKEN_STRING && !macro)
            return false;
        any_string = any_string || t->kind == TOKEN_STRING;
        if (text == NULL)
            continue;
        const char *piece = t->text;
        size_t len = t->len;
        if (macro) {
            piece = strncmp(t->text, "PRI", 3) == 0 ? "d" : "";
            len = strlen(piece);
        }
        if (used + len + 1 < size) {
            memcpy(text + used, piece, len);
            used += len;
            text[used] = '\0';
        }
    }
    return any_string;
}

typedef void (*call_visitor)(const struct call *call, void *context);

/*
 * Calls every `visit` with each call in `s`: a name followed by "(" inside a function body or a
 * preprocessor line. At file level, "name(" is a declaration, and the function it names is what
 * the calls inside the following body belong to.
 */
static void each_call(const struct source *s, call_visitor visit, void *context)
{
    int depth = 0, file_parens = 0; /* braces; parentheses at file level */
    char function[128] = "", candidate[128] = "";
    for (size_t i = 0; i < s->count; i++) {
        const struct token *t = &s->tokens[i];
        if (depth == 0 && !t->directive)
            file_parens += token_is(t, "(") - token_is(t, ")");
        if (!t->directive && token_is(t, "{")) {
            if (depth++ == 0)
                snprintf(function, sizeof function, "%s", candidate);
            continue;
        }
        if (!t->directive && token_is(t, "}")) {
            if (depth > 0 && --depth == 0)
                function[0] = candidate[0] = '\0';
            continue;
        }
        if (t->kind != TOKEN_IDENT || i + 1 >= s->count || !token_is(&s->tokens[i + 1], "("))
            continue;
        if (depth == 0 && !t->directive) {
            /* The declarator's name, not a parameter's type ("void (*each)(...)"). */
            if (file_parens == 0)
                snprintf(candidate, sizeof candidate, "%.*s", (int)t->len, t->text);
            continue;
        }
        struct call call = {.source = s, .name = t, .function = function};
        size_t close = matching(s, i + 1);
        size_t start = i + 2;
        int nesting = 0;
        for (size_t j = i + 2; j <= close && j < s->count; j++) {
            const struct token *a = &s->tokens[j];
            if (token_is(a, "(") || token_is(a, "[") || token_is(a, "{"))
                nesting++;
            else if ((token_is(a, ")") || token_is(a, "]") || token_is(a, "}")) && j != close)
                nesting--;
            if ((j == close || (nesting == 0 && token_is(a, ","))) && call.arg_count < 16) {
                call.arg_start[call.arg_count] = start;
                call.arg_end[call.arg_count] = j;
                call.arg_count++;
                start = j + 1;
            }
        }
        visit(&call, context);
    }
}

static const struct checked_function *lookup(const struct checked_function *table, size_t count,
                                             const struct call *call)
{
    for (size_t i = 0; i < count; i++)
        if (token_is(call->name, table[i].name) &&
            (table[i].file == NULL || strcmp(table[i].file, call->source->relative) == 0))
            return &table[i];
    return NULL;
}

/* ---- what counts as SQL in a format ---- */

static const char *const sql_keywords[] = {
    "SELECT", "INSERT",   "UPDATE",  "DELETE", "WHERE",  "VALUES",  "FROM",   "INTO",
    "SET",    "JOIN",     "LIMIT",   "OFFSET", "ORDER",  "GROUP",   "HAVING", "RETURNING",
    "UNION",  "TRUNCATE", "DROP",    "ALTER",  "CREATE", "GRANT",   "REVOKE", "COPY",
    "CALL",   "EXECUTE",  "PREPARE", "LISTEN", "NOTIFY", "ANALYZE", "VACUUM", "LOCK",
};

/* Where the first printf conversion at or after `from` is ("%s", "%-8.3lld", not "%%"); -1. */
static long conversion_at(const char *text, size_t from)
{
    for (size_t i = from; text[i] != '\0'; i++) {
        if (text[i] != '%')
            continue;
        size_t j = i + 1;
        if (text[j] == '%') {
            i = j;
            continue;
        }
        j += strspn(text + j, "-+ #0'");
        j += strspn(text + j, "0123456789*");
        if (text[j] == '.') {
            j++;
            j += strspn(text + j, "0123456789*");
        }
        j += strspn(text + j, "hljztL");
        if (text[j] != '\0' && strchr("diouxXeEfFgGaAcsp", text[j]) != NULL)
            return (long)i;
    }
    return -1;
}

static bool word_at(const char *text, size_t at, const char *word)
{
    size_t len = strlen(word);
    return strncmp(text + at, word, len) == 0 &&
           (at == 0 || !(isalnum((unsigned char)text[at - 1]) || text[at - 1] == '_')) &&
           !(isalnum((unsigned char)text[at + len]) || text[at + len] == '_');
}

/* Where SQL starts in `text`: an upper-case keyword, or lower-case SQL in an unmistakable shape
 * ("select ... from", "insert into", "delete from", "update ... set", "where x ="); -1. */
static long sql_start(const char *text)
{
    size_t n = strlen(text);
    char *lower = malloc(n + 1);
    cr_assert_not_null(lower);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)text[i]);
    long found = -1;
    for (size_t i = 0; i < n && found < 0; i++) {
        for (size_t k = 0; k < sizeof sql_keywords / sizeof sql_keywords[0]; k++)
            if (word_at(text, i, sql_keywords[k]))
                found = (long)i;
        if (found >= 0)
            break;
        if ((word_at(lower, i, "select") && strstr(lower + i, " from ")) ||
            strncmp(lower + i, "insert into ", 12) == 0 ||
            strncmp(lower + i, "delete from ", 12) == 0 ||
            (word_at(lower, i, "update") && strstr(lower + i, " set ")) ||
            (word_at(lower, i, "where") && strpbrk(lower + i, "=<>")))
            found = (long)i;
    }
    free(lower);
    return found;
}

/* True when a format holds SQL followed by a conversion. */
static bool format_builds_sql(const char *format)
{
    long start = sql_start(format);
    return start >= 0 && conversion_at(format, (size_t)start) >= 0;
}

/* ---- the scan ---- */

struct finding {
    char where[300];
    char what[700];
};

struct scan {
    struct function_table printf_functions; /* printf_family and the wrappers found */
    struct finding findings[64];
    size_t finding_count;
    size_t calls_checked; /* printf-family and query calls seen */
    size_t query_calls;
    bool query_used[ALLOWED_QUERY_COUNT];
};

static void report(struct scan *scan, const struct call *call, const char *fmt, const char *arg)
{
    if (scan->finding_count == sizeof scan->findings / sizeof scan->findings[0])
        return;
    struct finding *f = &scan->findings[scan->finding_count++];
    snprintf(f->where, sizeof f->where, "%s:%d (in %s)", call->source->path, call->name->line,
             *call->function ? call->function : "file scope");
    snprintf(f->what, sizeof f->what, fmt, (int)call->name->len, call->name->text, arg);
}

static const struct allowed_query *allowed(const struct allowed_query *list, size_t count,
                                           bool *used, const struct call *call,
                                           const char *argument)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i].file, call->source->relative) == 0 &&
            strcmp(list[i].function, call->function) == 0 &&
            strcmp(list[i].argument, argument) == 0) {
            used[i] = true;
            return &list[i];
        }
    }
    return NULL;
}

static void check_call(const struct call *call, void *context)
{
    struct scan *scan = context;
    const struct source *s = call->source;
    char text[4096];
    const struct checked_function *f =
        lookup(scan->printf_functions.items, scan->printf_functions.count, call);
    if (f != NULL && (size_t)f->index < call->arg_count) {
        scan->calls_checked++;
        size_t a = (size_t)f->index;
        /* No format may hold SQL: there is no allow-list for these. */
        if (is_literal(s, call->arg_start[a], call->arg_end[a], text, sizeof text) &&
            format_builds_sql(text))
            report(scan, call, "%.*s builds SQL from values with the format \"%s\"", text);
    }
    f = lookup(query_functions, sizeof query_functions / sizeof query_functions[0], call);
    if (f != NULL && (size_t)f->index < call->arg_count) {
        scan->calls_checked++;
        scan->query_calls++;
        size_t a = (size_t)f->index;
        tokens_text(s, call->arg_start[a], call->arg_end[a], text, sizeof text);
        if (!is_literal(s, call->arg_start[a], call->arg_end[a], NULL, 0) &&
            !allowed(allowed_queries, ALLOWED_QUERY_COUNT, scan->query_used, call, text))
            report(scan, call, "%.*s is given query text built at run time: %s", text);
    }
}

/* Scans `list`; the caller frees scan->printf_functions. */
static void scan_sources(const struct source_list *list, struct scan *scan)
{
    memset(scan, 0, sizeof *scan);
    for (size_t i = 0; i < sizeof printf_family / sizeof printf_family[0]; i++)
        add_function(&scan->printf_functions, NULL, printf_family[i].name,
                     strlen(printf_family[i].name), printf_family[i].index);
    for (size_t i = 0; i < list->count; i++)
        find_printf_wrappers(&list->items[i], &scan->printf_functions);
    for (size_t i = 0; i < list->count; i++) {
        size_t len = strlen(list->items[i].relative);
        if (len > 2 && strcmp(list->items[i].relative + len - 2, ".c") == 0)
            each_call(&list->items[i], check_call, scan);
    }
}

static void print_findings(const struct scan *scan)
{
    for (size_t i = 0; i < scan->finding_count; i++)
        cr_log_error("%s: %s", scan->findings[i].where, scan->findings[i].what);
}

/* Scans source text given inline, as file `relative`. */
static void scan_text(const char *relative, const char *text, struct scan *scan)
{
    struct source_list list = {0};
    add_source(&list, relative, relative, strdup(text));
    scan_sources(&list, scan);
    free_sources(&list);
}

/* ---- the tests ---- */

Test(sources, no_sql_is_built_with_printf_and_libpq_gets_only_literal_queries)
{
    struct source_list list = {0};
    read_tree(&list, scan_root(), "");
    struct scan scan;
    scan_sources(&list, &scan);
    print_findings(&scan);
    /* A scan that read nothing, or missed the store, would pass without proving anything. */
    cr_expect_gt(list.count, 20, "only %zu source files under %s", list.count, scan_root());
    cr_expect_gt(scan.query_calls, 10, "only %zu libpq query calls found", scan.query_calls);
    cr_expect_gt(scan.printf_functions.count, sizeof printf_family / sizeof printf_family[0] + 2,
                 "the printf wrappers of the sources (api_refuse, log_write, ...) were not found");
    cr_expect_eq(scan.finding_count, 0,
                 "%zu call(s) build SQL at run time (listed above); use a prepared statement "
                 "with $1 parameters, or if the text is fixed at build time, add it to "
                 "allowed_queries with the reason",
                 scan.finding_count);
    free_functions(&scan.printf_functions);
    free_sources(&list);
}

Test(sources, every_allow_list_entry_is_still_needed)
{
    struct source_list list = {0};
    read_tree(&list, scan_root(), "");
    struct scan scan;
    scan_sources(&list, &scan);
    for (size_t i = 0; i < ALLOWED_QUERY_COUNT; i++)
        cr_expect(scan.query_used[i],
                  "allowed_queries entry %s / %s / %s matches nothing any more: remove it",
                  allowed_queries[i].file, allowed_queries[i].function,
                  allowed_queries[i].argument);
    free_functions(&scan.printf_functions);
    free_sources(&list);
}

/* The scanner itself, on lines it must flag and lines it must leave alone. */
struct scanner_case {
    const char *code;
    size_t findings;
};

static const struct scanner_case scanner_cases[] = {
    /* built with printf */
    {"void f(char *q, const char *id) {\n"
     "    snprintf(q, 99, \"DELETE FROM people WHERE id = '%s'\", id);\n}\n",
     1},
    {"void f(void) { sprintf(q, \"SELECT * FROM events \" \"WHERE name = %s\", n); }", 1},
    {"void f(void) { snprintf(q, n, \"UPDATE people SET plan = %\" PRId64, plan); }", 1},
    {"void f(void) { LOG_INFO(\"store\", \"INSERT INTO t VALUES (%d)\", 1); }", 1},
    {"void f(void) { snprintf(q, n, \"select * from t where a = %s\", a); }", 1},
    {"void f(void) { snprintf(q, n, \"%s WHERE id = %s\", a, b); }", 1},
    {"static void build(char *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));\n"
     "void f(void) { build(q, \"DELETE FROM t WHERE id = %lld\", id); }",
     1},
    {"__attribute__((format(printf, 3, 4))) static bool say(int a, int b, const char *f, ...);\n"
     "void f(void) { say(1, 2, \"DROP TABLE %s\", t); }",
     1},
    /* built at run time, however */
    {"void f(PGconn *c, const char *sql) { PQexec(c, sql); }", 1},
    {"void f(void) { PQexecParams(conn, buffer, 1, NULL, params, NULL, NULL, 0); }", 1},
    {"void f(void) { PQsendQuery(conn, strcat(a, b)); }", 1},
    {"void f(void) { PQprepare(conn, \"n\", text, 0, NULL); }", 1},
    {"#define RUN(c, q) PQexec((c), (q))\n", 1},
    {"void f(void) { PQexec(conn, ok ? \"COMMIT\" : rollback_text); }", 1},
    /* fine */
    {"void f(void) { PQexec(conn, \"BEGIN\"); PQexec(c, (\"COMMIT\")); }", 0},
    {"void f(void) { PQexec(conn, ok ? \"COMMIT\" : \"ROLLBACK\"); }", 0},
    {"void f(void) { PQexecParams(conn, \"SELECT 1 FROM t WHERE a = $1\", 1, NULL, p, NULL, "
     "NULL, 0); }",
     0},
    {"void f(void) { PQexec(conn, \"SELECT pg_advisory_lock(\" LOCK_KEY \")\"); }", 0},
    {"void f(void) { PQexecPrepared(conn, name, 1, p, NULL, NULL, 0); }", 0},
    {"void f(void) { snprintf(m, n, \"could not delete %s from the queue\", x); }", 0},
    {"void f(void) { snprintf(m, n, \"%s: 100%% done\", x); LOG_WARN(\"x\", \"SELECT failed\"); }",
     0},
    {"/* PQexec(conn, sql); snprintf(q, n, \"DELETE FROM t WHERE a = %s\", a); */\n"
     "// PQexec(conn, sql);\n"
     "void f(void) { puts(\"PQexec(conn, sql); DELETE FROM t WHERE a = %s\"); }",
     0},
    {"static PGresult *PQexec_logged(PGconn *conn, const char *sql);", 0},
};

Test(sources, the_scanner_flags_sql_built_at_run_time_and_only_that)
{
    for (size_t i = 0; i < sizeof scanner_cases / sizeof scanner_cases[0]; i++) {
        struct scan scan;
        scan_text("scratch/case.c", scanner_cases[i].code, &scan);
        if (scan.finding_count != scanner_cases[i].findings)
            print_findings(&scan);
        cr_expect_eq(scan.finding_count, scanner_cases[i].findings,
                     "case %zu: %zu finding(s), expected %zu, in:\n%s", i, scan.finding_count,
                     scanner_cases[i].findings, scanner_cases[i].code);
        free_functions(&scan.printf_functions);
    }
}
