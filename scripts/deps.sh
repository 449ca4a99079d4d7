#!/usr/bin/env bash
# deps.sh — installs the Debian packages that trackd needs and that are missing; does nothing when
# all are there (apt-get update runs only when something must be installed).
#
#   scripts/deps.sh              C toolchain, libraries, PostgreSQL 15, wrk
#   scripts/deps.sh --with-node  the same, plus what `make test` needs beyond the build: Node.js
#                                and npm for tests/compat, Chromium for the browser test, clang
#                                and its libFuzzer and sanitizer runtimes for tests/fuzz, valgrind
#   scripts/deps.sh --with-profilers   the first set, plus valgrind and strace for
#                                bench/request_cost.sh
#
# Needs root, or sudo; without either it lists what is missing and exits 1.
set -euo pipefail

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

with_node=0
with_profilers=0
for arg in "$@"; do
    case $arg in
    --with-node) with_node=1 ;;
    --with-profilers) with_profilers=1 ;;
    -h | --help) usage ;;
    *)
        echo "deps.sh: unknown argument '$arg'" >&2
        usage
        ;;
    esac
done

packages=(
    build-essential cmake pkg-config
    libmicrohttpd-dev libpq-dev libjson-c-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
    libcriterion-dev openssl
    postgresql-15 postgresql-client-15
    wrk
)
# A node and npm already on PATH are kept as they are: NodeSource's nodejs package bundles npm and
# conflicts with Debian's npm package, so asking for Debian's would try to replace a working setup.
if ((with_node)) && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
# tests/compat/browser.test.js drives Debian's Chromium with playwright-core (which downloads no
# browser of its own).
if ((with_node)); then
    packages+=(chromium)
fi
# tests/fuzz (built by scripts/test.sh in build-fuzz/) needs clang: Debian 12's is clang 14, whose
# libFuzzer and sanitizer runtimes are in libclang-rt-14-dev. llvm brings llvm-symbolizer, without
# which a crash report shows addresses instead of file:line (clang only recommends it).
if ((with_node)); then
    packages+=(clang libclang-rt-14-dev llvm)
fi
# scripts/test.sh runs the unit suites under valgrind's memcheck (tests/valgrind/run.sh).
if ((with_node)); then
    packages+=(valgrind)
fi
# bench/request_cost.sh counts instructions with callgrind and system calls with strace.
if ((with_profilers)); then
    packages+=(valgrind strace)
fi
# tests/docker: `docker-compose config` (the client only; no engine comes without recommends)
# and shellcheck for the image's scripts.
if ((with_node)); then
    packages+=(docker-compose shellcheck)
fi

is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
    echo "deps.sh: all ${#packages[@]} required packages are installed"
    exit 0
fi

if [[ $EUID -eq 0 ]]; then
    as_root=(env)
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env)
else
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "deps.sh: run this script as root, or install sudo, or install them yourself" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
# apt's own chatter goes to a file, shown only when something fails.
apt_log=$(mktemp -t trackd-deps.XXXXXX)
trap 'rm -f -- "$apt_log"' EXIT

run_apt_get() {
    # The lock timeout rides out a concurrent apt run (unattended-upgrades) instead of failing.
    if ! "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o DPkg::Lock::Timeout=300 "$@" >>"$apt_log" 2>&1; then
        echo "deps.sh: 'apt-get $*' failed; its last lines:" >&2
        tail -n 25 -- "$apt_log" | sed 's/^/    /' >&2
        exit 1
    fi
}

run_apt_get update
run_apt_get install --no-install-recommends "${missing[@]}"

for package in "${missing[@]}"; do
    is_installed "$package" || {
        echo "deps.sh: $package is still not installed" >&2
        exit 1
    }
done
echo "deps.sh: installed ${#missing[@]} package(s)"
