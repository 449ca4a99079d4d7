#!/usr/bin/env bash
# schema_upgrade.sh — however a database got to the current version, its schema is the same:
#   - a database as release 0010 left it (tests/db/fixtures/schema_at_0010.sql: its functions and
#     views still defined by the migrations), plus a function and a view that no file defines any
#     more and a function body changed by hand, is upgraded with `trackd migrate`;
#   - an empty database is migrated from scratch, twice (the second run must change nothing);
#   - pg_dump --schema-only of the two must be identical.
# On a difference it prints it and what to do.
#
# Environment: TRACKD_TEST_DATABASE_URL (a cluster where databases may be created; set by
# scripts/test.sh), TRACKD_BIN (the built trackd), TRACKD_PG_BIN (default
# /usr/lib/postgresql/15/bin: pg_dump of the server's version).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture=$here/fixtures/schema_at_0010.sql
pg_dump=${TRACKD_PG_BIN:-/usr/lib/postgresql/15/bin}/pg_dump

: "${TRACKD_TEST_DATABASE_URL:?set TRACKD_TEST_DATABASE_URL (scripts/test.sh does)}"
: "${TRACKD_BIN:?set TRACKD_BIN to the built trackd}"

upgraded=trackd_schema_upgraded_$$
fresh=trackd_schema_fresh_$$
scratch=$(mktemp -d -t trackd-schema-upgrade.XXXXXX)
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    for database in "$upgraded" "$fresh"; do
        psql "$TRACKD_TEST_DATABASE_URL" -X -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
    done
    rm -rf -- "$scratch"
}
trap cleanup EXIT

# url_of DATABASE: the test cluster's URL (or conninfo) naming another database.
url_of() {
    local url=$TRACKD_TEST_DATABASE_URL
    if [[ $url == postgres://* || $url == postgresql://* ]]; then
        [[ $url == *\?* ]] && echo "$url&dbname=$1" || echo "$url?dbname=$1"
    else
        echo "$url dbname=$1"
    fi
}

# schema_of DATABASE: its schema as pg_dump prints it, without the lines that differ between two
# dumps of one schema (pg_dump 15.14's random \restrict key).
schema_of() {
    "$pg_dump" --schema-only --no-owner --no-privileges -d "$(url_of "$1")" |
        grep -v '^\\restrict \|^\\unrestrict '
}

for database in "$upgraded" "$fresh"; do
    psql "$TRACKD_TEST_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database"
done

psql "$(url_of "$upgraded")" -X -q -v ON_ERROR_STOP=1 -f "$fixture"
psql "$(url_of "$upgraded")" -X -q -v ON_ERROR_STOP=1 <<'SQL'
-- What an older version may have defined and no file of sql/ defines now.
CREATE FUNCTION trackd_no_longer_defined() RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION trackd_claim_message(p_old_signature text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE VIEW admin_no_longer_defined AS SELECT 1 AS one;
-- A function changed by hand: migrate puts back what its file says.
CREATE OR REPLACE FUNCTION trackd_is_junk_anonymous_id(p_anonymous_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS 'SELECT false';
SQL
DATABASE_URL=$(url_of "$upgraded") "$TRACKD_BIN" migrate >/dev/null
DATABASE_URL=$(url_of "$fresh") "$TRACKD_BIN" migrate >/dev/null
schema_of "$fresh" >"$scratch/fresh_once"
DATABASE_URL=$(url_of "$fresh") "$TRACKD_BIN" migrate >/dev/null
schema_of "$fresh" >"$scratch/fresh"
schema_of "$upgraded" >"$scratch/upgraded"

failed=0
if ! grep -q 'CREATE FUNCTION public.trackd_ingest_events' "$scratch/fresh"; then
    echo "schema_upgrade: FAIL: the fresh schema has no trackd_ingest_events; is pg_dump working?" >&2
    failed=1
fi
if ! diff -u --label 'fresh, migrated once' --label 'fresh, migrated twice' \
    "$scratch/fresh_once" "$scratch/fresh" >&2; then
    echo "schema_upgrade: FAIL: a second trackd migrate changed the schema (above)" >&2
    failed=1
fi
if ! diff -u --label 'fresh database' --label 'upgraded from release 0010' \
    "$scratch/fresh" "$scratch/upgraded" >&2; then
    cat >&2 <<'EOF'
schema_upgrade: FAIL: the upgraded database differs from a fresh one (above; '+' lines are only in
  the upgraded one). A migration must bring an existing database to what the migrations give an
  empty one: schema changes go in a new migration, never in an old one, and functions and views
  only in their files under sql/.
EOF
    failed=1
fi
((failed == 0)) && echo "schema_upgrade: ok (fresh and upgraded schemas identical, migrate idempotent)"
exit "$failed"
