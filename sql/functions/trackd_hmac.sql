-- HMAC-SHA256 (RFC 2104) of p_message under the signing key for p_purpose (signing_keys), in
-- SQL so that the key stays in the database: whoever checks a link asks PostgreSQL. The key is
-- one SHA-256 block long (64 bytes), so it is padded as it is, never hashed first.
CREATE OR REPLACE FUNCTION trackd_hmac(p_purpose text, p_message text)
RETURNS bytea LANGUAGE sql STABLE AS $$
    WITH pads AS (
        SELECT string_agg(set_byte('\x00'::bytea, 0, get_byte(k.secret, i) # 54), ''::bytea
                          ORDER BY i) AS inner_pad,
               string_agg(set_byte('\x00'::bytea, 0, get_byte(k.secret, i) # 92), ''::bytea
                          ORDER BY i) AS outer_pad
        FROM signing_keys k, generate_series(0, 63) AS i
        WHERE k.purpose = p_purpose
    )
    SELECT sha256(outer_pad || sha256(inner_pad || convert_to(p_message, 'UTF8'))) FROM pads
$$;
COMMENT ON FUNCTION trackd_hmac(text, text) IS 'HMAC-SHA256 of a message under one of signing_keys.';
