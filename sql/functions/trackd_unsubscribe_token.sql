-- The token of an email's unsubscribe link (/unsubscribe/{token}): the delivery's public id,
-- a dot, and 128 bits of its HMAC (base64url). Only the database can make one, so a link
-- unsubscribes only the person whose email carried it.
CREATE OR REPLACE FUNCTION trackd_unsubscribe_token(p_public_id text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p_public_id || '.' ||
           rtrim(translate(encode(substr(trackd_hmac('unsubscribe', 'unsubscribe:' || p_public_id),
                                         1, 16), 'base64'), '+/', '-_'), '=')
$$;
COMMENT ON FUNCTION trackd_unsubscribe_token(text) IS 'The signed token of a delivery''s unsubscribe link.';
