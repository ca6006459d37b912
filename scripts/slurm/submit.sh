#!/usr/bin/env bash
# Submit a sharded `sega eval` to Slurm: an array of N shard tasks, then the report job, which
# starts once every task has succeeded (--dependency=afterok:<array>). docs/cluster.md.
#
#   scripts/slurm/submit.sh --tasks N [--cpus-per-task C] [--mem-mb MB] [--report-mem-mb MB]
#       [--logs DIR] [--sbatch ARG]... -- EVAL-ARGS...
#
#   --tasks N          shards (array tasks 0..N-1)
#   --cpus-per-task C  CPUs per task, given to sega as --threads (default 1)
#   --mem-mb MB        memory per task (--mem); sega gets --memory-limit-mb MB - headroom
#                      (SEGA_MEM_HEADROOM_MB, default 256) (default 2048)
#   --report-mem-mb MB memory of the report job (default 2048)
#   --logs DIR         the jobs' output files, DIR/eval_<array>_<task>.out and DIR/report_<job>.out
#                      (default ./sega-slurm-logs; keep it outside the report directory)
#   --sbatch ARG       passed to both sbatch calls (repeat it): --sbatch --partition=cpu
#                      --sbatch --time=04:00:00 --sbatch --account=proj
#   EVAL-ARGS          sega eval's arguments, -o REPORT among them, without --shard, --threads,
#                      --workers and --memory-limit-mb (this script sets those per task)
#
# Environment: SEGA_BIN (default: sega on PATH), made absolute here and exported to the jobs with
# the rest of the environment; SEGA_WORKERS, SEGA_MEM_HEADROOM_MB (scripts/slurm/sega_array.sbatch).
# Prints "array JOBID" and "report JOBID". Use absolute paths in EVAL-ARGS, on the filesystem the
# nodes share (the jobs start in this directory, which must be shared as well).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "submit: $*" >&2; exit 2; }

tasks="" cpus=1 mem=2048 report_mem=2048 logs=./sega-slurm-logs extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) tasks=${2:?}; shift 2 ;;
    --cpus-per-task) cpus=${2:?}; shift 2 ;;
    --mem-mb) mem=${2:?}; shift 2 ;;
    --report-mem-mb) report_mem=${2:?}; shift 2 ;;
    --logs) logs=${2:?}; shift 2 ;;
    --sbatch) extra+=("${2:?}"); shift 2 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (eval arguments go after --)" ;;
  esac
done
for v in tasks cpus mem report_mem; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} must be a positive integer, got '${!v}'"
done
[ $# -gt 0 ] || die "no eval arguments after --"
for a in "$@"; do
  case "$a" in
    --shard|--shard=*|--threads|--threads=*|--workers|--workers=*|--memory-limit-mb|--memory-limit-mb=*)
      die "$a is set per task by scripts/slurm/sega_array.sbatch; leave it out" ;;
  esac
done

sega=${SEGA_BIN:-sega}
case "$sega" in
  */*) [ -x "$sega" ] || die "SEGA_BIN=$sega is not an executable file"; sega=$(cd "$(dirname "$sega")" && pwd)/$(basename "$sega") ;;
  *) sega=$(command -v "$sega") || die "sega is not on PATH (set SEGA_BIN)" ;;
esac
export SEGA_BIN=$sega
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)

array=$(sbatch --parsable "${extra[@]}" --array=0-$((tasks - 1)) --cpus-per-task="$cpus" --mem="$mem" \
  --output="$logs/eval_%A_%a.out" "$here/sega_array.sbatch" "$@")
array=${array%%;*}
report=$(sbatch --parsable "${extra[@]}" --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
  --mem="$report_mem" --output="$logs/report_%j.out" "$here/report.sbatch" "$@")
report=${report%%;*}
echo "array $array"
echo "report $report"
