#!/usr/bin/env bash
# Real clamd clients nobody here wrote, against `pugmark serve`: clamdscan
# (Debian package clamdscan) over a Unix socket and a loopback TCP port,
# with --stream (INSTREAM), --fdpass (FILDES) and plain path scans (SCAN
# below --scan-root). Protected copies must print FOUND and innocent files
# OK, with clamdscan's exit codes (0 clean, 1 found, 2 error); a path
# outside the allowed root is an error; SIGTERM stops the server with exit
# 0. PUGMARK_INSTALL_CLIENTS=1 installs clamdscan with apt-get first.
# Loopback only, bounded by timeouts; takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clamdscan >/dev/null; then
  if [ "${PUGMARK_INSTALL_CLIENTS:-0}" = 1 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clamdscan >/dev/null
  else
    echo "gateway-clients: clamdscan is not installed (PUGMARK_INSTALL_CLIENTS=1 installs it)" >&2
    exit 1
  fi
fi

cargo build --quiet -p pugmark-cli
bin="$PWD/target/debug/pugmark"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --index "$work/idx" index data-samples/reserve >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
outgoing="$PWD/data-samples/outgoing"
timeout 300 "$bin" --index "$work/idx" serve \
  --clamd "unix:$work/clamd.sock" --clamd "tcp:127.0.0.1:$port" \
  --scan-root "$outgoing" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 300); do
  [ -S "$work/clamd.sock" ] && break
  sleep 0.1
done
[ -S "$work/clamd.sock" ] || { echo "gateway-clients: the server never listened" >&2; cat "$work/serve.log" >&2; exit 1; }
printf 'LocalSocket %s\n' "$work/clamd.sock" >"$work/unix.conf"
printf 'TCPSocket %s\nTCPAddr 127.0.0.1\n' "$port" >"$work/tcp.conf"

failures=0
checks=0
# expect EXIT TEXT CLAMDSCAN-ARGS...: clamdscan exits EXIT and prints TEXT.
expect() {
  local want_exit=$1 want_text=$2
  shift 2
  local out got
  set +e
  out=$(timeout 60 clamdscan --no-summary "$@" 2>&1)
  got=$?
  set -e
  checks=$((checks + 1))
  if [ "$got" != "$want_exit" ] || ! grep -q -- "$want_text" <<<"$out"; then
    echo "FAIL: clamdscan $* -> exit $got (want $want_exit, text '$want_text'):" >&2
    echo "$out" >&2
    failures=$((failures + 1))
  else
    echo "ok: clamdscan $* -> exit $got: $(head -1 <<<"$out")"
  fi
}

protected="$outgoing/dem-copy.tif"
innocent="$outgoing/patrol-notes.txt"
for conf in unix tcp; do
  expect 1 "Pugmark.Match.exact FOUND" --config-file="$work/$conf.conf" --stream "$protected"
  expect 0 "patrol-notes.txt: OK" --config-file="$work/$conf.conf" --stream "$innocent"
done
expect 1 "Pugmark.Match.exact FOUND" --config-file="$work/unix.conf" --fdpass "$protected"
expect 0 "patrol-notes.txt: OK" --config-file="$work/unix.conf" --fdpass "$innocent"
expect 1 "Pugmark.Match.raster FOUND" --config-file="$work/unix.conf" --fdpass --multiscan "$outgoing"
expect 1 "Pugmark.Match" --config-file="$work/unix.conf" "$protected"
expect 0 "patrol-notes.txt: OK" --config-file="$work/unix.conf" "$innocent"
expect 2 "not below an allowed scan root ERROR" --config-file="$work/unix.conf" "$PWD/data-samples/reserve/rasters/rmnp-dem.tif"

kill -TERM "$pid"
set +e
wait "$pid"
status=$?
set -e
pid=
checks=$((checks + 1))
if [ "$status" != 0 ] || [ -e "$work/clamd.sock" ]; then
  echo "FAIL: SIGTERM: exit $status, socket left: $([ -e "$work/clamd.sock" ] && echo yes || echo no)" >&2
  failures=$((failures + 1))
fi
logged=$(grep -c '"verdict"' "$work/serve.log" || true)
echo "gateway-clients: $logged verdicts logged"
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" = 0 ]
