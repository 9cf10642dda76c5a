#!/usr/bin/env bash
# Side-by-side comparison of pugmark with its peers on this machine.
#
# Installs the peers (b3sum with cargo; pdqhash, imagehash, Pillow and numpy
# with pip in a venv; GDAL's gdal-bin with apt when running as root),
# generates the inputs under target/compare/, runs peer and pugmark
# alternately RUNS times, and prints a markdown table of medians and ratios
# (also written to target/compare/results.md). Never run by CI.
#
#   scripts/compare.sh            # all groups
#   RUNS=7 scripts/compare.sh     # more repetitions
#   BIG_MB=512 scripts/compare.sh # smaller random file for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
BIG_MB=${BIG_MB:-2048}
work=target/compare
peers=target/peers
mkdir -p "$work" "$peers"

log() { echo "== $*" >&2; }

# ---- peers -------------------------------------------------------------
if [ ! -x "$peers/bin/b3sum" ]; then
  log "installing b3sum (cargo)"
  cargo install --quiet --root "$peers" b3sum
fi
if ! "$peers/venv/bin/python" -c "import pdqhash, imagehash, PIL, numpy, pandas" 2>/dev/null; then
  log "installing pdqhash, imagehash, Pillow, numpy, pandas (pip venv)"
  [ -x "$peers/venv/bin/python" ] || python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install --quiet pdqhash imagehash pillow numpy pandas
fi
if ! command -v gdalinfo >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    log "installing gdal-bin (apt)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin >/dev/null
  else
    log "gdalinfo missing and not root: raster comparison skipped"
  fi
fi
py="$peers/venv/bin/python"

log "building pugmark (release)"
cargo build --release --quiet
pm=target/release/pugmark

# ---- inputs ------------------------------------------------------------
big="$work/random-${BIG_MB}M.bin"
if [ ! -f "$big" ]; then
  log "generating $big"
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom > "$big"
fi
jpegs="$work/jpeg-1080p"
if [ ! -d "$jpegs" ]; then
  log "generating 1080p JPEGs"
  mkdir -p "$jpegs"
  "$py" - "$jpegs" <<'PY'
import sys, glob
from PIL import Image
out = sys.argv[1]
srcs = sorted(glob.glob("tests/fixtures/pdq/jpeg/dih_*.jpg") + glob.glob("tests/fixtures/images/*.jpg")
              + glob.glob("data-samples/reserve/photos/*"))
for i in range(60):
    im = Image.open(srcs[i % len(srcs)]).convert("RGB").resize((1920, 1080), Image.BILINEAR)
    if i >= len(srcs):
        im = im.rotate(180) if i % 2 else im.transpose(Image.FLIP_LEFT_RIGHT)
    im.save(f"{out}/photo-{i:03}.jpg", quality=90)
PY
fi
dem="$work/dem-2048.tif"
if [ ! -f "$dem" ] && command -v gdal_translate >/dev/null; then
  log "generating $dem"
  gdal_translate -q -outsize 2048 2048 -r bilinear -ot UInt16 -co COMPRESS=LZW \
    data-samples/reserve/rasters/rmnp-dem.tif "$dem"
fi

csv="$work/station-log.csv"
if [ ! -f "$csv" ]; then
  log "generating $csv (about 250 MB)"
  "$py" - "$csv" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as out:
    out.write("timestamp,station,temp_c,rh_pct,wind_ms,wind_dir,pressure_hpa,rain_mm,solar_wm2,qc\n")
    for i in range(4_000_000):
        d, h, m = i // 1440, (i // 60) % 24, i % 60
        out.write(f"2024-{1 + (d // 28) % 12:02}-{1 + d % 28:02}T{h:02}:{m:02}:00Z,ST{random.randrange(7):03},"
                  f"{-10 + random.randrange(4000) / 100:.2f},{20 + random.randrange(800) / 10:.1f},"
                  f"{random.randrange(2000) / 100:.2f},{random.randrange(360)},{950 + random.randrange(900) / 10:.1f},"
                  f"{random.randrange(50) / 10:.1f},{random.randrange(1100)},{'E' if random.randrange(97) == 0 else 'A'}\n")
PY
fi

# ---- timing helpers ----------------------------------------------------
# wall seconds of one command; a command that fails stops the script (a
# failed peer must not show up as a fast one)
wall() {
  local s e
  s=$(date +%s.%N)
  if ! "$@" >/dev/null 2>"$work/last-stderr"; then
    echo "failed: $*" >&2; cat "$work/last-stderr" >&2; exit 1
  fi
  e=$(date +%s.%N); calc "$e - $s"
}
# arithmetic without bc
calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

rows=()
row() { rows+=("$1"); }

# ---- bytes: pugmark index vs b3sum ---------------------------------------
for t in 1 2; do
  pt=(); bt=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$work/idx"
    pt+=("$(wall "$pm" --index "$work/idx" index --threads "$t" "$big")")
    bt+=("$(wall "$peers/bin/b3sum" --num-threads "$t" "$big")")
  done
  p=$(printf '%s\n' "${pt[@]}" | median); b=$(printf '%s\n' "${bt[@]}" | median)
  gp=$(calc "$BIG_MB / 1024 / $p"); gb=$(calc "$BIG_MB / 1024 / $b")
  row "$(printf '| bytes, %s MiB file, %s thread(s) | pugmark index %.2f GiB/s | b3sum %.2f GiB/s | %.2fx |' "$BIG_MB" "$t" "$gp" "$gb" "$(calc "$gp / $gb")")"
done
rm -rf "$work/idx"

# ---- image: 1080p JPEG to PDQ, one core ---------------------------------
n=$(ls "$jpegs" | wc -l)
pt=(); qt=(); ht=()
for _ in $(seq "$RUNS"); do
  pt+=("$(wall taskset -c 0 "$pm" fingerprint --json "$jpegs"/*.jpg)")
  qt+=("$(wall taskset -c 0 "$py" -c "
import sys, glob, numpy as np, pdqhash
from PIL import Image
for f in sorted(glob.glob('$jpegs/*.jpg')):
    pdqhash.compute(np.asarray(Image.open(f).convert('RGB')))
")")
  ht+=("$(wall taskset -c 0 "$py" -c "
import glob, imagehash
from PIL import Image
for f in sorted(glob.glob('$jpegs/*.jpg')):
    imagehash.phash(Image.open(f))
")")
done
p=$(printf '%s\n' "${pt[@]}" | median); q=$(printf '%s\n' "${qt[@]}" | median); h=$(printf '%s\n' "${ht[@]}" | median)
ip=$(calc "$n / $p"); iq=$(calc "$n / $q"); ih=$(calc "$n / $h")
row "$(printf '| 1080p JPEG -> PDQ, 1 core, %s images | pugmark fingerprint %.1f img/s | Pillow + pdqhash %.1f img/s | %.2fx |' "$n" "$ip" "$iq" "$(calc "$ip / $iq")")"
row "$(printf '| 1080p JPEG -> perceptual hash, 1 core | pugmark fingerprint %.1f img/s | Pillow + imagehash.phash %.1f img/s | %.2fx |' "$ip" "$ih" "$(calc "$ip / $ih")")"

# ---- raster: fingerprint vs gdalinfo -checksum --------------------------
if [ -f "$dem" ]; then
  pt=(); gt=()
  for _ in $(seq "$RUNS"); do
    pt+=("$(wall taskset -c 0 "$pm" fingerprint "$dem")")
    gt+=("$(wall taskset -c 0 gdalinfo -checksum "$dem")")
  done
  p=$(printf '%s\n' "${pt[@]}" | median); g=$(printf '%s\n' "${gt[@]}" | median)
  row "$(printf '| raster 2048x2048 UInt16 LZW, 1 core | pugmark fingerprint %.3f s | gdalinfo -checksum %.3f s | %.2fx faster |' "$p" "$g" "$(calc "$g / $p")")"
fi

# ---- telemetry: records vs pandas read_csv + row hashing -----------------
mb=$(calc "$(stat -c %s "$csv") / 1000000")
pt=(); qt=()
for _ in $(seq "$RUNS"); do
  pt+=("$(wall taskset -c 0 "$pm" fingerprint "$csv")")
  qt+=("$(wall taskset -c 0 "$py" -c "
import pandas as pd
pd.util.hash_pandas_object(pd.read_csv('$csv'), index=False)
")")
done
p=$(printf '%s\n' "${pt[@]}" | median); q=$(printf '%s\n' "${qt[@]}" | median)
row "$(printf '| CSV station log %.0f MB, 1 core | pugmark fingerprint %.1f MB/s | pandas read_csv + hash %.1f MB/s | %.2fx |' "$mb" "$(calc "$mb / $p")" "$(calc "$mb / $q")" "$(calc "$q / $p")")"

# ---- peak RSS scanning a 10 GiB sparse file ------------------------------
sparse="$work/sparse-10G.bin"
[ -f "$sparse" ] || truncate -s 10G "$sparse"
rm -rf "$work/idx-small" && "$pm" --index "$work/idx-small" index data-samples/reserve >/dev/null
rss=$( (/usr/bin/time -f '%M' "$pm" --index "$work/idx-small" scan "$sparse" >/dev/null) 2>&1 | tail -1 || true)
row "$(printf '| peak RSS scanning a 10 GiB sparse file | pugmark scan %s MiB | (goal < 256 MiB) | |' "$(( ${rss:-0} / 1024 ))")"

# ---- table ---------------------------------------------------------------
{
  echo "Measured $(date -u +%Y-%m-%d) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; medians of $RUNS runs, whole processes, page cache warm."
  echo
  echo "| figure | pugmark | peer | pugmark / peer |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$work/results.md"
