/*
 * The command model: what every API family turns a request into. The adapters (pipelines.c and
 * later track_v1.c, track_v2.c) are pure functions from JSON to commands; ingest/ commits them;
 * store/ is the one place that knows what each command does to the tables.
 *
 * Every string is owned by the command (NUL-terminated, valid UTF-8, no embedded NUL) and freed
 * by command_clear(). JSON-valued fields hold serialized JSON text ready for a jsonb parameter.
 */
#ifndef TRACKD_API_COMMAND_H
#define TRACKD_API_COMMAND_H

#include <stddef.h>
#include <stdint.h>

enum command_kind {
    COMMAND_IDENTIFY, /* upsert a person by customer_id (or email) and merge attributes */
    COMMAND_TRACK,    /* store one event, page view or screen view */
    COMMAND_GROUP,    /* record a group call (object + relationship) */
    COMMAND_ALIAS,    /* record an alias call (previous_id -> customer_id) */
    COMMAND_REJECT,   /* record a refused request or batch item in rejected_requests */
};

/* The `type` column of events. */
enum event_type {
    EVENT_TYPE_EVENT, /* a named action ("purchase") */
    EVENT_TYPE_PAGE,  /* a page view; name is the page name or URL */
    EVENT_TYPE_SCREEN /* a mobile screen view */
};

struct command {
    enum command_kind kind;
    int64_t workspace_id; /* set by the HTTP layer once the caller is authenticated */
    char *customer_id;    /* the caller's id for the person (Pipelines userId); may be NULL */
    char *anonymous_id;   /* may be NULL */
    char *message_id;     /* deduplication key (messageId / Track id); may be NULL */
    char *email;          /* identify: new email, or NULL to leave it */
    int clear_email;      /* identify: email was set to null, so remove it */
    enum event_type event_type;
    char *name;           /* track: event name; page/screen: name (or URL) */
    char *properties;     /* JSON object: event properties, identify attributes to set, group
                           * traits */
    char *unset_keys;     /* identify: JSON array of attribute names set to null (removed) */
    char *context;        /* JSON object: the call's context; may be NULL */
    char *group_id;       /* group */
    char *previous_id;    /* alias */
    int64_t timestamp_us; /* when it happened (client clock, skew-corrected) */
    int64_t received_us;  /* when trackd received it */
    long batch_index;     /* position in its batch, -1 for a single call */
    const char *endpoint; /* static string naming the route, e.g. "/v1/batch" */
    /* COMMAND_REJECT */
    const char *reason; /* static reason word from the error registry */
    char *message;      /* what was wrong, naming the field */
    char *payload;      /* what the client sent (capped) */
};

/* Frees every string of `cmd` and zeroes it; accepts NULL. */
void command_clear(struct command *cmd);

/* The `type` column value for an event type: "event", "page" or "screen". */
const char *command_event_type_name(enum event_type type);

#endif
