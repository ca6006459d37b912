# fuzz/common.sh - sourced by fuzz/run.sh and fuzz/run_swift.sh: runs one built harness on its
# committed corpus for FUZZ_SECONDS (FUZZ_RUNS caps executions) and prints one summary line,
#   fuzz NAME: N executions in S s, peak RSS M MB, no findings      or      fuzz NAME: FAILED (...)
# New corpus entries go to fuzz/out/NAME, crash artifacts to fuzz/out/NAME-*, the log to
# fuzz/out/NAME.log. Returns non-zero on a finding. Extra arguments go to the harness.
run_harness() {
  local n=$1 bin=$2 secs=$3; shift 3
  local log="fuzz/out/$n.log" extra=()
  mkdir -p "fuzz/out/$n" "fuzz/corpus/$n"
  [ -n "${FUZZ_RUNS:-}" ] && extra+=("-runs=$FUZZ_RUNS")
  if "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="fuzz/out/${n}-" "$@" "${extra[@]}" \
       "fuzz/out/$n" "fuzz/corpus/$n" >"$log" 2>&1; then
    local runs took rss
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}')
    rss=$(grep -E '^stat::peak_rss_mb' "$log" | awk '{print $2}')
    echo "fuzz $n: ${runs:-?} executions in ${took:-$secs}s, peak RSS ${rss:-?} MB, no findings"
  else
    echo "fuzz $n: FAILED (see $log)"; tail -n 30 "$log"; return 1
  fi
}
