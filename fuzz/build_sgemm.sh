#!/usr/bin/env bash
# Builds the SGEMM fuzz harness with clang (libFuzzer + ASan + UBSan) straight from the C sources
# it needs, then runs it for a bounded time on the committed seeds (fuzz/corpus/sgemm, read only);
# new inputs go to fuzz/out/sgemm (git-ignored).
# Usage: fuzz/build_sgemm.sh [max_total_time_seconds (default 60)]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
CLANG="${CLANG:-clang}"
mkdir -p fuzz/bin fuzz/out/sgemm
# Driver, packing, threading, engine and ISA detection get coverage instrumentation (that is where
# the control flow the fuzzer should explore lives); the micro-kernels and the reference are
# straight-line arithmetic loops, built with ASan/UBSan but without coverage callbacks, which
# would otherwise take most of the time.
cov_srcs=(CSupport/src/cpu.c CSupport/src/threads.c CSupport/src/engine.c CSupport/src/gemm.c)
plain_srcs=(CSupport/src/gemm_kernels_portable.c CSupport/src/gemm_kernels_avx2.c
            CSupport/src/gemm_kernels_avx512.c CSupport/src/gemm_ref.c)
ld=()
"$CLANG" -fuse-ld=lld -x c /dev/null -fsyntax-only 2>/dev/null && ld=(-fuse-ld=lld)
common=(-g -D_GNU_SOURCE -ICSupport/include -ICSupport/src -fno-sanitize-recover=undefined)
objdir=$(mktemp -d)
trap 'rm -rf "$objdir"' EXIT
objs=()
for f in "${plain_srcs[@]}"; do
  o="$objdir/$(basename "$f" .c).o"
  "$CLANG" "${common[@]}" -O2 -fsanitize=address,undefined -c "$f" -o "$o"
  objs+=("$o")
done
"$CLANG" "${common[@]}" -O1 -fsanitize=fuzzer,address,undefined "${ld[@]}" \
  fuzz/sgemm_fuzz.c "${cov_srcs[@]}" "${objs[@]}" -lpthread -lm -o fuzz/bin/sgemm_fuzz
log=fuzz/out/sgemm.log
if fuzz/bin/sgemm_fuzz -max_total_time="$secs" -print_final_stats=1 fuzz/out/sgemm fuzz/corpus/sgemm \
     >"$log" 2>&1; then
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "fuzz sgemm: ${runs:-?} executions in ${secs}s, no findings (log: $log)"
else
  echo "fuzz sgemm: FAILED (see $log)"
  tail -n 30 "$log"
  exit 1
fi
