#!/usr/bin/env bash
# Installs what sega needs on a Debian machine, only what is missing. Swift 6.x and clang are
# expected on PATH (/opt/swift/usr/bin), with the toolchain's usual prerequisites.
#   scripts/deps.sh           the main job (scripts/run.sh, scripts/install.sh): libpng-dev and
#                             libjpeg62-turbo-dev, nothing else (2 MB, 4 packages on a Debian 12
#                             base with the Swift prerequisites; docs/install.md)
#   scripts/deps.sh --python  also the Python tooling venv .venv-tools (numpy, scipy, Pillow,
#                             scikit-image, pinned in weights/dataset/requirements.txt; about 320 MB,
#                             from PyPI): the dataset builder (scripts/reproduce_table.sh)
#   scripts/deps.sh --test    also what only the tests and benchmarks use (scripts/test.sh): the venv,
#                             pkg-config (the C example links through it), libopenblas0 (the SGEMM
#                             benchmark sega-bench dlopens it to compare; nothing links it) and
#                             valgrind (callgrind counts the instructions test.sh checks)
set -euo pipefail
cd "$(dirname "$0")/.."
python=0; test=0
for arg in "$@"; do
  case "$arg" in
    --python) python=1 ;;
    --test) test=1; python=1 ;;
    *) echo "deps: unknown argument '$arg' (--python, --test)" >&2; exit 2 ;;
  esac
done
pkgs=(libpng-dev libjpeg62-turbo-dev)
if [ "$test" -eq 1 ]; then pkgs+=(pkg-config libopenblas0 valgrind); fi
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "deps: swift not found on PATH (expected Swift 6.x)" >&2; exit 1; }
command -v clang >/dev/null || { echo "deps: clang not found on PATH (ships with the Swift toolchain)" >&2; exit 1; }
# Python tooling for the dataset builder and the tests that exercise it (pinned; see requirements.txt).
if [ "$python" -eq 1 ] && ! .venv-tools/bin/python -c "import numpy, scipy, PIL, skimage" 2>/dev/null; then
  echo "deps: creating .venv-tools (dataset builder requirements)" >&2
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install -q -r weights/dataset/requirements.txt
fi
