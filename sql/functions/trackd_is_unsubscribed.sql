-- Whether a person's attributes say they unsubscribed: `unsubscribed` true, or written as
-- Customer.io also reads it: "true" in any case, 1 or "1".
CREATE OR REPLACE FUNCTION trackd_is_unsubscribed(p_attributes jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(lower(p_attributes->>'unsubscribed') IN ('true', '1'), false)
$$;
COMMENT ON FUNCTION trackd_is_unsubscribed(jsonb) IS 'True when the attributes hold unsubscribed: true (or "true" in any case, 1, "1").';
