-- When a delivery of p_rule for p_person due at p_due may go out: p_due, or the next opening
-- of the rule's send window in the person's time zone (p_default_timezone when they have
-- none) when p_due falls outside it. NULL when the rule has no window.
CREATE OR REPLACE FUNCTION trackd_due_in_window(p_rule bigint, p_person bigint, p_due timestamptz,
                                                p_default_timezone text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce(trackd_window_opening(r.definition->'send_window', p.attributes->>'timezone',
                                          p_default_timezone, p_due), p_due)
    FROM rules r, people p
    WHERE r.id = p_rule AND p.id = p_person AND r.definition ? 'send_window'
$$;
COMMENT ON FUNCTION trackd_due_in_window(bigint, bigint, timestamptz, text) IS 'When a delivery of a rule with a send window may go out.';
