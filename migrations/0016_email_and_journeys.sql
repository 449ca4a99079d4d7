-- 0016: email and multi-step journeys. An email's unsubscribe link is signed with a key kept
-- here (HMAC-SHA256, computed in SQL so that the key never leaves the database); a journey
-- is one row per person making their way through a rule's steps; a delivery may belong to
-- one of its steps.
CREATE TABLE signing_keys (
    purpose    text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (octet_length(secret) = 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE signing_keys IS 'Keys trackd signs links with, made when the table is created. Replacing the secret makes every link signed so far invalid.';
COMMENT ON COLUMN signing_keys.purpose IS 'What the key signs: unsubscribe (the unsubscribe links of emails).';
COMMENT ON COLUMN signing_keys.secret IS 'The HMAC-SHA256 key: 64 random bytes (from gen_random_uuid, which uses the server''s strong random source).';
COMMENT ON COLUMN signing_keys.created_at IS 'When it was made.';
INSERT INTO signing_keys (purpose, secret)
VALUES ('unsubscribe', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text ||
                                      gen_random_uuid()::text || gen_random_uuid()::text,
                                      '-', ''), 'hex'));

CREATE TABLE journey_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  bigint NOT NULL,
    rule_id       bigint NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    firing_id     bigint NOT NULL UNIQUE REFERENCES firings (id) ON DELETE CASCADE,
    person_id     bigint REFERENCES people (id) ON DELETE SET NULL,
    event_id      bigint NOT NULL,
    trigger_event jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'completed', 'exited', 'cancelled')),
    step          integer NOT NULL DEFAULT -1,
    step_path     text NOT NULL DEFAULT 'start',
    due_at        timestamptz,
    waiting_for   text,
    done_events   text[] NOT NULL DEFAULT '{}',
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    converted_at  timestamptz,
    end_reason    text
);
-- The runners' queue: active runs by when they move on.
CREATE INDEX journey_runs_due_idx ON journey_runs (due_at) WHERE status = 'active';
-- An event a journey waits for or branches on finds the person's runs; deleting a person
-- finds theirs (ON DELETE SET NULL), whatever their status.
CREATE INDEX journey_runs_person_idx ON journey_runs (person_id, rule_id);
CREATE INDEX journey_runs_rule_idx ON journey_runs (rule_id, status);
COMMENT ON TABLE journey_runs IS 'One row per person going through a journey (a rule with steps): where they are and when they move on. Runners claim due rows with FOR UPDATE SKIP LOCKED and move each on in one transaction with the deliveries its steps write.';
COMMENT ON COLUMN journey_runs.id IS 'Internal id.';
COMMENT ON COLUMN journey_runs.workspace_id IS 'The workspace.';
COMMENT ON COLUMN journey_runs.rule_id IS 'The rule whose steps it follows.';
COMMENT ON COLUMN journey_runs.firing_id IS 'The firing that started it (frequency applies to starts).';
COMMENT ON COLUMN journey_runs.person_id IS 'The person going through it.';
COMMENT ON COLUMN journey_runs.event_id IS 'The event that started it.';
COMMENT ON COLUMN journey_runs.trigger_event IS 'That event as steps see it, {"name", "properties"}: event.* in branches and templates.';
COMMENT ON COLUMN journey_runs.status IS 'active (on its way), completed (went past the last step), exited (an exit_on event, or its rule changed under it: end_reason says), cancelled (the person was deleted).';
COMMENT ON COLUMN journey_runs.step IS 'The number of the step it is at, counting every step of the rule depth first (steps, then each branch''s then and else lists).';
COMMENT ON COLUMN journey_runs.step_path IS 'That step as written in the rule: steps[1], steps[2].then[0].';
COMMENT ON COLUMN journey_runs.due_at IS 'When it moves on (the end of a wait); NULL once it has ended.';
COMMENT ON COLUMN journey_runs.waiting_for IS 'The event a wait_until step waits for: doing it moves the run on at once.';
COMMENT ON COLUMN journey_runs.done_events IS 'The events the rule''s steps ask about that the person did after the event that started the run.';
COMMENT ON COLUMN journey_runs.started_at IS 'When the rule fired.';
COMMENT ON COLUMN journey_runs.updated_at IS 'When it last moved.';
COMMENT ON COLUMN journey_runs.ended_at IS 'When it ended (completed, exited or cancelled).';
COMMENT ON COLUMN journey_runs.converted_at IS 'When the rule''s goal event happened within its window after the start.';
COMMENT ON COLUMN journey_runs.end_reason IS 'Why it ended early: the exit event, a deleted person, a changed rule.';

-- No foreign key: a run and its deliveries go together (both with their firing), and a key
-- checked on every delete of a run would want an index on every delivery.
ALTER TABLE deliveries ADD COLUMN journey_run_id bigint;
ALTER TABLE deliveries ADD COLUMN step integer;
COMMENT ON COLUMN deliveries.journey_run_id IS 'The journey run whose step wrote it; NULL for a rule with a single action.';
COMMENT ON COLUMN deliveries.step IS 'The journey step (journey_runs.step) that wrote it; NULL for a rule with a single action.';
-- A firing writes one delivery per device and step: the step makes a journey's later sends
-- distinct, and a step done twice (it never is) would still write its deliveries once.
DROP INDEX deliveries_firing_device_key;
CREATE UNIQUE INDEX deliveries_firing_step_device_key
    ON deliveries (firing_id, coalesce(step, -1), coalesce(device_id, 0));
COMMENT ON COLUMN deliveries.action IS 'What to send, templates already rendered: {"type":"push",title,body,data,token} | {"type":"webhook",url,method,headers,body} | {"type":"set_attributes",attributes} | {"type":"email",to,subject,html,text}.';
-- Its return type changes (the unsubscribe token of emails).
DROP FUNCTION IF EXISTS trackd_claim_deliveries(integer, integer, text);
