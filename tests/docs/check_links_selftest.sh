#!/usr/bin/env bash
# check_links_selftest.sh — tests/docs/check_links.sh must fail on every kind of link or path that
# leaves the repository, or it proves nothing. Builds a scratch copy of the checkout (the
# documents with their text, every other file as an empty placeholder, so that links into the
# tree still resolve), checks that the copy passes, then plants one problem at a time and expects
# check_links.sh to fail naming the file and line. Also plants what is allowed (web links,
# anchors, links inside code) and expects a pass.
#
#   tests/docs/check_links_selftest.sh
#
# Prints one line per case and exits 1 if any case went wrong.
# shellcheck disable=SC2016 # the backticks in the planted text are markdown code spans
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
check=$here/check_links.sh

scratch=$(mktemp -d -t trackd-docs-selftest.XXXXXX)
trap 'rm -rf -- "$scratch"' EXIT
# The copy sits one level down, so that a path climbing out of it can name a file that exists.
pristine=$scratch/pristine/trackd
mkdir -p "$pristine"
echo "a file outside the repository" >"$scratch/pristine/outside.md"

# The tree without what is not the repository's (git data, npm packages, build trees, the
# private database of make run), as empty files: check_links.sh only asks whether they exist.
prune=(\( -name .git -o -name node_modules -o -name build -o -name 'build-*' -o -name .trackd \) -prune)
(cd "$root" && find . "${prune[@]}" -o -type d -print0) | (cd "$pristine" && xargs -0 mkdir -p)
(cd "$root" && find . "${prune[@]}" -o -type f -print0) | (cd "$pristine" && xargs -0 touch)
(
    cd "$root"
    shopt -s nullglob
    cp --parents -- README.md CONTRIBUTING.md BENCHMARKS.md rules/README.md docs/*.md "$pristine"/
)

passed=0
failed=0
ok() {
    echo "ok   $*"
    passed=$((passed + 1))
}
not_ok() {
    echo "FAIL $*" >&2
    failed=$((failed + 1))
}
indent() {
    sed 's/^/    /'
}

# The cases plant their problem in a working copy; between cases only the documents change, so
# only they are put back (from a tar of the pristine ones) rather than the whole tree copied.
work=$scratch/work/trackd
mkdir -p "$scratch/work"
cp -a "$pristine" "$work"
cp -a "$scratch/pristine/outside.md" "$scratch/work/"
documents=$scratch/documents.tar
(
    cd "$pristine"
    shopt -s nullglob
    tar -cf "$documents" README.md CONTRIBUTING.md BENCHMARKS.md rules/README.md docs/*.md
)
# fresh: the working copy's documents as in the pristine copy, and no other docs/*.md.
fresh() {
    (
        cd "$work"
        shopt -s nullglob
        rm -f -- README.md CONTRIBUTING.md BENCHMARKS.md rules/README.md docs/*.md
        tar -xf "$documents"
    )
}

# expect_fail NAME FILE TEXT [WANT]: appends TEXT (one or more lines) to FILE of a fresh copy and
# expects check_links.sh to fail with a report on FILE at the line of TEXT's last line (or, when
# given, a report containing WANT).
expect_fail() {
    local name=$1 file=$2 text=$3 want=${4:-} out status=0 lines
    fresh
    mkdir -p "$(dirname "$work/$file")"
    touch "$work/$file"
    printf '%s\n' "$text" >>"$work/$file"
    lines=$(wc -l <"$work/$file")
    [[ -n $want ]] || want="$file:$lines:"
    out=$("$check" "$work" 2>&1) || status=$?
    if ((status != 1)); then
        not_ok "$name: check_links.sh exited $status, expected 1"
        indent <<<"$out" >&2
    elif ! grep -qF -- "$want" <<<"$out"; then
        not_ok "$name: no report containing '$want'"
        indent <<<"$out" >&2
    else
        ok "$name: $(grep -F -- "$want" <<<"$out" | head -n1)"
    fi
}

# expect_pass NAME FILE TEXT: appends TEXT to FILE and expects check_links.sh to pass.
expect_pass() {
    local name=$1 file=$2 text=$3 out status=0
    fresh
    printf '%s\n' "$text" >>"$work/$file"
    out=$("$check" "$work" 2>&1) || status=$?
    if ((status != 0)); then
        not_ok "$name: check_links.sh exited $status, expected 0"
        indent <<<"$out" >&2
    else
        ok "$name"
    fi
}

# The copy as it is passes (so that each failure below is the planted problem's).
status=0
out=$("$check" "$pristine" 2>&1) || status=$?
if ((status != 0)); then
    not_ok "the clean copy: check_links.sh exited $status, expected 0"
    indent <<<"$out" >&2
    echo "check_links_selftest: the documentation itself fails the check; fix it first" >&2
    exit 1
fi
ok "the clean copy passes"

# (a) Markdown links.
expect_fail "link to a missing file" docs/scaling.md \
    'The notes are [here](notes/missing.md).'
expect_fail "link to a missing file, with an anchor" README.md \
    'See [setup](docs/setup.md#install).'
expect_fail "link out of the repository to a file that exists" README.md \
    'The spec: [outside](../outside.md).'
expect_fail "link out of the repository and back in (the copy's directory is named trackd)" README.md \
    'See [the README](../trackd/README.md).'
expect_fail "link out of the repository from a subdirectory" rules/README.md \
    'See [the spec](../../outside.md).'
expect_fail "link to an absolute path" CONTRIBUTING.md \
    'Read [hosts](/etc/hosts) first.'
expect_fail "link with a file: URL" BENCHMARKS.md \
    'Raw numbers: [results](file:///tmp/results.txt).'
expect_fail "image from outside the repository" docs/schema.md \
    '![diagram](../../outside.png)'
expect_fail "reference-style link out of the repository" docs/scaling.md \
    '[spec]: ../../outside.md'
expect_fail "link in a document added to docs/" docs/extra.md \
    'Start [here](missing.md).'

# (b) Paths outside the repository anywhere in the text, code included.
expect_fail "../shared in prose" docs/schema.md \
    'The rule format is in ../shared/SPEC.md.'
expect_fail "../shared in a code span" README.md \
    'Conventions: `../shared/STYLE.md`.'
expect_fail "/work/ in a code span" CONTRIBUTING.md \
    'Clone into `/work/main` first.'
expect_fail "a relative path climbing out" BENCHMARKS.md \
    'Copy `../../tools/bench.conf` next to it.'
expect_fail "a path climbing out in a code block" rules/README.md \
    $'```sh\ncat rules/../../../elsewhere/x.json\n```' \
    'path climbs out of the repository: rules/../../../elsewhere/x.json'
expect_fail "a markdown file that is not in the repository" rules/README.md \
    'Conventions are in STYLE.md.'
expect_fail "a markdown path that is not in the repository" README.md \
    'See `docs/operations.md`.'

# (c) Issue numbers.
expect_fail "issue N" docs/scaling.md 'This was asked for in issue 8.'
expect_fail "Issue #N" CONTRIBUTING.md 'Fixed by Issue #12, item 3.'
expect_fail "issues N" BENCHMARKS.md 'See issues 7 and 9.'

# Documents that must be there.
fresh
rm -f -- "$work/CONTRIBUTING.md"
status=0
out=$("$check" "$work" 2>&1) || status=$?
if ((status == 1)) && grep -qF 'CONTRIBUTING.md: missing' <<<"$out"; then
    ok "a missing CONTRIBUTING.md is reported"
else
    not_ok "a missing CONTRIBUTING.md: exit $status"
    indent <<<"$out" >&2
fi

# What is allowed.
expect_pass "web, mail and anchor links, links inside the repository" docs/scaling.md \
    '[web](https://example.com/a/../b) [mail](mailto:dev@example.com) [up](#how-trackd-scales)
[rules](../rules/README.md#the-examples) [migrations](../migrations/) [self](schema.md)
<https://example.com/x> `.../unsuppress` `rules/../docs/schema.md` tissues 3'
expect_pass "links and paths inside code" README.md \
    $'`[x](nowhere.txt)`\n```text\n[y](nowhere.txt)\n```'

echo "check_links_selftest: $passed passed, $failed failed"
((failed == 0))
