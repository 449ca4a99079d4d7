#!/usr/bin/env bash
# check_links.sh — the documentation stands on its own: a reader of a checkout (or of the
# repository on a forge) is never sent to a file outside it. Reads README.md, CONTRIBUTING.md,
# BENCHMARKS.md, rules/README.md and docs/*.md, and reports, naming file and line:
#
#   links       a markdown link or image, `[text](target)` or `[id]: target`, outside code, whose
#               target is not http(s), mailto or an #anchor of the same page, and does not
#               resolve (relative to the file, anchor and query dropped) to a file or directory
#               inside the repository: a missing file, a path that climbs out of the repository
#               (even one that comes back in, like ../trackd/README.md, which works only in a
#               checkout of that name), an absolute path, another scheme (file:, ftp:, ...);
#   paths       anywhere in the text, code included: `../shared`, `/work/`, a relative path that
#               climbs above the repository root from the file's directory
#               (`../../elsewhere/x`, `docs/../../x`), and the name of a markdown file (`NOTES.md`,
#               `docs/setup.md`) that exists neither beside the file nor from the repository root;
#   issues      "issue 8", "Issue #12", "issues 7": numbers of an issue tracker the reader
#               does not have.
#
# It also fails when one of README.md, CONTRIBUTING.md, BENCHMARKS.md, rules/README.md and
# docs/schema.md is missing.
#
#   tests/docs/check_links.sh [ROOT]     ROOT: a checkout (default: this one)
#
# Prints every problem and exits 1 if there is any, 0 otherwise. URLs are not fetched.
# tests/docs/check_links_selftest.sh plants one problem of each kind in a copy and expects this
# script to fail on each.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "${1:-$here/../..}" && pwd -P)
cd "$root"

problems=0

# problem FILE LINE MESSAGE (LINE empty: the file as a whole)
problem() {
    printf '%s%s: %s\n' "$1" "${2:+:$2}" "$3"
    problems=$((problems + 1))
}

# inside PATH: true when the absolute, normalised PATH is the root or below it.
inside() {
    [[ $1 == "$root" || $1 == "$root"/* ]]
}

# resolve BASE_DIR RELATIVE: sets REPLY to "$root/BASE_DIR/RELATIVE" normalised by its text alone
# ("." and ".." segments and repeated slashes removed; links are not followed: where a link
# points is the repository's business, not the reader's). Pure bash: it runs for many tokens.
resolve() {
    local IFS=/ part
    local -a parts kept=()
    read -r -a parts <<<"$root/$1/$2"
    for part in "${parts[@]}"; do
        case $part in
        '' | .) ;;
        ..) ((${#kept[@]} == 0)) || unset 'kept[${#kept[@]}-1]' ;;
        *) kept+=("$part") ;;
        esac
    done
    REPLY="/${kept[*]}"
}

# climbs_out BASE_DIR RELATIVE: true when RELATIVE, followed from BASE_DIR (both relative to the
# root), goes above the root at any point, even if it comes back in: `../trackd/x` from the root
# works only in a checkout named trackd.
climbs_out() {
    local IFS=/ part depth=0
    local -a parts
    read -r -a parts <<<"$1/$2"
    for part in "${parts[@]}"; do
        case $part in
        '' | .) ;;
        ..) ((--depth >= 0)) || return 0 ;;
        *) ((++depth)) ;;
        esac
    done
    return 1
}

# dir_of FILE: sets REPLY to the directory of a path relative to the root ("." for a top file).
dir_of() {
    if [[ $1 == */* ]]; then REPLY=${1%/*}; else REPLY=.; fi
}

required=(README.md CONTRIBUTING.md BENCHMARKS.md rules/README.md docs/schema.md)
for f in "${required[@]}"; do
    [[ -f $f ]] || problem "$f" "" "missing: the documentation must include it"
done

shopt -s nullglob
files=()
for f in README.md CONTRIBUTING.md BENCHMARKS.md rules/README.md docs/*.md; do
    [[ -f $f ]] && files+=("$f")
done
shopt -u nullglob

# prose FILE: the file with fenced code blocks blanked and inline code spans removed, one output
# line per input line (so line numbers hold): what a markdown renderer would read links from.
prose() {
    awk '
        /^[ \t]*(```|~~~)/ { fenced = !fenced; print ""; next }
        fenced { print ""; next }
        { gsub(/``[^`]*``/, ""); gsub(/`[^`]*`/, ""); print }
    ' "$1"
}

# check_link FILE LINE TARGET
check_link() {
    local file=$1 line=$2 target=$3 path dir resolved
    case $target in
    http://* | https://* | mailto:* | '#'*) return ;;
    /*)
        problem "$file" "$line" "link to an absolute path: $target (link to files of the repository by a relative path)"
        return
        ;;
    esac
    if [[ $target =~ ^[A-Za-z][A-Za-z0-9+.-]*: ]]; then
        problem "$file" "$line" "link with scheme ${BASH_REMATCH[0]} $target (only http(s) and mailto links may leave the repository)"
        return
    fi
    path=${target%%#*}
    path=${path%%\?*}
    path=${path//%20/ }
    [[ -n $path ]] || return 0
    dir_of "$file"
    dir=$REPLY
    resolve "$dir" "$path"
    resolved=$REPLY
    if climbs_out "$dir" "$path" || ! inside "$resolved"; then
        problem "$file" "$line" "link leaves the repository: $target"
    elif [[ ! -e $resolved ]]; then
        problem "$file" "$line" "link to a file that is not in the repository: $target"
    fi
}

# A path-like token: characters of file names with at least one slash, not inside a URL or
# another word (so the path of https://host/a/../b is not one).
path_token='(?<![\w.~/:%@+-])[\w.~+-]*(?:/[\w.~+-]*)+'
# A markdown file named in the text, with or without directories (a full stop may follow it).
md_token='(?<![\w.~/:%@+-])[\w.~/+-]*[\w-]\.md(?![\w~/-])(?!\.[\w~/-])'

for file in "${files[@]}"; do
    dir_of "$file"
    dir=$REPLY

    # Links and images, inline ([text](target), [text](<target> "title")) and by reference
    # ([id]: target), outside code.
    while IFS=: read -r line target; do
        check_link "$file" "$line" "$target"
    done < <(prose "$file" | grep -noP '\]\(\s*<?\K[^)\s>]+' || true)
    while IFS=: read -r line target; do
        check_link "$file" "$line" "$target"
    done < <(prose "$file" | grep -noP '^ {0,3}\[[^\]]+\]:\s*<?\K[^\s>]+' || true)

    # Places outside any repository that these docs once pointed to.
    while IFS=: read -r line _; do
        problem "$file" "$line" "mentions ../shared, which is outside the repository"
    done < <(grep -nF '../shared' "$file" || true)
    while IFS=: read -r line _; do
        problem "$file" "$line" "mentions /work/, a path outside the repository"
    done < <(grep -nF '/work/' "$file" || true)

    # Relative paths that climb above the root from the file's directory.
    while IFS=: read -r line token; do
        case $token in
        /*) continue ;;
        ../* | */../* | */..) ;;
        *) continue ;;
        esac
        if climbs_out "$dir" "$token"; then
            problem "$file" "$line" "path climbs out of the repository: $token"
        fi
    done < <(grep -noP "$path_token" "$file" || true)

    # Markdown files named in the text must be in the repository.
    while IFS=: read -r line token; do
        [[ $token == /* ]] && continue # an absolute path is caught above when it matters
        resolve "$dir" "$token"
        by_file=$REPLY
        resolve . "$token"
        by_root=$REPLY
        if { inside "$by_file" && [[ -f $by_file ]]; } || { inside "$by_root" && [[ -f $by_root ]]; }; then
            continue
        fi
        problem "$file" "$line" "names $token, which is not in the repository"
    done < <(grep -noP "$md_token" "$file" || true)

    # Issue numbers.
    while IFS=: read -r line match; do
        problem "$file" "$line" "refers to an issue by number (\"$match\"); say what it is instead"
    done < <(grep -noiP '\bissues?\s*#?\s*\d+' "$file" || true)
done

if ((problems > 0)); then
    echo "check_links: $problems problem(s) in the documentation" >&2
    exit 1
fi
echo "check_links: ${#files[@]} files, no link or path leaves the repository"
