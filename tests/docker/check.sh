#!/usr/bin/env bash
# check.sh — the Docker files, checked without a Docker engine (issue 8, item 1):
#
#   docker/Dockerfile   build stage: runs scripts/deps.sh and CMake exactly as scripts/run.sh
#                       does (build type Release, TRACKD_WERROR=OFF) and nothing else (no package
#                       list of its own); what it copies is enough for that CMake to configure
#                       (tried in a scratch directory). Run stage: debian:bookworm-slim, only
#                       runtime packages (none of deps.sh's, no -dev), every library the built
#                       trackd links among them (when TRACKD_BIN is given), a non-root USER,
#                       HEALTHCHECK on /healthz, EXPOSE 8080, TRACKD_LISTEN=0.0.0.0:8080.
#                       The run stage's groupadd/useradd, run against a scratch copy of this
#                       machine's /etc (--prefix; as root only), print no warning.
#   .dockerignore       the only one (the build context is the repository root): no
#                       docker/Dockerfile.dockerignore, which BuildKit would read instead; it
#                       keeps .git, .trackd, build, secrets and .env out of the context.
#   docker/*.sh         `bash -n`, and shellcheck when installed; the entry point migrates,
#                       creates the workspace, loads the rules and execs trackd.
#   docker-compose.yml  `docker-compose config` (Debian's docker-compose) accepts it, with and
#                       without --profile replicas, and it holds what issue 8 asks for
#                       (tests/docker/check_compose.py: the image built once, every setting of
#                       server/common/config.c passed, nginx's access log without keys, ...).
#   README.md           its "Docker" section tells how to stop the replicas, get keys again, open
#                       psql and use Debian's docker-compose.
#
#   tests/docker/check.sh [ROOT]    ROOT: a checkout (default: this one)
#
# Environment: TRACKD_BIN, the built trackd whose linked libraries the run stage must provide;
# DOCKER_CHECK_CONFIGURE=0 skips the CMake configure of the build stage's files, and
# DOCKER_CHECK_COMPOSE=0 the compose file (both for the self-test, which breaks one part at a time).
# Prints every problem found and exits 1 if there is any. tests/docker/check_selftest.sh breaks
# copies of these files on purpose and expects this script to fail on each.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "${1:-$here/../..}" && pwd)
dockerfile=$root/docker/Dockerfile
run_sh=$root/scripts/run.sh
deps_sh=$root/scripts/deps.sh

failures=0
passes=0
fail() {
    echo "check.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() {
    passes=$((passes + 1))
}
# expect MESSAGE COMMAND...: counts a pass if COMMAND succeeds, else fails with MESSAGE.
expect() {
    local message=$1
    shift
    if "$@"; then pass; else fail "$message"; fi
}
indent() {
    sed 's/^/    /'
}

for file in "$dockerfile" "$run_sh" "$deps_sh" "$root/docker-compose.yml" \
    "$root/docker/entrypoint.sh" "$root/docker/healthcheck.sh"; do
    [[ -f $file ]] || {
        echo "check.sh: FAIL: $file is missing" >&2
        exit 1
    }
done

# --- The Dockerfile, one instruction per line: "STAGE<TAB>INSTRUCTION<TAB>ARGUMENTS" -----------
# Continuation lines are joined; comments and blank lines are dropped.
instructions=$(awk '
    function emit(text,    word) {
        sub(/^[ \t]+/, "", text)
        if (text == "") return
        word = text
        sub(/[ \t].*$/, "", word)
        rest = substr(text, length(word) + 1)
        sub(/^[ \t]+/, "", rest)
        word = toupper(word)
        if (word == "FROM") stage++
        printf "%d\t%s\t%s\n", stage, word, rest
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { next }
    {
        line = $0
        sub(/[ \t\r]+$/, "", line)
        if (line ~ /\\$/) { sub(/\\$/, "", line); pending = pending line " "; next }
        emit(pending line)
        pending = ""
    }
    END { if (pending != "") emit(pending) }
' "$dockerfile")

stages=$(awk -F'\t' '$2 == "FROM"' <<<"$instructions" | wc -l)
if ((stages != 2)); then
    fail "docker/Dockerfile has $stages stages; expected 2 (a build stage and the run stage)"
fi
# stage_lines N INSTRUCTION: the arguments of every INSTRUCTION of stage N, one per line.
stage_lines() {
    awk -F'\t' -v s="$1" -v i="$2" '$1 == s && $2 == i { print $3 }' <<<"$instructions"
}
build_from=$(stage_lines 1 FROM)
run_from=$(stage_lines "$stages" FROM)
build_name=$(awk '{ if (tolower($2) == "as") print $3 }' <<<"$build_from")

# --- Build stage: Debian 12, and only scripts/deps.sh and cmake ---------------------------------
expect "build stage is FROM '$build_from', expected debian:bookworm (Debian 12)" \
    [ "$(awk '{ print $1 }' <<<"$build_from")" = debian:bookworm ]
[[ -n $build_name ]] || fail "the build stage has no name (FROM debian:bookworm AS build)"

# What scripts/run.sh (make run) runs: its deps.sh and cmake command lines.
run_deps=$(grep -E '^[[:space:]]*(\./)?scripts/deps\.sh([[:space:]]|$)' "$run_sh" | head -n 1 |
    sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//; s#^\./##') || true
run_configure=$(grep -E '^[[:space:]]*cmake[[:space:]]+-S' "$run_sh" | head -n 1 |
    sed -E 's/^[[:space:]]+//') || true
run_build=$(grep -E '^[[:space:]]*cmake[[:space:]]+--build' "$run_sh" | head -n 1 |
    sed -E 's/^[[:space:]]+//') || true
[[ -n $run_deps ]] || fail "scripts/run.sh no longer runs scripts/deps.sh; update this check"
[[ -n $run_configure ]] || fail "scripts/run.sh has no 'cmake -S' line; update this check"
[[ -n $run_build ]] || fail "scripts/run.sh has no 'cmake --build' line; update this check"
# CI runs `make test`, that is scripts/test.sh: it must install through the same script.
expect "scripts/test.sh (what CI runs) does not run scripts/deps.sh" \
    grep -qE '^[[:space:]]*(\./)?scripts/deps\.sh' "$root/scripts/test.sh"

# Every simple command of every RUN of the build stage (split at && || ; and |).
build_commands=$(stage_lines 1 RUN | sed -E 's/(&&|\|\||;|\|)/\n/g' |
    sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | grep -v '^$') || true
if grep -q '^\[' <<<"$(stage_lines 1 RUN)"; then
    fail "a RUN of the build stage is in exec form ([...]); write it as a shell command"
fi
docker_deps=
docker_configure=
docker_build=
while IFS= read -r command; do
    [[ -n $command ]] || continue
    program=${command%%[[:space:]]*}
    case ${program#./} in
    scripts/deps.sh)
        [[ -z $docker_configure ]] ||
            fail "the build stage runs cmake before scripts/deps.sh"
        docker_deps=${command#./}
        ;;
    cmake)
        if [[ $command =~ ^cmake[[:space:]]+--build ]]; then
            docker_build=$command
        else
            docker_configure=$command
        fi
        ;;
    *)
        fail "the build stage runs '$command': only scripts/deps.sh and cmake may run there, so" \
            "that the image is built the way make run builds (put anything else in those scripts)"
        ;;
    esac
done <<<"$build_commands"
if grep -qiE '(^|[^a-z-])(apt-get|apt|dpkg|aptitude)[[:space:]]' <<<"$(stage_lines 1 RUN)"; then
    fail "the build stage calls a package tool itself; packages come from scripts/deps.sh only"
fi

[[ -n $docker_deps ]] || fail "the build stage does not run scripts/deps.sh (the install script of make run)"
if [[ -n $docker_deps && -n $run_deps ]]; then
    expect "the build stage runs '$docker_deps' but scripts/run.sh runs '$run_deps'" \
        [ "$docker_deps" = "$run_deps" ]
fi

# parse_configure "cmake -S . -B build -DX=Y ...": prints "S=<src>", "B=<dir>", "D:X=Y" lines,
# and "?:WORD" for anything else.
parse_configure() {
    local words i
    read -ra words <<<"$1"
    for ((i = 1; i < ${#words[@]}; i++)); do
        case ${words[i]} in
        -S | -B)
            echo "${words[i]#-}=${words[i + 1]:-}"
            i=$((i + 1))
            ;;
        -D)
            echo "D:${words[i + 1]:-}"
            i=$((i + 1))
            ;;
        -D*) echo "D:${words[i]#-D}" ;;
        *) echo "?:${words[i]}" ;;
        esac
    done
}
if [[ -z $docker_configure ]]; then
    fail "the build stage does not configure with 'cmake -S . -B build ...' as scripts/run.sh does"
elif [[ -n $run_configure ]]; then
    docker_parsed=$(parse_configure "$docker_configure")
    run_parsed=$(parse_configure "$run_configure")
    for key in S B; do
        expect "cmake -$key differs: build stage '$docker_configure', scripts/run.sh '$run_configure'" \
            [ "$(grep "^$key=" <<<"$docker_parsed" || true)" = "$(grep "^$key=" <<<"$run_parsed" || true)" ]
    done
    expect "the build stage does not configure with -DCMAKE_BUILD_TYPE=Release" \
        grep -qx 'D:CMAKE_BUILD_TYPE=Release' <<<"$docker_parsed"
    expect "the build stage does not configure with -DTRACKD_WERROR=OFF" \
        grep -qx 'D:TRACKD_WERROR=OFF' <<<"$docker_parsed"
    # Every other option of run.sh, and none that run.sh does not have.
    while IFS= read -r option; do
        grep -qxF -- "$option" <<<"$docker_parsed" ||
            fail "scripts/run.sh configures with -${option#D:} and the build stage does not"
    done < <(grep '^D:' <<<"$run_parsed" | grep -v '^D:CMAKE_BUILD_TYPE=')
    while IFS= read -r option; do
        [[ $option == D:CMAKE_BUILD_TYPE=* ]] && continue
        grep -qxF -- "$option" <<<"$run_parsed" ||
            fail "the build stage configures with '${option#?:}', which scripts/run.sh does not"
    done < <(grep -E '^(D|\?):' <<<"$docker_parsed")
fi
run_build_dir=$(awk '{ print $3 }' <<<"$run_build")
if [[ -z $docker_build ]]; then
    fail "the build stage does not build with 'cmake --build $run_build_dir' as scripts/run.sh does"
else
    expect "the build stage builds '$docker_build', scripts/run.sh builds directory '$run_build_dir'" \
        [ "$(awk '{ print $3 }' <<<"$docker_build")" = "$run_build_dir" ]
fi

# The files the build stage copies are enough for that configure: copy them (as COPY would, less
# what the .dockerignore leaves out) into a scratch directory and run the very cmake command.
workdir=$(stage_lines 1 WORKDIR | tail -n 1)
workdir=${workdir:-/}
if [[ ${DOCKER_CHECK_CONFIGURE:-1} != 0 && -n $docker_configure ]] && command -v cmake >/dev/null; then
    scratch=$(mktemp -d -t trackd-docker-check.XXXXXX)
    trap 'rm -rf -- "$scratch"' EXIT
    mkdir -p "$scratch/ctx$workdir"
    copy_ok=1
    while IFS= read -r copy; do
        read -ra words <<<"$copy"
        args=()
        for word in "${words[@]}"; do
            [[ $word == --* ]] || args+=("$word")
        done
        ((${#args[@]} >= 2)) || continue
        destination=${args[-1]}
        [[ $destination == /* ]] || destination=$workdir/$destination
        for source in "${args[@]:0:${#args[@]}-1}"; do
            if [[ ! -e $root/$source ]]; then
                fail "the build stage copies '$source', which does not exist"
                copy_ok=0
                continue
            fi
            if [[ -d $root/$source ]]; then
                mkdir -p "$scratch/ctx$destination"
                (cd "$root/$source" && tar --exclude=node_modules --exclude='*.log' -cf - .) |
                    (cd "$scratch/ctx$destination" && tar -xf -)
            elif [[ $destination == */ ]]; then
                mkdir -p "$scratch/ctx$destination"
                cp "$root/$source" "$scratch/ctx$destination"
            else
                mkdir -p "$(dirname "$scratch/ctx$destination")"
                cp "$root/$source" "$scratch/ctx$destination"
            fi
        done
    done < <(stage_lines 1 COPY)
    if ((copy_ok)); then
        read -ra configure_words <<<"$docker_configure"
        if (cd "$scratch/ctx$workdir" && "${configure_words[@]}") >"$scratch/configure.log" 2>&1; then
            pass
        else
            fail "'$docker_configure' fails on the files the build stage copies; its last lines:"
            tail -n 15 "$scratch/configure.log" | indent >&2
        fi
    fi
fi

# --- Run stage -----------------------------------------------------------------------------------
expect "the run stage is FROM '$run_from', expected debian:bookworm-slim" \
    [ "$(awk '{ print $1 }' <<<"$run_from")" = debian:bookworm-slim ]

# The trackd binary comes from the build stage's build directory.
binary_copy=$(stage_lines "$stages" COPY | grep -E -- "--from=$build_name([[:space:]]|$)" || true)
expected_binary=${workdir%/}/$run_build_dir/trackd
expect "the run stage does not COPY --from=$build_name $expected_binary (the binary cmake built)" \
    grep -qE -- "(^|[[:space:]])$expected_binary([[:space:]]|$)" <<<"$binary_copy"

# Packages: installed with apt-get, none of them a build tool.
deps_packages=$(awk '/^packages=\(/ { inside = 1; next } inside && /^\)/ { inside = 0 }
    inside { for (i = 1; i <= NF; i++) print $i }' "$deps_sh")
[[ -n $deps_packages ]] || fail "cannot read the packages=( ... ) list of scripts/deps.sh; update this check"
run_packages=$(stage_lines "$stages" RUN | sed -E 's/(&&|\|\||;)/\n/g' |
    awk '$1 == "apt-get" || $1 ~ /=/ && $2 == "apt-get" {
            seen = 0
            for (i = 1; i <= NF; i++) {
                if ($i == "install") { seen = 1; continue }
                if (seen && $i !~ /^-/) print $i
            }
        }')
[[ -n $run_packages ]] || fail "the run stage installs no package (apt-get install ...)"
for package in $run_packages; do
    if [[ $package == *-dev ]] || grep -qxF -- "$package" <<<"$deps_packages"; then
        fail "the run stage installs '$package', a build-time package of scripts/deps.sh; only runtime libraries belong there"
    fi
done
grep -qxF ca-certificates <<<"$run_packages" ||
    fail "the run stage does not install ca-certificates (FCM and webhooks over TLS)"
# Every library the built trackd links must come from one of them (or libc6, in the base image).
trackd_bin=${TRACKD_BIN:-}
if [[ -n $trackd_bin ]]; then
    if [[ ! -x $trackd_bin ]]; then
        fail "TRACKD_BIN=$trackd_bin is not an executable"
    elif command -v readelf >/dev/null && command -v dpkg-query >/dev/null; then
        linked=$(ldd "$trackd_bin" 2>/dev/null || true)
        sonames=$(readelf -d "$trackd_bin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p')
        # Each library's path as ldd resolves it, and the forms dpkg may know it by (/lib is
        # /usr/lib on Debian 12, and the package may list the versioned file).
        candidates=()
        while IFS= read -r soname; do
            path=$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }' <<<"$linked")
            [[ -n $path ]] || continue
            real=$(realpath -e -- "$path" 2>/dev/null || echo "$path")
            candidates+=("$path" "/usr${path#/usr}" "$real" "/usr${real#/usr}")
        done <<<"$sonames"
        # One dpkg-query for all of them ("package:arch: /path" per match; misses are errors).
        owners=$(dpkg-query -S -- "${candidates[@]}" 2>/dev/null || true)
        while IFS= read -r soname; do
            [[ -n $soname ]] || continue
            owner=$(awk -v s="/$soname" '{ n = length(s) }
                substr($NF, length($NF) - n + 1) == s || index($NF, s ".") { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
            if [[ -z $owner ]]; then
                fail "$trackd_bin links $soname, which no Debian package provides here"
            elif [[ $owner != libc6 ]] && ! grep -qxF -- "$owner" <<<"$run_packages"; then
                fail "trackd links $soname (package $owner), which the run stage does not install"
            else
                pass
            fi
        done <<<"$sonames"
    else
        echo "check.sh: readelf or dpkg-query missing; the linked libraries are not compared" >&2
    fi
fi

last_user=$(stage_lines "$stages" USER | tail -n 1)
if [[ -z $last_user ]]; then
    fail "the run stage has no USER: trackd would run as root"
else
    expect "the run stage's USER is '$last_user', which is root" \
        [ "$(grep -vxE '(root|0)(:.*)?' <<<"$last_user" || true)" = "$last_user" ]
fi

healthcheck=$(stage_lines "$stages" HEALTHCHECK | tail -n 1)
if [[ -z $healthcheck || $healthcheck =~ ^NONE ]]; then
    fail "the run stage has no HEALTHCHECK"
elif [[ $healthcheck != */healthz* ]]; then
    # The check may be a script the image copies: then that script must ask /healthz.
    script=$(grep -oE '[A-Za-z0-9_./-]+\.sh' <<<"$healthcheck" | head -n 1 || true)
    if [[ -z $script ]] || ! grep -q '/healthz' "$root/docker/$(basename "$script")" 2>/dev/null; then
        fail "the HEALTHCHECK ('$healthcheck') does not ask /healthz"
    else
        pass
    fi
else
    pass
fi

expect "the run stage does not EXPOSE 8080" \
    grep -qE '(^|[[:space:]])8080(/tcp)?([[:space:]]|$)' <<<"$(stage_lines "$stages" EXPOSE)"
expect "the run stage does not set ENV TRACKD_LISTEN=0.0.0.0:8080" \
    grep -qE '(^|[[:space:]])TRACKD_LISTEN[= ]"?0\.0\.0\.0:8080"?([[:space:]]|$)' \
    <<<"$(stage_lines "$stages" ENV)"
entrypoint=$(stage_lines "$stages" ENTRYPOINT | tail -n 1)
expect "the ENTRYPOINT ('$entrypoint') is not docker/entrypoint.sh" \
    grep -q 'entrypoint\.sh' <<<"$entrypoint"
expect "the run stage does not COPY docker/entrypoint.sh" \
    grep -qE '(^|[[:space:]])docker/entrypoint\.sh([[:space:]]|$)' <<<"$(stage_lines "$stages" COPY)"

# The account of the run stage is created without a warning (uid 10001 is above SYS_UID_MAX):
# each groupadd/useradd of its RUNs, run with --prefix on a copy of this machine's /etc.
if [[ $(id -u) == 0 ]] && command -v useradd >/dev/null && [[ -r /etc/login.defs ]]; then
    account_commands=$(stage_lines "$stages" RUN | sed -E 's/(&&|\|\||;)/\n/g' |
        sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | grep -E '^(groupadd|useradd)[[:space:]]') || true
    if [[ -z $account_commands ]]; then
        fail "the run stage creates no user (groupadd/useradd)"
    else
        accounts=$(mktemp -d -t trackd-docker-accounts.XXXXXX)
        mkdir -p "$accounts/etc"
        cp /etc/login.defs "$accounts/etc/"
        # An empty account database: only what the commands add.
        grep -E '^root:' /etc/passwd >"$accounts/etc/passwd"
        grep -E '^root:' /etc/group >"$accounts/etc/group"
        grep -E '^root:' /etc/shadow >"$accounts/etc/shadow" 2>/dev/null || : >"$accounts/etc/shadow"
        grep -E '^root:' /etc/gshadow >"$accounts/etc/gshadow" 2>/dev/null || : >"$accounts/etc/gshadow"
        while IFS= read -r command; do
            read -ra words <<<"$command"
            if output=$("${words[0]}" --prefix "$accounts" "${words[@]:1}" 2>&1); then
                if [[ -n $output ]]; then
                    fail "the run stage's '$command' warns: $output"
                else
                    pass
                fi
            else
                fail "the run stage's '$command' fails: $output"
            fi
        done <<<"$account_commands"
        rm -rf -- "$accounts"
    fi
fi

# --- .dockerignore: one, at the root of the build context ----------------------------------------
for ignore in "$root"/docker/*.dockerignore; do
    [[ -e $ignore ]] || continue
    fail "${ignore#"$root"/} exists: keep only the repository's .dockerignore (BuildKit would read" \
        "this one instead of it)"
done
if [[ ! -f $root/.dockerignore ]]; then
    fail ".dockerignore is missing: the whole repository (.git, builds, secrets) goes to the builder"
else
    for kept_out in .git .trackd build secrets .env; do
        expect ".dockerignore does not keep '$kept_out' out of the build context" \
            grep -qxF -- "$kept_out" "$root/.dockerignore"
    done
fi

# --- The scripts of the image --------------------------------------------------------------------
for script in "$root"/docker/*.sh; do
    expect "$(basename "$script") does not parse (bash -n)" \
        bash -n "$script"
    if command -v shellcheck >/dev/null; then
        if output=$(shellcheck -x "$script" 2>&1); then
            pass
        else
            fail "shellcheck finds problems in docker/$(basename "$script"):"
            head -n 30 <<<"$output" | indent >&2
        fi
    fi
done
entry=$root/docker/entrypoint.sh
# shellcheck disable=SC2016 # the patterns name the script's own variables
for pattern in '"\$trackd" migrate' '"\$trackd" workspace list' '"\$trackd" workspace create' \
    '"\$trackd" rules load --workspace' '^[[:space:]]*exec "\$trackd" "\$@"'; do
    expect "docker/entrypoint.sh no longer runs /$pattern/" grep -qE -- "$pattern" "$entry"
done

# --- docker-compose.yml ------------------------------------------------------------------------
if [[ ${DOCKER_CHECK_COMPOSE:-1} == 0 ]]; then
    :
elif ! command -v docker-compose >/dev/null; then
    fail "docker-compose is not installed (Debian's package; scripts/deps.sh installs it)"
else
    # The replicas profile too (Compose v1.28 and later know profiles).
    if profile_out=$(cd "$root" && docker-compose -f docker-compose.yml --profile replicas config 2>&1); then
        pass
    else
        fail "docker-compose --profile replicas config rejects docker-compose.yml:"
        head -n 20 <<<"$profile_out" | indent >&2
    fi
    if compose_out=$(cd "$root" && docker-compose -f docker-compose.yml config 2>&1); then
        pass
        if compose_problems=$(python3 "$here/check_compose.py" "$root" <<<"$compose_out" 2>&1); then
            pass
        else
            fail "docker-compose.yml lacks what issue 8 asks for:"
            indent <<<"$compose_problems" >&2
        fi
    else
        fail "docker-compose config rejects docker-compose.yml:"
        head -n 20 <<<"$compose_out" | indent >&2
    fi
fi

# --- README.md's "Docker" section --------------------------------------------------------------
readme=$root/README.md
if [[ -f $readme ]]; then
    docker_section=$(awk '/^## / { inside = ($0 ~ /^## Docker[[:space:]]*$/) } inside' "$readme")
    if [[ -z $docker_section ]]; then
        fail "README.md has no '## Docker' section"
    else
        # shellcheck disable=SC2016 # literal text of the README
        for text in 'docker compose --profile replicas down' 'docker-compose ' \
            'docker compose run --rm trackd workspace rotate-keys default' \
            'docker compose exec postgres psql' 'ALTER USER'; do
            expect "README.md's Docker section does not show '$text'" \
                grep -qF -- "$text" <<<"$docker_section"
        done
    fi
fi

echo "docker checks: $passes passed, $failures failed"
((failures == 0))
