#!/usr/bin/env bash
# Reproduces the headline transfer table (docs/results.md): installs the photo packages, rebuilds
# the dataset from seed 0 if it is not there (weights/dataset/build.py; byte-identical to the one
# the models were trained on), and runs every method (`sega eval`'s default list, every method
# sega has) against the whole target panel on the test
# split, every STRIDE-th image (default 3: 140 of the 420 test images), at equal eps and matched to
# SSIM 0.85, 0.90 and 0.95. Sources and targets: `sega eval`'s defaults (docs/settings.md), or
# SEGA_SOURCES / SEGA_TARGETS. SEGA_DATA: the dataset folder (default data/sega-iqa); SEGA_REPORT:
# the report folder (default report-test). A rerun resumes from the records already there.
#   scripts/reproduce_table.sh [STRIDE] [extra sega eval flags...]
# Writes SEGA_REPORT/index.html (the report as one page), report.md, report.csv, report.json,
# srocc.svg, transfer.svg/.png, and prints report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
stride=${1:-3}; shift || true
data=${SEGA_DATA:-data/sega-iqa}
if [ ! -f "$data/manifest.csv" ]; then
  ./scripts/deps.sh --python
  need=()
  for pkg in mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  .venv-tools/bin/python weights/dataset/build.py --out "$data" --seed 0
else
  ./scripts/deps.sh
fi
swift build -c release --product sega
report=${SEGA_REPORT:-report-test}
.build/release/sega eval ${SEGA_SOURCES:+--sources "$SEGA_SOURCES"} ${SEGA_TARGETS:+--targets "$SEGA_TARGETS"} \
  --images "$data/manifest.csv" --split test --stride "$stride" \
  --match-ssim 0.85,0.90,0.95 -o "$report" "$@"
cat "$report/report.md"
echo "The report as one page: $report/index.html"
