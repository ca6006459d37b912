#!/usr/bin/env bash
# Runs the XCTest suite under AddressSanitizer and, separately, UndefinedBehaviorSanitizer, each
# in its own scratch directory (.build-asan, .build-ubsan) so the normal build is untouched.
# Usage: scripts/sanitize.sh [--quick] [address] [undefined]
#   --quick   a short subset for CI (kernels, arena, safetensors, image I/O, attacks, metrics, JND)
#   default   the whole suite, both sanitizers
# Ends with one line per sanitizer, "sanitize SAN: N tests, F failures", where F counts failed
# XCTest cases plus sanitizer reports (plus 1 if the test process died before its summary);
# exits non-zero if any F is non-zero or a build fails.
#
# Runtime options:
#   ASAN_OPTIONS=detect_leaks=0: LeakSanitizer is off. XCTest never frees its test-case objects
#     (with their test closures) nor the weak-reference side tables of awaitUsingExpectation, and
#     LSan reports them at exit (checked: ~5 KB in ~70 blocks for ArenaTests|SafeTensorsTests
#     alone, all allocated from libXCTest / the test-case constructors, none from sega code).
#     Suppressing by module would hide everything, since every test runs under XCTest's frames.
#     Heap overflows, use-after-free and double frees are still fatal. SEGA_SANITIZE_LEAKS=1 turns
#     leak detection back on (reports are then counted like any other).
#   UBSAN_OPTIONS=print_stacktrace=1: every "runtime error:" is printed with a stack and counted;
#     the run continues (halt_on_error=0) so one run lists them all.
# The test executable interposes malloc & co. (Tests/MallocCounter forwards them to glibc's
# __libc_* functions) for the allocation-count tests. Under ASan that replaces ASan's allocator
# while ASan still intercepts malloc_usable_size, so the Swift runtime's first array allocation
# dies with "bad-malloc_usable_size" and no test can run. For the ASan build this script binds
# the eight allocator symbols to ASan's interceptors at link time (-Xlinker --defsym=malloc=
# __interceptor_malloc, ...; the definitions in malloc_counter.c are then unused) and skips the
# test methods that call sega_malloc_counter_* (found by grepping Tests/; they would fail since
# the counter never sees an allocation). Everything else runs with ASan's real heap checks.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0; sans=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    address|undefined) sans+=("$a") ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "sanitize.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
[ ${#sans[@]} -eq 0 ] && sans=(address undefined)
filter=()
if [ "$quick" -eq 1 ]; then
  filter=(--filter 'KernelTests|ArenaTests|SafeTensorsTests|PNGReadTests|JPEGReadTests|PNGWriteTests|BadImageTests|AttackTests|MetricsTests|JNDTests')
fi
# "Class/method" of every XCTest method that uses the malloc counter, as one --skip regex.
counter_tests() {
  local f
  for f in $(grep -rl "sega_malloc_counter_" Tests --include='*.swift'); do
    awk '/class [A-Za-z0-9_]+ *: *XCTestCase/ { c = $0; sub(/.*class /, "", c); sub(/ *:.*/, "", c) }
         /func test[A-Za-z0-9_]*\(/ { m = $0; sub(/.*func /, "", m); sub(/\(.*/, "", m) }
         /sega_malloc_counter_/ && m != "" { print c "/" m }' "$f"
  done | sort -u | paste -sd '|' | sed -E 's/^(.*)$/(\1)$/'
}
logs=.build-sanitize-logs; mkdir -p "$logs"
summary=(); notes=(); status=0
for san in "${sans[@]}"; do
  bflags=(); skip=()
  case "$san" in
    address)
      scratch=.build-asan
      for fn in malloc calloc realloc free memalign aligned_alloc valloc posix_memalign; do
        bflags+=(-Xlinker "--defsym=$fn=__interceptor_$fn")
      done
      skip=(--skip "$(counter_tests)") ;;
    undefined)
      # swiftc has no -sanitize=undefined on Linux ("unsupported option"), so `swift build
      # --sanitize=undefined` fails. Swift code has its own always-on checks (overflow, bounds,
      # unwrap); UBSan is for the C targets (CSupport, CImageIO, CSegaAPI, MallocCounter): they
      # get -fsanitize=undefined through -Xcc, and the products link clang's UBSan runtime.
      scratch=.build-ubsan
      rt=""
      for d in "$(clang -print-resource-dir)/lib/linux" "$(clang -print-runtime-dir)"; do
        for cand in "$d/libclang_rt.ubsan_standalone-x86_64.so" "$d/libclang_rt.ubsan_standalone.so"; do
          [ -z "$rt" ] && [ -f "$cand" ] && rt="$cand"
        done
      done
      if [ -z "$rt" ]; then
        notes+=("undefined: clang's UBSan runtime (libclang_rt.ubsan_standalone) not found")
        summary+=("sanitize undefined: 0 tests, 1 failures"); status=1; continue
      fi
      bflags=(-Xcc -fsanitize=undefined -Xlinker "$rt" -Xlinker -rpath -Xlinker "$(dirname "$rt")") ;;
  esac
  sanflag=(); [ "$san" = address ] && sanflag=(--sanitize=address)
  log="$logs/$san.log"
  echo "== $san: building ($scratch)"
  if ! swift build --build-tests "${sanflag[@]}" --scratch-path "$scratch" "${bflags[@]}" > "$logs/$san.build.log" 2>&1; then
    tail -n 30 "$logs/$san.build.log"
    notes+=("$san: build failed, see $logs/$san.build.log")
    summary+=("sanitize $san: 0 tests, 1 failures"); status=1; continue
  fi
  echo "== $san: testing${filter[1]:+ (${filter[1]})}"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=${SEGA_SANITIZE_LEAKS:-0}}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}" \
    swift test --skip-build "${sanflag[@]}" --scratch-path "$scratch" --disable-swift-testing "${filter[@]}" "${skip[@]}" \
    > "$log" 2>&1
  st=$?
  line=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1)
  n=$(echo "$line" | sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p'); n=${n:-0}
  f=$(echo "$line" | sed -nE 's/.*with ([0-9]+) failures?.*/\1/p'); f=${f:-0}
  reports=$(grep -cE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log")
  extra=""
  [ "$reports" -gt 0 ] && { f=$((f + reports)); extra=" ($reports sanitizer report(s), see $log)"; grep -E -A3 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" | head -n 40; }
  if [ -z "$line" ] || { [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    f=$((f + 1)); extra="$extra (test process exited with $st, see $log)"; tail -n 30 "$log"
  fi
  grep -E "error: |failed \(" "$log" | grep -v "^Test Suite" | head -n 20
  [ "$f" -ne 0 ] && status=1
  [ -n "$extra" ] && notes+=("$san:$extra")
  summary+=("sanitize $san: $n tests, $f failures")
done
[ ${#notes[@]} -gt 0 ] && printf '%s\n' "${notes[@]}"
printf '%s\n' "${summary[@]}"
exit $status
