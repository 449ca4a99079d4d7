/* `trackd tail`: a live view of calls as they are committed (store_tail.c), for a developer
 * wiring up an SDK: one line per call, refused ones with their reasons. */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/cli_internal.h"
#include "store/store.h"

/* How long one wait for calls lasts: how soon a stop signal or a reconnection is acted on. */
#define WAIT_MS 500

/* Longest detail shown on a terminal line (JSON output always carries it whole). */
#define DETAIL_SHOWN 160

struct tail_options {
    const char *workspace;
    const char *person;
    const char *event;
    const char *type;
    bool rejected;
    bool json;
    bool colour;
};

static volatile sig_atomic_t stopping;

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    stopping = 1;
}

static bool parse_options(char **args, int count, struct tail_options *out)
{
    *out = (struct tail_options){0};
    for (int i = 0; i < count; i++) {
        const char **value = strcmp(args[i], "--workspace") == 0 ? &out->workspace
                             : strcmp(args[i], "--person") == 0  ? &out->person
                             : strcmp(args[i], "--event") == 0   ? &out->event
                             : strcmp(args[i], "--type") == 0    ? &out->type
                                                                 : NULL;
        if (value != NULL && i + 1 < count) {
            *value = args[++i];
        } else if (strcmp(args[i], "--rejected") == 0) {
            out->rejected = true;
        } else if (strcmp(args[i], "--json") == 0) {
            out->json = true;
        } else {
            fprintf(stderr, "trackd tail: unexpected argument '%s'\n", args[i]);
            return false;
        }
    }
    const char *no_colour = getenv("NO_COLOR");
    out->colour = !out->json && isatty(STDOUT_FILENO) && (no_colour == NULL || !*no_colour);
    return true;
}

static bool same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool wanted(const struct tail_options *o, const struct store_tail_call *call)
{
    if (o->rejected && strcmp(call->type, "rejected") != 0)
        return false;
    if (o->type != NULL && strcmp(call->type, o->type) != 0)
        return false;
    if (o->event != NULL && !same(call->name, o->event))
        return false;
    if (o->person != NULL && !same(call->person, o->person) && !same(call->anonymous_id, o->person))
        return false;
    return true;
}

static void add_string(json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, value ? json_object_new_string(value) : NULL);
}

static void print_json(const struct store_tail_call *call)
{
    json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(call->id));
    add_string(obj, "recorded_at", call->recorded_at);
    add_string(obj, "received_at", call->received_at);
    add_string(obj, "workspace", call->workspace);
    add_string(obj, "type", call->type);
    add_string(obj, "endpoint", call->endpoint);
    add_string(obj, "person_type", call->person_type);
    add_string(obj, "person", call->person);
    add_string(obj, "anonymous_id", call->anonymous_id);
    add_string(obj, "name", call->name);
    json_object *detail = call->detail ? json_tokener_parse(call->detail) : NULL;
    json_object_object_add(obj, "detail", detail);
    add_string(obj, "reason", call->reason);
    add_string(obj, "message", call->message);
    printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(obj);
}

/* ANSI colours by kind of call: refused red, events green, people cyan, the rest yellow. */
static const char *type_colour(const char *type)
{
    if (strcmp(type, "rejected") == 0)
        return "\033[31m";
    if (strcmp(type, "track") == 0 || strcmp(type, "page") == 0 || strcmp(type, "screen") == 0)
        return "\033[32m";
    if (strcmp(type, "identify") == 0 || strcmp(type, "alias") == 0 || strcmp(type, "merge") == 0)
        return "\033[36m";
    return "\033[33m";
}

/*
 * Prints client text for a terminal: what a client sent must not drive it. Control characters
 * (C0, DEL, C1) are written as \xNN and the bidirectional overrides as \u{NNNN}, so that an
 * escape sequence, a carriage return or reordered text shows as what it is.
 */
static void print_safe(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            printf("\\x%02x", *p);
        } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            printf("\\x%02x", p[1]);
            p++;
        } else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) {
            printf("\\u{%04x}", 0x2000 + (p[2] - 0x80)); /* U+202A..U+202E */
            p += 2;
        } else if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9) {
            printf("\\u{%04x}", 0x2040 + (p[2] - 0x80)); /* U+2066..U+2069 */
            p += 2;
        } else {
            putchar(*p);
        }
    }
}

static void print_line(const struct tail_options *o, const struct store_tail_call *call)
{
    const char *dim = o->colour ? "\033[2m" : "", *reset = o->colour ? "\033[0m" : "";
    /* The time of day of received_at ("...T10:02:33.217+00" -> "10:02:33.217"). */
    const char *t = strchr(call->received_at, 'T');
    printf("%s%.12s%s ", dim, t ? t + 1 : call->received_at, reset);
    print_safe(call->workspace);
    printf(" %s%-13s%s ", o->colour ? type_colour(call->type) : "", call->type, reset);
    if (strcmp(call->type, "rejected") == 0) {
        printf("%s %s: ", call->endpoint, call->reason ? call->reason : "?");
        print_safe(call->message ? call->message : "");
        printf("\n");
        return;
    }
    const char *who = call->person ? call->person : call->anonymous_id;
    print_safe(who ? who : "-");
    printf("%s", call->person == NULL && call->anonymous_id ? " (anonymous)" : "");
    if (call->name != NULL) {
        printf(" ");
        print_safe(call->name);
    }
    if (call->detail != NULL && strcmp(call->detail, "{}") != 0) {
        /* jsonb's text escapes control characters below 0x20, not DEL, C1 or bidi: cut at a
         * character's boundary, then printed safely. */
        size_t len = strlen(call->detail), shown = len > DETAIL_SHOWN ? DETAIL_SHOWN : len;
        while (shown > 0 && shown < len && ((unsigned char)call->detail[shown] & 0xc0) == 0x80)
            shown--;
        char detail[DETAIL_SHOWN + 1];
        memcpy(detail, call->detail, shown);
        detail[shown] = '\0';
        printf(" %s", dim);
        print_safe(detail);
        printf("%s%s", shown < len ? "..." : "", reset);
    }
    printf(" %s%s%s\n", dim, call->endpoint, reset);
}

static void show(void *cls, const struct store_tail_call *call)
{
    const struct tail_options *o = cls;
    if (!wanted(o, call))
        return;
    if (o->json)
        print_json(call);
    else
        print_line(o, call);
    fflush(stdout);
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

int cli_tail(const char *database_url, char **args, int count)
{
    struct tail_options options;
    if (!parse_options(args, count, &options))
        return CLI_EXIT_USAGE;
    char error[512];
    struct store_tail *tail = store_tail_open(database_url, options.workspace, error, sizeof error);
    if (tail == NULL) {
        fprintf(stderr, "trackd tail: %s\n", error);
        return CLI_EXIT_RUNTIME;
    }
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    fprintf(stderr, "trackd tail: showing calls as they are committed%s%s (Ctrl-C to stop)\n",
            options.workspace ? " to workspace " : "", options.workspace ? options.workspace : "");
    bool connected = true;
    uint64_t reported_skipped = 0;
    while (!stopping) {
        if (!connected) {
            connected = store_tail_reconnect(tail);
            if (connected)
                fprintf(stderr, "trackd tail: reconnected\n");
            else
                sleep_ms(1000);
            continue;
        }
        if (store_tail_read(tail, WAIT_MS, show, &options) == STORE_HARD_ERROR && !stopping) {
            fprintf(stderr, "trackd tail: %s; reconnecting\n", store_tail_last_error(tail));
            connected = false;
        }
        uint64_t skipped = store_tail_not_waited_for(tail);
        if (skipped > reported_skipped) {
            fprintf(stderr,
                    "trackd tail: ids jumped by more than 10,000; up to %llu calls committed late "
                    "may not be shown\n",
                    (unsigned long long)(skipped - reported_skipped));
            reported_skipped = skipped;
        }
    }
    store_tail_close(tail);
    return CLI_EXIT_OK;
}
