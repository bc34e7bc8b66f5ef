#!/usr/bin/env bash
# Slurm in CI: a one-node Slurm cluster as this user's own daemons (munged, slurmctld, slurmd; a generated
# slurm.conf in a temp folder; no systemd) runs the project's configs/cluster/sweep.slurm as a 3-task array
# on a tiny sweep and checks the cluster semantics:
#   - task 1 gets the time-limit signal (USR1, as `--signal=B:USR1@120` sends it): it checkpoints, requeues
#     itself, resumes and finishes; its log is appended to, not truncated
#   - task 2 is cancelled with scancel: it stays CANCELLED (no requeue); `regnet merge` then exits 3
#   - `sbatch --array=2` reruns it as shard 2 of the recorded 3 (not shard 0 of 1)
#   - configs/cluster/merge.slurm, dependent on both jobs, merges; its rows equal a local run's in every
#     column but the timings
#   - a 2-rank data-parallel `regnet train` through srun, when `regnet train --help` lists --nproc-per-node
# Installs Debian's slurm-wlm and munge when absent (apt-get; root or sudo). Stops its daemons on exit.
#   scripts/test-cluster.sh            (npm run test:cluster; KEEP=1 keeps the temp folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T0=$(date +%s)
say() { echo "[test-cluster +$(($(date +%s) - T0))s] $*"; }
fail() {
  echo "[test-cluster] FAIL: $*" >&2
  exit 1
}

# --- packages ---------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# --- a one-node cluster ---------------------------------------------------------------------------
T=$(mktemp -d /tmp/regnet-slurm.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
  local code=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -f "${SLURM_CONF}" ]; then scancel --user "$(id -un)" >/dev/null 2>&1; fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  if [ "$code" != 0 ]; then
    echo "--- logs (exit $code) ---" >&2
    for f in "$T"/logs/* "$T"/slurmctld.log "$T"/slurmd.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }; done
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$code"
}
trap cleanup EXIT

USER_NAME=$(id -un)
HOST=$(hostname -s)
# free ports near 16817 (Slurm's default is 6817; these keep clear of a real cluster on the machine)
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
CTLD_PORT=$(free_port $((16817 + RANDOM % 1000)))
SLURMD_PORT=$(free_port $((CTLD_PORT + 1)))

# munge: a fresh key and its own socket
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/logs"
chmod 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge/munge.key"
munged --force --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed"
for _ in $(seq 50); do [ -s "$T/munge/munged.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$T/munge/munged.pid")")
munge -n --socket="$T/munge/munge.sock" | unmunge --socket="$T/munge/munge.sock" >/dev/null || fail "munge does not work"

CPUS=3 # one per array task; more than the machine may have (config_overrides): the tasks are tiny
cat >"$T/slurm.conf" <<EOF
ClusterName=regnetci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
AuthType=auth/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$T/munge/munge.sock,cred_expire=10
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
# schedule every few seconds (default 60 s): the test waits on requeued and dependent jobs
SchedulerParameters=sched_interval=3,bf_interval=3
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=3000 State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=30 State=UP
EOF
export SLURM_CONF="$T/slurm.conf"
SLURM_VERSION=$(sbatch --version)
say "$SLURM_VERSION, $(munged --version 2>&1 | head -1)"
slurmctld -D -i -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$T/slurmd.out" 2>&1 &
PIDS+=($!)
for i in $(seq 60); do
  state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
  [ "$state" = "idle" ] && break
  [ "$i" = 60 ] && { cat "$T"/slurmctld.out "$T"/slurmd.out >&2; fail "the node did not come up (state '$state')"; }
  sleep 1
done
say "cluster up: $HOST, $CPUS CPUs, ports $CTLD_PORT/$SLURMD_PORT"

# --- the sweep -------------------------------------------------------------------------------------
ENGINE=$(node --import tsx -e "import('$ROOT/src/engine/torch/native.ts').then((m) => console.log(m.torchAvailable().ok ? 'torch' : 'wasm'))")
cat >"$T/tiny.json" <<EOF
{ "name": "slurm-ci", "space": "regnetx_small", "n": 6, "seed": 2, "dataset": "mnist", "recipe": "quick",
  "engine": "$ENGINE", "overrides": { "steps": 12, "batchSize": 16 }, "limit_train": 192, "limit_val": 64,
  "res": 28, "in_chans": 1, "constraints": { "flops": ["1M", "5M"] } }
EOF
export CONFIG="$T/tiny.json" OUT="$T/out" REGNET="node --import tsx $ROOT/src/cli/main.ts" RETRIES=0
SB=(--chdir="$ROOT" --cpus-per-task=1 --mem=700M --time=10 --export=ALL)

A=$(sbatch --parsable "${SB[@]}" --array=0-2 --output="$T/logs/sweep-%A_%a.log" configs/cluster/sweep.slurm)
A=${A%%;*}
say "submitted array $A (3 tasks, engine $ENGINE)"
log_of() { echo "$T/logs/sweep-${A}_$1.log"; }
state_of() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2
  shift 2
  for _ in $(seq "$((limit * 2))"); do "$@" && return 0; sleep 0.5; done
  fail "timed out after ${limit}s waiting for $what"
}
training() { grep -q "model [0-9]* (1/2 of shard $1/3)" "$(log_of "$1")" 2>/dev/null; }
both_training() { training 1 && training 2; }
wait_for 120 "tasks 1 and 2 to start training" both_training

# task 1: the time-limit signal (what --signal=B:USR1@120 delivers to the batch shell); task 2: a user's scancel
scancel --batch --signal=USR1 "${A}_1"
scancel "${A}_2"
say "sent USR1 to task 1 (time limit), cancelled task 2"

# the requeued task: pending again (its eligible time tells when Slurm lets it restart)
requeued() { scontrol show job -o "${A}_1" | grep -q 'Restarts=1'; }
wait_for 60 "task 1 to requeue" requeued
say "task 1 requeued: $(scontrol show job -o "${A}_1" | grep -o 'JobState=[^ ]*\|EligibleTime=[^ ]*' | tr '\n' ' ')"
all_ended() { # every task of array A has ended (none pending, running or requeued)
  ! squeue -h -j "$A" -o %T 2>/dev/null | grep -q .
}
wait_for 300 "the array to end" all_ended
grep -q "requeueing job" "$(log_of 1)" || fail "task 1 did not requeue itself: $(cat "$(log_of 1)")"
[ "$(grep -c 'restart ' "$(log_of 1)")" -ge 2 ] || fail "task 1's log holds one run only (truncated, or not requeued)"
grep -q "restart 1" "$(log_of 1)" || fail "task 1 did not run again after its requeue"
RESUMED=$(grep -c "resuming from checkpoint" "$(log_of 1)" || true)
[ "$(state_of "${A}_1")" = COMPLETED ] || fail "task 1 ended $(state_of "${A}_1"), not COMPLETED"
[ "$(state_of "${A}_2")" = CANCELLED ] || fail "task 2 is $(state_of "${A}_2"), not CANCELLED"
scontrol show job -o "${A}_2" | grep -q "Restarts=0" || fail "the cancelled task 2 was requeued"
say "task 1 requeued itself and finished ($RESUMED model(s) resumed from a checkpoint); task 2 stays CANCELLED"

# a merge now misses task 2's models: exit 3, nothing written
set +e
$REGNET merge "$OUT" --out "$T/early.csv" 2>"$T/early.err"
code=$?
set -e
[ "$code" = 3 ] || fail "merge with models missing exited $code, not 3: $(cat "$T/early.err")"
[ ! -e "$T/early.csv" ] || fail "merge with models missing wrote its output"
say "merge before the rerun: exit 3 ($(cat "$T/early.err"))"

# rerun the cancelled task alone; the merge job waits for both jobs
B=$(sbatch --parsable "${SB[@]}" --array=2 --output="$T/logs/rerun-%A_%a.log" configs/cluster/sweep.slurm)
B=${B%%;*}
C=$(sbatch --parsable --chdir="$ROOT" --export=ALL --dependency="afterany:$A:$B" --output="$T/logs/merge-%j.log" configs/cluster/merge.slurm)
scontrol show job -o "$C" | grep -o 'MinMemoryNode=[^ ]*\|MinMemoryCPU=[^ ]*' | grep -q . || fail "merge job: no memory request"
say "rerun of task 2: job $B; merge job $C ($(scontrol show job -o "$C" | grep -o 'MinMemory[A-Za-z]*=[^ ]*'))"
ended() { local s; s=$(state_of "$1"); [ -n "$s" ] && [ "$s" != PENDING ] && [ "$s" != RUNNING ] && [ "$s" != REQUEUED ] && [ "$s" != CONFIGURING ]; }
wait_for 240 "the merge job" ended "$C"
grep -q "shard 2/3 (Slurm array task 2 of the recorded 3-task array" "$T/logs/rerun-${B}_2.log" ||
  fail "the rerun did not run shard 2/3: $(cat "$T/logs/rerun-${B}_2.log")"
[ "$(state_of "$C")" = COMPLETED ] || fail "the merge job ended $(state_of "$C"): $(cat "$T"/logs/merge-*.log)"
say "rerun ran shard 2/3; merge job: $(tail -n 1 "$T/logs/merge-$C.log")"

# --- the same sweep locally, compared -----------------------------------------------------------------
$REGNET sweep "$CONFIG" --out "$T/local" --threads 1 2>"$T/local.err" || fail "local run: $(tail -5 "$T/local.err")"
node --import tsx --input-type=module -e "
const { readRows } = await import('$ROOT/src/sweep/rows.ts');
const cut = (rows) => rows.map(({ train_seconds, images_per_sec, ...rest }) => rest);
const a = cut(readRows('$OUT/sweep.csv')), b = cut(readRows('$T/local/sweep.csv'));
if (a.length !== 6 || b.length !== 6) throw new Error('row counts ' + a.length + ' / ' + b.length);
for (let i = 0; i < 6; i++) for (const k of Object.keys(b[i]))
  if (JSON.stringify(a[i][k]) !== JSON.stringify(b[i][k])) throw new Error('row ' + i + ' column ' + k + ': slurm ' + JSON.stringify(a[i][k]) + ' local ' + JSON.stringify(b[i][k]));
console.log('rows equal: ' + b.length + ' models x ' + Object.keys(b[0]).length + ' columns (all but train_seconds, images_per_sec); status ' + [...new Set(b.map((r) => r.status))] + ', threads ' + b[0].threads + ', device ' + b[0].device + ', final_loss ' + b.map((r) => r.final_loss).join(' '));
" || fail "the merged Slurm rows differ from the local run"
say "compared with the local run"

# --- data-parallel training through srun (2 ranks) -----------------------------------------------------
# ===== DDP STEP: two srun tasks train one model as two ranks (c10d Gloo); with --sync-bn that is the
# computation of one process with twice the batch, so the final loss must equal a local 1-process run's
if [ "$ENGINE" = torch ]; then
  say "2-rank data-parallel training through srun"
  DDP=(regnetx_002 --dataset mnist --engine torch --threads 1 --steps 4 --limit-train 128 --limit-val 64 --img-size 28
    --in-chans 1 --no-bench --progress none --json)
  # each srun task is a rank (SLURM_PROCID of SLURM_NTASKS); rank 0's address and a free port for the rendezvous
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port $((SLURMD_PORT + 1))) srun --chdir="$ROOT" --ntasks=2 --cpus-per-task=1 --mem=700M --time=5 \
    --output="$T/logs/ddp-%t.out" --error="$T/logs/ddp-%t.err" \
    $REGNET train "${DDP[@]}" --batch-size 16 --sync-bn --checkpoint "$T/ddp" ||
    fail "2-rank srun training failed: $(tail -n 20 "$T"/logs/ddp-*.err)"
  # the global batch (2 x 16) is what the checkpoint records: the two tasks trained as ranks of one job
  node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).config.batchSize === 32 ? 0 : 1)' "$T/ddp/state.json" ||
    fail "the srun tasks did not train as 2 ranks of one job (checkpoint batch is not 2 x 16)"
  $REGNET train "${DDP[@]}" --batch-size 32 --checkpoint "$T/ddp1" >"$T/logs/ddp1.out" 2>"$T/logs/ddp1.err" ||
    fail "1-process reference training failed: $(tail -n 20 "$T/logs/ddp1.err")"
  node -e '
    const fs = require("fs");
    const last = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
    const [two, one] = [last(process.argv[1]), last(process.argv[2])];
    const d = Math.abs(two.finalLoss - one.finalLoss);
    console.log(`srun 2 ranks x 16 (--sync-bn): final loss ${two.finalLoss}, top1 ${two.top1}; 1 process x 32: ${one.finalLoss}, top1 ${one.top1}; |diff| ${d.toExponential(2)}`);
    if (!(d < 1e-5) || two.top1 !== one.top1) process.exit(1);
  ' "$T/logs/ddp-0.out" "$T/logs/ddp1.out" || fail "2 ranks under srun differ from 1 process"
else
  say "SKIP 2-rank srun training: the torch addon is not built here (data-parallel training needs it)"
fi

say "PASS ($SLURM_VERSION, $(($(date +%s) - T0)) s)"
