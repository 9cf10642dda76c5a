#!/usr/bin/env bash
# Side-by-side comparison of pugmark with its peers on this machine.
#
# The rows are those of issue #17's table: whole processes, page cache warm,
# peer time / pugmark time (> 1: pugmark is faster), with the peak RSS of
# both sides on every row (the largest of the runs, from /usr/bin/time).
#
# Installs the peers (b3sum with cargo; pdqhash, imagehash, Pillow, numpy
# and pandas with pip in a venv; GDAL's gdal-bin with apt when running as
# root), generates the inputs under target/compare/ (a 2 GiB random file,
# 216 distinct 1080p JPEGs at quality 90, a 6080 x 7480 Float32 Deflate
# tiled GeoTIFF, a 10-column station CSV of about 250 MB), runs pugmark and
# its peer alternately RUNS times, and prints a markdown table of medians
# and ratios (also written to target/compare/results.md). Never run by CI.
#
#   scripts/compare.sh            # every row
#   RUNS=5 scripts/compare.sh     # more repetitions (default 3)
#   ONLY=bytes scripts/compare.sh # one group: bytes, images, raster, records
#   BIG_MB=512 scripts/compare.sh # smaller random file for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
ONLY=${ONLY:-}
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
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

big="$work/random-${BIG_MB}M.bin"
if want bytes && [ ! -f "$big" ]; then
  log "generating $big"
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom > "$big"
fi
jpegs="$work/jpeg-1080p-216"
if want images && [ ! -f "$jpegs/.done" ]; then
  log "generating 216 distinct 1080p JPEGs (quality 90)"
  rm -rf "$jpegs"; mkdir -p "$jpegs"
  "$py" - "$jpegs" <<'PY'
import sys, glob
from PIL import Image, ImageOps
out = sys.argv[1]
srcs = sorted(glob.glob("tests/fixtures/pdq/jpeg/*.jpg") + glob.glob("tests/fixtures/images/*.jpg")
              + glob.glob("data-samples/reserve/photos/*.jpg"))
assert srcs, "no source pictures"
i = 0
variant = 0
# Each source picture in several framings (crop window, mirror, tint), all
# scaled to 1920x1080: 216 pictures that differ in content, not only bytes.
while i < 216:
    for src in srcs:
        if i == 216:
            break
        im = Image.open(src).convert("RGB")
        w, h = im.size
        f = 1.0 - 0.06 * (variant % 5)
        cw, ch = int(w * f), int(h * f)
        x0 = (w - cw) * ((variant * 7) % 3) // 2
        y0 = (h - ch) * ((variant * 5) % 3) // 2
        im = im.crop((x0, y0, x0 + cw, y0 + ch)).resize((1920, 1080), Image.BILINEAR)
        if variant % 2:
            im = ImageOps.mirror(im)
        if variant % 3 == 2:
            r, g, b = im.split()
            im = Image.merge("RGB", (b, r, g))
        im.save(f"{out}/photo-{i:03}.jpg", quality=90)
        i += 1
    variant += 1
PY
  touch "$jpegs/.done"
fi
tif="$work/dem-6080x7480-f32-deflate-tiled.tif"
if want raster && [ ! -f "$tif" ] && command -v gdal_translate >/dev/null; then
  log "generating $tif"
  gdal_translate -q -outsize 6080 7480 -r bilinear -ot Float32 \
    -co COMPRESS=DEFLATE -co TILED=YES -co BLOCKXSIZE=256 -co BLOCKYSIZE=256 \
    data-samples/reserve/rasters/rmnp-dem.tif "$tif"
fi
csv="$work/station-log.csv"
if want records && [ ! -f "$csv" ]; then
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
# arithmetic without bc
calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maxof() { sort -g | tail -1; }

# One run of a shell command line under /usr/bin/time; appends its wall
# seconds and peak RSS (KiB) to the named files. Exit codes 0 and 1 (scan
# found matches) are success; anything else stops the script, so a failed
# command never shows up as a fast one.
run_once() {
  local cmd=$1 walls=$2 rss=$3
  if ! /usr/bin/time -o "$work/time" -f '%e %M %x' sh -c "$cmd" >/dev/null 2>"$work/last-stderr"; then
    if ! grep -q ' 1$' "$work/time"; then
      echo "failed: $cmd" >&2; cat "$work/last-stderr" "$work/time" >&2; exit 1
    fi
  fi
  awk '{print $1}' "$work/time" >> "$walls"
  awk '{print $2}' "$work/time" >> "$rss"
}

rows=()
# pair LABEL PUGMARK_CMD PEER_NAME PEER_CMD [PREP]: runs PREP (not timed)
# then the two commands in turn RUNS times and adds a row with both
# medians, the ratio peer / pugmark and both peak RSS figures.
pair() {
  local label=$1 pcmd=$2 name=$3 qcmd=$4 prep=${5:-true}
  : > "$work/pw"; : > "$work/pm"; : > "$work/qw"; : > "$work/qm"
  for _ in $(seq "$RUNS"); do
    sh -c "$prep"
    run_once "$pcmd" "$work/pw" "$work/pm"
    run_once "$qcmd" "$work/qw" "$work/qm"
  done
  local p q pr qr
  p=$(median < "$work/pw"); q=$(median < "$work/qw")
  pr=$(( $(maxof < "$work/pm") / 1024 )); qr=$(( $(maxof < "$work/qm") / 1024 ))
  log "$label: pugmark ${p}s, $name ${q}s"
  rows+=("$(printf '| %s | %.3f s, %s MiB | %s: %.3f s, %s MiB | %.2f |' "$label" "$p" "$pr" "$name" "$q" "$qr" "$(calc "$q / $p")")")
}

# ---- bytes: index of one big random file vs b3sum ------------------------
if want bytes; then
  for t in 1 2; do
    pair "\`index\` of one ${BIG_MB} MiB random file, $t thread(s)" \
      "$pm --index $work/idx index --threads $t $big" \
      "b3sum --num-threads $t" "$peers/bin/b3sum --num-threads $t $big" \
      "rm -rf $work/idx"
  done
  rm -rf "$work/idx"
fi

# ---- images: 216 1080p JPEGs, index and scan, 1 thread --------------------
if want images; then
  pdq_peer="$py -c \"
import glob, numpy as np, pdqhash
from PIL import Image
for f in sorted(glob.glob('$jpegs/*.jpg')):
    pdqhash.compute(np.asarray(Image.open(f).convert('RGB')))
\""
  phash_peer="$py -c \"
import glob, imagehash
from PIL import Image
for f in sorted(glob.glob('$jpegs/*.jpg')):
    imagehash.phash(Image.open(f))
\""
  pin="taskset -c 0"
  pair "\`index\` of 216 1080p JPEGs, 1 thread" \
    "$pin $pm --index $work/iidx index --threads 1 $jpegs" \
    "Pillow + pdqhash" "$pin $pdq_peer" "rm -rf $work/iidx"
  "$pm" --index "$work/iidx-scan" index --threads 1 "$jpegs" >/dev/null 2>&1 || true
  pair "\`scan\` of the same against their index, 1 thread" \
    "$pin $pm --index $work/iidx-scan scan --threads 1 $jpegs" \
    "Pillow + pdqhash" "$pin $pdq_peer"
  pair "\`index\` of the same, 1 thread" \
    "$pin $pm --index $work/iidx index --threads 1 $jpegs" \
    "Pillow + imagehash.phash" "$pin $phash_peer" "rm -rf $work/iidx"
  pair "\`scan\` of the same, 1 thread" \
    "$pin $pm --index $work/iidx-scan scan --threads 1 $jpegs" \
    "Pillow + imagehash.phash" "$pin $phash_peer"
  rm -rf "$work/iidx" "$work/iidx-scan"
fi

# ---- raster: fingerprint of a big Float32 GeoTIFF vs gdalinfo -checksum ---
if want raster; then
  if [ -f "$tif" ]; then
    pair "\`fingerprint\` of a 6080 x 7480 Float32 Deflate tiled GeoTIFF, 1 thread" \
      "taskset -c 0 $pm fingerprint $tif" \
      "gdalinfo -checksum" "taskset -c 0 gdalinfo -checksum $tif"
    # `fingerprint` takes no thread count; `index` runs the same pipeline
    # on its pool (plus writing a small index)
    pair "\`index\` of the same, 2 threads" \
      "$pm --index $work/gidx index --threads 2 $tif" \
      "gdalinfo -checksum (it has one thread)" "gdalinfo -checksum $tif" "rm -rf $work/gidx"
    rm -rf "$work/gidx"
  else
    rows+=("| raster rows skipped: gdal_translate/gdalinfo missing (run as root to install gdal-bin) | | | |")
  fi
fi

# ---- records: a station CSV vs pandas -------------------------------------
if want records; then
  pandas_peer="$py -c \"
import pandas as pd
pd.util.hash_pandas_object(pd.read_csv('$csv'), index=False)
\""
  mb=$(calc "$(stat -c %s "$csv") / 1000000")
  pair "\`fingerprint\` of a ${mb%.*} MB 10-column station CSV, 1 thread" \
    "taskset -c 0 $pm fingerprint $csv" \
    "pandas read_csv + hash_pandas_object" "taskset -c 0 $pandas_peer"
  pair "\`index\` of the same, 1 thread" \
    "taskset -c 0 $pm --index $work/ridx index --threads 1 $csv" \
    "pandas read_csv + hash_pandas_object" "taskset -c 0 $pandas_peer" "rm -rf $work/ridx"
  rm -rf "$work/ridx"
fi

# ---- table ---------------------------------------------------------------
{
  echo "Measured $(date -u +%Y-%m-%d) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; medians of $RUNS runs, whole processes, page cache warm; peak RSS is the largest of the runs."
  echo
  echo "| job | pugmark: time, peak RSS | peer: time, peak RSS | peer / pugmark (> 1: pugmark faster) |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$work/results.md"
