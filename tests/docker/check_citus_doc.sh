#!/usr/bin/env bash
# check_citus_doc.sh — docs/scaling.md tells the truth about the schema: on a database freshly
# migrated by trackd,
#   - the output of tests/docker/check_schema_for_citus.sql is exactly the block between
#     <!-- citus-check:begin --> and <!-- citus-check:end --> of docs/scaling.md;
#   - the placement table between <!-- citus-plan:begin --> and <!-- citus-plan:end --> names
#     the same tables with the same placements as the plan inside that SQL file.
# On a difference it prints both sides and what to do.
#
# Environment: TRACKD_TEST_DATABASE_URL (a cluster where databases may be created; set by
# scripts/test.sh) and TRACKD_BIN (the built trackd, whose migrations are used).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
doc=$root/docs/scaling.md
sql=$here/check_schema_for_citus.sql

: "${TRACKD_TEST_DATABASE_URL:?set TRACKD_TEST_DATABASE_URL (scripts/test.sh does)}"
: "${TRACKD_BIN:?set TRACKD_BIN to the built trackd}"

database=trackd_citus_doc_$$
scratch=$(mktemp -d -t trackd-citus-doc.XXXXXX)
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    psql "$TRACKD_TEST_DATABASE_URL" -X -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
    rm -rf -- "$scratch"
}
trap cleanup EXIT

url=$TRACKD_TEST_DATABASE_URL
if [[ $url == postgres://* || $url == postgresql://* ]]; then
    [[ $url == *\?* ]] && url="$url&dbname=$database" || url="$url?dbname=$database"
else
    url="$url dbname=$database"
fi

psql "$TRACKD_TEST_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database"
DATABASE_URL=$url "$TRACKD_BIN" migrate >/dev/null

failed=0

# 1. The problems Citus would have, as the document lists them.
psql "$url" -X -A -t -F ' | ' -v ON_ERROR_STOP=1 -f "$sql" | sed -E 's/[[:space:]]+$//' \
    >"$scratch/actual"
awk '/<!-- citus-check:begin -->/ { inside = 1; next }
     /<!-- citus-check:end -->/ { inside = 0 }
     inside && !/^```/' "$doc" | sed -E 's/[[:space:]]+$//' | grep -v '^$' >"$scratch/documented" || true
if ! grep -q . "$scratch/documented"; then
    echo "check_citus_doc: FAIL: docs/scaling.md has no citus-check block" >&2
    failed=1
elif ! diff -u --label 'docs/scaling.md (citus-check)' --label 'check_schema_for_citus.sql on the schema' \
    "$scratch/documented" "$scratch/actual" >"$scratch/diff"; then
    echo "check_citus_doc: FAIL: the schema's obstacles to Citus are not what docs/scaling.md lists:" >&2
    cat "$scratch/diff" >&2
    cat >&2 <<'EOF'
  Lines with '+' are in the schema and not in the document; '-' the other way round. Update the
  citus-check block of docs/scaling.md (and its prose: the list of what must change, the
  placement table) to match, or change the migration. A new table also needs a placement in the
  plan of tests/docker/check_schema_for_citus.sql and in the citus-plan table of the document.
EOF
    failed=1
fi

# 2. The placement table of the document is the plan of the SQL file.
sed -nE "s/^[[:space:]]*\('([a-z_0-9]+)', '(distributed|reference|coordinator)'\),?\$/\2 \1/p" "$sql" |
    sort >"$scratch/plan_sql"
awk '/<!-- citus-plan:begin -->/ { inside = 1; next }
     /<!-- citus-plan:end -->/ { inside = 0 }
     inside && /^\|/ {
         n = split($0, cell, "|")
         placement = cell[2]
         if (placement ~ /distributed/) placement = "distributed"
         else if (placement ~ /reference/) placement = "reference"
         else if (placement ~ /coordinator/) placement = "coordinator"
         else next
         rest = cell[3]
         while (match(rest, /`[a-z_0-9]+`/)) {
             print placement, substr(rest, RSTART + 1, RLENGTH - 2)
             rest = substr(rest, RSTART + RLENGTH)
         }
     }' "$doc" | sort >"$scratch/plan_doc"
if ! grep -q . "$scratch/plan_sql"; then
    echo "check_citus_doc: FAIL: cannot read the plan (VALUES) of $sql" >&2
    failed=1
elif ! diff -u --label 'docs/scaling.md (citus-plan)' --label 'check_schema_for_citus.sql (plan)' \
    "$scratch/plan_doc" "$scratch/plan_sql" >"$scratch/plan_diff"; then
    echo "check_citus_doc: FAIL: the placement table of docs/scaling.md and the plan of the SQL differ:" >&2
    cat "$scratch/plan_diff" >&2
    failed=1
fi

if ((failed)); then
    echo "check_citus_doc: 0 passed, 1 failed"
    exit 1
fi
echo "check_citus_doc: $(wc -l <"$scratch/actual") documented obstacles and $(wc -l <"$scratch/plan_sql") placed tables match the schema"
echo "check_citus_doc: 1 passed, 0 failed"
