-- 0004: campaign rules, the evaluation queue, firings and the delivery outbox.

CREATE TABLE rules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  bigint NOT NULL REFERENCES workspaces (id),
    name          text NOT NULL,
    definition    jsonb NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    trigger_event text NOT NULL,
    trigger_type  text NOT NULL CHECK (trigger_type IN ('event', 'page', 'screen')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);
CREATE INDEX rules_trigger_idx ON rules (workspace_id, trigger_event, trigger_type) WHERE enabled;
COMMENT ON TABLE rules IS 'Campaign rules (SPEC §5), loaded with `trackd rules load`; evaluated on incoming events.';
COMMENT ON COLUMN rules.id IS 'Internal id, referenced by firings and deliveries.';
COMMENT ON COLUMN rules.workspace_id IS 'The workspace the rule belongs to.';
COMMENT ON COLUMN rules.name IS 'The rule''s name, unique per workspace; loading a file with the same name replaces it.';
COMMENT ON COLUMN rules.definition IS 'The rule as loaded (JSON file contents).';
COMMENT ON COLUMN rules.enabled IS 'Disabled rules are kept but never evaluated.';
COMMENT ON COLUMN rules.trigger_event IS 'trigger.event of the definition: the event name that makes the rule a candidate.';
COMMENT ON COLUMN rules.trigger_type IS 'trigger.type of the definition: event, page or screen.';
COMMENT ON COLUMN rules.created_at IS 'When the rule was first loaded.';
COMMENT ON COLUMN rules.updated_at IS 'When the rule was last loaded.';

CREATE TABLE pending_evaluations (
    event_id     bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    workspace_id bigint NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pending_evaluations IS 'Events waiting for rule evaluation: queued in the transaction that made them eligible, removed in the one that records their firings.';
COMMENT ON COLUMN pending_evaluations.event_id IS 'The event to evaluate.';
COMMENT ON COLUMN pending_evaluations.workspace_id IS 'Its workspace.';
COMMENT ON COLUMN pending_evaluations.queued_at IS 'When it was queued; the evaluation lag is now() - min(queued_at).';

CREATE TABLE firings (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL,
    rule_id      bigint NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    person_id    bigint REFERENCES people (id) ON DELETE SET NULL,
    event_id     bigint NOT NULL,
    once_key     bigint,
    fired_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, event_id),
    UNIQUE (rule_id, once_key)
);
CREATE INDEX firings_rule_person_idx ON firings (rule_id, person_id, fired_at);
COMMENT ON TABLE firings IS 'One row per rule that fired on an event: at most one per (rule, event), and per (rule, person) for frequency once.';
COMMENT ON COLUMN firings.id IS 'Internal id.';
COMMENT ON COLUMN firings.workspace_id IS 'The workspace.';
COMMENT ON COLUMN firings.rule_id IS 'The rule that fired.';
COMMENT ON COLUMN firings.person_id IS 'The person it fired for.';
COMMENT ON COLUMN firings.event_id IS 'The event that made it fire.';
COMMENT ON COLUMN firings.once_key IS 'The person id for rules with frequency once (unique per rule), else NULL.';
COMMENT ON COLUMN firings.fired_at IS 'When it fired; at_most_every rules compare against it.';

CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id    bigint NOT NULL,
    rule_id         bigint REFERENCES rules (id) ON DELETE SET NULL,
    firing_id       bigint NOT NULL REFERENCES firings (id) ON DELETE CASCADE,
    person_id       bigint REFERENCES people (id) ON DELETE SET NULL,
    event_id        bigint,
    device_id       bigint REFERENCES devices (id) ON DELETE SET NULL,
    action          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN ('scheduled', 'retrying', 'sent', 'dead', 'skipped', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    last_error      text,
    response_code   integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_at    timestamptz,
    opened_at       timestamptz,
    clicked_at      timestamptz,
    converted_at    timestamptz
);
CREATE UNIQUE INDEX deliveries_firing_device_key ON deliveries (firing_id, coalesce(device_id, 0));
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status IN ('scheduled', 'retrying');
CREATE INDEX deliveries_person_idx ON deliveries (person_id) WHERE status IN ('scheduled', 'retrying');
COMMENT ON TABLE deliveries IS 'The outbox: one row per message to send (per device for push). Workers claim due rows with FOR UPDATE SKIP LOCKED and send outside any transaction.';
COMMENT ON COLUMN deliveries.id IS 'The delivery id: Idempotency-Key and X-Trackd-Delivery of webhooks, data.delivery_id of pushes, the id metrics report against.';
COMMENT ON COLUMN deliveries.workspace_id IS 'The workspace.';
COMMENT ON COLUMN deliveries.rule_id IS 'The rule that fired.';
COMMENT ON COLUMN deliveries.firing_id IS 'The firing it belongs to.';
COMMENT ON COLUMN deliveries.person_id IS 'The person it is for.';
COMMENT ON COLUMN deliveries.event_id IS 'The event that fired the rule.';
COMMENT ON COLUMN deliveries.device_id IS 'Push: the device it goes to.';
COMMENT ON COLUMN deliveries.action IS 'What to send, templates already rendered: {"type":"push",title,body,data,token} | {"type":"webhook",url,method,headers,body} | {"type":"set_attributes",attributes}.';
COMMENT ON COLUMN deliveries.status IS 'scheduled (waiting for next_attempt_at), retrying (failed, will try again), sent, dead (gave up; see last_error), skipped (nothing to send to), cancelled (the person was deleted).';
COMMENT ON COLUMN deliveries.attempts IS 'Sends attempted so far.';
COMMENT ON COLUMN deliveries.next_attempt_at IS 'When it is due (the rule''s delay, then backoff with jitter).';
COMMENT ON COLUMN deliveries.lease_until IS 'A worker sending it holds it until then; an expired lease (crashed worker) makes it due again.';
COMMENT ON COLUMN deliveries.last_error IS 'Why the last attempt failed (capped at 1000 characters).';
COMMENT ON COLUMN deliveries.response_code IS 'HTTP status of the last attempt, if one came back.';
COMMENT ON COLUMN deliveries.created_at IS 'When the rule fired.';
COMMENT ON COLUMN deliveries.sent_at IS 'When it was sent successfully.';
COMMENT ON COLUMN deliveries.delivered_at IS 'First delivered metric reported for it.';
COMMENT ON COLUMN deliveries.opened_at IS 'First opened metric reported for it.';
COMMENT ON COLUMN deliveries.clicked_at IS 'First clicked metric reported for it.';
COMMENT ON COLUMN deliveries.converted_at IS 'First converted metric reported for it.';

-- Whether an event should wait for evaluation: it belongs to a person, may trigger, and some
-- enabled rule of its workspace names it.
CREATE FUNCTION trackd_has_candidate_rules(p_workspace bigint, p_name text, p_type text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM rules WHERE workspace_id = p_workspace AND enabled
                   AND trigger_event = p_name AND trigger_type = p_type)
$$;
COMMENT ON FUNCTION trackd_has_candidate_rules(bigint, text, text) IS 'True when an enabled rule of the workspace is triggered by this event name and type.';

-- Stores one event, page or screen view. With a person and an anonymous id, links the two.
-- With only an anonymous id linked to a person less than 5 minutes ago, the event joins that
-- person. Returns 'stored', 'duplicate', 'suppressed' or 'not_found' (unknown cio_id), with
-- ';link_refused' appended when the anonymous id belongs to someone else.
-- Events that may fire and that an enabled rule names are queued for evaluation.
CREATE FUNCTION trackd_ingest_event(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_anonymous_id text, p_type text, p_name text, p_properties jsonb, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_origin text := 'direct';
    v_link text := '';
    v_event bigint;
    v_eligible timestamptz;
BEGIN
    IF p_person_type IS NOT NULL THEN
        IF trackd_is_suppressed(p_workspace, p_person_type, p_person) THEN
            RETURN 'suppressed';
        END IF;
        v_person := trackd_person_for(p_workspace, p_person_type, p_person);
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
    END IF;
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;
    IF v_person IS NOT NULL AND NOT trackd_is_junk_anonymous_id(p_anonymous_id) THEN
        v_link := trackd_link_anonymous(p_workspace, p_anonymous_id, v_person);
    ELSIF v_person IS NULL AND p_anonymous_id IS NOT NULL THEN
        PERFORM trackd_lock_anonymous_id(p_workspace, p_anonymous_id, false);
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id
          AND linked_at > now() - interval '5 minutes';
        IF v_person IS NOT NULL THEN
            v_origin := 'anonymous_merge';
        END IF;
    END IF;
    IF v_person IS NOT NULL AND now() - p_timestamp <= interval '72 hours' THEN
        v_eligible := now();
    END IF;
    INSERT INTO events (workspace_id, person_id, anonymous_id, message_id, type, name,
                        properties, context, "timestamp", received_at, origin, eligible_at)
    VALUES (p_workspace, v_person, p_anonymous_id, p_message_id, p_type, p_name,
            p_properties, p_context, p_timestamp, p_received, v_origin, v_eligible)
    RETURNING id INTO v_event;
    IF v_eligible IS NOT NULL AND trackd_has_candidate_rules(p_workspace, p_name, p_type) THEN
        INSERT INTO pending_evaluations (event_id, workspace_id) VALUES (v_event, p_workspace);
    END IF;
    RETURN CASE WHEN v_link = 'refused' THEN 'stored;link_refused' ELSE 'stored' END;
END
$$;
COMMENT ON FUNCTION trackd_ingest_event(bigint, text, text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz)
    IS 'Stores one event for its person (created if new) or anonymously, linking anonymous ids; see the comment above it.';


-- Links an anonymous id to a person and brings its recent activity along: anonymous events
-- received in the last 30 days join the person (origin anonymous_merge; eligible to trigger if
-- the link comes within 72 hours of their timestamp), and so do its group relationships.
-- Returns 'linked', 'already' (linked to this person before), 'refused' (linked to another
-- person: never re-linked) or 'junk' (a placeholder id).
-- Joined events that may fire and that a rule names are queued for evaluation.
CREATE FUNCTION trackd_link_anonymous(p_workspace bigint, p_anonymous_id text, p_person bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_owner bigint;
BEGIN
    IF trackd_is_junk_anonymous_id(p_anonymous_id) OR p_person IS NULL THEN
        RETURN 'junk';
    END IF;
    PERFORM trackd_lock_anonymous_id(p_workspace, p_anonymous_id, true);
    INSERT INTO anonymous_ids (workspace_id, anonymous_id, person_id, linked_at)
    VALUES (p_workspace, p_anonymous_id, p_person, now())
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT person_id INTO v_owner FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
        IF v_owner = p_person THEN
            RETURN 'already';
        END IF;
        UPDATE anonymous_ids SET refused_links = refused_links + 1
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
        RETURN 'refused';
    END IF;
    WITH joined AS (
        UPDATE events
        SET person_id = p_person,
            origin = 'anonymous_merge',
            eligible_at = CASE WHEN now() - "timestamp" <= interval '72 hours' THEN now() END
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id AND person_id IS NULL
          AND received_at > now() - interval '30 days'
        RETURNING id, name, type, eligible_at
    )
    INSERT INTO pending_evaluations (event_id, workspace_id)
    SELECT id, p_workspace FROM joined
    WHERE eligible_at IS NOT NULL AND trackd_has_candidate_rules(p_workspace, name, type);
    DELETE FROM relationships r
    WHERE r.workspace_id = p_workspace AND r.anonymous_id = p_anonymous_id AND r.person_id IS NULL
      AND EXISTS (SELECT 1 FROM relationships m
                  WHERE m.workspace_id = r.workspace_id AND m.object_type_id = r.object_type_id
                    AND m.object_id = r.object_id AND m.person_id = p_person);
    UPDATE relationships SET person_id = p_person
    WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id AND person_id IS NULL;
    RETURN 'linked';
END
$$;
COMMENT ON FUNCTION trackd_link_anonymous(bigint, text, bigint) IS 'Links an anonymous id to a person and reassigns its recent events and relationships; see the comment above it.';


-- Deletes a person and what belongs to them (events, devices, anonymous links,
-- relationships), and cancels the deliveries that were waiting for them.
CREATE FUNCTION trackd_delete_person(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint := trackd_find_person(p_workspace, p_type, p_value);
BEGIN
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    UPDATE deliveries SET status = 'cancelled', last_error = 'the person was deleted'
    WHERE person_id = v_person AND status IN ('scheduled', 'retrying');
    DELETE FROM events WHERE person_id = v_person;
    DELETE FROM people WHERE id = v_person; -- devices, anonymous links, relationships cascade
    RETURN 'deleted';
END
$$;
COMMENT ON FUNCTION trackd_delete_person(bigint, text, text) IS 'Deletes a person with their events, devices and anonymous links.';


-- Records one delivery metric, and marks the delivery it reports on (first time each).
CREATE FUNCTION trackd_record_metric(p_workspace bigint, p_delivery_id text, p_metric text,
                                                p_device_token text, p_recipient text, p_reason text,
                                                p_href text, p_occurred timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_delivery bigint;
BEGIN
    INSERT INTO delivery_metrics (workspace_id, delivery_id, metric, device_token, recipient,
                                  reason, href, occurred_at, received_at)
    VALUES (p_workspace, p_delivery_id, p_metric, p_device_token, p_recipient, p_reason, p_href,
            p_occurred, p_received);
    IF p_delivery_id ~ '^[0-9]{1,18}$' THEN
        v_delivery := p_delivery_id::bigint;
        UPDATE deliveries
        SET delivered_at = CASE WHEN p_metric = 'delivered' THEN coalesce(delivered_at, p_occurred) ELSE delivered_at END,
            opened_at = CASE WHEN p_metric = 'opened' THEN coalesce(opened_at, p_occurred) ELSE opened_at END,
            clicked_at = CASE WHEN p_metric = 'clicked' THEN coalesce(clicked_at, p_occurred) ELSE clicked_at END,
            converted_at = CASE WHEN p_metric = 'converted' THEN coalesce(converted_at, p_occurred) ELSE converted_at END
        WHERE id = v_delivery AND (p_workspace IS NULL OR workspace_id = p_workspace);
    END IF;
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_record_metric(bigint, text, text, text, text, text, text, timestamptz, timestamptz) IS 'Records one delivery metric.';


-- Records that `p_rule` fired for event `p_event` of `p_person` and writes its deliveries, in
-- the caller's transaction (the evaluation's). Frequency: 'every_time' (once per event), 'once'
-- (once per person, by a unique key), 'at_most_every' (not again within p_interval). Push fans
-- out to every device of the person; none gives one 'skipped' delivery.
-- Returns 'fired' or 'frequency' (held back by the frequency).
CREATE FUNCTION trackd_fire(p_workspace bigint, p_rule bigint, p_person bigint, p_event bigint,
                            p_frequency text, p_interval interval, p_delay interval,
                            p_action jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_firing bigint;
    v_due timestamptz := now() + p_delay;
    v_devices integer;
BEGIN
    IF p_frequency = 'at_most_every' THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_rule::text || ':' || p_person::text, 11));
        IF EXISTS (SELECT 1 FROM firings WHERE rule_id = p_rule AND person_id = p_person
                   AND fired_at > now() - p_interval) THEN
            RETURN 'frequency';
        END IF;
    END IF;
    INSERT INTO firings (workspace_id, rule_id, person_id, event_id, once_key)
    VALUES (p_workspace, p_rule, p_person, p_event,
            CASE WHEN p_frequency = 'once' THEN p_person END)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_firing;
    IF v_firing IS NULL THEN
        RETURN 'frequency';
    END IF;
    IF p_action->>'type' = 'push' THEN
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, device_id,
                                action, next_attempt_at)
        SELECT p_workspace, p_rule, v_firing, p_person, p_event, d.id,
               p_action || jsonb_build_object('token', d.token), v_due
        FROM devices d WHERE d.person_id = p_person;
        GET DIAGNOSTICS v_devices = ROW_COUNT;
        IF v_devices = 0 THEN
            INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                    status, last_error)
            VALUES (p_workspace, p_rule, v_firing, p_person, p_event, p_action, 'skipped',
                    'the person has no devices');
        END IF;
    ELSE
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                next_attempt_at)
        VALUES (p_workspace, p_rule, v_firing, p_person, p_event, p_action, v_due);
    END IF;
    RETURN 'fired';
END
$$;
COMMENT ON FUNCTION trackd_fire(bigint, bigint, bigint, bigint, text, interval, interval, jsonb) IS 'Records a firing and its deliveries; see the comment above it.';
