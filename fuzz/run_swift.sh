#!/usr/bin/env bash
# Builds the Swift libFuzzer harnesses (fuzz/*_fuzz.swift) against SegaEngine + SegaModels with
# -sanitize=fuzzer,address and runs each for a bounded time on its seed corpus.
# A harness may name extra Swift files to compile into it ("// fuzz-sources: ..." lines).
# Usage: fuzz/run_swift.sh [NAME...]   env: FUZZ_SECONDS (default 60), FUZZ_RUNS (optional cap)
set -euo pipefail
cd "$(dirname "$0")/.."
. fuzz/common.sh
secs="${FUZZ_SECONDS:-60}"
b=fuzz/bin/swift; mkdir -p "$b" fuzz/out
# C kernels, instrumented for ASan (not for coverage: the parsers are what is fuzzed here)
objs=()
for c in CSupport/src/*.c; do
  o="$b/$(basename "$c" .c).o"
  clang -c -g -O1 -fsanitize=address -D_GNU_SOURCE -ICSupport/include -ICSupport/src "$c" -o "$o"
  objs+=("$o")
done
swiftc -emit-module -emit-library -static -parse-as-library -module-name SegaEngine -g -Onone \
  -sanitize=address -Xcc -ICSupport/include -I CSupport/include \
  -emit-module-path "$b/SegaEngine.swiftmodule" -o "$b/libSegaEngine.a" \
  Sources/SegaEngine/*.swift Sources/SegaEngine/Ops/*.swift
swiftc -emit-module -emit-library -static -parse-as-library -module-name SegaModels -g -Onone \
  -sanitize=fuzzer,address -I "$b" -Xcc -ICSupport/include -I CSupport/include \
  -emit-module-path "$b/SegaModels.swiftmodule" -o "$b/libSegaModels.a" \
  Sources/SegaModels/*.swift Sources/SegaModels/Archs/*.swift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.swift; do names+=("$(basename "$f" _fuzz.swift)"); done
fi
status=0
for n in "${names[@]}"; do
  # Extra Swift files compiled into the harness module: "// fuzz-sources: a.swift b.swift" lines.
  read -r -a xsrcs <<<"$(sed -n 's|^// fuzz-sources:||p' "fuzz/${n}_fuzz.swift" | tr '\n' ' ')"
  rm -f "$b/${n}_fuzz"
  swiftc -parse-as-library -g -Onone -sanitize=fuzzer,address -I "$b" -Xcc -ICSupport/include -I CSupport/include \
    "fuzz/${n}_fuzz.swift" "${xsrcs[@]}" "$b/libSegaModels.a" "$b/libSegaEngine.a" "${objs[@]}" -lpthread -lm -use-ld=lld -o "$b/${n}_fuzz" 2>"$b/${n}_link.log" \
  || { echo "fuzz $n: FAILED (build, see $b/${n}_link.log)"; status=1; continue; }
  # SWIFT_BACKTRACE=enable=no: the Swift runtime's crash backtracer would read the stack under
  # ASan and bury the real report under a spurious one; libFuzzer/ASan print the stack anyway.
  SWIFT_BACKTRACE=enable=no run_harness "$n" "$b/${n}_fuzz" "$secs" -rss_limit_mb=2048 || status=1
done
exit $status
