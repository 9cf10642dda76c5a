#!/usr/bin/env bash
# Seeds each target's corpus with the repository's own fixtures (small
# files of every format the tests use), so fuzzing starts from valid
# structure. Run from the repository root: bash fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
for target in scan_bytes scan_stream; do
  mkdir -p "corpus/$target"
  find ../tests/fixtures ../data-samples -type f -size -300k ! -name '*.md' \
    -exec cp -n {} "corpus/$target/" \; 2>/dev/null || true
done
ls corpus/scan_bytes | wc -l
