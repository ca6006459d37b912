#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the scripts in this folder and for
# scripts/slurm/ci_test.sh. Everything it runs or writes lives in DIR (a private munged with its
# own key and socket, slurmctld and slurmd in the foreground, their state, spool, logs and
# slurm.conf); nothing in /etc is changed. Needs root (slurmd launches the jobs).
#
#   scripts/slurm/local_cluster.sh install          # apt-get install slurm-wlm munge if missing
#   scripts/slurm/local_cluster.sh start DIR        # writes DIR/slurm.conf, starts the daemons
#   export SLURM_CONF=DIR/slurm.conf                # then sbatch, squeue, scontrol work
#   scripts/slurm/local_cluster.sh stop DIR         # stops exactly the daemons start recorded
#
# Ports: SEGA_SLURM_PORT (slurmctld) and the next one (slurmd); by default the first free pair
# from 16817 on. Accounting is off (no slurmdbd): sacct does not work; use squeue, scontrol and
# the jobs' output files. If start fails, run stop: it stops whatever start had started.
set -euo pipefail

die() { echo "local_cluster: $*" >&2; exit 1; }

install_missing() {
  local need=() pkg
  for pkg in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  echo "local_cluster: installing ${need[*]}" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }  # nothing accepts a connection

write_conf() {  # DIR HOST PORT
  local dir=$1 host=$2 port=$3 mem cpus
  cpus=$(nproc --all)
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat > "$dir/slurm.conf" <<EOF
# One node, written by scripts/slurm/local_cluster.sh for this machine.
ClusterName=sega-local
SlurmctldHost=$host
SlurmctldAddr=127.0.0.1
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
KillWait=5
MinJobAge=600
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {  # DIR: a munged of our own (own key, socket, pid file), run as the munge user
  local m=$1/munge
  id munge >/dev/null 2>&1 || die "no 'munge' user (is the munge package installed?)"
  mkdir -p "$m"
  head -c 1024 /dev/urandom > "$m/munge.key"
  chown -R munge:munge "$m"
  chmod 755 "$m"; chmod 400 "$m/munge.key"
  setpriv --reuid=munge --regid=munge --init-groups munged --socket="$m/munge.socket" \
    --key-file="$m/munge.key" --pid-file="$m/munged.pid" --log-file="$m/munged.log" \
    --seed-file="$m/munged.seed" || die "munged did not start: $(tail -n 3 "$m/munged.log" 2>/dev/null)"
  local i
  for i in $(seq 50); do [ -S "$m/munge.socket" ] && [ -s "$m/munged.pid" ] && break; sleep 0.1; done
  [ -s "$m/munged.pid" ] || die "munged wrote no pid file"
  echo "munged $(cat "$m/munged.pid")" >> "$1/pids"
  munge -n --socket="$m/munge.socket" | unmunge --socket="$m/munge.socket" >/dev/null \
    || die "munge credential round trip failed"
}

start() {  # DIR
  local dir=$1 host port p i
  [ "$(id -u)" -eq 0 ] || die "start needs root (slurmd runs the jobs)"
  host=$(hostname -s)
  if [ -n "${SEGA_SLURM_PORT:-}" ]; then
    port=$SEGA_SLURM_PORT
    port_free "$port" && port_free $((port + 1)) || die "port $port or $((port + 1)) is in use"
  else  # the first free pair from 16817 on (another local cluster may hold the first)
    port=""
    for p in $(seq 16817 2 16915); do
      if port_free "$p" && port_free $((p + 1)); then port=$p; break; fi
    done
    [ -n "$port" ] || die "no free pair of ports in 16817..16916 (set SEGA_SLURM_PORT)"
  fi
  mkdir -p "$dir/state" "$dir/spool"
  chmod 755 "$dir"
  dir=$(cd "$dir" && pwd)
  : > "$dir/pids"
  start_munge "$dir"
  write_conf "$dir" "$host" "$port"
  # -D: foreground, so $! is the daemon itself (daemonized, the recorded pid would be gone).
  slurmctld -D -i -f "$dir/slurm.conf" > "$dir/slurmctld.out" 2>&1 &
  echo "slurmctld $!" >> "$dir/pids"
  slurmd -D -f "$dir/slurm.conf" > "$dir/slurmd.out" 2>&1 &
  echo "slurmd $!" >> "$dir/pids"
  export SLURM_CONF=$dir/slurm.conf
  for i in $(seq 120); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local_cluster: up ($host, $(nproc --all) CPUs, ports $port/$((port + 1)), SLURM_CONF=$dir/slurm.conf)" >&2
      return 0
    fi
    sleep 0.5
  done
  echo "local_cluster: the node did not come up; logs:" >&2
  tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/slurmctld.out" "$dir/slurmd.out" >&2 2>/dev/null || true
  return 1
}

jobs_gone() { ! squeue -h -o %i 2>/dev/null | grep -q .; }

stop() {  # DIR: cancel every job, SIGTERM the recorded daemons (slurmd, slurmctld, munged), then
  #         SIGKILL what is left
  local dir=$1 name pid i alive
  [ -f "$dir/pids" ] || return 0
  export SLURM_CONF=$dir/slurm.conf
  if ! jobs_gone; then
    scancel --full $(squeue -h -o %i) 2>/dev/null || true
    for i in $(seq 100); do jobs_gone && break; sleep 0.2; done
    # Whatever a job left running on the node (scontrol lists its processes' ids), by id.
    for pid in $(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }'); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  for name in slurmd slurmctld munged; do
    pid=$(awk -v n="$name" '$1 == n { print $2 }' "$dir/pids")
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  alive=""
  while read -r name pid; do kill -0 "$pid" 2>/dev/null && alive+=" $name($pid)"; done < "$dir/pids"
  [ -z "$alive" ] || die "still running after stop:$alive"
  rm -f "$dir/pids"
}

case "${1:-}" in
  install) install_missing ;;
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; install_missing; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
