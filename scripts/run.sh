#!/usr/bin/env bash
# The main job: SEGA and the five baselines against black-box targets, on the shipped models and
# the sample images in weights/samples/ (test-split photos never seen in training), at equal eps
# and matched to SSIM 0.85, 0.90 and 0.95. Sources and targets are `sega eval`'s defaults
# (AttackSettings.defaultSources/defaultTargets; docs/settings.md), disjoint in weights and in
# architecture family; SEGA_SOURCES / SEGA_TARGETS override them. Writes report/ (index.html,
# report.md, .csv, .json, srocc.svg, transfer.svg/.png, sheets/) and prints report.md. Extra
# arguments go to `sega eval`, e.g.
#   scripts/run.sh --images /path/to/dataset/manifest.csv --split test --stride 10
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
swift build -c release --product sega
report=${SEGA_REPORT:-report}
.build/release/sega eval ${SEGA_SOURCES:+--sources "$SEGA_SOURCES"} ${SEGA_TARGETS:+--targets "$SEGA_TARGETS"} \
  --images weights/samples --methods sega,ifgsm,ens-ifgsm,mifgsm,vt,random --match-ssim 0.85,0.90,0.95 \
  -o "$report" "$@"
echo "Note: 8 sample images cannot rank the methods (see how wide the intervals are); the headline table" \
  "(140 test images, every method, the whole target panel, matched SSIM) is in docs/results.md," \
  "reproduced by scripts/reproduce_table.sh."
echo
cat "$report/report.md"
echo "The report as one page: $report/index.html"
