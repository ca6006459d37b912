#!/usr/bin/env bash
# A sharded `sega eval` on a real one-node Slurm cluster, checked against one process
# (issue 28; counted by scripts/test.sh). Installs slurm-wlm and munge if missing, starts a
# private munged, slurmctld and slurmd (scripts/slurm/local_cluster.sh), and on 8 small images
# (64x48 centre crops of weights/samples/) with fixture models and two methods (ifgsm, random):
#   1. one process: sega eval --threads 2 into serial/ (the reference);
#   2. array: scripts/slurm/submit.sh --tasks 4 (1 CPU each) + the report job into array/: every
#      task and the report job complete, the report job attacks nothing, and compare_reports.py
#      finds array/ and serial/ identical (records, attacked PNGs, report.*, srocc.svg; timing
#      fields aside);
#   3. requeue: the same into requeue/, but task 1 is requeued (scontrol requeue: killed and put
#      back in the queue) as soon as its first record is on disk, and an orphaned temporary file
#      (what a kill during a write leaves) is planted in records/: the task's log shows the kill
#      and a second run that skipped the records of the first, the report job removes the orphan,
#      and requeue/ is still identical to serial/ (no record lost, none extra).
# Prints "slurm: NAME: ok" or "slurm: NAME: FAILED ..." per check and the wall times. Stops every
# daemon it started by its process id, also on failure. Needs root (slurmd runs the jobs).
# Environment: SEGA_BIN (default .build/debug/sega, built if missing), SEGA_SLURM_TIMEOUT (seconds
# per wait, default 240), SEGA_SLURM_KEEP=1 keeps the work directory, SEGA_SLURM_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export PATH="/opt/swift/usr/bin:$PATH"
timeout=${SEGA_SLURM_TIMEOUT:-240}
F=$repo/Tests/Fixtures

fail() { echo "slurm: $1: FAILED: $2"; [ -n "${3:-}" ] && tail -n 40 "$3" 2>/dev/null | sed 's/^/  | /'; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || fail setup "needs root (slurmd runs the jobs as root here)"
sega=${SEGA_BIN:-$repo/.build/debug/sega}
if [ ! -x "$sega" ]; then swift build --product sega >/dev/null || fail setup "cannot build sega"; fi
export SEGA_BIN=$sega

work=$(mktemp -d /tmp/sega-slurm-ci.XXXXXX)
chmod 755 "$work"
cleanup() {
  local st=$?
  "$repo/scripts/slurm/local_cluster.sh" stop "$work/cluster" || st=1
  if [ "${SEGA_SLURM_KEEP:-0}" = 1 ]; then echo "slurm: kept $work" >&2; else rm -rf "$work"; fi
  exit $st
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/slurm/local_cluster.sh install >/dev/null || fail setup "cannot install slurm-wlm and munge"
scripts/slurm/local_cluster.sh start "$work/cluster" 2> "$work/cluster.log" || fail setup "cluster did not start" "$work/cluster.log"
export SLURM_CONF=$work/cluster/slurm.conf

python3 scripts/slurm/crop_png.py --size 64x48 --out "$work/images" weights/samples/*.png
mapfile -t names < <(cd "$work/images" && ls -1 | LC_ALL=C sort | sed 's/\.png$//')
[ ${#names[@]} -eq 8 ] || fail setup "expected 8 images, got ${#names[@]}"
methods=(ifgsm random)
tasks=4
args=(--sources "$F/cnniqa.safetensors,$F/lite0.safetensors"
      --targets "$F/dbcnn_lite0.safetensors,$F/linearityiqa_lite0.safetensors"
      --images "$work/images" --methods "$(IFS=,; echo "${methods[*]}")" --iters 3)

# 1. The reference: one process, both CPUs.
t0=$(now)
"$sega" eval "${args[@]}" --threads 2 -o "$work/serial" 2> "$work/serial.log" || fail serial "sega eval failed" "$work/serial.log"
t_serial=$(secs "$t0" "$(now)")

# Job state from scontrol (accounting is off): "STATE EXIT" per job record.
states() { scontrol -o show job "$1" 2>/dev/null | sed -nE 's/.*JobState=([A-Z_]+).* ExitCode=([0-9:]+).*/\1 \2/p'; }
wait_gone() {  # JOBID CHECKNAME: until squeue no longer lists the job (or any of its tasks)
  local end=$(( $(date +%s) + timeout ))
  while squeue -h -j "$1" -o %i 2>/dev/null | grep -q .; do
    [ "$(date +%s)" -lt "$end" ] || fail "$2" "job $1 still queued or running after ${timeout}s: $(squeue -h -j "$1" -o '%i %T %r' | tr '\n' ';')"
    sleep 0.2
  done
}
submit() {  # OUTDIR LOGDIR: sets array and report
  local ids
  ids=$(scripts/slurm/submit.sh --tasks "$tasks" --cpus-per-task 1 --mem-mb 512 --report-mem-mb 512 \
        --logs "$2" -- "${args[@]}" -o "$1") || fail "$3" "submit.sh failed"
  array=$(sed -n 's/^array //p' <<< "$ids"); report=$(sed -n 's/^report //p' <<< "$ids")
  [ -n "$array" ] && [ -n "$report" ] || fail "$3" "submit.sh printed no job ids: $ids"
}
check_done() {  # CHECKNAME LOGDIR: every task and the report job completed with exit 0
  local st n
  st=$(states "$array")
  n=$(grep -c '^COMPLETED 0:0$' <<< "$st" || true)
  [ "$n" -eq "$tasks" ] || fail "$1" "array $array: $n of $tasks tasks completed: $(tr '\n' ';' <<< "$st")" "$(ls "$2"/eval_* | head -n 1)"
  wait_gone "$report" "$1"
  st=$(states "$report")
  [ "$st" = "COMPLETED 0:0" ] || fail "$1" "report job $report: $st" "$2/report_$report.out"
  grep -q '^report: sega eval --report-only$' "$2/report_$report.out" \
    || grep -qE '^sega eval: 0 attack\(s\) run, [0-9]+ already done' "$2/report_$report.out" \
    || fail "$1" "the report job attacked something" "$2/report_$report.out"
}
compare() {  # CHECKNAME DIR: same files, same bytes (timing aside) as serial/, one record per image and method
  local m n
  python3 scripts/compare_reports.py "$work/serial" "$2" > "$work/$1.compare" || fail "$1" "differs from one process" "$work/$1.compare"
  for m in "${methods[@]}"; do
    n=$(find "$2/records/$m" -type f | wc -l)
    [ "$n" -eq ${#names[@]} ] || fail "$1" "$n files in records/$m, expected ${#names[@]}"
  done
}

# 2. The array and the report job.
t0=$(now)
submit "$work/array" "$work/logs-array" array
wait_gone "$array" array
t_array=$(secs "$t0" "$(now)")
check_done array "$work/logs-array"
t_report=$(secs "$t0" "$(now)")
compare array "$work/array"
echo "slurm: array: ok ($tasks tasks x 1 CPU, ${#names[@]} images x ${#methods[@]} methods; $(tail -n 1 "$work/array.compare"))"

# 3. Requeue task 1 once its first record is on disk.
victim=1
mine=()
for i in "${!names[@]}"; do [ $((i % tasks)) -eq $victim ] && mine+=("${names[$i]}"); done
records_of_victim() {
  local m s c=0
  for m in "${methods[@]}"; do for s in "${mine[@]}"; do [ -f "$work/requeue/records/$m/$s.json" ] && c=$((c + 1)); done; done
  echo $c
}
total=$(( ${#mine[@]} * ${#methods[@]} ))
submit "$work/requeue" "$work/logs-requeue" requeue
end=$(( $(date +%s) + timeout ))
while [ "$(records_of_victim)" -eq 0 ]; do
  [ "$(date +%s)" -lt "$end" ] || fail requeue "task $victim wrote no record within ${timeout}s"
  sleep 0.05
done
before=$(records_of_victim)
[ "$before" -lt "$total" ] || fail requeue "task $victim finished ($before of $total records) before it could be requeued"
scontrol requeue "${array}_$victim" || fail requeue "scontrol requeue ${array}_$victim failed"
# Slurm holds a requeued job for about two minutes once it has left the node (EligibleTime =
# requeue + 121 s here); when it is back in the queue, let it start again now.
until states "${array}_$victim" | grep -q '^PENDING '; do
  [ "$(date +%s)" -lt "$end" ] || fail requeue "task $victim is not back in the queue: $(states "${array}_$victim")"
  sleep 0.1
done
scontrol update JobId="${array}_$victim" StartTime=now || fail requeue "cannot reset the requeued task's start time"
touch "$work/requeue/records/${methods[0]}/.${mine[0]}.json.tmp-Ab12Cd"
wait_gone "$array" requeue
check_done requeue "$work/logs-requeue"
log=$work/logs-requeue/eval_${array}_$victim.out
restarts=$(scontrol -o show job "${array}_$victim" | sed -nE 's/.* Restarts=([0-9]+).*/\1/p')
[ "$restarts" = 1 ] || fail requeue "task $victim restarted ${restarts:-?} times, expected 1" "$log"
grep -q "DUE TO JOB REQUEUE" "$log" || fail requeue "task $victim's log shows no requeue" "$log"
grep -q "^sega_array: task $victim/$tasks .* run 2," "$log" || fail requeue "task $victim's log shows no second run" "$log"
summaries=$(grep -cE '^sega eval: [0-9]+ attack\(s\) run' "$log" || true)
[ "$summaries" -eq 1 ] || fail requeue "task $victim finished $summaries times (the first run should have been killed)" "$log"
run=$(sed -nE 's/^sega eval: ([0-9]+) attack\(s\) run, ([0-9]+) already done.*/\1 \2/p' "$log")
read -r computed skipped <<< "$run"
[ "$skipped" -ge "$before" ] && [ $((computed + skipped)) -eq "$total" ] \
  || fail requeue "second run: $computed attack(s) run, $skipped already done; expected >= $before done of $total" "$log"
# The planted orphan is gone: the requeued task's own sega eval removes temporary files that no
# live writer holds (docs/fault-tests.md), else the report job's sweep does.
[ ! -e "$work/requeue/records/${methods[0]}/.${mine[0]}.json.tmp-Ab12Cd" ] \
  || fail requeue "the orphaned temporary file survived the rerun and the report job" "$work/logs-requeue/report_$report.out"
compare requeue "$work/requeue"
echo "slurm: requeue: ok (task $victim killed after $before of $total records; rerun skipped $skipped, attacked $computed; $(tail -n 1 "$work/requeue.compare"))"
echo "slurm: wall time: one process (2 threads) ${t_serial}s; array of $tasks tasks ${t_array}s from submission, report done at ${t_report}s"
