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
    docker docker-compose.yml .dockerignore README.md scripts rules CMakeLists.txt cmake migrations \
    sql server tests bench) |
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
if [[ $(id -u) == 0 ]] && command -v useradd >/dev/null; then
    breaks "useradd warns about the uid" "warns" dockerfile \
        edit $D 's/ -K SYS_UID_MAX=10001//'
fi
breaks "a second .dockerignore" "keep only the repository's .dockerignore" dockerfile \
    cp .dockerignore docker/Dockerfile.dockerignore
breaks "secrets sent to the builder" "does not keep 'secrets' out" dockerfile \
    edit .dockerignore '/^secrets$/d'
breaks "README without stopping the replicas" "docker compose --profile replicas down" dockerfile \
    edit README.md 's/--profile replicas down/--profile replicas stop/g'
breaks "README without getting keys again" "workspace rotate-keys default" dockerfile \
    edit README.md 's/rotate-keys default/rotate-keys NAME/g'
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

# The image built once.
breaks "a replica builds the image too" "only trackd should" compose \
    edit $C 's/^(  trackd-replica-1:)$/\1\n    build: ./'
breaks "trackd's image pulled first" "expected build (or never)" compose \
    edit $C '/^    pull_policy: build$/d'
breaks "a replica's image pulled" "expected never" compose \
    edit $C '0,/^    pull_policy: never$/{/^    pull_policy: never$/d}'

# Every setting of server/common/config.c, from the shared list, keeping trackd's defaults.
# shellcheck disable=SC2016 # ${...} and $... are the compose file's and nginx's, not the shell's
{
breaks "a setting not passed" "TRACKD_LOG_FORMAT (server/common/config.c) is not passed" compose \
    edit $C '/^  TRACKD_LOG_FORMAT:/d'
breaks "a new setting of trackd not passed" "TRACKD_NEW (server/common/config.c) is not passed" compose \
    edit server/common/config.c 's/^(    \{"TRACKD_WRITERS", .*)$/    {"TRACKD_NEW", SETTING_UNSIGNED, "1", 0, 9, false, AT(writers), "x"},\n\1/'
breaks "a default not trackd's" 'expected '"'"'${TRACKD_REJECTION_RETENTION_DAYS:-30}'"'" compose \
    edit $C 's/TRACKD_REJECTION_RETENTION_DAYS:-30/TRACKD_REJECTION_RETENTION_DAYS:-7/'
breaks "an empty value for a setting without default" "TRACKD_PUBLIC_URL is '" compose \
    edit $C 's/^  TRACKD_PUBLIC_URL:$/  TRACKD_PUBLIC_URL: ${TRACKD_PUBLIC_URL:-}/'
breaks "a service's own value" "not the shared x-trackd-environment's" compose \
    edit $C '0,/^      <<: \*trackd-environment$/s//      <<: *trackd-environment\n      TRACKD_LOG_LEVEL: debug/'
breaks "TLS for the replicas" "for service trackd only" compose \
    edit $C 's/^(  TRACKD_PUBLIC_URL:)$/\1\n  TRACKD_TLS_CERT:/'
breaks "replicas capped per address behind nginx" "expected '0' behind nginx" compose \
    edit $C '/TRACKD_MAX_CONNECTIONS_PER_ADDRESS: "0"/d'

# nginx's access log without keys.
N=docker/nginx.conf
breaks "nginx logs the Basic-auth user" 'logs $remote_user' compose \
    edit $N "s/^(    log_format trackd '\\\$remote_addr) /\1 \$remote_user /"
breaks "nginx logs in its default format" "uses nginx's format 'combined'" compose \
    edit $N 's#access_log /dev/stdout trackd;#access_log /dev/stdout;#'
breaks "nginx logs in format combined" "uses nginx's format 'combined'" compose \
    edit $N 's#access_log /dev/stdout trackd;#access_log /dev/stdout combined;#'
breaks "nginx without access_log" "no access_log" compose \
    edit $N '/access_log/d'
breaks "nginx logs the request line as sent" 'logs $request,' compose \
    edit $N 's/\$request_method \$trackd_logged_path /$request /'
breaks "nginx logs the path as sent" 'logs $request_uri' compose \
    edit $N 's/ \$trackd_logged_path / $request_uri /'
breaks "nginx's map keeps the key" "not the path with each identifier replaced by REDACTED" compose \
    edit $N 's#\[\^/\?\]\*\(\?<trackd_path_tail>#(?<trackd_path_tail>#'
}

echo "check_selftest: $passed passed, $failed failed"
((failed == 0))
