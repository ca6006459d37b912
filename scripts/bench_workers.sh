#!/usr/bin/env bash
# sega eval's two ways of using T threads, side by side in one run: one image at a time with the
# engine's T threads inside each op (--workers 1), against T images at a time with one engine
# thread each (the default). Prints each round's wall time, each side's best and the ratio, and
# checks that both wrote the same records (timings aside) and the same attacked images.
#
#   scripts/bench_workers.sh [--threads 2] [--rounds 2] [--method ens-ifgsm] [--images DIR]
#
# Default images: the 8 shipped samples (weights/samples, 288x384); sources and targets: `sega
# eval`'s defaults, or SEGA_SOURCES / SEGA_TARGETS. Needs the release binary (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2; rounds=2; method=ens-ifgsm; images=weights/samples
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x .build/release/sega ] || swift build -c release --product sega >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run() {  # run WORKERS OUT: prints the wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  .build/release/sega eval ${SEGA_SOURCES:+--sources "$SEGA_SOURCES"} ${SEGA_TARGETS:+--targets "$SEGA_TARGETS"} \
    --images "$images" --methods "$method" --threads "$threads" --workers "$1" --sheets 0 -o "$2" 2>"$2.log" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
best1=""; bestw=""
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; method $method, threads $threads"
for r in $(seq 1 "$rounds"); do
  a=$(run 1 "$tmp/one$r"); b=$(run "$threads" "$tmp/many$r")
  printf "round %d: --workers 1: %7.1f s   --workers %d: %7.1f s\n" "$r" "$a" "$threads" "$b"
  best1=$(awk -v x="$a" -v y="${best1:-1e99}" 'BEGIN { print (x < y ? x : y) }')
  bestw=$(awk -v x="$b" -v y="${bestw:-1e99}" 'BEGIN { print (x < y ? x : y) }')
done
n=$(ls "$tmp/one1/records/$method" | wc -l)
awk -v t="$threads" -v a="$best1" -v b="$bestw" -v n="$n" 'BEGIN {
  printf "best: one image at a time (%d engine threads) %.1f s, %d images at a time %.1f s, %.1f / %.1f s per image; speed-up %.2fx\n",
    t, a, t, b, a / n, b / n, a / b }'
strip() { sed -E 's/,"seconds":[0-9.e+-]+//' "$1"; }
for f in "$tmp/one1/records/$method"/*.json; do
  b=$(basename "$f" .json)
  cmp -s <(strip "$f") <(strip "$tmp/many1/records/$method/$b.json") || { echo "record $b differs" >&2; exit 1; }
  cmp -s "$tmp/one1/attacked/$method/$b.png" "$tmp/many1/attacked/$method/$b.png" || { echo "image $b differs" >&2; exit 1; }
done
echo "records and attacked images identical for both ($n images)"
