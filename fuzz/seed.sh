#!/usr/bin/env bash
# Seeds each target's corpus (fuzz/corpus/TARGET) with the repository's own
# small files of that target's formats (patterns in targets.tsv), so fuzzing
# starts from valid structure. scan_bytes and scan_stream get every file;
# envi gets header+raw pairs; index_segment gets a real segment.
# Run from anywhere: bash fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
files() { find ../tests/fixtures ../data-samples -type f -size -1100k ! -name '*.md' "$@"; }
for target in scan_bytes scan_stream; do
  mkdir -p "corpus/$target"
  files -size -300k -exec cp -n {} "corpus/$target/" \;
done
grep -v '^#' targets.tsv | while IFS=$'\t' read -r target _shape _name patterns _dict; do
  mkdir -p "corpus/$target"
  [ "$patterns" = "-" ] && continue
  args=()
  for p in $patterns; do args+=(-o -iname "$p"); done
  files \( "${args[@]:1}" \) -exec cp -n {} "corpus/$target/" \;
done
# Wire protocols: a few well-formed conversations to start from.
mkdir -p corpus/icap_wire corpus/clamd_wire
http='PUT /up/x.tif HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=zz\r\n\r\n'
hlen=$(printf "$http" | wc -c)
printf "REQMOD icap://127.0.0.1/pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=$hlen\r\nPreview: 4\r\nAllow: 204\r\n\r\n$http""4\r\n--zz\r\n0\r\n\r\n2a\r\n\r\nContent-Disposition: form-data; name=a\r\n\r\r\n4\r\nhi\r\n\r\n6\r\n--zz--\r\n0\r\n\r\n" >corpus/icap_wire/reqmod-form
resp='HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n'
rlen=$(printf "$resp" | wc -c)
{ printf "RESPMOD icap://127.0.0.1/pugmark ICAP/1.0\r\nEncapsulated: res-hdr=0, res-body=$rlen\r\n\r\n$resp"
  gz="$(printf 'quiet' | gzip -c | od -An -tx1 | tr -d ' \n')"
  printf '%x\r\n' "$(( ${#gz} / 2 ))"; printf "$(echo "$gz" | sed 's/../\\x&/g')"; printf '\r\n0; ieof\r\n\r\n'; } >corpus/icap_wire/respmod-gzip
printf 'OPTIONS icap://127.0.0.1/pugmark ICAP/1.0\r\nHost: x\r\n\r\n' >corpus/icap_wire/options
printf 'zIDSESSION\0zINSTREAM\0\0\0\0\005hello\0\0\0\0zPING\0zEND\0' >corpus/clamd_wire/session
printf 'nINSTREAM\n\0\0\0\003abc\0\0\0\0' >corpus/clamd_wire/instream
mkdir -p corpus/envi
for hdr in ../tests/fixtures/sci/*.hdr; do
  raw="${hdr%.hdr}.envi"
  [ -f "$raw" ] && { cat "$hdr"; printf '\0'; cat "$raw"; } >"corpus/envi/$(basename "$hdr" .hdr)"
done
mkdir -p corpus/index_segment
idx="$(mktemp -d)"
(cd .. && cargo run --quiet -p pugmark-cli --bin pugmark -- index --index "$idx/i" \
  data-samples/reserve/telemetry data-samples/reserve/photos >/dev/null)
cp "$idx"/i/*.pgs corpus/index_segment/
rm -rf "$idx"
for d in corpus/*; do printf '%s %s\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
