-- Claims up to p_limit due deliveries for p_lease seconds (SKIP LOCKED: many workers share the
-- outbox), after the guards a message passes on its way out:
--  * a message (push, email) to a person whose `unsubscribed` attribute is true is skipped,
--    the reason in last_error, unless its rule is transactional (the action says so);
--    webhooks and attribute updates are not messages and go out regardless;
--  * an email to a suppressed address is skipped (the address of "Name <address>" or of the
--    plain text, without its blanks: the two shapes an action's `to` may render to);
--  * a delivery of a rule with a send window that falls due outside it waits, as scheduled,
--    for the next opening in the person's time zone (p_default_timezone when they have none).
-- Returns the claimed deliveries; an email comes with the signed token of its unsubscribe link.
CREATE OR REPLACE FUNCTION trackd_claim_deliveries(p_limit integer, p_lease integer,
                                                   p_default_timezone text)
RETURNS TABLE (id bigint, workspace_id bigint, person_id bigint, device_id bigint,
               attempts integer, action text, public_id text, platform text,
               unsubscribe_token text)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT d.id, d.action, d.person_id, d.rule_id, d.workspace_id, d.next_attempt_at
        FROM deliveries d
        WHERE d.status IN ('scheduled', 'retrying') AND d.next_attempt_at <= now()
          AND (d.lease_until IS NULL OR d.lease_until < now())
        ORDER BY d.next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), verdict AS (
        SELECT due.id,
               CASE
                   WHEN due.action->>'type' IN ('push', 'email')
                        AND due.action->'transactional' IS DISTINCT FROM 'true'::jsonb
                        AND coalesce(trackd_is_unsubscribed(p.attributes), false)
                       THEN 'the person is unsubscribed'
                   WHEN due.action->>'type' = 'email'
                        AND EXISTS (SELECT 1 FROM trackd_suppression(
                                        due.workspace_id, 'email',
                                        btrim(coalesce(substring(due.action->>'to'
                                                                 FROM '<([^<>]*)>\s*$'),
                                                       due.action->>'to'))))
                       THEN 'the address is suppressed'
               END AS skip_reason,
               trackd_window_opening(r.definition->'send_window', p.attributes->>'timezone',
                                     p_default_timezone, now()) AS opens_at
        FROM due
        LEFT JOIN people p ON p.id = due.person_id
        LEFT JOIN rules r ON r.id = due.rule_id
    ), skipped AS (
        UPDATE deliveries d
        SET status = 'skipped', last_error = v.skip_reason, lease_until = NULL
        FROM verdict v WHERE d.id = v.id AND v.skip_reason IS NOT NULL
        RETURNING d.id
    ), postponed AS (
        UPDATE deliveries d SET next_attempt_at = v.opens_at
        FROM verdict v WHERE d.id = v.id AND v.skip_reason IS NULL AND v.opens_at IS NOT NULL
        RETURNING d.id
    )
    UPDATE deliveries d SET lease_until = now() + p_lease * interval '1 second',
                            attempts = d.attempts + 1
    FROM verdict v
    WHERE d.id = v.id AND v.skip_reason IS NULL AND v.opens_at IS NULL
    RETURNING d.id, d.workspace_id, coalesce(d.person_id, 0), coalesce(d.device_id, 0),
              d.attempts, d.action::text, d.public_id,
              coalesce((SELECT dv.platform FROM devices dv WHERE dv.id = d.device_id), ''),
              CASE WHEN d.action->>'type' = 'email' THEN trackd_unsubscribe_token(d.public_id) END
$$;
COMMENT ON FUNCTION trackd_claim_deliveries(integer, integer, text) IS 'Claims due deliveries for a worker, skipping messages to unsubscribed people and emails to suppressed addresses, and holding back those outside their send window.';
