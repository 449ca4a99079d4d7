#!/usr/bin/env bash
# fresh-debian.sh — the newcomer check: do the README's two commands work on a pristine Debian 12?
# Builds a Debian 12 root filesystem with debootstrap (minbase, from Debian's mirror, with the
# sources and the no-services-on-install rule of Debian's container image), copies in a clone of
# this repository's committed HEAD, and runs there, as root, what the README tells a newcomer:
#
#   apt-get update && apt-get install -y make git curl     (what a bare Debian 12 lacks)
#   git clone ... trackd && cd trackd
#   make test
#   make run     then GET /healthz, the README's curl of one event, its psql query, and Ctrl-C
#
# About 40 minutes on 2 cores, most of it apt installing and make test: not part of .ci/run.
# Progress goes to the terminal, everything to DIR/fresh-debian.log; on failure it names the
# phase that failed and shows the end of the log.
#
#   scripts/fresh-debian.sh [DIR]   DIR (default /var/tmp/trackd-fresh-debian) holds rootfs/ and
#                                   the log; rootfs/ is made anew on every run, removed after a run
#                                   that passed and kept after one that failed
#
# Environment:
#   FRESH_DEBIAN_ENGINE   docker: a Docker engine runs the root filesystem imported as a local
#                         image. chroot: unshare + chroot, with mount, PID, IPC and UTS namespaces
#                         of its own (so nothing it mounts or starts outlives it) and the host's
#                         network, except for make run, which gets a loopback of its own so that
#                         its port 8080 cannot meet the host's. Default: docker when `docker info`
#                         answers, else chroot.
#   FRESH_DEBIAN_MIRROR   default http://deb.debian.org/debian; FRESH_DEBIAN_SECURITY_MIRROR,
#                         default http://deb.debian.org/debian-security
#   http_proxy, https_proxy, no_proxy, NODE_EXTRA_CA_CERTS (the file is copied in): passed in,
#                         for a network that goes through a proxy; nothing else of the host is.
#
# Needs root, and debootstrap (installed with apt-get when missing).
set -euo pipefail

usage() {
    sed -n '2,32s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

say() {
    echo "fresh-debian: $*" | tee -a "$log"
}

die() {
    echo "fresh-debian: $*" >&2
    exit 1
}

case ${1:-} in
-h | --help) usage ;;
-*) usage ;;
esac
(($# <= 1)) || usage

((EUID == 0)) || die "run me as root (debootstrap and chroot need it)"

repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
work=$(realpath -m -- "${1:-/var/tmp/trackd-fresh-debian}")
rootfs=$work/rootfs
log=$work/fresh-debian.log
mirror=${FRESH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${FRESH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# The clone and the script that plays the newcomer, as seen from inside.
newcomer=/root/fresh-debian-newcomer.sh
image=trackd-fresh-debian:12
container=trackd-fresh-debian-$$

# DIR is emptied of our files only: a marker says it is ours.
marker=$work/.trackd-fresh-debian
if [[ -d $work && ! -f $marker && -n $(ls -A -- "$work") ]]; then
    die "$work is not empty and was not made by this script; name another directory"
fi
mkdir -p -- "$work"
touch -- "$marker"
: >"$log"

engine=${FRESH_DEBIAN_ENGINE:-}
if [[ -z $engine ]]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    else
        engine=chroot
    fi
fi
case $engine in
docker | chroot) ;;
*) die "FRESH_DEBIAN_ENGINE must be docker or chroot, not '$engine'" ;;
esac

runner_pid=
started=$SECONDS

# Mount points at or under the root filesystem, deepest first. The chroot engine mounts only in a
# mount namespace of its own, so this is empty unless something else mounted there.
mounts_under_rootfs() {
    awk -v root="$rootfs" '$5 == root || index($5, root "/") == 1 { print $5 }' \
        /proc/self/mountinfo | sort -r
}

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    local status=$? mount phase how
    trap - EXIT INT TERM
    if [[ -n $runner_pid ]] && kill -0 "$runner_pid" 2>/dev/null; then
        # chroot: unshare's --kill-child ends the whole PID namespace with it.
        kill -TERM "$runner_pid" 2>/dev/null || true
        wait "$runner_pid" 2>/dev/null || true
    fi
    if [[ $engine == docker ]]; then
        docker rm -f "$container" >/dev/null 2>&1 || true
        docker rmi "$image" >/dev/null 2>&1 || true
    fi
    while read -r mount; do
        if [[ -n $mount ]]; then umount -l -- "$mount" 2>/dev/null || true; fi
    done < <(mounts_under_rootfs)

    local took
    if ((status == 0)); then
        rm -rf --one-file-system -- "$rootfs"
        took=$((SECONDS - started))
        echo "fresh-debian: passed in $((took / 60))m$((took % 60))s; the log is $log"
    else
        took=$((SECONDS - started))
        # The phase is the last one the log shows starting, on the host or inside.
        phase=$(sed -n 's/^fresh-debian: \(.*\) \.\.\.$/\1/p' "$log" | tail -n 1)
        how="FAILED in phase"
        ((status == 130 || status == 143)) && how="interrupted in phase"
        {
            echo
            echo "fresh-debian: the last lines of $log:"
            tail -n 40 -- "$log" | sed 's/^/    /'
            echo
            echo "fresh-debian: $how: ${phase:-setting up} (after $((took / 60))m$((took % 60))s)"
            if [[ -d $rootfs ]]; then
                echo "fresh-debian: the root filesystem is kept in $rootfs"
            fi
        } >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs one phase on the host, its output into the log only.
host_phase() {
    local name=$1 start=$SECONDS
    shift
    say "$name ..."
    "$@" >>"$log" 2>&1
    say "$name: done ($((SECONDS - start))s)"
}

# debootstrap, and ip (iproute2) to bring up the loopback of make run's network namespace.
install_host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [[ $engine == chroot ]]; then
        command -v ip >/dev/null || missing+=(iproute2)
    fi
    ((${#missing[@]} > 0)) || return 0
    command -v apt-get >/dev/null || die "missing: ${missing[*]} (and there is no apt-get here)"
    DEBIAN_FRONTEND=noninteractive apt-get -q update
    DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${missing[@]}"
}

make_rootfs() {
    if [[ -n $(mounts_under_rootfs) ]]; then
        echo "something is still mounted under $rootfs:"
        mounts_under_rootfs
        return 1
    fi
    rm -rf --one-file-system -- "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
}

# What Debian's debian:12 container image has that debootstrap alone does not: the updates and
# security suites, and a policy-rc.d that keeps packages from starting services as they install
# (the postgresql package would otherwise start a cluster on port 5432 of the host's network).
configure_rootfs() {
    rm -f -- "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    echo fresh-debian >"$rootfs/etc/hostname"
    printf '127.0.0.1\tlocalhost fresh-debian\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
        >"$rootfs/etc/hosts"
    cp -L -- /etc/resolv.conf "$rootfs/etc/resolv.conf"

    if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
        mkdir -p -- "$rootfs/etc/fresh-debian"
        cp -L -- "$NODE_EXTRA_CA_CERTS" "$rootfs/etc/fresh-debian/extra-ca.pem"
    fi

    # A bare clone of what is committed: uncommitted changes are not part of the check.
    git clone --quiet --bare --no-local -- "$repo" "$rootfs/root/trackd.git"
    write_newcomer >"$rootfs$newcomer"
    chmod 755 "$rootfs$newcomer"
}

# The environment inside: what a root shell of the container image has, and the proxy settings.
inside_env() {
    local name
    printf '%s\n' HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n ${!name:-} ]] && printf '%s=%s\n' "$name" "${!name}"
    done
    if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
        echo NODE_EXTRA_CA_CERTS=/etc/fresh-debian/extra-ca.pem
    fi
}

# The newcomer, as a script that runs inside. Argument: tests (install, clone, make test), smoke
# (make run and one event), or all. Lines starting "fresh-debian: " are shown on the terminal.
write_newcomer() {
    cat <<'NEWCOMER'
#!/bin/bash
# Written by scripts/fresh-debian.sh: the README's commands on a pristine Debian 12, phase by phase.
set -uo pipefail

phase() {
    local name=$1 start=$SECONDS
    shift
    echo "fresh-debian: $name ..."
    if "$@"; then
        echo "fresh-debian: $name: passed ($((SECONDS - start))s)"
    else
        echo "fresh-debian: $name: FAILED ($((SECONDS - start))s)"
        exit 1
    fi
}

# README, Quick start: what a bare Debian 12 needs before the first command.
bare_system() {
    apt-get update && apt-get install -y make git curl
}

clone() {
    git clone /root/trackd.git /root/trackd
}

make_test() {
    cd /root/trackd && make test
}

run_pid=
make_run() {
    cd /root/trackd || return 1
    # With job control on, make run gets a process group of its own and SIGINT as a terminal
    # would leave it (without, a background job starts with SIGINT ignored): Ctrl-C can then be
    # sent to all of it.
    set -m
    make run >/root/make-run.log 2>&1 &
    run_pid=$!
    set +m
    local deadline=$((SECONDS + 900))
    until curl -fs http://127.0.0.1:8080/healthz; do
        if ! kill -0 "$run_pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "make run is not serving; its output:"
            cat /root/make-run.log
            return 1
        fi
        sleep 2
    done
    echo
    cat /root/make-run.log
}

# README, Quick start: "Send an event from another terminal" and "see it in PostgreSQL".
one_event() {
    local answer rows
    cd /root/trackd || return 1
    WRITE_KEY=$(sed -E 's/.*"write_key":"([^"]+)".*/\1/' .trackd/default-workspace.json)
    answer=$(curl -u "$WRITE_KEY:" -H 'Content-Type: application/json' http://127.0.0.1:8080/v1/track \
        -d '{"userId":"u1","event":"purchase","properties":{"product":"socks","price":"4.99"}}')
    echo "answer: $answer"
    [[ $answer == '{}' ]] || return 1
    rows=$(psql "$(scripts/pg.sh url .trackd)" -c "
  SELECT e.name, e.properties, p.customer_id, e.timestamp
  FROM events e LEFT JOIN people p ON p.id = e.person_id
  ORDER BY e.id DESC LIMIT 5") || return 1
    echo "$rows"
    grep -Eq '^ *purchase *\| *\{"price": "4.99", "product": "socks"\} *\| *u1 *\|' <<<"$rows"
}

# Ctrl-C stops trackd and the PostgreSQL that make run started.
ctrl_c() {
    kill -INT -- "-$run_pid" || return 1
    local deadline=$((SECONDS + 60))
    while kill -0 "$run_pid" 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "make run still runs 60s after Ctrl-C"; return 1; }
        sleep 1
    done
    tail -n 5 /root/make-run.log
    cd /root/trackd && ! scripts/pg.sh status .trackd
}

case ${1:-all} in
tests | all)
    phase "bare Debian 12: apt-get install -y make git curl" bare_system
    phase "git clone" clone
    phase "make test" make_test
    ;;&
smoke | all)
    phase "make run: serving /healthz" make_run
    phase "make run: one event tracked, its row in PostgreSQL" one_event
    phase "make run: Ctrl-C stops trackd and PostgreSQL" ctrl_c
    ;;
tests) ;;
*)
    echo "usage: $0 tests|smoke|all" >&2
    exit 2
    ;;
esac
NEWCOMER
}

# chroot engine: runs the newcomer script with ARG inside rootfs/, in new mount, PID, IPC and UTS
# namespaces (and a network namespace with only a loopback when NET is "loopback"). /proc, /dev
# (a few device nodes, a private /dev/pts and /dev/shm) and a read-only /sys are mounted inside
# that mount namespace only: when its last process ends, they are gone.
run_chroot() {
    local arg=$1 net=$2 flags=(--mount --pid --fork --kill-child --ipc --uts --propagation private)
    [[ $net == loopback ]] && flags+=(--net)
    mapfile -t environment < <(inside_env)
    # exec: run in the background, this is the process that cleanup ends.
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec unshare "${flags[@]}" -- bash -euc '
        root=$1 net=$2 newcomer=$3 arg=$4
        shift 4
        if [[ $net == loopback ]]; then ip link set lo up; fi
        mount -t proc proc "$root/proc"
        mount -t sysfs -o ro sysfs "$root/sys"
        mount -t tmpfs -o mode=755,nosuid tmpfs "$root/dev"
        for node in null zero full random urandom; do
            touch "$root/dev/$node"
            mount --bind "/dev/$node" "$root/dev/$node"
        done
        mkdir "$root/dev/pts" "$root/dev/shm"
        mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
        ln -s pts/ptmx "$root/dev/ptmx"
        mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
        ln -s /proc/self/fd "$root/dev/fd"
        ln -s /proc/self/fd/0 "$root/dev/stdin"
        ln -s /proc/self/fd/1 "$root/dev/stdout"
        ln -s /proc/self/fd/2 "$root/dev/stderr"
        hostname fresh-debian
        exec chroot "$root" /usr/bin/env -i "$@" /bin/bash "$newcomer" "$arg" </dev/null
    ' bash "$rootfs" "$net" "$newcomer" "$arg" "${environment[@]}"
}

import_image() {
    tar -C "$rootfs" -c . | docker import - "$image"
}

run_docker() {
    local environment=() line
    while read -r line; do environment+=(-e "$line"); done < <(inside_env)
    exec docker run --rm --name "$container" --hostname fresh-debian --shm-size 1g \
        "${environment[@]}" "$image" /bin/bash "$newcomer" all </dev/null
}

# Runs a command in the background, its output into the log, and shows the newcomer's progress
# lines as they come.
run_inside() {
    local offset status=0
    offset=$(stat -c %s -- "$log")
    "$@" >>"$log" 2>&1 &
    runner_pid=$!
    tail -c "+$((offset + 1))" -F --pid="$runner_pid" -- "$log" 2>/dev/null |
        grep --line-buffered '^fresh-debian: ' || true
    wait "$runner_pid" || status=$?
    runner_pid=
    return "$status"
}

say "engine $engine; testing commit $(git -C "$repo" rev-parse --short HEAD) of $repo"
if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no) ]]; then
    say "(uncommitted changes in $repo are not part of the check)"
fi
host_phase "debootstrap on the host" install_host_tools
host_phase "Debian 12 root filesystem (debootstrap --variant=minbase)" make_rootfs
host_phase "clone of the committed HEAD copied in" configure_rootfs

if [[ $engine == docker ]]; then
    host_phase "root filesystem imported as image $image" import_image
    run_inside run_docker
else
    run_inside run_chroot tests host
    run_inside run_chroot smoke loopback
fi
