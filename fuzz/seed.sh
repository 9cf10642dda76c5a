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
