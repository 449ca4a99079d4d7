#include "trigger/trigger_liquid.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/textbuf.h"
#include "common/timeutil.h"

/* ---- the parsed form ---- */

enum operand_kind {
    OPERAND_PATH,
    OPERAND_STRING,
    OPERAND_NUMBER,
    OPERAND_TRUE,
    OPERAND_FALSE,
    OPERAND_NIL
};

/* A value as written: a slice of the template (a path, or a string's contents). */
struct operand {
    enum operand_kind kind;
    const char *text;
    size_t len;
};

enum filter_id {
    FILTER_DEFAULT,
    FILTER_UPCASE,
    FILTER_DOWNCASE,
    FILTER_CAPITALIZE,
    FILTER_STRIP,
    FILTER_ESCAPE,
    FILTER_URL_ENCODE,
    FILTER_SIZE,
    FILTER_JOIN,
    FILTER_DATE,
    FILTER_PLUS,
    FILTER_MINUS
};

static const struct {
    const char *name;
    int min_args, max_args;
} filters[] = {
    [FILTER_DEFAULT] = {"default", 1, 1},
    [FILTER_UPCASE] = {"upcase", 0, 0},
    [FILTER_DOWNCASE] = {"downcase", 0, 0},
    [FILTER_CAPITALIZE] = {"capitalize", 0, 0},
    [FILTER_STRIP] = {"strip", 0, 0},
    [FILTER_ESCAPE] = {"escape", 0, 0},
    [FILTER_URL_ENCODE] = {"url_encode", 0, 0},
    [FILTER_SIZE] = {"size", 0, 0},
    [FILTER_JOIN] = {"join", 0, 1},
    [FILTER_DATE] = {"date", 1, 1},
    [FILTER_PLUS] = {"plus", 1, 1},
    [FILTER_MINUS] = {"minus", 1, 1},
};
#define FILTER_COUNT (sizeof filters / sizeof filters[0])

struct filter {
    enum filter_id id;
    struct operand arg; /* when the filter takes one */
    bool has_arg;
};

struct output {
    struct operand value;
    struct filter filters[TRIGGER_LIQUID_FILTERS_MAX];
    size_t filter_count;
};

enum compare_op {
    COMPARE_NONE,
    COMPARE_EQ,
    COMPARE_NE,
    COMPARE_LT,
    COMPARE_GT,
    COMPARE_LE,
    COMPARE_GE,
    COMPARE_CONTAINS
};

/* One comparison of a condition, and how it joins the next (and, or; none for the last). */
struct comparison {
    struct operand left, right;
    enum compare_op op;
    int joiner; /* 0: last, 1: and, 2: or */
};

struct condition {
    struct comparison items[TRIGGER_LIQUID_CONDITIONS_MAX];
    size_t count;
};

struct node;

struct node_list {
    struct node *items;
    size_t count, cap;
};

struct branch {
    struct condition condition; /* unused for the else branch */
    struct node_list body;
};

enum node_kind { NODE_TEXT, NODE_OUTPUT, NODE_IF, NODE_FOR };

struct node {
    enum node_kind kind;
    const char *text; /* NODE_TEXT */
    size_t len;
    struct output output;    /* NODE_OUTPUT */
    struct branch *branches; /* NODE_IF: if and elsif, in order */
    size_t branch_count;
    struct node_list otherwise; /* NODE_IF: else */
    const char *loop_var;       /* NODE_FOR */
    size_t loop_var_len;
    struct operand list;
    struct node_list body;
};

static void list_free(struct node_list *list);

static void node_free(struct node *n)
{
    for (size_t i = 0; i < n->branch_count; i++)
        list_free(&n->branches[i].body);
    free(n->branches);
    list_free(&n->otherwise);
    list_free(&n->body);
}

static void list_free(struct node_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        node_free(&list->items[i]);
    free(list->items);
    *list = (struct node_list){0};
}

static struct node *list_add(struct node_list *list)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        struct node *grown = realloc(list->items, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        list->items = grown;
        list->cap = cap;
    }
    struct node *n = &list->items[list->count++];
    memset(n, 0, sizeof *n);
    return n;
}

/* ---- parsing ---- */

struct parser {
    const char *start; /* the template */
    const char *p;
    const char *error_at;
    char message[200];
    /* Loop variables in scope, innermost last. */
    struct {
        const char *name;
        size_t len;
    } scope[TRIGGER_LIQUID_DEPTH_MAX];
    size_t scope_count;
};

__attribute__((format(printf, 3, 4))) static bool fail(struct parser *ps, const char *at,
                                                       const char *fmt, ...)
{
    if (ps->error_at == NULL) {
        ps->error_at = at;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->message, sizeof ps->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Whether a path's root is known: event, person, customer, unsubscribe_url (alone), or a loop
 * variable in scope. */
static bool root_known(const struct parser *ps, const char *text, size_t len)
{
    if (len == 15 && memcmp(text, "unsubscribe_url", 15) == 0)
        return true;
    size_t root = 0;
    while (root < len && text[root] != '.')
        root++;
    static const char *const roots[] = {"event", "person", "customer"};
    for (size_t i = 0; i < 3; i++)
        if (root == strlen(roots[i]) && memcmp(text, roots[i], root) == 0)
            return root < len; /* event alone is no value; event.x is */
    for (size_t i = 0; i < ps->scope_count; i++)
        if (root == ps->scope[i].len && memcmp(text, ps->scope[i].name, root) == 0)
            return true;
    return false;
}

/* Reads one value at *p (within end): a quoted string, a number, true/false/nil, or a path. */
static bool parse_operand(struct parser *ps, const char **p, const char *end, struct operand *out)
{
    const char *q = skip_blanks(*p, end);
    if (q >= end)
        return fail(ps, q, "a value is missing");
    if (*q == '"' || *q == '\'') {
        const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));
        if (close == NULL)
            return fail(ps, q, "a string is not closed");
        *out = (struct operand){OPERAND_STRING, q + 1, (size_t)(close - q - 1)};
        *p = close + 1;
        return true;
    }
    if (*q == '-' || isdigit((unsigned char)*q)) {
        char *after = NULL;
        char buf[64];
        size_t n = 0;
        while (q + n < end && n < sizeof buf - 1 && strchr("-+.eE0123456789", q[n]))
            n++;
        memcpy(buf, q, n);
        buf[n] = '\0';
        strtod(buf, &after);
        if (after == buf || (size_t)(after - buf) != n)
            return fail(ps, q, "a number is malformed");
        *out = (struct operand){OPERAND_NUMBER, q, n};
        *p = q + n;
        return true;
    }
    const char *s = q;
    while (q < end && (is_name_char(*q) || *q == '.'))
        q++;
    size_t len = (size_t)(q - s);
    if (len == 0)
        return fail(ps, s, "a value is expected here");
    *p = q;
    if (len == 4 && memcmp(s, "true", 4) == 0)
        *out = (struct operand){OPERAND_TRUE, s, len};
    else if (len == 5 && memcmp(s, "false", 5) == 0)
        *out = (struct operand){OPERAND_FALSE, s, len};
    else if ((len == 3 && memcmp(s, "nil", 3) == 0) || (len == 4 && memcmp(s, "null", 4) == 0))
        *out = (struct operand){OPERAND_NIL, s, len};
    else if (!root_known(ps, s, len))
        return fail(ps, s,
                    "'%.*s' is not a known value (event.x, person.x, customer.x, "
                    "unsubscribe_url, or a loop variable)",
                    (int)(len > 60 ? 60 : len), s);
    else
        *out = (struct operand){OPERAND_PATH, s, len};
    return true;
}

/* {{ value | filter: arg | ... }}: the text between the braces is [p, end). */
static bool parse_output(struct parser *ps, const char *p, const char *end, struct output *out)
{
    if (!parse_operand(ps, &p, end, &out->value))
        return false;
    out->filter_count = 0;
    for (;;) {
        p = skip_blanks(p, end);
        if (p == end)
            return true;
        if (*p != '|')
            return fail(ps, p, "'|' or the end of the output is expected here");
        if (out->filter_count == TRIGGER_LIQUID_FILTERS_MAX)
            return fail(ps, p, "an output may have at most %d filters", TRIGGER_LIQUID_FILTERS_MAX);
        p = skip_blanks(p + 1, end);
        const char *name = p;
        while (p < end && is_name_char(*p))
            p++;
        size_t len = (size_t)(p - name);
        size_t id = 0;
        while (id < FILTER_COUNT &&
               !(strlen(filters[id].name) == len && memcmp(filters[id].name, name, len) == 0))
            id++;
        if (id == FILTER_COUNT)
            return fail(ps, name,
                        "unknown filter '%.*s' (known: default, upcase, downcase, capitalize, "
                        "strip, escape, url_encode, size, join, date, plus, minus)",
                        (int)(len > 40 ? 40 : len), name);
        struct filter *f = &out->filters[out->filter_count++];
        *f = (struct filter){.id = (enum filter_id)id};
        p = skip_blanks(p, end);
        if (p < end && *p == ':') {
            p++;
            if (!parse_operand(ps, &p, end, &f->arg))
                return false;
            f->has_arg = true;
        }
        int args = f->has_arg ? 1 : 0;
        if (args < filters[id].min_args || args > filters[id].max_args)
            return fail(ps, name, "filter '%s' takes %s", filters[id].name,
                        filters[id].max_args == 0 ? "no argument" : "one argument");
    }
}

static bool word_at(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 &&
           (p + n == end || !is_name_char(p[n]));
}

/* A condition: comparisons joined by and / or, in [p, end). */
static bool parse_condition(struct parser *ps, const char *p, const char *end, struct condition *c)
{
    c->count = 0;
    for (;;) {
        if (c->count == TRIGGER_LIQUID_CONDITIONS_MAX)
            return fail(ps, p, "a condition may join at most %d comparisons",
                        TRIGGER_LIQUID_CONDITIONS_MAX);
        struct comparison *cmp = &c->items[c->count++];
        *cmp = (struct comparison){0};
        if (!parse_operand(ps, &p, end, &cmp->left))
            return false;
        p = skip_blanks(p, end);
        static const struct {
            const char *text;
            enum compare_op op;
        } ops[] = {{"==", COMPARE_EQ},
                   {"!=", COMPARE_NE},
                   {"<=", COMPARE_LE},
                   {">=", COMPARE_GE},
                   {"<", COMPARE_LT},
                   {">", COMPARE_GT},
                   {"contains", COMPARE_CONTAINS}};
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            size_t n = strlen(ops[i].text);
            if ((size_t)(end - p) >= n && memcmp(p, ops[i].text, n) == 0 &&
                (ops[i].op != COMPARE_CONTAINS || word_at(p, end, "contains"))) {
                cmp->op = ops[i].op;
                p += n;
                if (!parse_operand(ps, &p, end, &cmp->right))
                    return false;
                p = skip_blanks(p, end);
                break;
            }
        }
        if (p == end)
            return true;
        if (word_at(p, end, "and")) {
            cmp->joiner = 1;
            p += 3;
        } else if (word_at(p, end, "or")) {
            cmp->joiner = 2;
            p += 2;
        } else {
            return fail(ps, p,
                        "a comparison (==, !=, <, >, <=, >=, contains), and, or is "
                        "expected here");
        }
    }
}

/* The terminators a block ends at. */
enum block_end { END_TEMPLATE, END_IF, END_FOR };

static bool parse_block(struct parser *ps, struct node_list *list, enum block_end until,
                        const char *opener, size_t depth, const char **tag_name,
                        const char **tag_args, const char **tag_end, const char **tag_open);

/* Finds the end of the markup opened at `open` ("{{" or "{%"): the position of its closing
 * "}}" or "%}" (outside quotes), or NULL. */
static const char *markup_close(const char *open)
{
    char closer = open[1] == '{' ? '}' : '%';
    char quote = 0;
    for (const char *p = open + 2; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (p[0] == closer && p[1] == '}') {
            return p;
        }
    }
    return NULL;
}

static bool parse_if(struct parser *ps, struct node *n, const char *open, const char *args,
                     const char *args_end, size_t depth)
{
    n->kind = NODE_IF;
    const char *name, *targs, *tend, *topen;
    for (;;) {
        struct branch *grown = realloc(n->branches, (n->branch_count + 1) * sizeof *grown);
        if (grown == NULL)
            return fail(ps, args, "out of memory");
        n->branches = grown;
        struct branch *b = &n->branches[n->branch_count++];
        memset(b, 0, sizeof *b);
        if (!parse_condition(ps, args, args_end, &b->condition) ||
            !parse_block(ps, &b->body, END_IF, open, depth + 1, &name, &targs, &tend, &topen))
            return false;
        if (strncmp(name, "elsif", 5) == 0) {
            args = targs;
            args_end = tend;
            continue;
        }
        if (strncmp(name, "else", 4) == 0) {
            if (!parse_block(ps, &n->otherwise, END_IF, open, depth + 1, &name, &targs, &tend,
                             &topen))
                return false;
            if (strncmp(name, "endif", 5) != 0)
                return fail(ps, topen, "{%% endif %%} is expected after {%% else %%}");
        }
        return true; /* endif */
    }
}

static bool parse_for(struct parser *ps, struct node *n, const char *open, const char *p,
                      const char *end, size_t depth)
{
    n->kind = NODE_FOR;
    p = skip_blanks(p, end);
    const char *var = p;
    while (p < end && is_name_char(*p))
        p++;
    n->loop_var = var;
    n->loop_var_len = (size_t)(p - var);
    if (n->loop_var_len == 0)
        return fail(ps, var, "{%% for NAME in VALUE %%}: a name is expected");
    p = skip_blanks(p, end);
    if (!word_at(p, end, "in"))
        return fail(ps, p, "{%% for NAME in VALUE %%}: 'in' is expected");
    p += 2;
    if (!parse_operand(ps, &p, end, &n->list))
        return false;
    if (skip_blanks(p, end) != end)
        return fail(ps, p, "{%% for NAME in VALUE %%}: nothing may follow the value");
    ps->scope[ps->scope_count].name = n->loop_var;
    ps->scope[ps->scope_count].len = n->loop_var_len;
    ps->scope_count++;
    const char *name, *targs, *tend, *topen;
    bool ok = parse_block(ps, &n->body, END_FOR, open, depth + 1, &name, &targs, &tend, &topen);
    ps->scope_count--;
    return ok;
}

/* Parses nodes until the template ends (END_TEMPLATE) or a tag that ends the block: elsif, else
 * or endif for END_IF, endfor for END_FOR, whose name, arguments and position are handed back. */
static bool parse_block(struct parser *ps, struct node_list *list, enum block_end until,
                        const char *opener, size_t depth, const char **tag_name,
                        const char **tag_args, const char **tag_end, const char **tag_open)
{
    if (depth > TRIGGER_LIQUID_DEPTH_MAX)
        return fail(ps, ps->p, "tags nest deeper than %d", TRIGGER_LIQUID_DEPTH_MAX);
    for (;;) {
        const char *open = ps->p;
        while (*open && !(open[0] == '{' && (open[1] == '{' || open[1] == '%')))
            open++;
        if (open > ps->p) {
            struct node *t = list_add(list);
            if (t == NULL)
                return fail(ps, ps->p, "out of memory");
            *t = (struct node){.kind = NODE_TEXT, .text = ps->p, .len = (size_t)(open - ps->p)};
        }
        if (*open == '\0') {
            ps->p = open;
            if (until == END_TEMPLATE)
                return true;
            return fail(ps, opener, "{%% %s %%} is not closed", until == END_IF ? "if" : "for");
        }
        const char *close = markup_close(open);
        if (close == NULL)
            return fail(ps, open, "'%s' is not closed with '%s'", open[1] == '{' ? "{{" : "{%",
                        open[1] == '{' ? "}}" : "%}");
        ps->p = close + 2;
        const char *inner = open + 2;
        if (open[1] == '{') {
            struct node *o = list_add(list);
            if (o == NULL)
                return fail(ps, open, "out of memory");
            o->kind = NODE_OUTPUT;
            if (!parse_output(ps, inner, close, &o->output))
                return false;
            continue;
        }
        const char *name = skip_blanks(inner, close);
        const char *args = name;
        while (args < close && is_name_char(*args))
            args++;
        size_t name_len = (size_t)(args - name);
        bool is_end = (until == END_IF && ((name_len == 5 && !memcmp(name, "elsif", 5)) ||
                                           (name_len == 4 && !memcmp(name, "else", 4)) ||
                                           (name_len == 5 && !memcmp(name, "endif", 5)))) ||
                      (until == END_FOR && name_len == 6 && !memcmp(name, "endfor", 6));
        if (is_end) {
            *tag_name = name;
            *tag_args = args;
            *tag_end = close;
            *tag_open = open;
            return true;
        }
        struct node *n = list_add(list);
        if (n == NULL)
            return fail(ps, open, "out of memory");
        if (name_len == 2 && !memcmp(name, "if", 2)) {
            if (!parse_if(ps, n, open, args, close, depth))
                return false;
        } else if (name_len == 3 && !memcmp(name, "for", 3)) {
            if (!parse_for(ps, n, open, args, close, depth))
                return false;
        } else {
            return fail(ps, name,
                        "unknown or misplaced tag '%.*s' (known: if, elsif, else, endif, "
                        "for, endfor)",
                        (int)(name_len > 40 ? 40 : name_len), name);
        }
    }
}

static bool parse(const char *text, struct node_list *out, struct parser *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->start = ps->p = text;
    const char *a, *b, *c, *d;
    if (parse_block(ps, out, END_TEMPLATE, text, 0, &a, &b, &c, &d))
        return true;
    list_free(out);
    return false;
}

bool trigger_liquid_check(const char *text, size_t *position, char *message, size_t message_size)
{
    struct node_list nodes = {0};
    struct parser ps;
    if (parse(text, &nodes, &ps)) {
        list_free(&nodes);
        return true;
    }
    *position = (size_t)(ps.error_at - text);
    snprintf(message, message_size, "%s", ps.message);
    return false;
}

bool trigger_liquid_has_markup(const char *text)
{
    for (const char *p = text; (p = strchr(p, '{')) != NULL; p++)
        if (p[1] == '{' || p[1] == '%')
            return true;
    return false;
}

/* ---- rendering ---- */

struct binding {
    const char *name;
    size_t len;
    json_object *value; /* lent */
};

struct renderer {
    const struct trigger_facts *facts;
    const struct trigger_liquid_sink *sink;
    void *cls;
    struct binding scope[TRIGGER_LIQUID_DEPTH_MAX];
    size_t scope_count;
    bool failed;
};

/* A value: new (the caller puts it), or NULL for missing and nil. */
static json_object *resolve(const struct renderer *r, const struct operand *o)
{
    switch (o->kind) {
    case OPERAND_STRING:
        return json_object_new_string_len(o->text, (int)o->len);
    case OPERAND_NUMBER: {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)o->len, o->text);
        double d = strtod(buf, NULL);
        if (strpbrk(buf, ".eE") == NULL && fabs(d) < 9e15)
            return json_object_new_int64((int64_t)d);
        return json_object_new_double(d);
    }
    case OPERAND_TRUE:
        return json_object_new_boolean(1);
    case OPERAND_FALSE:
        return json_object_new_boolean(0);
    case OPERAND_NIL:
        return NULL;
    case OPERAND_PATH:
        break;
    }
    char path[TRIGGER_FIELD_MAX_BYTES + 16];
    size_t root = 0;
    while (root < o->len && o->text[root] != '.')
        root++;
    /* A loop variable, innermost first. */
    for (size_t i = r->scope_count; i-- > 0;) {
        if (root != r->scope[i].len || memcmp(o->text, r->scope[i].name, root) != 0)
            continue;
        json_object *value = r->scope[i].value;
        const char *seg = o->text + root;
        const char *end = o->text + o->len;
        while (value != NULL && seg < end) {
            seg++; /* the '.' */
            const char *next = memchr(seg, '.', (size_t)(end - seg));
            size_t len = (size_t)((next ? next : end) - seg);
            char key[160];
            snprintf(key, sizeof key, "%.*s", (int)(len < sizeof key ? len : sizeof key - 1), seg);
            json_object *child = NULL;
            if (json_object_is_type(value, json_type_array) && isdigit((unsigned char)key[0]))
                child = json_object_array_get_idx(value, (size_t)strtoul(key, NULL, 10));
            else if (json_object_is_type(value, json_type_object))
                json_object_object_get_ex(value, key, &child);
            value = child;
            seg = next ? next : end;
        }
        json_object *copy = NULL;
        if (value != NULL && json_object_deep_copy(value, &copy, NULL) != 0)
            return NULL;
        return copy;
    }
    if (r->facts == NULL || o->len > TRIGGER_FIELD_MAX_BYTES)
        return NULL;
    if (o->len == 15 && memcmp(o->text, "unsubscribe_url", 15) == 0)
        return r->facts->unsubscribe_url ? json_object_new_string(r->facts->unsubscribe_url) : NULL;
    /* customer.x is person.x, as Customer.io spells it. */
    if (root == 8 && memcmp(o->text, "customer", 8) == 0)
        snprintf(path, sizeof path, "person%.*s", (int)(o->len - 8), o->text + 8);
    else
        snprintf(path, sizeof path, "%.*s", (int)o->len, o->text);
    json_object *value = NULL;
    bool owned = false;
    if (!trigger_lookup(r->facts, path, &value, &owned) || value == NULL)
        return NULL;
    if (owned)
        return value;
    json_object *copy = NULL;
    if (json_object_deep_copy(value, &copy, NULL) != 0)
        return NULL;
    return copy;
}

/* Appends a value as text: strings as they are, nil nothing, the rest as compact JSON. */
static void append_text(struct textbuf *b, json_object *v)
{
    if (v == NULL)
        return;
    if (json_object_is_type(v, json_type_string)) {
        textbuf_append(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return;
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    textbuf_append(b, text ? text : "", text ? len : 0);
}

/* The value as text (new), for the string filters. */
static char *text_of(json_object *v)
{
    struct textbuf b = {0};
    textbuf_append(&b, "", 0);
    append_text(&b, v);
    return b.failed ? (free(b.data), NULL) : b.data;
}

static bool number_of(json_object *v, double *out)
{
    if (v == NULL)
        return false;
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return true;
    }
    if (!json_object_is_type(v, json_type_string))
        return false;
    char *end = NULL;
    const char *s = json_object_get_string(v);
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

/* A computed number: whole ones as integers, the others with 15 significant digits, so that
 * 4.99 + 1 shows as 5.99 rather than as the double nearest to it. */
static json_object *number_value(double d)
{
    if (d == floor(d) && fabs(d) < 9e15)
        return json_object_new_int64((int64_t)d);
    char text[32];
    snprintf(text, sizeof text, "%.15g", d);
    return json_object_new_double_s(d, text);
}

/* Liquid's falsy: nil and false (an empty string is truthy, as in Liquid). */
static bool truthy(json_object *v)
{
    return v != NULL && !(json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v));
}

static json_object *string_value(char *text)
{
    json_object *v = text ? json_object_new_string(text) : NULL;
    free(text);
    return v;
}

static json_object *apply_date(json_object *v, json_object *format)
{
    int64_t seconds = 0;
    double d;
    if (v != NULL && json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), "now") == 0) {
        seconds = (int64_t)time(NULL);
    } else if (number_of(v, &d)) {
        /* Years 1 to 9999 only: anything else (1e400 is infinity) is not a date, and would not
         * fit in the conversion. The comparison is false for NaN too. */
        if (!(d >= -62135596800.0 && d <= 253402300799.0))
            return v;
        seconds = (int64_t)d;
    } else if (v != NULL && json_object_is_type(v, json_type_string)) {
        int64_t us = 0;
        if (!timeutil_parse_iso8601(json_object_get_string(v), &us))
            return v; /* not a date: left as it is */
        seconds = us / 1000000;
    } else {
        return v;
    }
    time_t t = (time_t)seconds;
    struct tm tm;
    char out[256] = "";
    char *fmt = text_of(format);
    if (fmt != NULL && gmtime_r(&t, &tm) != NULL)
        strftime(out, sizeof out, fmt, &tm);
    free(fmt);
    json_object_put(v);
    return json_object_new_string(out);
}

static json_object *apply_filter(const struct renderer *r, const struct filter *f, json_object *v)
{
    json_object *arg = f->has_arg ? resolve(r, &f->arg) : NULL;
    json_object *out = v;
    double a, b;
    switch (f->id) {
    case FILTER_DEFAULT:
        if (v == NULL || !truthy(v) ||
            (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0)) {
            json_object_put(v);
            out = arg;
            arg = NULL;
        }
        break;
    case FILTER_UPCASE:
    case FILTER_DOWNCASE:
    case FILTER_CAPITALIZE:
    case FILTER_STRIP: {
        char *s = text_of(v);
        if (s != NULL && f->id == FILTER_STRIP) {
            char *start = s;
            while (isspace((unsigned char)*start))
                start++;
            size_t len = strlen(start);
            while (len > 0 && isspace((unsigned char)start[len - 1]))
                len--;
            memmove(s, start, len);
            s[len] = '\0';
        }
        for (size_t i = 0; s != NULL && s[i]; i++) {
            if (f->id == FILTER_UPCASE || (f->id == FILTER_CAPITALIZE && i == 0))
                s[i] = (char)toupper((unsigned char)s[i]);
            else if (f->id == FILTER_DOWNCASE || f->id == FILTER_CAPITALIZE)
                s[i] = (char)tolower((unsigned char)s[i]);
        }
        json_object_put(v);
        out = string_value(s);
        break;
    }
    case FILTER_ESCAPE:
    case FILTER_URL_ENCODE: {
        char *s = text_of(v);
        struct textbuf t = {0};
        textbuf_append(&t, "", 0);
        for (size_t i = 0; s != NULL && s[i]; i++) {
            unsigned char c = (unsigned char)s[i];
            char hex[8];
            if (f->id == FILTER_ESCAPE) {
                const char *e = c == '&'    ? "&amp;"
                                : c == '<'  ? "&lt;"
                                : c == '>'  ? "&gt;"
                                : c == '"'  ? "&quot;"
                                : c == '\'' ? "&#39;"
                                            : NULL;
                if (e)
                    textbuf_append(&t, e, strlen(e));
                else
                    textbuf_append(&t, (const char *)&s[i], 1);
            } else if (isalnum(c) || strchr("-._~", c)) {
                textbuf_append(&t, (const char *)&s[i], 1);
            } else if (c == ' ') {
                textbuf_append(&t, "+", 1);
            } else {
                snprintf(hex, sizeof hex, "%%%02X", c);
                textbuf_append(&t, hex, 3);
            }
        }
        free(s);
        json_object_put(v);
        out = t.failed ? (free(t.data), NULL) : string_value(t.data);
        break;
    }
    case FILTER_SIZE: {
        size_t n = v == NULL                                  ? 0
                   : json_object_is_type(v, json_type_array)  ? json_object_array_length(v)
                   : json_object_is_type(v, json_type_object) ? (size_t)json_object_object_length(v)
                   : json_object_is_type(v, json_type_string)
                       ? (size_t)json_object_get_string_len(v)
                       : 0;
        json_object_put(v);
        out = json_object_new_int64((int64_t)n);
        break;
    }
    case FILTER_JOIN: {
        if (v == NULL || !json_object_is_type(v, json_type_array))
            break;
        char *sep = arg ? text_of(arg) : NULL;
        struct textbuf t = {0};
        textbuf_append(&t, "", 0);
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            if (i > 0)
                textbuf_append(&t, sep ? sep : " ", strlen(sep ? sep : " "));
            append_text(&t, json_object_array_get_idx(v, i));
        }
        free(sep);
        json_object_put(v);
        out = t.failed ? (free(t.data), NULL) : string_value(t.data);
        break;
    }
    case FILTER_DATE:
        out = apply_date(v, arg);
        break;
    case FILTER_PLUS:
    case FILTER_MINUS:
        if (number_of(v, &a) && number_of(arg, &b)) {
            json_object_put(v);
            out = number_value(f->id == FILTER_PLUS ? a + b : a - b);
        }
        break;
    }
    json_object_put(arg);
    return out;
}

static bool values_equal(json_object *a, json_object *b)
{
    double x, y;
    if (a == NULL || b == NULL)
        return a == b;
    if (!json_object_is_type(a, json_type_string) || !json_object_is_type(b, json_type_string))
        if (number_of(a, &x) && number_of(b, &y))
            return x == y;
    return json_object_equal(a, b) != 0;
}

static bool compare(const struct renderer *r, const struct comparison *c)
{
    json_object *a = resolve(r, &c->left);
    if (c->op == COMPARE_NONE) {
        bool t = truthy(a);
        json_object_put(a);
        return t;
    }
    json_object *b = resolve(r, &c->right);
    bool result = false;
    double x, y;
    switch (c->op) {
    case COMPARE_EQ:
        result = values_equal(a, b);
        break;
    case COMPARE_NE:
        result = !values_equal(a, b);
        break;
    case COMPARE_LT:
    case COMPARE_GT:
    case COMPARE_LE:
    case COMPARE_GE:
        if (number_of(a, &x) && number_of(b, &y)) {
            result = c->op == COMPARE_LT   ? x < y
                     : c->op == COMPARE_GT ? x > y
                     : c->op == COMPARE_LE ? x <= y
                                           : x >= y;
        } else if (a && b && json_object_is_type(a, json_type_string) &&
                   json_object_is_type(b, json_type_string)) {
            int cmp = strcmp(json_object_get_string(a), json_object_get_string(b));
            result = c->op == COMPARE_LT   ? cmp < 0
                     : c->op == COMPARE_GT ? cmp > 0
                     : c->op == COMPARE_LE ? cmp <= 0
                                           : cmp >= 0;
        }
        break;
    case COMPARE_CONTAINS:
        if (a && b && json_object_is_type(a, json_type_string)) {
            char *needle = text_of(b);
            result = needle && strstr(json_object_get_string(a), needle) != NULL;
            free(needle);
        } else if (a && json_object_is_type(a, json_type_array)) {
            for (size_t i = 0; !result && i < json_object_array_length(a); i++)
                result = values_equal(json_object_array_get_idx(a, i), b);
        }
        break;
    case COMPARE_NONE:
        break;
    }
    json_object_put(a);
    json_object_put(b);
    return result;
}

/* Liquid evaluates and / or from the right: a and b or c is a and (b or c). */
static bool condition_holds(const struct renderer *r, const struct condition *c, size_t from)
{
    bool here = compare(r, &c->items[from]);
    if (from + 1 == c->count || c->items[from].joiner == 0)
        return here;
    bool rest = condition_holds(r, c, from + 1);
    return c->items[from].joiner == 1 ? here && rest : here || rest;
}

static void render_list(struct renderer *r, const struct node_list *list);

static void render_node(struct renderer *r, const struct node *n)
{
    switch (n->kind) {
    case NODE_TEXT:
        r->sink->literal(r->cls, n->text, n->len);
        return;
    case NODE_OUTPUT: {
        json_object *v = resolve(r, &n->output.value);
        for (size_t i = 0; i < n->output.filter_count; i++)
            v = apply_filter(r, &n->output.filters[i], v);
        struct textbuf b = {0};
        textbuf_append(&b, "", 0);
        append_text(&b, v);
        json_object_put(v);
        if (b.failed)
            r->failed = true;
        else
            r->sink->value(r->cls, b.data, b.len);
        free(b.data);
        return;
    }
    case NODE_IF:
        for (size_t i = 0; i < n->branch_count; i++) {
            if (condition_holds(r, &n->branches[i].condition, 0)) {
                render_list(r, &n->branches[i].body);
                return;
            }
        }
        render_list(r, &n->otherwise);
        return;
    case NODE_FOR: {
        json_object *items = resolve(r, &n->list);
        if (items != NULL && json_object_is_type(items, json_type_array) &&
            r->scope_count < TRIGGER_LIQUID_DEPTH_MAX) {
            size_t count = json_object_array_length(items);
            if (count > TRIGGER_LIQUID_LOOP_MAX)
                count = TRIGGER_LIQUID_LOOP_MAX;
            struct binding *slot = &r->scope[r->scope_count++];
            slot->name = n->loop_var;
            slot->len = n->loop_var_len;
            for (size_t i = 0; i < count && !r->failed; i++) {
                slot->value = json_object_array_get_idx(items, i);
                render_list(r, &n->body);
            }
            r->scope_count--;
        }
        json_object_put(items);
        return;
    }
    }
}

static void render_list(struct renderer *r, const struct node_list *list)
{
    for (size_t i = 0; i < list->count && !r->failed; i++)
        render_node(r, &list->items[i]);
}

bool trigger_liquid_render(const char *text, const struct trigger_facts *facts,
                           const struct trigger_liquid_sink *sink, void *cls)
{
    struct node_list nodes = {0};
    struct parser ps;
    if (!parse(text, &nodes, &ps)) {
        if (*text != '\0')
            sink->literal(cls, text, strlen(text));
        return true;
    }
    struct renderer r = {.facts = facts, .sink = sink, .cls = cls};
    render_list(&r, &nodes);
    list_free(&nodes);
    return !r.failed;
}
