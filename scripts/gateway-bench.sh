#!/usr/bin/env bash
# Side-by-side gateway figures: `pugmark serve` (INSTREAM over its Unix
# socket and TCP, ICAP REQMOD) against clamd itself (INSTREAM), on the same
# machine, the same bodies and the same client (scripts/gateway_bench.py).
# clamd runs with a small local signature database: one .hdb of the MD5s of
# data-samples/reserve (nothing can be downloaded here), and the limits
# raised so it examines what pugmark examines. Bodies, all built from
# data-samples: ~10 KB (station-logs.tar.gz), ~1 MB and ~20 MB (tar files
# of the outgoing samples, protected copies inside). Installs clamav-daemon
# with apt-get when PUGMARK_INSTALL_CLIENTS=1. Loopback only; a few minutes.
# Prints a Markdown table; quote ratios from one run, not absolute times.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /usr/sbin/clamd ]; then
  if [ "${PUGMARK_INSTALL_CLIENTS:-0}" = 1 ]; then
    apt-get update -qq >/dev/null
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clamav-daemon >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "gateway-bench: clamd is not installed (PUGMARK_INSTALL_CLIENTS=1 installs it)" >&2
    exit 1
  fi
fi

cargo build --quiet --release -p pugmark-cli
bin="$PWD/target/release/pugmark"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
concurrency=${CONCURRENCY:-4}

# Bodies.
mkdir -p "$work/bodies" "$work/db" "$work/tmp"
cp data-samples/outgoing/station-logs.tar.gz "$work/bodies/10k.tar.gz"
tar -C data-samples/outgoing -cf "$work/bodies/1m.tar" \
  dem-copy.tif field-report-bundle.bin flower-framed.png landsat-rgb-jpeg.tif mail-to-press.eml station-series.nc
mkdir -p "$work/many"
for i in $(seq 1 13); do
  mkdir -p "$work/many/copy$i"
  cp data-samples/outgoing/* "$work/many/copy$i/"
done
tar -C "$work/many" -cf "$work/bodies/20m.tar" .
rm -rf "$work/many"

# The protected set: pugmark's index and clamd's .hdb of the same files.
"$bin" --index "$work/idx" index data-samples/reserve >/dev/null
find data-samples/reserve -type f | sort | while read -r f; do
  printf '%s:%s:Pugmark.Bench.%s\n' "$(md5sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$(basename "$f" | tr -c 'A-Za-z0-9\n' '_')"
done >"$work/db/reserve.hdb"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
clamd_port=$(free_port)
pug_port=$(free_port)
icap_port=$(free_port)
cat >"$work/clamd.conf" <<CONF
LocalSocket $work/clamd.sock
TCPSocket $clamd_port
TCPAddr 127.0.0.1
DatabaseDirectory $work/db
TemporaryDirectory $work/tmp
PidFile $work/clamd.pid
LogFile $work/clamd.log
Foreground yes
MaxThreads $((2 * $(nproc)))
StreamMaxLength 100M
MaxScanSize 400M
MaxFileSize 100M
CONF
/usr/sbin/clamd --config-file="$work/clamd.conf" >/dev/null 2>&1 &
pids+=($!)
"$bin" --index "$work/idx" serve --clamd "unix:$work/pugmark.sock" \
  --clamd "tcp:127.0.0.1:$pug_port" --icap "127.0.0.1:$icap_port" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 600); do
  [ -S "$work/clamd.sock" ] && [ -S "$work/pugmark.sock" ] && break
  sleep 0.1
done
[ -S "$work/clamd.sock" ] || { echo "gateway-bench: clamd never listened" >&2; cat "$work/clamd.log" >&2; exit 1; }

run() { python3 scripts/gateway_bench.py "$@"; }
echo "| body | server, protocol | requests/s | p50 ms | p99 ms | answers |"
echo "|---|---|---|---|---|---|"
for body in 10k.tar.gz 1m.tar 20m.tar; do
  case $body in
    10k*) n=400 ;;
    1m*) n=100 ;;
    *) n=16 ;;
  esac
  f="$work/bodies/$body"
  for target in "clamd, INSTREAM (Unix)|instream-unix|$work/clamd.sock" \
    "pugmark, INSTREAM (Unix)|instream-unix|$work/pugmark.sock" \
    "clamd, INSTREAM (TCP)|instream-tcp|127.0.0.1:$clamd_port" \
    "pugmark, INSTREAM (TCP)|instream-tcp|127.0.0.1:$pug_port" \
    "pugmark, ICAP REQMOD|icap|127.0.0.1:$icap_port"; do
    IFS='|' read -r label mode addr <<<"$target"
    # One warm-up round, then the measured one.
    run "$mode" "$addr" "$f" "$concurrency" "$concurrency" >/dev/null
    run "$mode" "$addr" "$f" "$concurrency" "$n" | python3 -c '
import json, sys
r = json.load(sys.stdin)
answers = ", ".join("%s x%d" % (k[:40], v) for k, v in r["answers"].items())
print("| %s (%d B) | %s | %s | %s | %s | %s |" % (sys.argv[1], r["bytes"], sys.argv[2], r["rps"], r["p50_ms"], r["p99_ms"], answers))
' "$body" "$label"
  done
done
echo
echo "concurrency $concurrency, $(nproc) cores; clamd $(/usr/sbin/clamd --version | cut -d/ -f1)"
