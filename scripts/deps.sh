#!/usr/bin/env bash
# Installs what sega needs on a fresh Debian machine, only if it is missing.
# Swift 6.x and clang are expected on PATH (/opt/swift/usr/bin).
set -euo pipefail
need=()
for pkg in libpng-dev libjpeg62-turbo-dev libopenblas-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "deps: swift not found on PATH (expected Swift 6.x)" >&2; exit 1; }
command -v clang >/dev/null || { echo "deps: clang not found on PATH (ships with the Swift toolchain)" >&2; exit 1; }
# Python tooling for the tests that exercise the dataset builder (pinned; see requirements.txt).
if ! .venv-tools/bin/python -c "import numpy, scipy, PIL, skimage" 2>/dev/null; then
  echo "deps: creating .venv-tools (dataset builder requirements)" >&2
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install -q -r weights/dataset/requirements.txt
fi
