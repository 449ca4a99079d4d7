#!/usr/bin/env bash
# check_selftest.sh — tests/docker/check.sh must fail on broken Docker files, or it proves
# nothing. Copies the files it reads into a scratch checkout, checks that the copy passes, then
# breaks one thing at a time and expects check.sh to fail naming it.
#
#   tests/docker/check_selftest.sh
#
# Environment: TRACKD_BIN as for check.sh (the missing-library case needs it; skipped without).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
check=$here/check.sh

scratch=$(mktemp -d -t trackd-docker-selftest.XXXXXX)
trap 'rm -rf -- "$scratch"' EXIT
pristine=$scratch/pristine
mkdir -p "$pristine"
# What check.sh reads, and what the build stage copies (for its CMake configure).
(cd "$root" && tar --exclude=node_modules --exclude='*.log' -cf - \
    docker docker-compose.yml scripts rules CMakeLists.txt cmake migrations sql server tests bench) |
    (cd "$pristine" && tar -xf -)

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

# run_check DIR: check.sh's output; DOCKER_CHECK_* and TRACKD_BIN as set by the caller.
run_check() {
    "$check" "$1" 2>&1
}
indent() {
    sed 's/^/    /'
}
# Comparing linked libraries takes seconds: only the case about them does it.
trackd_bin=${TRACKD_BIN:-}
unset TRACKD_BIN

# The unbroken copy passes (with the configure step and the libraries, once).
if output=$(TRACKD_BIN=$trackd_bin run_check "$pristine"); then
    ok "an unbroken copy passes"
else
    not_ok "an unbroken copy fails, so nothing below means anything:"
    indent <<<"$output" >&2
    echo "check_selftest: $passed passed, $failed failed"
    exit 1
fi

# breaks NAME EXPECTED SCOPE EDIT...: copies the pristine tree, applies EDIT (a command run in the
# copy), and expects check.sh to fail with EXPECTED (a fixed string) in its output. SCOPE says
# which slow parts of check.sh run besides the quick static ones: configure (CMake), compose
# (docker-compose config), libraries (TRACKD_BIN's), or none (dockerfile, scripts).
breaks() {
    local name=$1 expected=$2 scope=$3 copy output status=0 binary=
    [[ $scope == libraries ]] && binary=$trackd_bin
    shift 3
    copy=$scratch/case
    rm -rf "$copy"
    cp -a "$pristine" "$copy"
    (cd "$copy" && "$@") || {
        not_ok "$name: could not break the copy"
        return
    }
    local configure=0 compose=0
    [[ $scope == configure ]] && configure=1
    [[ $scope == compose ]] && compose=1
    output=$(DOCKER_CHECK_CONFIGURE=$configure DOCKER_CHECK_COMPOSE=$compose TRACKD_BIN=$binary \
        run_check "$copy") ||
        status=$?
    if ((status == 0)); then
        not_ok "$name: check.sh passed"
    elif ! grep -qF -- "$expected" <<<"$output"; then
        not_ok "$name: check.sh failed, but without '$expected':"
        indent <<<"$output" >&2
    else
        ok "$name"
    fi
}
# edit FILE SED-SCRIPT: sed -i that fails when it changes nothing.
edit() {
    local before
    before=$(cat "$1")
    sed -i -E "$2" "$1"
    [[ $(cat "$1") != "$before" ]]
}

D=docker/Dockerfile
breaks "no deps.sh" "does not run scripts/deps.sh" dockerfile \
    edit $D '/^RUN scripts\/deps.sh$/d'
breaks "a package list of its own" "only scripts/deps.sh and cmake may run there" dockerfile \
    edit $D 's/^RUN scripts\/deps.sh$/RUN apt-get update \&\& apt-get install -y build-essential cmake/'
breaks "deps.sh with other arguments" "but scripts/run.sh runs" dockerfile \
    edit $D 's/^RUN scripts\/deps.sh$/RUN scripts\/deps.sh --with-node/'
breaks "warnings as errors" "-DTRACKD_WERROR=OFF" dockerfile \
    edit $D 's/ -DTRACKD_WERROR=OFF//'
breaks "not Release" "-DCMAKE_BUILD_TYPE=Release" dockerfile \
    edit $D 's/-DCMAKE_BUILD_TYPE=Release/-DCMAKE_BUILD_TYPE=Debug/'
breaks "an option run.sh lacks" "which scripts/run.sh does not" dockerfile \
    edit $D 's/-DTRACKD_WERROR=OFF/-DTRACKD_WERROR=OFF -DTRACKD_SANITIZE=ON/'
breaks "run.sh gains an option" "scripts/run.sh configures with -TRACKD_NEW=ON" dockerfile \
    edit scripts/run.sh 's/^(cmake -S .*)$/\1 -DTRACKD_NEW=ON/'
breaks "no cmake --build" "does not build with 'cmake --build" dockerfile \
    edit $D 's/ \&\& \\$//; /cmake --build/d'
breaks "build stage not Debian 12" "expected debian:bookworm" dockerfile \
    edit $D 's/^FROM debian:bookworm AS build$/FROM debian:bullseye AS build/'
breaks "run stage not slim" "expected debian:bookworm-slim" dockerfile \
    edit $D 's/^FROM debian:bookworm-slim$/FROM debian:bookworm/'
breaks "a -dev package at run time" "a build-time package of scripts/deps.sh" dockerfile \
    edit $D 's/libpq5 /libpq5 libpq-dev /'
if [[ -n $trackd_bin ]]; then
    breaks "a linked library missing" "which the run stage does not install" libraries \
        edit $D 's/ libcurl4 / /'
else
    echo "skip a linked library missing (no TRACKD_BIN)"
fi
breaks "no USER" "has no USER" dockerfile \
    edit $D '/^USER /d'
breaks "USER root" "which is root" dockerfile \
    edit $D 's/^USER .*/USER root/'
breaks "no HEALTHCHECK" "has no HEALTHCHECK" dockerfile \
    edit $D '/^HEALTHCHECK/,/CMD/d'
breaks "health check on another path" "does not ask /healthz" dockerfile \
    edit docker/healthcheck.sh 's#/healthz#/readyz#g'
breaks "EXPOSE elsewhere" "does not EXPOSE 8080" dockerfile \
    edit $D 's/^EXPOSE 8080$/EXPOSE 8081/'
breaks "TRACKD_LISTEN on loopback" "TRACKD_LISTEN=0.0.0.0:8080" dockerfile \
    edit $D 's/^ENV TRACKD_LISTEN=0.0.0.0:8080$/ENV TRACKD_LISTEN=127.0.0.1:8080/'
breaks "the binary from elsewhere" "the binary cmake built" dockerfile \
    edit $D 's#/src/build/trackd#/src/trackd#'
breaks "a file CMake needs is not copied" "fails on the files the build stage copies" configure \
    edit $D '/^COPY bench bench$/d'
breaks "entry point does not parse" "does not parse (bash -n)" scripts \
    edit docker/entrypoint.sh 's/^fi$/fi fi/'
# shellcheck disable=SC2016 # sed scripts naming the entry point's own variables
if command -v shellcheck >/dev/null; then
    breaks "entry point fails shellcheck" "shellcheck finds problems" scripts \
        edit docker/entrypoint.sh 's/^(exec "\$trackd" "\$@")$/echo $rules_dir\n\1/'
fi
# shellcheck disable=SC2016 # as above
breaks "entry point does not migrate" "no longer runs" scripts \
    edit docker/entrypoint.sh 's/"\$trackd" migrate/"$trackd" version/'
C=docker-compose.yml
breaks "compose file Compose rejects" "docker-compose config rejects" compose \
    edit $C 's/^(    image: postgres:15)$/\1\n    no_such_option: 1/'
breaks "postgres without health check" "pg_isready" compose \
    edit $C 's/pg_isready -U trackd -d trackd/true/'
breaks "postgres without named volume" "not a named volume" compose \
    edit $C 's#- pgdata:/var/lib/postgresql/data#- ./pgdata:/var/lib/postgresql/data#'
breaks "trackd not waiting for a healthy database" "service_healthy" compose \
    edit $C '0,/condition: service_healthy/s//condition: service_started/'
breaks "rules mounted writable" "not mounted read-only" compose \
    edit $C 's#\./rules:/rules:ro#./rules:/rules#'
breaks "no port 8080" "port 8080 is not published" compose \
    edit $C 's/"8080:8080"/"8090:8080"/'
breaks "one replica" "expected 2" compose \
    edit $C '/^  trackd-replica-2:$/,/^$/{/profiles:/d}'
breaks "load balancer elsewhere" "port 8081 is not published" compose \
    edit $C 's/"8081:8081"/"8082:8081"/'
breaks "load balancer upstream wrong" "are not the replicas" compose \
    edit docker/nginx.conf 's/server trackd-replica-2:8080/server trackd-replica-3:8080/'

echo "check_selftest: $passed passed, $failed failed"
((failed == 0))
