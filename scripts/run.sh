#!/usr/bin/env bash
# The main job. Until the attack lands (see the issues), this builds the release engine and runs
# the kernel benchmark: our SGEMM next to OpenBLAS and the measured FMA peak.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
swift build -c release --product sega-bench
.build/release/sega-bench "$@"
