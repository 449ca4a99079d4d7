-- 0003: anonymous activity joins the person it turns out to be; trigger eligibility; groups as
-- objects and relationships; retention.

ALTER TABLE events ADD COLUMN eligible_at timestamptz;
COMMENT ON COLUMN events.eligible_at IS 'When the event became able to trigger campaigns: when it was attributed to its person (receipt, or the anonymous link), if that was within 72 hours of its timestamp. NULL: never (anonymous, too old, or inherited by a profile merge).';
UPDATE events SET eligible_at = received_at
WHERE person_id IS NOT NULL AND origin = 'direct' AND received_at - "timestamp" <= interval '72 hours';

CREATE TABLE objects (
    workspace_id   bigint NOT NULL REFERENCES workspaces (id),
    object_type_id text NOT NULL DEFAULT '1',
    object_id      text NOT NULL,
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, object_type_id, object_id)
);
COMMENT ON TABLE objects IS 'Objects (groups: companies, accounts, ...) from Pipelines group calls.';
COMMENT ON COLUMN objects.workspace_id IS 'The workspace of the object.';
COMMENT ON COLUMN objects.object_type_id IS 'Object type, a string-formatted integer; "1" unless traits.object_type_id says otherwise.';
COMMENT ON COLUMN objects.object_id IS 'The groupId.';
COMMENT ON COLUMN objects.attributes IS 'Group traits (without object_type_id and relationshipAttributes), merged on each call.';
COMMENT ON COLUMN objects.created_at IS 'When the object was first seen.';
COMMENT ON COLUMN objects.updated_at IS 'When a group call last changed it.';

CREATE TABLE relationships (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id   bigint NOT NULL,
    object_type_id text NOT NULL,
    object_id      text NOT NULL,
    person_id      bigint REFERENCES people (id) ON DELETE CASCADE,
    anonymous_id   text,
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, object_type_id, object_id)
        REFERENCES objects (workspace_id, object_type_id, object_id) ON DELETE CASCADE,
    CHECK (person_id IS NOT NULL OR anonymous_id IS NOT NULL)
);
CREATE UNIQUE INDEX relationships_person_key
    ON relationships (workspace_id, object_type_id, object_id, person_id) WHERE person_id IS NOT NULL;
CREATE UNIQUE INDEX relationships_anonymous_key
    ON relationships (workspace_id, object_type_id, object_id, anonymous_id) WHERE person_id IS NULL;
CREATE INDEX relationships_person_idx ON relationships (person_id);
COMMENT ON TABLE relationships IS 'A person''s (or, until identified, an anonymous id''s) membership of an object.';
COMMENT ON COLUMN relationships.id IS 'Internal id.';
COMMENT ON COLUMN relationships.workspace_id IS 'The workspace of the relationship.';
COMMENT ON COLUMN relationships.object_type_id IS 'Type of the object.';
COMMENT ON COLUMN relationships.object_id IS 'The object (groupId).';
COMMENT ON COLUMN relationships.person_id IS 'The member; NULL while only the anonymous id is known.';
COMMENT ON COLUMN relationships.anonymous_id IS 'The anonymous id of the group call; the relationship moves to the person when the id is linked.';
COMMENT ON COLUMN relationships.attributes IS 'traits.relationshipAttributes of the group call.';
COMMENT ON COLUMN relationships.created_at IS 'When the relationship was first recorded.';

ALTER TABLE anonymous_ids ADD COLUMN refused_links integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN anonymous_ids.refused_links IS 'How many calls tried to link this anonymous id to another person and were refused.';

-- Values clients send when they have no real anonymous id; they are never linked.
CREATE FUNCTION trackd_is_junk_anonymous_id(p_anonymous_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_anonymous_id IS NULL OR btrim(p_anonymous_id) = ''
        OR lower(btrim(p_anonymous_id)) IN ('null', 'undefined', 'anonymous', '0', 'nil', 'none')
$$;
COMMENT ON FUNCTION trackd_is_junk_anonymous_id(text) IS 'True for placeholders (null, undefined, anonymous, 0, blank) that must never link people.';

-- Serializes linking an anonymous id against storing events with it: linking takes the lock
-- exclusively, storing an anonymous event takes it shared (so stores never wait for each
-- other). Whichever commits second sees the other's rows, so no event is left behind.
CREATE FUNCTION trackd_lock_anonymous_id(p_workspace bigint, p_anonymous_id text, p_exclusive boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_key bigint := hashtextextended(p_workspace::text || ':' || p_anonymous_id, 7);
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(v_key);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(v_key);
    END IF;
END
$$;
COMMENT ON FUNCTION trackd_lock_anonymous_id(bigint, text, boolean) IS 'Transaction advisory lock on one anonymous id: exclusive to link it, shared to store events with it.';


-- Merges the secondary profile into the primary: the secondary's attributes fill only what the
-- primary lacks (missing, null or ""), its events and devices move to the primary marked
-- profile_merge, its anonymous links follow, and the secondary is deleted.
-- Returns 'merged', 'primary_not_found', or 'skipped' (secondary unknown or the same person).
-- Inherited events can never trigger (eligible_at is cleared).
CREATE FUNCTION trackd_merge(p_workspace bigint, p_primary_type text, p_primary text,
                                        p_secondary_type text, p_secondary text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_primary people%ROWTYPE;
    v_secondary people%ROWTYPE;
    v_first bigint;
    v_second bigint;
BEGIN
    v_first := trackd_find_person(p_workspace, p_primary_type, p_primary);
    IF v_first IS NULL THEN
        RETURN 'primary_not_found';
    END IF;
    v_second := trackd_find_person(p_workspace, p_secondary_type, p_secondary);
    IF v_second IS NULL OR v_second = v_first THEN
        RETURN 'skipped';
    END IF;
    -- Lock both rows in id order so that concurrent merges cannot deadlock.
    PERFORM 1 FROM people WHERE id IN (v_first, v_second) ORDER BY id FOR UPDATE;
    SELECT * INTO v_primary FROM people WHERE id = v_first;
    SELECT * INTO v_secondary FROM people WHERE id = v_second;
    IF v_primary.id IS NULL OR v_secondary.id IS NULL THEN
        RETURN 'skipped'; -- deleted or merged away by a concurrent call meanwhile
    END IF;

    UPDATE events SET person_id = v_first, origin = 'profile_merge', eligible_at = NULL
    WHERE person_id = v_second;
    UPDATE devices SET person_id = v_first, origin = 'profile_merge' WHERE person_id = v_second;
    UPDATE anonymous_ids SET person_id = v_first WHERE person_id = v_second;
    DELETE FROM relationships r WHERE r.person_id = v_second
      AND EXISTS (SELECT 1 FROM relationships m WHERE m.person_id = v_first
                  AND m.workspace_id = r.workspace_id AND m.object_type_id = r.object_type_id
                  AND m.object_id = r.object_id);
    UPDATE relationships SET person_id = v_first WHERE person_id = v_second;
    DELETE FROM people WHERE id = v_second;
    UPDATE people
    SET attributes = (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                      FROM jsonb_each(v_secondary.attributes)
                      WHERE value NOT IN ('null'::jsonb, '""'::jsonb))
                     || (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                         FROM jsonb_each(v_primary.attributes)
                         WHERE value NOT IN ('null'::jsonb, '""'::jsonb)),
        customer_id = coalesce(customer_id, v_secondary.customer_id),
        email = coalesce(email, v_secondary.email),
        updated_at = now()
    WHERE id = v_first;
    RETURN 'merged';
END
$$;
COMMENT ON FUNCTION trackd_merge(bigint, text, text, text, text) IS 'Profile merge: see the comment above the function.';


-- Identify (Customer.io's rules, reference §1.4). The person is addressed by (p_person_type,
-- p_person); p_body_id and p_email are identifiers sent among the attributes.
--  * Found by the address: update. A body identifier belonging to someone else is a conflict.
--  * Not found (and the address is an id or email): a person matching a body identifier is
--    updated and given the address as identifier; two different matches are a conflict.
--  * A person who has an id gets a different one only when addressed by cio_id.
--  * Nobody matches: created, unless p_update_only ('skipped') or an identifier is suppressed.
--  * Unknown cio_id: 'not_found' (the call is dropped).
-- Attributes: p_set added, p_unset removed; the email set (or cleared) as asked.
-- Returns 'created', 'updated', 'duplicate', 'conflict', 'skipped', 'suppressed', 'not_found',
-- or 'recorded' when no person is named at all (anonymous traits, kept in identity_calls).
-- An anonymous id it carries (Pipelines anonymousId, Track anonymous_id) is linked to the person;
-- ';link_refused' is appended when that id belongs to someone else.
CREATE FUNCTION trackd_identify(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_body_id text, p_email text, p_clear_email boolean, p_update_only boolean,
    p_set jsonb, p_unset text[], p_anonymous_id text, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_target bigint;
    v_by_id bigint;
    v_by_email bigint;
    v_id text := p_body_id;
    v_email text := p_email;
    v_outcome text;
    v_link text := '';
BEGIN
    IF p_person_type IS NULL AND p_body_id IS NULL AND p_email IS NULL THEN
        RETURN trackd_record_identity_call(p_workspace, 'identify', p_message_id, NULL,
                                           p_anonymous_id, NULL, NULL, p_set, p_context,
                                           p_timestamp, p_received);
    END IF;
    IF p_person_type = 'id' THEN
        v_id := p_person;
    ELSIF p_person_type = 'email' THEN
        v_email := p_person;
    END IF;
    IF trackd_is_suppressed(p_workspace, 'id', v_id)
       OR trackd_is_suppressed(p_workspace, 'email', v_email) THEN
        RETURN 'suppressed';
    END IF;
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;

    LOOP
        IF p_person_type IS NOT NULL THEN
            v_target := trackd_find_person(p_workspace, p_person_type, p_person);
            IF v_target IS NULL AND p_person_type = 'cio_id' THEN
                RETURN 'not_found';
            END IF;
        END IF;
        v_by_id := CASE WHEN p_body_id IS NOT NULL THEN trackd_find_person(p_workspace, 'id', p_body_id) END;
        v_by_email := CASE WHEN p_email IS NOT NULL THEN trackd_find_person(p_workspace, 'email', p_email) END;
        IF v_target IS NULL THEN
            IF v_by_id IS NOT NULL AND v_by_email IS NOT NULL AND v_by_id <> v_by_email THEN
                RETURN 'conflict';
            END IF;
            v_target := coalesce(v_by_id, v_by_email);
        ELSIF (v_by_id IS NOT NULL AND v_by_id <> v_target)
              OR (v_by_email IS NOT NULL AND v_by_email <> v_target) THEN
            RETURN 'conflict';
        END IF;
        EXIT WHEN v_target IS NOT NULL;
        IF p_update_only THEN
            RETURN 'skipped';
        END IF;
        v_target := nextval(pg_get_serial_sequence('people', 'id'));
        INSERT INTO people (id, workspace_id, cio_id, customer_id, email, attributes)
        VALUES (v_target, p_workspace, trackd_cio_id(v_target), v_id, v_email, p_set)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            v_outcome := 'created';
            EXIT;
        END IF;
        v_target := NULL; -- a concurrent identify created them: look again
    END LOOP;

    IF v_outcome IS NULL THEN
        PERFORM 1 FROM people WHERE id = v_target FOR UPDATE;
        -- An id is changed only for a person addressed by cio_id (Customer.io's rule): giving
        -- a new id to someone who already has one would silently rename them.
        IF v_id IS NOT NULL AND p_person_type IS DISTINCT FROM 'cio_id' THEN
            PERFORM 1 FROM people
            WHERE id = v_target AND customer_id IS NOT NULL AND customer_id <> v_id;
            IF FOUND THEN
                RETURN 'conflict';
            END IF;
        END IF;
        UPDATE people
        SET customer_id = coalesce(v_id, customer_id),
            email = CASE WHEN v_email IS NOT NULL THEN v_email
                         WHEN p_clear_email THEN NULL
                         ELSE email END,
            attributes = (attributes || p_set) - p_unset,
            updated_at = now()
        WHERE id = v_target;
        v_outcome := 'updated';
    END IF;
    IF NOT trackd_is_junk_anonymous_id(p_anonymous_id) THEN
        v_link := trackd_link_anonymous(p_workspace, p_anonymous_id, v_target);
    END IF;
    RETURN v_outcome || CASE WHEN v_link = 'refused' THEN ';link_refused' ELSE '' END;
END
$$;
COMMENT ON FUNCTION trackd_identify(bigint, text, text, text, text, text, boolean, boolean, jsonb, text[], text, jsonb, timestamptz, timestamptz)
    IS 'Identify per Customer.io''s resolution rules; see the comment above the function for outcomes.';


-- Alias: previousId (an anonymous id) becomes the person's.
CREATE FUNCTION trackd_alias(p_workspace bigint, p_message_id text, p_person text,
                             p_previous_id text, p_context jsonb, p_timestamp timestamptz,
                             p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_recorded text;
    v_link text;
BEGIN
    IF trackd_is_suppressed(p_workspace, 'id', p_person) THEN
        RETURN 'suppressed';
    END IF;
    v_recorded := trackd_record_identity_call(p_workspace, 'alias', p_message_id, p_person, NULL,
                                              NULL, p_previous_id, '{}', p_context,
                                              p_timestamp, p_received);
    IF v_recorded = 'duplicate' THEN
        RETURN 'duplicate';
    END IF;
    v_person := trackd_person_for(p_workspace, 'id', p_person);
    v_link := trackd_link_anonymous(p_workspace, p_previous_id, v_person);
    RETURN CASE WHEN v_link = 'refused' THEN 'recorded;link_refused' ELSE 'recorded' END;
END
$$;
COMMENT ON FUNCTION trackd_alias(bigint, text, text, text, jsonb, timestamptz, timestamptz) IS 'Alias: records the call and links previousId to the person userId.';

-- Group: upserts the object and the caller's relationship to it (by person, or by anonymous id
-- until that is linked).
CREATE FUNCTION trackd_group(p_workspace bigint, p_message_id text, p_person text,
                             p_anonymous_id text, p_object_type_id text, p_object_id text,
                             p_traits jsonb, p_relationship jsonb, p_context jsonb,
                             p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_recorded text;
BEGIN
    IF p_person IS NOT NULL AND trackd_is_suppressed(p_workspace, 'id', p_person) THEN
        RETURN 'suppressed';
    END IF;
    v_recorded := trackd_record_identity_call(p_workspace, 'group', p_message_id, p_person,
                                              p_anonymous_id, p_object_id, NULL, p_traits,
                                              p_context, p_timestamp, p_received);
    IF v_recorded = 'duplicate' THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO objects (workspace_id, object_type_id, object_id, attributes)
    VALUES (p_workspace, p_object_type_id, p_object_id, p_traits)
    ON CONFLICT (workspace_id, object_type_id, object_id) DO UPDATE
    SET attributes = objects.attributes || excluded.attributes, updated_at = now();
    IF p_person IS NOT NULL THEN
        v_person := trackd_person_for(p_workspace, 'id', p_person);
        INSERT INTO relationships (workspace_id, object_type_id, object_id, person_id, attributes)
        VALUES (p_workspace, p_object_type_id, p_object_id, v_person, p_relationship)
        ON CONFLICT (workspace_id, object_type_id, object_id, person_id) WHERE person_id IS NOT NULL
        DO UPDATE SET attributes = relationships.attributes || excluded.attributes;
    ELSE
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
        IF v_person IS NOT NULL THEN
            INSERT INTO relationships (workspace_id, object_type_id, object_id, person_id, attributes)
            VALUES (p_workspace, p_object_type_id, p_object_id, v_person, p_relationship)
            ON CONFLICT (workspace_id, object_type_id, object_id, person_id) WHERE person_id IS NOT NULL
            DO UPDATE SET attributes = relationships.attributes || excluded.attributes;
        ELSE
            INSERT INTO relationships (workspace_id, object_type_id, object_id, anonymous_id, attributes)
            VALUES (p_workspace, p_object_type_id, p_object_id, p_anonymous_id, p_relationship)
            ON CONFLICT (workspace_id, object_type_id, object_id, anonymous_id) WHERE person_id IS NULL
            DO UPDATE SET attributes = relationships.attributes || excluded.attributes;
        END IF;
    END IF;
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_group(bigint, text, text, text, text, text, jsonb, jsonb, jsonb, timestamptz, timestamptz) IS 'Group: upserts the object and the caller''s relationship to it.';

-- Retention: deletes up to p_limit anonymous events that never joined a person and are older
-- than 30 days, and up to p_limit deduplication keys older than 30 days. Small batches keep
-- locks short; the caller repeats while a full batch was deleted.
CREATE FUNCTION trackd_purge_expired(p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_events integer;
    v_keys integer;
BEGIN
    DELETE FROM events WHERE id IN (
        SELECT id FROM events
        WHERE person_id IS NULL AND received_at < now() - interval '30 days'
        LIMIT p_limit);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    DELETE FROM message_ids WHERE ctid IN (
        SELECT ctid FROM message_ids WHERE received_at < now() - interval '30 days' LIMIT p_limit);
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    RETURN greatest(v_events, v_keys);
END
$$;
COMMENT ON FUNCTION trackd_purge_expired(integer) IS 'Deletes one bounded batch of expired anonymous events and deduplication keys; returns the larger count.';

CREATE INDEX message_ids_received_brin ON message_ids USING brin (received_at);

-- Adds or updates a device by token for the person addressed (created if new). A device sent
-- by an anonymous id (p_type 'anonymous', the id as p_value; mobile SDKs register the token
-- before the person is identified) goes to the person the id is linked to, or is skipped until
-- then: the SDK registers it again once the person is identified.
CREATE FUNCTION trackd_add_device(p_workspace bigint, p_type text, p_value text,
                                             p_token text, p_platform text, p_attributes jsonb,
                                             p_last_used timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
BEGIN
    IF p_type = 'anonymous' THEN
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_value;
        IF v_person IS NULL THEN
            RETURN 'skipped';
        END IF;
    ELSE
        IF trackd_is_suppressed(p_workspace, p_type, p_value) THEN
            RETURN 'suppressed';
        END IF;
        v_person := trackd_person_for(p_workspace, p_type, p_value);
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
    END IF;
    INSERT INTO devices (workspace_id, person_id, token, platform, attributes, last_used)
    VALUES (p_workspace, v_person, p_token, p_platform, p_attributes, p_last_used)
    ON CONFLICT (workspace_id, token) DO UPDATE
    SET person_id = excluded.person_id,
        platform = excluded.platform,
        attributes = CASE WHEN devices.person_id = excluded.person_id
                          THEN devices.attributes || excluded.attributes
                          ELSE excluded.attributes END,
        last_used = greatest(devices.last_used, excluded.last_used),
        origin = 'direct';
    RETURN 'stored';
END
$$;
COMMENT ON FUNCTION trackd_add_device(bigint, text, text, text, text, jsonb, timestamptz) IS 'Upserts a device by token for a person; a token of another person moves to this one.';


-- Creates, in one fixed order, the people that a group of calls will create anyway, and locks,
-- in id order, those that its identify calls will update. Writers that start each group this
-- way never wait on each other in a cycle, so concurrent groups touching the same new people
-- do not deadlock. p_people: [{"w": workspace, "c": customer_id, "l": lock}, ...].
CREATE FUNCTION trackd_prepare_people(p_people jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_created integer;
BEGIN
    -- One statement for all: rows are inserted in the order of the ORDER BY, and a row that a
    -- concurrent group is inserting is waited for in that order too.
    WITH wanted AS (
        SELECT DISTINCT u.w, u.c FROM jsonb_to_recordset(p_people) AS u (w bigint, c text)
    ), missing AS (
        SELECT nextval(pg_get_serial_sequence('people', 'id')) AS id, w, c
        FROM (SELECT w, c FROM wanted
              WHERE NOT EXISTS (SELECT 1 FROM people p WHERE p.workspace_id = wanted.w
                                                         AND p.customer_id = wanted.c)
                AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace_id = wanted.w
                                   AND s.identifier_type = 'id' AND s.identifier = wanted.c)
              ORDER BY w, c COLLATE "C") AS ordered
    )
    INSERT INTO people (id, workspace_id, cio_id, customer_id)
    SELECT id, w, trackd_cio_id(id), c FROM missing ORDER BY w, c COLLATE "C"
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF jsonb_path_exists(p_people, '$[*] ? (@.l == true)') THEN
        PERFORM 1 FROM people p
        WHERE (p.workspace_id, p.customer_id) IN (
            SELECT u.w, u.c FROM jsonb_to_recordset(p_people) AS u (w bigint, c text, l boolean)
            WHERE u.l)
        ORDER BY p.id FOR UPDATE;
    END IF;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION trackd_prepare_people(jsonb) IS 'Run first in each write group: creates and locks its people in a fixed order so that concurrent groups cannot deadlock.';
