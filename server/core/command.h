/*
 * The command model: what every API family turns a request into. The adapters of api/
 * (pipelines.c, track_v1.c, track_v2.c) are pure functions from JSON to commands; ingest/ commits
 * them; store/ is the one place that knows what each command does to the tables. It lives in
 * core/, below all of them, so that none has to include a layer above it.
 *
 * Every string is owned by the command (NUL-terminated, valid UTF-8, no embedded NUL) and freed
 * by command_clear(). JSON-valued fields hold serialized JSON text ready for a jsonb parameter.
 */
#ifndef TRACKD_CORE_COMMAND_H
#define TRACKD_CORE_COMMAND_H

#include <stddef.h>
#include <stdint.h>

enum command_kind {
    COMMAND_IDENTIFY,            /* upsert a person and merge attributes */
    COMMAND_TRACK,               /* store one event, page view or screen view */
    COMMAND_GROUP,               /* record a group call (object + relationship) */
    COMMAND_ALIAS,               /* record an alias call (previous_id -> the person) */
    COMMAND_DELETE_PERSON,       /* delete the person with their events, devices and links */
    COMMAND_SUPPRESS,            /* delete the person and block their identifiers */
    COMMAND_UNSUPPRESS,          /* free suppressed identifiers */
    COMMAND_ADD_DEVICE,          /* upsert a device token for the person */
    COMMAND_DELETE_DEVICE,       /* remove a device token from the person */
    COMMAND_MERGE,               /* merge the `secondary` profile into the person */
    COMMAND_METRIC,              /* record a delivery metric */
    COMMAND_UNSUBSCRIBE,         /* set `unsubscribed` on the person a delivery went to */
    COMMAND_SEGMENT,             /* add people to a manual segment, or remove them */
    COMMAND_DELETE_RELATIONSHIP, /* remove the person's relationship to an object */
    COMMAND_DELETE_OBJECT,       /* delete an object with its relationships */
    COMMAND_OBJECT_IDENTIFY,     /* create or update an object and relate people to it */
    COMMAND_RELATIONSHIPS,       /* add or remove relationships of a person, or of an object */
    COMMAND_REJECT,              /* record a refused request or batch item in rejected_requests */
};

/* How a person is addressed. */
enum identifier_type {
    IDENTIFIER_NONE,   /* no person: anonymous, or not applicable */
    IDENTIFIER_ID,     /* the client's id (people.customer_id), case-sensitive */
    IDENTIFIER_EMAIL,  /* email, case-insensitive */
    IDENTIFIER_CIO_ID, /* trackd's own immutable id (people.cio_id) */
};

struct identifier {
    enum identifier_type type;
    char *value; /* owned; NULL when type is IDENTIFIER_NONE */
};

/* The `type` column of events. */
enum event_type {
    EVENT_TYPE_EVENT, /* a named action ("purchase") */
    EVENT_TYPE_PAGE,  /* a page view; name is the page name or URL */
    EVENT_TYPE_SCREEN /* a mobile screen view */
};

struct command {
    enum command_kind kind;
    int64_t workspace_id;     /* set by the HTTP layer once the caller is authenticated */
    struct identifier person; /* who it is about: Pipelines userId, Track path identifier */
    char *anonymous_id;       /* may be NULL */
    char *message_id;         /* deduplication key (messageId / Track id); may be NULL */
    char *body_id;            /* identify: an `id` sent among the attributes */
    char *email;              /* identify: new email, or NULL to leave it */
    int clear_email;          /* identify: email was set to null, so remove it */
    int update_only;          /* identify: `_update: true`, never create the person */
    enum event_type event_type;
    char *name;             /* track: event name; page/screen: name (or URL) */
    char *properties;       /* JSON object: event properties, identify attributes to set, group
                             * traits, device attributes */
    char *unset_keys;       /* identify: JSON array of attribute names set to null (removed) */
    char *context;          /* JSON object: the call's context; may be NULL */
    char *group_id;         /* group, delete_relationship, objects: the object id (NULL when
                             * cio_object_id names the object) */
    char *object_type_id;   /* the same: the object type, "1" unless the call says otherwise */
    char *cio_object_id;    /* objects: trackd's id of the object, instead of type and id */
    char *relationships;    /* identify, object_identify, relationships: a JSON array, each item
                             * naming an object ({"object_type_id","object_id"} or
                             * {"cio_object_id"}) or a person ({"id"}, {"email"}, {"cio_id"} or
                             * {"anonymous_id"}), with "attributes" (the relationship's); NULL:
                             * none */
    int relationships_add;  /* relationships, identify: 1 adds them, 0 removes them */
    int ordered;            /* identify: timestamp_us is the call's own (_timestamp, timestamp):
                             * attributes set later are not overwritten */
    char *attribute_times;  /* identify: JSON object, the update's unix time (seconds) for each
                             * attribute it sets or removes (people.attribute_times) */
    int dotted_preferences; /* identify: some key is "cio_subscription_preferences.<path>" */
    char *relationship;     /* group: JSON of traits.relationshipAttributes */
    char *previous_id;      /* alias */
    struct identifier secondary;  /* merge: the profile merged into `person` */
    char *device_token;           /* devices, push metrics */
    char *platform;               /* add_device: ios or android */
    char *delivery_id;            /* metric */
    char *metric;                 /* metric: delivered, opened, clicked, ... */
    char *recipient;              /* metric, optional */
    char *metric_reason;          /* metric, optional */
    char *href;                   /* metric, optional */
    int unsubscribe;              /* unsubscribe: 1 unsubscribes, 0 resubscribes, -1 only asks
                                   * whether the delivery is found (an email link's page) */
    int64_t segment_id;           /* segment: its number, 1..2^31-1 */
    int segment_add;              /* segment: 1 adds, 0 removes */
    enum identifier_type id_type; /* segment: what `ids` are (IDENTIFIER_ID, _EMAIL, _CIO_ID) */
    char *ids;                    /* segment: JSON array of strings, 1..1000 */
    int64_t timestamp_us; /* when it happened (client clock, skew-corrected); add_device: the
                           * device's last use */
    int64_t received_us;  /* when trackd received it */
    long batch_index;     /* position in its batch, -1 for a single call */
    const char *endpoint; /* static string naming the route, e.g. "/v1/batch" */
    /* COMMAND_REJECT */
    const char *reason; /* static reason word from the error registry */
    int counted_only;   /* over the per-minute limit: counted (ingest/rejection_limit.h), not
                         * written */
    char *message;      /* what was wrong, naming the field */
    char *payload;      /* what the client sent (capped) */
};

/* Frees every string of `cmd` and zeroes it; accepts NULL. */
void command_clear(struct command *cmd);

/* The SQL name of an identifier type: "id", "email", "cio_id", or NULL for none. */
const char *command_identifier_type_name(enum identifier_type type);

/* The `type` column value for an event type: "event", "page" or "screen". */
const char *command_event_type_name(enum event_type type);

#endif
