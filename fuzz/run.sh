#!/usr/bin/env bash
# Runs every target for SECONDS each (default 300) with a memory cap and a
# per-input time limit; crashes and slow inputs land in fuzz/artifacts/.
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
bash fuzz/seed.sh >/dev/null
for target in scan_bytes scan_stream; do
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -max_len=1048576
done
