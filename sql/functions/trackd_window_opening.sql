-- When a delivery due at p_at may go out under a rule's send window (its "send_window":
-- {"days": ["mon", ...], "from": "HH:MM", "to": "HH:MM"}, days absent meaning every day, a
-- window whose "to" is before its "from" crossing midnight), read in the person's time zone:
-- NULL when p_at is inside the window (or there is no window), else the next opening.
-- p_timezone is the person's `timezone` attribute, an IANA name ("Europe/Paris"); anything
-- else, or a name PostgreSQL does not know, means p_default (TRACKD_DEFAULT_TIMEZONE). The
-- arithmetic is PostgreSQL's, from its time zone database: daylight saving included.
CREATE OR REPLACE FUNCTION trackd_window_opening(p_window jsonb, p_timezone text,
                                                 p_default text, p_at timestamptz)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone text := p_default;
    v_local timestamp;
    v_from time;
    v_to time;
    v_day date;
    v_open timestamp;
    v_close timestamp;
BEGIN
    IF p_window IS NULL OR jsonb_typeof(p_window) <> 'object' THEN
        RETURN NULL;
    END IF;
    IF p_timezone ~ '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$' THEN
        BEGIN
            v_local := p_at AT TIME ZONE p_timezone;
            v_zone := p_timezone;
        EXCEPTION WHEN invalid_parameter_value THEN
            v_zone := p_default;
        END;
    END IF;
    BEGIN
        v_local := p_at AT TIME ZONE v_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        v_zone := 'UTC'; -- TRACKD_DEFAULT_TIMEZONE names a zone this PostgreSQL does not know
        v_local := p_at AT TIME ZONE v_zone;
    END;
    v_from := (p_window->>'from')::time;
    v_to := (p_window->>'to')::time;
    -- Yesterday's window may reach into today (from 22:00 to 06:00); then today's and the
    -- next week's: the first opening after now is the answer.
    FOR v_offset IN -1..7 LOOP
        v_day := v_local::date + v_offset;
        CONTINUE WHEN p_window ? 'days' AND NOT p_window->'days' ?
            (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])[extract(isodow FROM v_day)];
        v_open := v_day + v_from;
        v_close := CASE WHEN v_to > v_from THEN v_day + v_to ELSE v_day + 1 + v_to END;
        IF v_local >= v_open AND v_local < v_close THEN
            RETURN NULL;
        END IF;
        IF v_open > v_local THEN
            RETURN v_open AT TIME ZONE v_zone;
        END IF;
    END LOOP;
    RETURN NULL; -- no day listed: cannot happen for a rule that loaded
END
$$;
COMMENT ON FUNCTION trackd_window_opening(jsonb, text, text, timestamptz) IS 'NULL when a delivery may go out now under a send window, else when the window next opens (in the person''s time zone).';
