#!/usr/bin/env bash
# Runs every target (or the ones named after SECONDS) for SECONDS each
# (default 300), one after another, with the harness's heap cap, an RSS cap
# and a per-input time limit. Crashes, slow inputs and out-of-memory inputs
# land in fuzz/artifacts/TARGET/; each fixed one is committed under
# tests/fixtures/fuzz/ where `cargo test` replays it.
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use sanitizer flags.
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-300}"
shift || true
export RUSTC_BOOTSTRAP=1
[ -d corpus/index_segment ] || bash seed.sh >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
failed=()
for target in "${targets[@]}"; do
  dict="$(awk -F'\t' -v t="$target" '$1 == t { print $5 }' targets.tsv)"
  extra=()
  [ -n "$dict" ] && [ "$dict" != "-" ] && extra+=("-dict=dict/$dict.dict")
  mkdir -p "artifacts/$target"
  cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2560 -timeout=10 -max_len=1048576 \
    -print_final_stats=1 "${extra[@]}" >"artifacts/$target/last-run.log" 2>&1 \
    || failed+=("$target")
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|==[0-9]+== ERROR|==pugmark-fuzz==)' \
    "artifacts/$target/last-run.log" | sed "s/^/$target: /" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "findings in: ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
