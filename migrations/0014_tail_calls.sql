-- 0014: what `trackd tail` shows. While a tail is connected, each write transaction also records
-- its calls here and notifies the channel trackd_tail; rows are kept a minute. Nothing is
-- written here while no tail is connected.
CREATE TABLE tail_calls (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    workspace_id bigint NOT NULL,
    type         text NOT NULL,
    endpoint     text NOT NULL,
    person_type  text,
    person       text,
    anonymous_id text,
    name         text,
    detail       jsonb,
    reason       text,
    message      text,
    received_at  timestamptz NOT NULL
);
-- Rows are forgotten by age: the index finds the old ones without reading the newest minute.
CREATE INDEX tail_calls_recorded_idx ON tail_calls (recorded_at);
COMMENT ON TABLE tail_calls IS 'Calls as committed, for `trackd tail`: written only while a tail is connected, kept one minute. Internal.';
COMMENT ON COLUMN tail_calls.id IS 'Internal id, in the order written.';
COMMENT ON COLUMN tail_calls.recorded_at IS 'When the write transaction holding the call began.';
COMMENT ON COLUMN tail_calls.workspace_id IS 'The workspace whose key sent the call.';
COMMENT ON COLUMN tail_calls.type IS 'track, page, screen, identify, group, alias, delete_person, suppress, unsuppress, add_device, delete_device, merge, metric, or rejected.';
COMMENT ON COLUMN tail_calls.endpoint IS 'The path it was sent to, e.g. /v1/batch.';
COMMENT ON COLUMN tail_calls.person_type IS 'How the call names its person: id, email or cio_id; NULL if it names none.';
COMMENT ON COLUMN tail_calls.person IS 'The person''s identifier as sent.';
COMMENT ON COLUMN tail_calls.anonymous_id IS 'The anonymous id sent, if any.';
COMMENT ON COLUMN tail_calls.name IS 'Event, page or screen name; group id; alias previous id; metric; the start of a device token.';
COMMENT ON COLUMN tail_calls.detail IS 'Properties, traits or attributes sent (NULL when over 4 KB).';
COMMENT ON COLUMN tail_calls.reason IS 'For a refused call: the reason word, e.g. invalid_field.';
COMMENT ON COLUMN tail_calls.message IS 'For a refused call: what was wrong, naming the field.';
COMMENT ON COLUMN tail_calls.received_at IS 'When trackd received the call.';
