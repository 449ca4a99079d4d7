-- Deletes a person and what belongs to them (events and their queued evaluations, devices,
-- anonymous links, relationships), and cancels the deliveries that were waiting for them and
-- the journeys they were on.
-- Queued evaluations are deleted here: events is partitioned, so they have no foreign key.
CREATE OR REPLACE FUNCTION trackd_delete_person(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint := trackd_find_person(p_workspace, p_type, p_value);
BEGIN
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    -- Runs first: the update waits for a journey runner moving one, and the deliveries'
    -- statement that follows then sees what the runner wrote.
    UPDATE journey_runs SET status = 'cancelled', ended_at = now(), due_at = NULL,
                            waiting_for = NULL, updated_at = now(),
                            end_reason = 'the person was deleted'
    WHERE person_id = v_person AND status = 'active';
    UPDATE deliveries SET status = 'cancelled', last_error = 'the person was deleted'
    WHERE person_id = v_person AND status IN ('scheduled', 'retrying');
    DELETE FROM pending_evaluations q USING events e
    WHERE e.person_id = v_person AND q.event_id = e.id;
    DELETE FROM events WHERE person_id = v_person;
    DELETE FROM people WHERE id = v_person; -- devices, anonymous links, relationships cascade
    RETURN 'deleted';
END
$$;
COMMENT ON FUNCTION trackd_delete_person(bigint, text, text) IS 'Deletes a person with their events, devices and anonymous links.';
