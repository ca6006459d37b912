#!/usr/bin/env bash
# The C API under ThreadSanitizer: libsega (SwiftPM product sega-c) built with
# --sanitize=thread in its own scratch directory (.build-tsan; the normal build is untouched),
# scripts/fault/capi_threads.c built with -fsanitize=thread against it, run with four threads,
# one context each. The TSan runtime is the Swift toolchain's (clang_rt.tsan).
# Prints "tsan-capi: ok" or "tsan-capi: FAILED" (any TSan report, a non-zero exit, or results
# that differ between threads) and exits accordingly.
set -uo pipefail
cd "$(dirname "$0")/../.."
scratch=.build-tsan
mkdir -p "$scratch"
swift build --product sega-c --sanitize=thread --scratch-path "$scratch" >"$scratch/tsan-build.log" 2>&1 || {
  tail -n 30 "$scratch/tsan-build.log"; echo "tsan-capi: FAILED (build)"; exit 1; }
lib="$(swift build --scratch-path "$scratch" --show-bin-path)/libsega-c.a"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
clang -c -g -O1 -fsanitize=thread -Wall -Wextra -Werror -I Sources/CSegaAPI/include scripts/fault/capi_threads.c -o "$out/capi_threads.o"
swiftc -sanitize=thread "$out/capi_threads.o" "$lib" -lpng -ljpeg -lpthread -lm -o "$out/capi_threads" || {
  echo "tsan-capi: FAILED (link)"; exit 1; }
TSAN_OPTIONS="halt_on_error=0 exitcode=66 report_signal_unsafe=0" \
  "$out/capi_threads" Tests/Fixtures/cnniqa.safetensors Tests/Fixtures/lite0.safetensors "$out" 4 >"$out/run.log" 2>&1
st=$?
cat "$out/run.log" | grep -v "^$" | head -n 60
reports=$(grep -c "WARNING: ThreadSanitizer" "$out/run.log")
if [ "$st" -eq 0 ] && [ "$reports" -eq 0 ]; then
  echo "tsan-capi: ok (4 threads, one context each, 0 ThreadSanitizer reports)"
else
  echo "tsan-capi: FAILED (exit $st, $reports ThreadSanitizer report(s))"; exit 1
fi
