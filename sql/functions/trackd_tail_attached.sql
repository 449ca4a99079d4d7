-- Whether a `trackd tail` is connected to this database (its sessions are named so), asked by
-- each writer about once a second; with p_forget, also forgets tail_calls rows older than a
-- minute, so that the table stays small whether or not a tail is connected.
CREATE OR REPLACE FUNCTION trackd_tail_attached(p_forget boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_forget THEN
        DELETE FROM tail_calls WHERE recorded_at < now() - interval '1 minute';
    END IF;
    -- A tail that stopped reading (its output blocked) holds back PostgreSQL's notification
    -- queue; were it to fill, every COMMIT that notifies would fail. Recording stops well
    -- before that.
    RETURN EXISTS (SELECT 1 FROM pg_stat_activity
                   WHERE application_name = 'trackd tail' AND datname = current_database())
           AND pg_notification_queue_usage() < 0.25;
END
$$;
COMMENT ON FUNCTION trackd_tail_attached(boolean) IS 'True while a trackd tail is connected; with true, first forgets tail_calls rows older than a minute.';
