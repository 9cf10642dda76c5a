#!/usr/bin/env bash
# The main job on the bundled samples: index data-samples/reserve (the
# protected data), scan data-samples/outgoing, print a verdict per file.
# Exits 0 when the scan ran and every outgoing sample got the verdict it is
# there for (these four are innocent and must be clean, every other one
# holds protected data and must match); pugmark scan itself exits 1 when
# anything matches: see README, "Exit codes".
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building pugmark (release; the first build takes a few minutes)"
cargo build --release
bin=target/release/pugmark
index=target/demo-index
rm -rf "$index"

echo
echo "\$ pugmark --index $index index data-samples/reserve"
"$bin" --index "$index" index data-samples/reserve
echo
report=target/demo-report
echo "\$ pugmark --index $index scan data-samples/outgoing --report $report --report-protected-thumbnails"
set +e
"$bin" --index "$index" scan data-samples/outgoing --report "$report" --report-protected-thumbnails
status=$?
set -e
[ -f "$report/index.html" ] || { echo "no evidence report in $report" >&2; exit 1; }
echo
case "$status" in
  1) echo "scan exit status 1: protected content found (expected for these samples)";;
  *) echo "scan exit status $status: expected 1 (matches found)" >&2; exit 1;;
esac

# Each sample's verdict, from the JSON Lines (one report per line, its path
# and verdict first).
innocent=" notes-archive.tar.xz patrol-notes.txt skimage_horse.png statsmodels_co2_maunaloa.csv "
wrong=0
checked=0
clean=0
incomplete=0
while read -r path verdict; do
  name=${path##*/}
  case "$innocent" in
    *" $name "*) want=clean;;
    *) want=match;;
  esac
  if [ "$name" = encrypted-upload.zip ]; then want=incomplete; fi
  checked=$((checked + 1))
  if [ "$verdict" = clean ]; then clean=$((clean + 1)); fi
  if [ "$verdict" = incomplete ]; then incomplete=$((incomplete + 1)); fi
  if [ "$verdict" != "$want" ]; then
    echo "unexpected verdict for $name: $verdict (expected $want)" >&2
    wrong=$((wrong + 1))
  fi
done < <("$bin" --index "$index" scan --json data-samples/outgoing 2>/dev/null \
  | sed -E 's/^\{"schema":[0-9]+,"path":"([^"]*)","verdict":"([^"]*)".*/\1 \2/')
if [ "$checked" -ne "$(find data-samples/outgoing -maxdepth 1 -type f | wc -l)" ] || [ "$wrong" -ne 0 ]; then
  echo "verdict check failed: $wrong wrong of $checked" >&2
  exit 1
fi
echo "evidence report (open it in a browser): $report/index.html"
echo "verdicts checked: all $checked samples as expected ($clean clean, $incomplete incomplete, $((checked - clean - incomplete)) match)"
