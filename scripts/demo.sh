#!/usr/bin/env bash
# The main job on the bundled samples: index data-samples/reserve (the
# protected data), scan data-samples/outgoing, print a verdict per file.
# Exits 0 when the scan ran and found the expected matches (pugmark scan
# itself exits 1 when anything matches: see README, "Exit codes").
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
bin=target/release/pugmark
index=target/demo-index
rm -rf "$index"

echo "\$ pugmark --index $index index data-samples/reserve"
"$bin" --index "$index" index data-samples/reserve
echo
echo "\$ pugmark --index $index scan data-samples/outgoing"
set +e
"$bin" --index "$index" scan data-samples/outgoing
status=$?
set -e
echo
case "$status" in
  1) echo "scan exit status 1: protected content found (expected for these samples)";;
  *) echo "scan exit status $status: expected 1 (matches found)" >&2; exit 1;;
esac
