#!/usr/bin/env bash
# healthcheck.sh — the image's HEALTHCHECK: GET /healthz on the port of TRACKD_LISTEN, healthy
# (exit 0) on a 200. Plain bash (/dev/tcp), because the slim image has bash but no curl, and one
# GET does not justify a package.
#
# TRACKD_LISTEN's host is used as given, except that a wildcard (0.0.0.0, ::, empty) is reached
# on loopback. TRACKD_HEALTHCHECK_TIMEOUT bounds the whole check (seconds, default 4, below the
# HEALTHCHECK's own --timeout).
set -euo pipefail

listen=${TRACKD_LISTEN:-127.0.0.1:8080}
port=${listen##*:}
host=${listen%:*}
host=${host#[}
host=${host%]}
case $host in
'' | 0.0.0.0 | '*') host=127.0.0.1 ;;
:: | '::0') host=::1 ;;
esac
timeout_s=${TRACKD_HEALTHCHECK_TIMEOUT:-4}

# With TRACKD_TLS_CERT set trackd speaks only HTTPS: the same GET goes through `openssl s_client`
# (which the image has, from ca-certificates). The certificate is not verified: this checks that
# trackd answers, not who it is.
if [[ -n ${TRACKD_TLS_CERT:-} ]]; then
    status_line=$(printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" |
        timeout "$timeout_s" openssl s_client -quiet -connect "$host:$port" 2>/dev/null |
        head -n 1) || true
    status_line=${status_line%$'\r'}
    if [[ $status_line =~ ^HTTP/1\.[01]\ 200(\ |$) ]]; then
        exit 0
    fi
    echo "healthcheck: GET /healthz over TLS on $host:$port answered '$status_line'" >&2
    exit 1
fi

# shellcheck disable=SC2016 # expanded by the inner bash, which gets host and port as arguments
status_line=$(timeout "$timeout_s" bash -c '
    exec 2>/dev/null 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3
    IFS= read -r line <&3 || exit 1
    printf "%s\n" "$line"
' healthcheck "$host" "$port") || {
    echo "healthcheck: no answer from $host:$port" >&2
    exit 1
}
status_line=${status_line%$'\r'}
if [[ $status_line =~ ^HTTP/1\.[01]\ 200(\ |$) ]]; then
    exit 0
fi
echo "healthcheck: GET /healthz on $host:$port answered '$status_line'" >&2
exit 1
