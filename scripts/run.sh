#!/usr/bin/env bash
# The main job: SEGA and the five baselines against black-box targets, on the shipped models and
# the sample images in weights/samples/ (test-split photos never seen in training). Sources and
# targets are `sega eval`'s defaults (AttackSettings.defaultSources/defaultTargets; docs/settings.md),
# disjoint in weights and in architecture family; SEGA_SOURCES / SEGA_TARGETS override them.
# Writes report/ (report.md, .csv, .json, srocc.svg, sheets/) and prints report.md. Extra arguments
# go to `sega eval`, e.g.
#   scripts/run.sh --images /path/to/dataset/manifest.csv --split test --stride 10
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
swift build -c release --product sega
.build/release/sega eval ${SEGA_SOURCES:+--sources "$SEGA_SOURCES"} ${SEGA_TARGETS:+--targets "$SEGA_TARGETS"} \
  --images weights/samples --methods sega,ifgsm,ens-ifgsm,mifgsm,vt,random -o "${SEGA_REPORT:-report}" "$@"
cat "${SEGA_REPORT:-report}/report.md"
