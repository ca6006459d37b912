#!/usr/bin/env bash
# Opens an eval report's index.html in a real browser (headless Chromium, Debian's `chromium`,
# installed if missing), takes a screenshot, and fails if any image on the page does not load or
# the page refers to anything outside the report folder.
#   scripts/check_report_html.sh [REPORT_DIR [SCREENSHOT.png]]
# Without REPORT_DIR it first makes a small report (two fixture images, SEGA and random on the
# test fixture models, one SSIM level) with the sega binary already built (release, else debug).
# The page needs no script; the check loads a copy of it with a few lines added that record, once
# the page has loaded, how many images there are and which have no pixels (naturalWidth 0), reads
# them back from the DOM Chromium dumps, and compares the images with the files they name.
# Prints "report-html: ok (N images, screenshot PATH)" or "report-html: FAILED: ...".
set -uo pipefail
cd "$(dirname "$0")/.."
fail() { echo "report-html: FAILED: $*"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report=${1:-}
shot=${2:-$work/screenshot.png}

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || fail "cannot install chromium"
  browser=$(command -v chromium) || fail "chromium is not on PATH after installing it"
fi

if [ -z "$report" ]; then
  sega=.build/release/sega; [ -x "$sega" ] || sega=.build/debug/sega
  [ -x "$sega" ] || fail "no built sega (swift build first)"
  fx=Tests/Fixtures
  printf 'path\n%s\n%s\n' "$PWD/$fx/e2e/cnniqa.png" "$PWD/$fx/images/rgb420.pil.png" > "$work/images.csv"
  report=$work/report
  "$sega" eval --sources "$fx/cnniqa.safetensors,$fx/lite0.safetensors" \
    --targets "$fx/dbcnn_lite0.safetensors,$fx/linearityiqa_lite0.safetensors" --images "$work/images.csv" \
    --methods sega,random --iters 1 --samples 1 --match-ssim 0.95 --mask-quantile 0.3 --progress none \
    -o "$report" > "$work/eval.log" 2>&1 || { cat "$work/eval.log"; fail "sega eval"; }
fi
[ -f "$report/index.html" ] || fail "no $report/index.html"
grep -qi "<script" "$report/index.html" && fail "the page has a script"
grep -Eqi "(src|href)=\"(https?:)?//" "$report/index.html" && fail "the page refers to the network"

# The images the page names: relative, inside the folder, present; copied with the page to a
# scratch folder (the report folder is only read).
srcs=$(grep -o 'src="[^"]*"' "$report/index.html" | sed 's/^src="//; s/"$//')
count=0
mkdir -p "$work/copy"
for s in $srcs; do
  case "$s" in /*|*..*) fail "image '$s' is not inside the report folder" ;; esac
  path=$(printf '%b' "${s//%/\\x}")
  [ -f "$report/$path" ] || fail "image '$s' is missing from $report"
  mkdir -p "$work/copy/$(dirname "$path")" && cp "$report/$path" "$work/copy/$path"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || fail "the page shows no image"

# Load a copy that records what loaded, dump the DOM after load.
probe="$work/copy/probe.html"
sed 's#</body>#<script>addEventListener("load",()=>{const im=[...document.images];document.body.dataset.images=im.length;document.body.dataset.broken=im.filter(i=>!i.complete||i.naturalWidth===0).map(i=>i.getAttribute("src")).join(" ")||"none";});</script></body>#' \
  "$report/index.html" > "$probe"
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run --user-data-dir="$work/profile")
timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=10000 --dump-dom "file://$(realpath "$probe")" > "$work/dom.html" 2>"$work/chromium.log"
st=$?
[ "$st" -eq 0 ] || { tail -n 5 "$work/chromium.log"; fail "chromium --dump-dom exited with $st"; }
loaded=$(grep -o 'data-images="[0-9]*"' "$work/dom.html" | grep -o '[0-9]*')
broken=$(grep -o 'data-broken="[^"]*"' "$work/dom.html" | sed 's/^data-broken="//; s/"$//')
[ -n "$loaded" ] || fail "the page did not finish loading in the browser"
[ "$loaded" -eq "$count" ] || fail "the browser saw $loaded images, the page names $count"
[ "$broken" = "none" ] || fail "images that did not load: $broken"

timeout 120 "$browser" "${flags[@]}" --window-size=1280,2200 --screenshot="$shot" "file://$(realpath "$report/index.html")" \
  >> "$work/chromium.log" 2>&1 || { tail -n 5 "$work/chromium.log"; fail "chromium --screenshot"; }
[ -s "$shot" ] || fail "no screenshot written"
echo "report-html: ok ($count images loaded, screenshot $shot)"
