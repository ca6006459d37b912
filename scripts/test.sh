#!/usr/bin/env bash
# The test command: installs what is missing, runs the whole test suite (AVX path by default),
# re-runs the kernel regression tests on the portable path, then runs each fuzzer briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
swift build --build-tests
swift test --skip-build 2>&1 | tee /tmp/sega-test.log
# Portable path: SEGA_ISA caps the automatic ISA choice, so every kernel runs its C fallback.
SEGA_ISA=portable swift test --skip-build --filter 'KernelTests' 2>&1 | tail -n 3
# Fuzzers: a bounded run each (FUZZ_SECONDS, default 20) on the committed seed corpora.
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" ./fuzz/run.sh
# Swift parsers (safetensors header) under libFuzzer + ASan, same bounded time.
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" ./fuzz/run_swift.sh
