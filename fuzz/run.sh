#!/usr/bin/env bash
# Builds every fuzz/*_fuzz.c harness with clang (-fsanitize=fuzzer,address,undefined) against the
# C kernels and runs each for a bounded time on its committed seed corpus (fuzz/corpus/NAME).
# New inputs go to fuzz/out/NAME (ignored by git); the committed corpus is only read.
# Usage: fuzz/run.sh [NAME...]   env: FUZZ_SECONDS (default 60), FUZZ_RUNS (optional cap)
set -euo pipefail
cd "$(dirname "$0")/.."
. fuzz/common.sh
secs="${FUZZ_SECONDS:-60}"
mkdir -p fuzz/bin fuzz/out
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.c; do names+=("$(basename "$f" _fuzz.c)"); done
fi
srcs=(CSupport/src/*.c)
status=0
for n in "${names[@]}"; do
  bin="fuzz/bin/${n}_fuzz"
  # A harness may declare what else it needs in comment lines (paths relative to the package root):
  #   // fuzz-sources: a.c b.c    // fuzz-cflags: -Idir    // fuzz-libs: -lfoo
  decl() { sed -n "s|^// fuzz-$1:||p" "fuzz/${n}_fuzz.c" | tr '\n' ' '; }
  read -r -a xsrcs <<<"$(decl sources)"; read -r -a xcflags <<<"$(decl cflags)"; read -r -a xlibs <<<"$(decl libs)"
  rm -f "$bin"
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fuse-ld=lld -D_GNU_SOURCE -ICSupport/include -ICSupport/src "${xcflags[@]}" \
    "fuzz/${n}_fuzz.c" "${srcs[@]}" "${xsrcs[@]}" "${xlibs[@]}" -lpthread -lm -o "$bin" 2>/dev/null \
  || clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -ICSupport/include -ICSupport/src "${xcflags[@]}" \
    "fuzz/${n}_fuzz.c" "${srcs[@]}" "${xsrcs[@]}" "${xlibs[@]}" -lpthread -lm -o "$bin" 2>"fuzz/out/${n}_build.log" \
  || { echo "fuzz $n: FAILED (build, see fuzz/out/${n}_build.log)"; status=1; continue; }
  ASAN_OPTIONS=detect_leaks=1 run_harness "$n" "$bin" "$secs" || status=1
done
exit $status
