-- Creates the monthly partitions from the month of p_from through p_months_ahead months after
-- the current one; returns how many it created. Events of a month that landed in
-- events_default (its partition was missing) move into the new partition.
-- Partition changes lock the events table briefly: they give up after 2 seconds rather than
-- hold up writes, and the next run tries again.
CREATE OR REPLACE FUNCTION trackd_create_event_partitions(p_from timestamptz, p_months_ahead integer)
RETURNS integer LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    v_month timestamptz := date_trunc('month', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_last timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                          + make_interval(months => p_months_ahead);
    v_name text;
    v_created integer := 0;
    v_strays boolean;
BEGIN
    WHILE v_month <= v_last LOOP
        v_name := 'events_' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(v_name) IS NULL THEN
            SELECT EXISTS (SELECT 1 FROM events_default
                           WHERE received_at >= v_month AND received_at < v_month + interval '1 month')
            INTO v_strays;
            IF v_strays THEN
                CREATE TEMP TABLE trackd_moving_events (LIKE events) ON COMMIT DROP;
                WITH moved AS (
                    DELETE FROM events_default
                    WHERE received_at >= v_month AND received_at < v_month + interval '1 month'
                    RETURNING *)
                INSERT INTO trackd_moving_events SELECT * FROM moved;
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                           v_name, v_month, v_month + interval '1 month');
            EXECUTE format('COMMENT ON TABLE %I IS %L', v_name,
                           'Events received in ' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY-MM') || ' (UTC).');
            IF v_strays THEN
                INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM trackd_moving_events;
                DROP TABLE trackd_moving_events;
            END IF;
            v_created := v_created + 1;
        END IF;
        v_month := v_month + interval '1 month';
    END LOOP;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION trackd_create_event_partitions(timestamptz, integer) IS 'Creates the monthly events partitions from a month through some months ahead of now.';
