#!/usr/bin/env bash
# The HTML evidence report in a real browser: index data-samples/reserve,
# scan data-samples/outgoing with --report, open the report from file://
# in headless Chromium and check that the page has every card, that every
# picture loaded (decoded width > 0) and that the console shows no error;
# then take a screenshot and check it is not blank. The same checks run on
# a deliberately broken copy first, so a check that cannot fail is caught.
#
# PUGMARK_INSTALL_CHROMIUM=1 installs Debian's `chromium` with apt-get when
# it is missing (CI does). PUGMARK_UPDATE_SCREENSHOT=1 also copies the
# screenshot to docs/report-screenshot.png (the README shows it).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "${PUGMARK_INSTALL_CHROMIUM:-0}" = 1 ]; then
    echo "== installing chromium (Debian package)"
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
    browser=$(command -v chromium)
  else
    echo "chromium not found: install it (apt-get install chromium) or set PUGMARK_INSTALL_CHROMIUM=1" >&2
    exit 1
  fi
fi

cargo build --release -q -p pugmark-cli
bin=target/release/pugmark
work=target/report-check
rm -rf "$work"
mkdir -p "$work"
"$bin" --index "$work/idx" index --quiet data-samples/reserve >/dev/null
set +e
"$bin" --index "$work/idx" scan --quiet --report "$work/report" --report-protected-thumbnails \
  data-samples/outgoing >/dev/null 2>"$work/scan.err"
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "scan exited $status, expected 1 (matches):" >&2
  cat "$work/scan.err" >&2
  exit 1
fi
# What the scan says it wrote, and what it should have: a card per item
# whose verdict is not clean (counted from the JSON Lines).
written=$(grep -Eo 'evidence report: .* \([0-9]+ cards?, [0-9]+ pictures?\)' "$work/scan.err" || true)
cards_written=$(echo "$written" | sed -E 's/.*\(([0-9]+) cards?, ([0-9]+) pictures?\)/\1/')
pictures_written=$(echo "$written" | sed -E 's/.*\(([0-9]+) cards?, ([0-9]+) pictures?\)/\2/')
cards_expected=$("$bin" --index "$work/idx" scan --json data-samples/outgoing 2>/dev/null \
  | python3 -c 'import json, sys; print(sum(json.loads(l)["verdict"] != "clean" for l in sys.stdin))' \
  || true)  # scan exits 1: matches
if [ -z "$written" ] || [ "$cards_written" != "$cards_expected" ]; then
  echo "the scan wrote ${cards_written:-no} cards, expected $cards_expected: $written" >&2
  exit 1
fi

# Headless Chromium, bounded; as root it needs --no-sandbox. No network is
# used: the page and its assets are files.
chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --disable-extensions --enable-logging=stderr --v=0 \
    --virtual-time-budget=5000 "$@"
}

# Checks a rendered page; prints what is wrong and returns 1.
check_page() {
  local page=$1 cards=$2 pictures=$3 dom=$4 log=$5
  chrome --dump-dom "file://$PWD/$page" >"$dom" 2>"$log" || { echo "chromium failed on $page"; return 1; }
  local bad=0
  local seen
  seen=$(grep -o 'data-images="[0-9]* loaded [0-9]*"' "$dom" || true)
  local total loaded
  total=$(echo "$seen" | sed -E 's/data-images="([0-9]*) loaded ([0-9]*)"/\1/')
  loaded=$(echo "$seen" | sed -E 's/data-images="([0-9]*) loaded ([0-9]*)"/\2/')
  if [ -z "$seen" ] || [ "$total" != "$pictures" ] || [ "$total" != "$loaded" ]; then
    echo "pictures: ${seen:-the page did not report its pictures} (all $pictures must load)"; bad=1
  fi
  if grep -q 'class="placeholder"' "$dom"; then
    echo "a picture the report should show is a placeholder"; bad=1
  fi
  if grep -q 'data-natural-width="0"' "$dom"; then
    echo "a picture has no decoded width"; bad=1
  fi
  local n
  n=$(grep -o '<section class="card ' "$dom" | wc -l)
  if [ "$n" -ne "$cards" ]; then echo "cards: $n, expected $cards"; bad=1; fi
  if grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Not allowed to load' "$log" >/dev/null; then
    echo "console errors:"; grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Not allowed to load' "$log"; bad=1
  fi
  return $bad
}

report="$work/report"
# The checks must catch a missing picture (not loaded, no width), a
# placeholder, a missing card and a script error.
python3 - "$report/index.html" "$report/broken.html" <<'PY'
import sys
html = open(sys.argv[1], encoding="utf-8").read()
first = html.index('<section class="card ')
html = html[:first] + html[html.index("</section>", first) + len("</section>"):]
html = html.replace("</main>", '<img src="assets/missing.png" alt="x"><div class="placeholder">x</div></main><script>noSuchFunction();</script>')
open(sys.argv[2], "w", encoding="utf-8").write(html)
PY
if check_page "$report/broken.html" "$cards_expected" "$pictures_written" "$work/broken-dom.html" "$work/broken-console.log" >"$work/broken-check.txt"; then
  echo "the browser check passed a broken page" >&2
  exit 1
fi
for want in "pictures:" "no decoded width" "placeholder" "cards:" "console errors"; do
  grep -q "$want" "$work/broken-check.txt" \
    || { echo "the broken page was not caught by the '$want' check:" >&2; cat "$work/broken-check.txt" >&2; exit 1; }
done
rm "$report/broken.html"

if ! check_page "$report/index.html" "$cards_expected" "$pictures_written" "$work/dom.html" "$work/console.log"; then
  echo "the evidence report failed in Chromium (DOM: $work/dom.html, log: $work/console.log)" >&2
  exit 1
fi
pictures=$(grep -o 'data-images="[0-9]*' "$work/dom.html" | grep -o '[0-9]*$')

# A screenshot of the top of the page; a blank page has no structure for
# PDQ to measure (quality 0), a rendered one has plenty.
chrome --window-size=1200,1500 --screenshot="$PWD/$work/report.png" "file://$PWD/$report/index.html" \
  >/dev/null 2>&1
quality=$("$bin" fingerprint --json "$work/report.png" | grep -o '"pdq":{[^}]*"quality":[0-9]*' | grep -o '[0-9]*$')
size=$(wc -c <"$work/report.png")
if [ "${quality:-0}" -lt 50 ] || [ "$size" -lt 50000 ]; then
  echo "the screenshot looks blank (PDQ quality ${quality:-none}, $size bytes): $work/report.png" >&2
  exit 1
fi
if [ "${PUGMARK_UPDATE_SCREENSHOT:-0}" = 1 ]; then
  cp "$work/report.png" docs/report-screenshot.png
fi
echo "evidence report in Chromium: $cards_expected cards, $pictures pictures loaded, no console errors; screenshot $work/report.png (PDQ quality $quality)"
