#!/usr/bin/env bash
# Real gateway clients nobody here wrote, against `pugmark serve`:
# - clamdscan (Debian package clamdscan) over a Unix socket and a loopback
#   TCP port, with --stream (INSTREAM), --fdpass (FILDES) and plain path
#   scans (SCAN below --scan-root). Protected copies must print FOUND and
#   innocent files OK, with clamdscan's exit codes (0 clean, 1 found, 2
#   error); a path outside the allowed root is an error.
# - c-icap-client (package c-icap): OPTIONS, REQMOD and RESPMOD of
#   protected files are blocked (HTTP 403), innocent ones get 204, or come
#   back unchanged when 204 is not allowed; the ISTag changes when the index
#   does.
# - Squid (package squid) on loopback with pugmark as its REQMOD and
#   RESPMOD service (bypass=0), and curl through it: protected uploads (PUT,
#   POST, multipart forms), protected records in a GET's query string and
#   protected downloads are blocked; innocent ones pass unchanged.
# SIGTERM then stops the server with exit 0. PUGMARK_INSTALL_CLIENTS=1
# installs the clients with apt-get first. Loopback only, bounded by
# timeouts; takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v clamdscan >/dev/null || missing+=(clamdscan)
command -v c-icap-client >/dev/null || missing+=(c-icap)
command -v squid >/dev/null || [ -x /usr/sbin/squid ] || missing+=(squid)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${PUGMARK_INSTALL_CLIENTS:-0}" = 1 ]; then
    apt-get update -qq >/dev/null
    # Services the packages would start are not wanted: the script starts
    # what it needs, on loopback.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "gateway-clients: ${missing[*]} not installed (PUGMARK_INSTALL_CLIENTS=1 installs them)" >&2
    exit 1
  fi
fi
squid=$(command -v squid || echo /usr/sbin/squid)

# The test profile: what `cargo test` already built.
cargo build --quiet --profile test -p pugmark-cli
bin="$PWD/target/debug/pugmark"
work=$(mktemp -d)
pid=
squid_pid=
upstream_pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$squid_pid" ] && kill "$squid_pid" 2>/dev/null || true
  [ -n "$upstream_pid" ] && kill "$upstream_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --index "$work/idx" index data-samples/reserve >/dev/null
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
icap_port=$(free_port)
outgoing="$PWD/data-samples/outgoing"
timeout 300 "$bin" --index "$work/idx" serve \
  --clamd "unix:$work/clamd.sock" --clamd "tcp:127.0.0.1:$port" \
  --icap "127.0.0.1:$icap_port" \
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

# check NAME WANT-TEXT OUTPUT: OUTPUT holds WANT-TEXT.
check() {
  checks=$((checks + 1))
  if grep -q -- "$2" <<<"$3"; then
    echo "ok: $1: $(grep -m1 -- "$2" <<<"$3" | tr -d '\t')"
  else
    echo "FAIL: $1: no '$2' in:" >&2
    echo "$3" | head -40 >&2
    failures=$((failures + 1))
  fi
}

# ICAP with c-icap-client.
icap() { timeout 60 c-icap-client -i 127.0.0.1 -p "$icap_port" -s pugmark -v "$@" 2>&1 || true; }
options=$(icap)
check "c-icap-client OPTIONS" "Methods: REQMOD, RESPMOD" "$options"
istag=$(grep -m1 'ISTag' <<<"$options" | tr -d '\t\r')
check "c-icap-client REQMOD protected" "HTTP/1.1 403 Forbidden" "$(icap -f "$protected" -req http://example.org/upload/dem-copy.tif)"
check "c-icap-client RESPMOD protected" "HTTP/1.1 403 Forbidden" "$(icap -f "$outgoing/station-logs.tar.gz" -resp http://example.org/logs.tar.gz)"
check "c-icap-client REQMOD innocent" "ICAP/1.0 204" "$(icap -f "$innocent" -req http://example.org/upload/notes.txt)"
check "c-icap-client REQMOD innocent, preview 0" "ICAP/1.0 204" "$(icap -w 0 -f "$outgoing/notes-archive.tar.xz" -req http://example.org/upload/a.tar.xz)"
icap -no204 -nopreview -f "$innocent" -req http://example.org/upload/notes.txt -o "$work/echoed" >/dev/null
check "c-icap-client REQMOD innocent without 204: echoed unchanged" "same" "$(cmp "$work/echoed" "$innocent" && echo same)"
icap -no204 -w 100 -f "$outgoing/skimage_horse.png" -resp http://example.org/horse.png -o "$work/echoed2" >/dev/null
check "c-icap-client RESPMOD innocent after a preview, without 204: echoed unchanged" "same" "$(cmp "$work/echoed2" "$outgoing/skimage_horse.png" && echo same)"

# Squid in front of a small upstream, pugmark as its ICAP service.
upstream_port=$(free_port)
squid_port=$(free_port)
mkdir -m 0777 "$work/squid"
chmod 0755 "$work"
cat >"$work/upstream.py" <<'PY'
import http.server, os, sys
root = sys.argv[2]
class Upstream(http.server.BaseHTTPRequestHandler):
    def answer(self, body, code=200):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        path = os.path.join(root, os.path.basename(self.path.split("?")[0]))
        if os.path.isfile(path):
            self.answer(open(path, "rb").read())
        else:
            self.answer(b"no such file\n", 404)
    def stored(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.answer(b"stored %d bytes\n" % len(self.rfile.read(n)))
    do_PUT = do_POST = stored
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Upstream).serve_forever()
PY
timeout 240 python3 "$work/upstream.py" "$upstream_port" "$outgoing" &
upstream_pid=$!
cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:$squid_port
visible_hostname pugmark-test
pid_filename $work/squid/squid.pid
cache_log $work/squid/cache.log
access_log $work/squid/access.log
cache_store_log none
coredump_dir $work/squid
cache deny all
cache_mem 8 MB
http_access allow localhost
http_access deny all
icap_enable on
icap_service pugmark_req reqmod_precache icap://127.0.0.1:$icap_port/pugmark bypass=0
adaptation_access pugmark_req allow all
icap_service pugmark_resp respmod_precache icap://127.0.0.1:$icap_port/pugmark bypass=0
adaptation_access pugmark_resp allow all
shutdown_lifetime 1 seconds
CONF
timeout 240 "$squid" -N -f "$work/squid.conf" >"$work/squid/out.log" 2>&1 &
squid_pid=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$squid_port/" 2>/dev/null && break
  sleep 0.1
done
via() { timeout 60 curl -s -H 'Expect:' -x "http://127.0.0.1:$squid_port" -o "$work/got" -w 'HTTP %{http_code}' "$@" || true; }
up="http://127.0.0.1:$upstream_port"
check "Squid: curl -T protected" "HTTP 403" "$(via -T "$protected" "$up/upload/dem-copy.tif")"
check "Squid: curl --data-binary protected" "HTTP 403" "$(via --data-binary "@$outgoing/station-logs.tar.gz" "$up/post")"
check "Squid: curl -F (multipart form) protected" "HTTP 403" "$(via -F "file=@$outgoing/camera-trap-upload.zip" "$up/form")"
check "Squid: block page names the evidence id" "Evidence id" "$(cat "$work/got")"
check "Squid: curl -T innocent" "HTTP 200" "$(via -T "$innocent" "$up/upload/notes.txt")"
check "Squid: innocent upload arrives whole" "stored $(stat -c %s "$innocent") bytes" "$(cat "$work/got")"
check "Squid: curl --data-binary innocent" "HTTP 200" "$(via --data-binary "@$outgoing/notes-archive.tar.xz" "$up/post")"
check "Squid: curl -F innocent" "HTTP 200" "$(via -F "file=@$outgoing/skimage_horse.png" "$up/form")"
check "Squid: download of a protected file" "HTTP 403" "$(via "$up/dem-copy.tif")"
check "Squid: download of an innocent file" "HTTP 200" "$(via "$up/skimage_horse.png")"
check "Squid: innocent download arrives unchanged" "same" "$(cmp "$work/got" "$outgoing/skimage_horse.png" && echo same)"
sed -n '41,54p' data-samples/reserve/telemetry/vega_seattle-weather.csv >"$work/rows.csv"
check "Squid: protected records in a GET's query string" "HTTP 403" "$(via -G --data-urlencode "rows@$work/rows.csv" "$up/collect")"
check "Squid: an ordinary GET with a query" "HTTP 200" "$(via -G --data-urlencode "q=waterhole levels" "$up/skimage_horse.png")"

# The ISTag follows the index: a new protected item changes it.
"$bin" --index "$work/idx" index "$outgoing/patrol-notes.txt" >/dev/null
new_istag=$istag
for _ in $(seq 1 100); do
  new_istag=$(icap | grep -m1 'ISTag' | tr -d '\t\r')
  [ "$new_istag" != "$istag" ] && break
  sleep 0.1
done
check "ISTag changes when the index does ($istag -> $new_istag)" "changed" "$([ "$new_istag" != "$istag" ] && echo changed)"
check "c-icap-client REQMOD of the newly protected file" "HTTP/1.1 403 Forbidden" "$(icap -f "$innocent" -req http://example.org/upload/notes.txt)"

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
