#!/usr/bin/env bash
# The C ABI from C: checks that crates/pugmark-capi/include/pugmark.h is
# what cbindgen makes of the crate (when cbindgen is installed, or
# PUGMARK_INSTALL_CBINDGEN=1 to install it), compiles examples/c/dlp_check.c
# with -Wall -Wextra -Werror against the static library, and runs it on
# data-samples: a protected copy makes it exit 1, clean files exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."

header=crates/pugmark-capi/include/pugmark.h
if [ "${PUGMARK_INSTALL_CBINDGEN:-0}" = 1 ] && ! command -v cbindgen >/dev/null; then
  cargo install --quiet --locked --root target/tools cbindgen --version 0.29.4
  export PATH="$PWD/target/tools/bin:$PATH"
fi
if command -v cbindgen >/dev/null && [ "$(cbindgen --version)" != "cbindgen 0.29.4" ]; then
  echo "c-example: $(cbindgen --version) is not the pinned 0.29.4: header check skipped"
elif command -v cbindgen >/dev/null; then
  cbindgen --quiet --config crates/pugmark-capi/cbindgen.toml --crate pugmark-capi \
    --output target/pugmark.h.generated
  if ! cmp -s target/pugmark.h.generated "$header"; then
    echo "c-example: $header is stale: regenerate it with cbindgen (see cbindgen.toml)" >&2
    diff -u "$header" target/pugmark.h.generated >&2 || true
    exit 1
  fi
  echo "c-example: $header matches cbindgen's output"
else
  echo "c-example: cbindgen not installed: header check skipped"
fi

# The test profile: what `cargo test` (CI's step before) already built.
cargo build --quiet --profile test -p pugmark-capi -p pugmark-cli
cc -Wall -Wextra -Werror -std=c99 -D_POSIX_C_SOURCE=200809L \
  -Icrates/pugmark-capi/include -o target/dlp_check examples/c/dlp_check.c \
  target/debug/libpugmark_capi.a -lpthread -ldl -lm

# The README's C snippet, as written, inside a main(): it must compile.
awk '/^```c$/{on=1; next} /^```$/{on=0} on' README.md > target/readme-snippet.body
{
  grep '^#include' target/readme-snippet.body
  echo 'int main(void) {'
  grep -v '^#include' target/readme-snippet.body
  echo 'return 0; }'
} > target/readme-snippet.c
cc -Wall -Wextra -Werror -std=c99 -fsyntax-only -Icrates/pugmark-capi/include target/readme-snippet.c
echo "c-example: the README's C snippet compiles"

index=target/c-example-index
rm -rf "$index"
target/debug/pugmark --index "$index" index data-samples/reserve >/dev/null

set +e
target/dlp_check "$index" data-samples/outgoing/dem-copy.tif data-samples/outgoing/patrol-notes.txt
found=$?
target/dlp_check "$index" data-samples/outgoing/patrol-notes.txt data-samples/outgoing/statsmodels_co2_maunaloa.csv
clean=$?
set -e
if [ "$found" -ne 1 ] || [ "$clean" -ne 0 ]; then
  echo "c-example: exit codes $found (want 1: a protected copy) and $clean (want 0: clean files)" >&2
  exit 1
fi
echo "c-example: ok"
