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
