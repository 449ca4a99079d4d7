/*
 * Objects and relationships in the Track API's wire shapes (v2 object operations, person
 * add_relationships / delete_relationships, identify's cio_relationships): readers shared by
 * track_v1.c and track_v2.c. Like api_fields.h, each fills a struct api_error naming the field
 * on refusal and returns false.
 */
#ifndef TRACKD_API_OBJECTS_H
#define TRACKD_API_OBJECTS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "api/api_fields.h"

/* Most relationships one call may list. */
#define API_RELATIONSHIPS_MAX 1000
/* Largest attributes of one object or one relationship, as compact JSON (Customer.io's limit). */
#define API_OBJECT_ATTRIBUTES_MAX_BYTES 100000

/* What the items of a relationship list name. */
enum api_related {
    API_RELATED_OBJECTS, /* a person's list: {"object_type_id","object_id"} or {"cio_object_id"} */
    API_RELATED_PEOPLE,  /* an object's list: exactly one of {"id"}, {"email"}, {"cio_id"} */
    API_RELATED_ANONYMOUS, /* identify_anonymous: {"anonymous_id"} */
};

/* Reads an object type: a whole number from 1, as a number or a string ("1"); *out is a new
 * string. */
bool api_object_type_id(json_object *value, const char *field, char **out, struct api_error *e);

/* Reads `identifiers` naming an object: {"object_type_id","object_id"} into
 * cmd->object_type_id and cmd->group_id, or {"cio_object_id"} into cmd->cio_object_id. */
bool api_object_identifiers(json_object *identifiers, const char *field, struct command *cmd,
                            struct api_error *e);

/* Reads an object's attributes (absent: none) into cmd->properties: at most 300, names at most
 * 150 bytes, 100 KB in all; null values stay, to remove those attributes. */
bool api_object_attributes(json_object *attributes, const char *field, struct command *cmd,
                           struct api_error *e);

/*
 * Reads a relationship list (Customer.io's cio_relationships: an array of {"identifiers": ...,
 * "relationship_attributes": {...}}) into cmd->relationships, in the normalized form that
 * core/command.h describes. 1 to API_RELATIONSHIPS_MAX items.
 */
bool api_relationships(json_object *list, const char *field, enum api_related related,
                       struct command *cmd, struct api_error *e);

/*
 * Reads v1 identify's cio_relationships: {"action": "add_relationships" |
 * "delete_relationships", "relationships": [...]} (the action defaults to adding), or the bare
 * array that v2 sends (adding). Sets cmd->relationships and cmd->relationships_add.
 */
bool api_identify_relationships(json_object *value, const char *field, struct command *cmd,
                                struct api_error *e);

#endif
