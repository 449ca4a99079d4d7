-- A random cio_id for a new person: 20 hex digits of gen_random_uuid() (74 random bits; the
-- uuid's version digit is among them). Customer.io's cio_ids are opaque too. People who have one
-- keep it: cio_ids never change. The argument is no longer used; it stays so that the functions
-- that call this one need not change.
CREATE OR REPLACE FUNCTION trackd_cio_id(p_person_id bigint) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT left(replace(gen_random_uuid()::text, '-', ''), 20)
$$;
COMMENT ON FUNCTION trackd_cio_id(bigint) IS 'A new random cio_id (20 hex digits); the argument is ignored.';
