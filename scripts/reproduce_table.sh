#!/usr/bin/env bash
# Reproduces the README's attack table: installs the photo packages, rebuilds the dataset from
# seed 0 (weights/dataset/build.py; byte-identical to the one the models were trained on), and runs
# every method against the black-box targets on the test split (every STRIDE-th image). Sources
# and targets: `sega eval`'s defaults, or SEGA_SOURCES / SEGA_TARGETS.
#   scripts/reproduce_table.sh [STRIDE] [extra sega eval flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
stride=${1:-7}; shift || true
./scripts/deps.sh --python
need=()
for pkg in mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
data=${SEGA_DATA:-data/sega-iqa}
[ -f "$data/manifest.csv" ] || .venv-tools/bin/python weights/dataset/build.py --out "$data" --seed 0
swift build -c release --product sega
.build/release/sega eval ${SEGA_SOURCES:+--sources "$SEGA_SOURCES"} ${SEGA_TARGETS:+--targets "$SEGA_TARGETS"} \
  --images "$data/manifest.csv" --split test --stride "$stride" \
  --methods sega,ifgsm,ens-ifgsm,mifgsm,vt,random -o "${SEGA_REPORT:-report-test}" "$@"
cat "${SEGA_REPORT:-report-test}/report.md"
