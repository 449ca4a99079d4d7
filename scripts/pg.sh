#!/usr/bin/env bash
# pg.sh — a private PostgreSQL 15 cluster for development (`make run`) and tests (`make test`).
#
#   scripts/pg.sh start   DIR   initdb if DIR/data is missing, start it, create database "trackd"
#   scripts/pg.sh stop    DIR   fast shutdown (open sessions are ended); no-op if not running
#   scripts/pg.sh status  DIR   exit 0 if running, 3 if not
#   scripts/pg.sh url     DIR   print the libpq URI of database "trackd"
#   scripts/pg.sh destroy DIR   stop, then delete the cluster's data and socket directory
#
# The cluster listens on a Unix socket only (listen_addresses = ''), so it never conflicts with
# another PostgreSQL on TCP port 5432. Superuser "trackd", trust authentication: only someone who
# can reach the socket directory (mode 700) can connect.
#
# Environment: TRACKD_PG_FAST=1 starts with fsync and full_page_writes off (throwaway test
# clusters only: a machine crash can corrupt the data). TRACKD_PG_BIN overrides the directory of
# the PostgreSQL 15 binaries.
set -euo pipefail

PG_BIN=${TRACKD_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=5432
PG_SUPERUSER=trackd
PG_DATABASE=trackd
START_TIMEOUT=30

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,8s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
command=$1
[[ -n $2 ]] || usage
# Absolute, normalised path: it names the cluster (the hash below) and every path handed to the
# postgres binaries must be absolute because they run from / (see as_pg).
dir=$(realpath -m -- "$2")

# Short per-cluster names derived from DIR, so that two checkouts never share a cluster and the
# socket path stays far below the 107-byte limit of sun_path whatever DIR's length.
hash=$(printf '%s' "$dir" | sha256sum | cut -c1-8)
socket_dir=/tmp/trackd-pg-$hash
external_data=/var/tmp/trackd-pg-$hash
data=$dir/data
# What the postgres binaries are given: DIR/data, or the target of that link (the binaries may be
# unable to follow a link that sits in a directory they cannot traverse). Set by resolve_pgdata.
pgdata=
log=

# initdb and postgres refuse to run as root. As root we run them as the `postgres` system user
# (created by the postgresql-15 package), or as a system user of our own if that is missing.
pg_user=
if [[ $EUID -eq 0 ]]; then
    if id -u postgres >/dev/null 2>&1; then
        pg_user=postgres
    else
        if ! id -u trackd-pg >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin trackd-pg
        fi
        pg_user=trackd-pg
    fi
fi

# Runs a command as the cluster's owner. From / because the caller's working directory (say a
# repository under /root) may be unreadable to that user, and the postgres tools fail when they
# cannot resolve their current directory.
as_pg() {
    if [[ -n $pg_user ]]; then
        (cd / && runuser -u "$pg_user" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Creates (or checks) a directory that only the cluster's owner may use. The names are predictable
# and live in world-writable /tmp and /var/tmp, so an existing one must already belong to that
# user: we never start a database in, or connect through, someone else's directory.
make_private_dir() {
    local path=$1 owner
    owner=${pg_user:-$(id -un)}
    if [[ -L $path ]]; then
        die "$path is a symbolic link; refusing to use it"
    fi
    if [[ ! -d $path ]]; then
        if [[ -n $pg_user ]]; then
            install -d -m 700 -o "$pg_user" -g "$(id -gn "$pg_user")" -- "$path"
        else
            install -d -m 700 -- "$path"
        fi
    fi
    [[ $(stat -c %U -- "$path") == "$owner" ]] ||
        die "$path exists but belongs to $(stat -c %U -- "$path"), not $owner; remove it and retry"
}

resolve_pgdata() {
    if [[ -L $data ]]; then
        pgdata=$(readlink -f -- "$data")
    else
        pgdata=$data
    fi
    log=$pgdata/postgres.log
}

check_binaries() {
    local tool
    for tool in initdb pg_ctl pg_isready psql createdb; do
        [[ -x $PG_BIN/$tool ]] ||
            die "$PG_BIN/$tool not found; install PostgreSQL 15 with scripts/deps.sh"
    done
}

show_log_tail() {
    if [[ -f $log ]]; then
        echo "pg.sh: last lines of $log:" >&2
        tail -n 30 -- "$log" | sed 's/^/    /' >&2
    fi
}

# True when the postmaster of DIR/data is up (pg_ctl status: 0 running, 3 not, 4 no data dir).
is_running() {
    [[ -f $pgdata/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" status -D "$pgdata" >/dev/null 2>&1
}

# Makes DIR/data exist as a directory the cluster's owner can write. Running as root with DIR
# somewhere that user cannot reach (a repository under /root, mode 700), the data lives under
# /var/tmp and DIR/data is a symbolic link to it.
prepare_data_dir() {
    mkdir -p -- "$dir"
    if [[ -L $data ]]; then
        [[ -d $data ]] || die "$data points to $(readlink -- "$data"), which is gone; remove the link"
        return
    fi
    [[ -d $data ]] && return

    if [[ -z $pg_user ]]; then
        install -d -m 700 -- "$data"
        return
    fi

    install -d -m 700 -o "$pg_user" -g "$(id -gn "$pg_user")" -- "$data"
    # Permission bits alone do not tell (ACLs, read-only mounts): ask the user itself.
    if runuser -u "$pg_user" -- test -w "$data"; then
        return
    fi
    rmdir -- "$data"
    if [[ -d $external_data ]]; then
        echo "pg.sh: reusing the existing data of $dir in $external_data (delete it for a fresh cluster)"
    fi
    make_private_dir "$external_data"
    ln -s -- "$external_data" "$data"
    echo "pg.sh: $pg_user cannot reach $dir; the data lives in $external_data ($data links there)"
}

init_cluster() {
    local out
    echo "pg.sh: creating a PostgreSQL 15 cluster in $pgdata"
    if ! out=$(as_pg "$PG_BIN/initdb" -D "$pgdata" -U "$PG_SUPERUSER" --auth=trust -E UTF8 \
        --locale=C 2>&1); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "initdb failed for $pgdata"
    fi
    # Our settings go in a file of their own, included last so they win; it is rewritten on every
    # start so that a change here reaches existing clusters.
    printf "\ninclude_if_exists = 'trackd.conf'\n" | as_pg tee -a "$pgdata/postgresql.conf" >/dev/null
}

write_config() {
    as_pg tee "$pgdata/trackd.conf" >/dev/null <<EOF
# Written by scripts/pg.sh on every start; edits are lost.
listen_addresses = ''
unix_socket_directories = '$socket_dir'
port = $PG_PORT
max_connections = 200
shared_buffers = 256MB
EOF
}

wait_until_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until as_pg "$PG_BIN/pg_isready" -q -h "$socket_dir" -p "$PG_PORT" -U "$PG_SUPERUSER" \
        -d postgres; do
        if ((SECONDS >= deadline)); then
            show_log_tail
            die "PostgreSQL in $data did not accept connections within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

ensure_database() {
    local exists
    exists=$(as_pg "$PG_BIN/psql" -X -At -h "$socket_dir" -p "$PG_PORT" -U "$PG_SUPERUSER" \
        -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")
    if [[ $exists != 1 ]]; then
        as_pg "$PG_BIN/createdb" -h "$socket_dir" -p "$PG_PORT" -U "$PG_SUPERUSER" "$PG_DATABASE"
    fi
}

cmd_start() {
    local options=()
    check_binaries
    prepare_data_dir
    resolve_pgdata
    make_private_dir "$socket_dir"
    if [[ ! -f $pgdata/PG_VERSION ]]; then
        init_cluster
    fi
    if is_running; then
        echo "pg.sh: PostgreSQL in $data is already running"
    else
        write_config
        if [[ ${TRACKD_PG_FAST:-0} == 1 ]]; then
            # Throwaway test clusters: durability buys nothing there, speed does.
            options=(-o "-c fsync=off -c full_page_writes=off")
        fi
        if ! as_pg "$PG_BIN/pg_ctl" start -s -w -t "$START_TIMEOUT" -D "$pgdata" -l "$log" \
            "${options[@]}"; then
            show_log_tail
            die "PostgreSQL in $data failed to start"
        fi
        echo "pg.sh: PostgreSQL started (data $pgdata, socket $socket_dir, log $log)"
    fi
    wait_until_ready
    ensure_database
}

cmd_stop() {
    if ! is_running; then
        echo "pg.sh: PostgreSQL in $data is not running"
        return
    fi
    if ! as_pg "$PG_BIN/pg_ctl" stop -s -w -t 60 -m fast -D "$pgdata"; then
        show_log_tail
        die "PostgreSQL in $data did not stop"
    fi
    echo "pg.sh: PostgreSQL in $data stopped"
}

cmd_destroy() {
    cmd_stop
    if [[ -L $data ]]; then
        # Only ever delete the target we would have created ourselves.
        if [[ $(readlink -- "$data") == "$external_data" ]]; then
            rm -rf -- "$external_data"
        fi
        rm -f -- "$data"
    else
        rm -rf -- "$data"
    fi
    rm -rf -- "$socket_dir"
    echo "pg.sh: removed the cluster of $dir"
}

resolve_pgdata
case $command in
start) cmd_start ;;
stop) cmd_stop ;;
status)
    if is_running; then
        echo "pg.sh: PostgreSQL in $data is running"
    else
        echo "pg.sh: PostgreSQL in $data is not running"
        exit 3
    fi
    ;;
url) echo "postgresql://$PG_SUPERUSER@/$PG_DATABASE?host=$socket_dir" ;;
destroy) cmd_destroy ;;
*) usage ;;
esac
