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
#   ASAN_OPTIONS=detect_leaks=0: LeakSanitizer is off. The Swift runtime keeps metadata and
#     conformance caches, and XCTest keeps its observers, for the life of the process and never
#     frees them; LSan reports some of them at exit (false positives that no sega code causes).
#     Heap overflows, use-after-free and double frees are still fatal. SEGA_SANITIZE_LEAKS=1 turns
#     leak detection back on (reports are then counted like any other).
#   UBSAN_OPTIONS=print_stacktrace=1: every "runtime error:" is printed with a stack and counted;
#     the run continues (halt_on_error=0) so one run lists them all.
# Note: the test executable interposes malloc/free (Tests/MallocCounter, forwarding to glibc's
# __libc_* functions) for the allocation-count tests, so under ASan most heap blocks come from
# glibc and not from ASan's allocator: heap overflows on them are not caught by this script
# (stack and global checks, and blocks that ASan's own interceptors allocate, still are). The
# fuzz harnesses (fuzz/run.sh, fuzz/run_swift.sh) have no such interposer.
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
logs=.build-sanitize-logs; mkdir -p "$logs"
summary=(); notes=(); status=0
for san in "${sans[@]}"; do
  case "$san" in address) scratch=.build-asan ;; undefined) scratch=.build-ubsan ;; esac
  log="$logs/$san.log"
  echo "== $san: building ($scratch)"
  if ! swift build --build-tests --sanitize="$san" --scratch-path "$scratch" > "$logs/$san.build.log" 2>&1; then
    tail -n 30 "$logs/$san.build.log"
    notes+=("$san: build failed, see $logs/$san.build.log")
    summary+=("sanitize $san: 0 tests, 1 failures"); status=1; continue
  fi
  echo "== $san: testing${filter[1]:+ (${filter[1]})}"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=${SEGA_SANITIZE_LEAKS:-0}}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}" \
    swift test --skip-build --sanitize="$san" --scratch-path "$scratch" --disable-swift-testing "${filter[@]}" \
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
