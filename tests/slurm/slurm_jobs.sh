#!/usr/bin/env bash
# Runs jobs/prepare.sbatch and jobs/train.sbatch on a real one-node SLURM cluster started
# here on localhost: munged, slurmctld and slurmd with a generated slurm.conf, all state in a
# temporary folder, no systemd, nothing under /etc touched. Cases, in order:
#   prepare       jobs/prepare.sbatch makes a dataset of the bundled audio with 2 ranks (srun)
#   train         a short run of the small model (2 ranks, mpirun) ends with a valid checkpoint
#   preempt-usr1  USR1 to the batch shell (`scancel -b`: what --signal=B:USR1@120 sends)
#                 while training runs (srun): the trainer checkpoints and exits 3, the job
#                 requeues itself, and the requeued job resumes from that checkpoint and
#                 reaches the last step
#   preempt-term  the same with TERM and mpirun
#   cancel        a plain `scancel` checkpoints but is not requeued
#
# usage: slurm_jobs.sh DDSP_BINARY SOURCE_DIR WORK_DIR
# exit: 0 passed, 1 failed, 77 skipped (not root, SLURM/munge not installed, or the daemons
# do not come up here: the reason is printed). The daemons, and every process they started,
# are stopped on exit whatever happens. DDSP_SLURM_DEADLINE (s, default 300) bounds the run.
set -uo pipefail
{   # one compound command: bash reads it whole, so editing this file during a run is safe

[ $# -eq 3 ] || { echo "usage: $0 DDSP_BINARY SOURCE_DIR WORK_DIR" >&2; exit 2; }
SKIP=77
t0=$SECONDS
DEADLINE=$((t0 + ${DDSP_SLURM_DEADLINE:-300}))

say() { printf '[slurm-test %3ds] %s\n' $((SECONDS - t0)) "$*"; }
skip() { say "SKIPPED: $*"; exit $SKIP; }
fail() { say "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- can we run at all?
[ "$(id -u)" = 0 ] || skip "needs root (slurmd runs the jobs and must be able to become any user)"
for c in munged mungekey munge slurmctld slurmd sbatch scontrol squeue scancel sinfo h5dump; do
    command -v "$c" >/dev/null ||
        skip "'$c' not found: apt-get install --no-install-recommends slurmctld slurmd slurm-client munge hdf5-tools"
done
DDSP=$(realpath "$1") || fail "no binary $1"
SRC=$(realpath "$2") || fail "no source dir $2"
[ -x "$DDSP" ] || fail "$DDSP is not executable"
mkdir -p "$3" && WORK=$(realpath "$3") || fail "cannot create $3"
rm -rf "$WORK"/{data.h5,*.out,run-*,daemon-logs}          # what an earlier run left

# Every process of this cluster (daemons, slurmstepd, batch shells, ranks) carries TAG in its
# environment, so teardown can find exactly those and nothing else on the machine.
D=$(mktemp -d /tmp/ddsp-slurm-test.XXXXXX) || skip "cannot create a folder in /tmp"
chmod 755 "$D"                                 # munged wants the socket's folders world-executable
TAG="DDSP_SLURM_TEST=$D"
CONF=$D/slurm.conf
H=$(hostname -s)
pids=()                                        # munged slurmctld slurmd, as started here

# the SLURM_* of an enclosing job must not leak into ours
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(SLURM_[A-Z_]*\)=.*/\1/p')
export SLURM_CONF=$CONF

ours() { # PIDs whose environment holds TAG
    local p
    for p in /proc/[0-9]*; do
        grep -qxF "$TAG" < <({ tr '\0' '\n' < "$p/environ"; } 2>/dev/null) && echo "${p#/proc/}"
    done
}

teardown() {
    local rc=$? p i
    trap - EXIT INT TERM
    if [ -n "${pids[1]:-}" ] && [ -d "/proc/${pids[1]}" ]; then
        scancel --full $(squeue -h -o %i 2>/dev/null) 2>/dev/null
        for i in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 50); do
        alive=0; for p in "${pids[@]}"; do [ -d "/proc/$p" ] && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in $(ours); do kill -KILL "$p" 2>/dev/null; done     # stray slurmstepd / ranks
    if [ $rc != 0 ] && [ $rc != $SKIP ]; then
        for f in "$D"/log/*.log; do
            [ -f "$f" ] && { echo "---- last lines of $f"; tail -n 25 "$f"; }
        done
    fi
    mkdir -p "$WORK/daemon-logs" && cp -r "$D"/log/. "$WORK/daemon-logs/" 2>/dev/null
    rm -rf "$D"
    say "daemons stopped; job logs in $WORK"
    exit $rc
}
trap teardown EXIT
trap 'say "interrupted"; exit 1' INT TERM

# ---------------------------------------------------------------- bring-up
free_port() { # a TCP port nobody listens on, from a random start
    local p=$((20000 + RANDOM % 20000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo $p
}
mkdir -p "$D"/{state,spool,log}
mungekey --create --keyfile="$D/munge.key" >/dev/null 2>&1 || skip "mungekey cannot create a key"
chmod 600 "$D/munge.key"
env "$TAG" munged --foreground --socket="$D/munge.sock" --key-file="$D/munge.key" \
    --pid-file="$D/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munged.seed" \
    >>"$D/log/munged.log" 2>&1 &
pids+=($!)
for i in $(seq 50); do munge -S "$D/munge.sock" -n </dev/null 2>/dev/null | unmunge -S "$D/munge.sock" \
    >/dev/null 2>&1 && break; sleep 0.1; done
munge -S "$D/munge.sock" -n </dev/null 2>/dev/null | unmunge -S "$D/munge.sock" >/dev/null 2>&1 ||
    skip "munged does not start here: $(tail -n 2 "$D/log/munged.log" | tr '\n' ' ')"

ctld_port=$(free_port)
d_port=$(free_port); [ "$d_port" = "$ctld_port" ] && d_port=$((d_port + 1))
# 4 CPUs whatever the machine has (config_overrides): jobs of 2 ranks never wait for cores.
# cred_expire=5: a requeued job may start again after 5 s instead of the default 120 s, and
# sched_interval=1 makes the scheduler notice that within a second (default 60 s). A random
# FirstJobId keeps job ids (and pmix's /tmp/spmix_appdir_<uid>_<job>.<step>) apart from those
# of another copy of this test running at the same time.
cat > "$CONF" <<EOF
ClusterName=ddsptest
FirstJobId=$(((RANDOM % 9000 + 1) * 1000))
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge.sock,cred_expire=5
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdTimeout=300
KillWait=10
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=$H NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
env "$TAG" slurmctld -D -c -f "$CONF" >>"$D/log/slurmctld.out" 2>&1 &
pids+=($!)
env "$TAG" slurmd -D -f "$CONF" -N "$H" >>"$D/log/slurmd.out" 2>&1 &
pids+=($!)
st=
for i in $(seq 150); do
    st=$(sinfo -h -n "$H" -o %T 2>/dev/null)
    case "$st" in idle|mixed|allocated) break ;; esac
    for p in "${pids[@]}"; do [ -d "/proc/$p" ] || break 2; done
    sleep 0.2
done
if [[ ! "$st" =~ ^(idle|mixed|allocated)$ ]]; then
    for f in "$D"/log/slurm*; do echo "---- $f"; tail -n 8 "$f"; done
    skip "the SLURM daemons did not come up here (node state '${st:-none}'; logs above)"
fi
say "SLURM up: node $H ($st), slurmctld port $ctld_port, state in $D"
if [ -n "${DDSP_SLURM_HOLD:-}" ]; then     # debugging: keep the cluster up for N seconds
    say "holding ${DDSP_SLURM_HOLD} s: export SLURM_CONF=$CONF"; sleep "$DDSP_SLURM_HOLD"
fi

# ---------------------------------------------------------------- helpers
field() { # field JOBID NAME -> value of NAME in `scontrol show job`
    scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
submit() { # submit VAR=VALUE... -- SBATCH_ARGS... ; prints the job id
    local vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done; shift
    env "$TAG" "${vars[@]}" sbatch --parsable "$@" | cut -d';' -f1
}
wait_end() { # wait_end JOBID LIMIT_S: until the job ends (COMPLETED, FAILED, ...); prints the state
    local id=$1 end=$((SECONDS + $2)) s
    [ $end -gt $DEADLINE ] && end=$DEADLINE
    while [ $SECONDS -lt $end ]; do
        s=$(field "$id" JobState)
        case "$s" in
            COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
                echo "$s"; return 0 ;;
        esac
        sleep 0.5
    done
    echo "still-$(field "$id" JobState)-reason-$(field "$id" Reason)"
}
show_log() { echo "---- $1"; sed 's/^/    /' "$1" 2>/dev/null; }
valid_ckpt() { # the checkpoint is an HDF5 file with the model group
    local listing
    listing=$(h5dump -n "$1" 2>/dev/null) && grep -q 'group  *\/model$' <<< "$listing"
}

common=(DDSP="$DDSP" OMPI_ALLOW_RUN_AS_ROOT=1
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1)
small=(MODEL=small BATCH=2 SEED=1 TRAIN_ARGS="--log-every 1")
res=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10)
cd "$WORK" || fail "cannot cd to $WORK"

# ---------------------------------------------------------------- case: prepare
id=$(submit "${common[@]}" INPUT="$SRC/data" OUT="$WORK/data.h5" -- \
     --job-name=prep --nodes=1 --ntasks=2 --cpus-per-task=1 --time=10 --output="$WORK/prepare.out" "$SRC/jobs/prepare.sbatch") ||
    fail "sbatch jobs/prepare.sbatch failed"
st=$(wait_end "$id" 60)
say "prepare: job $id $st, exit $(field "$id" ExitCode)"
if [ "$st" != COMPLETED ] || ! h5dump -n "$WORK/data.h5" >/dev/null 2>&1; then
    show_log "$WORK/prepare.out"; fail "prepare job: $st, expected COMPLETED and $WORK/data.h5"
fi

# ---------------------------------------------------------------- case: train
id=$(submit "${common[@]}" "${small[@]}" LAUNCHER=mpirun DATA="$WORK/data.h5" RUN_DIR="$WORK/run-train" \
     STEPS=10 CKPT_EVERY=5 VALID_EVERY=0 -- \
     --job-name=train "${res[@]}" --output="$WORK/train.out" "$SRC/jobs/train.sbatch") ||
    fail "sbatch jobs/train.sbatch failed"
st=$(wait_end "$id" 60)
say "train: job $id $st, exit $(field "$id" ExitCode); $(ls "$WORK/run-train" 2>/dev/null | tr '\n' ' ')"
if [ "$st" != COMPLETED ]; then show_log "$WORK/train.out"; fail "train job: $st, expected COMPLETED"; fi
ck=$WORK/run-train/ckpt-00000010.h5
valid_ckpt "$ck" || { show_log "$WORK/train.out"; fail "$ck is missing or has no /model"; }
say "train: $ck is HDF5 with /model"

# ---------------------------------------------------------------- preemption cases
start_training() { # start_training NAME LAUNCHER STEPS: submit, wait until it trains; sets id, log
    log=$WORK/$1.out
    id=$(submit "${common[@]}" "${small[@]}" LAUNCHER="$2" DATA="$WORK/data.h5" RUN_DIR="$WORK/run-$1" \
         STEPS="$3" CKPT_EVERY=100000 VALID_EVERY=0 -- \
         --job-name="$1" "${res[@]}" --output="$log" "$SRC/jobs/train.sbatch") ||
        fail "$1: sbatch jobs/train.sbatch failed"
    local end=$((SECONDS + 60))
    until grep -q '\] step [0-9]*/' "$log" 2>/dev/null; do
        [ $SECONDS -lt $end ] && [ $SECONDS -lt $DEADLINE ] ||
            { show_log "$log"; fail "$1: no training step logged"; }
        sleep 0.2
    done
}

preempt_case() { # preempt_case NAME LAUNCHER SIGNAL STEPS
    local name=$1 sig=$3 steps=$4 end ckpts st ok=1
    start_training "$name" "$2" "$steps"
    # what --signal=B:USR1@120 does at the time limit, or a preemption notice, by hand
    scancel -b --signal="$sig" "$id" || fail "$name: scancel -b --signal=$sig $id failed"
    say "$name: job $id training ($2); sent $sig to its batch shell"
    # the job comes back PENDING with Restarts=1 and waits 5 s (cred_expire); only the
    # checkpoint written on the signal is there (CKPT_EVERY is larger than STEPS)
    end=$((SECONDS + 60))
    until [ "$(field "$id" Restarts)" = 1 ]; do
        [ $SECONDS -lt $end ] && [ $SECONDS -lt $DEADLINE ] ||
            { show_log "$log"; fail "$name: job $id was not requeued ($(field "$id" JobState))"; }
        sleep 0.2
    done
    ckpts=$(cd "$WORK/run-$name" 2>/dev/null && ls ckpt-*.h5 2>/dev/null)
    say "$name: requeued ($(field "$id" JobState), $(field "$id" Reason)); checkpoints now: ${ckpts:-none}"
    [ "$(wc -w <<< "$ckpts")" = 1 ] && valid_ckpt "$WORK/run-$name/$ckpts" ||
        { show_log "$log"; fail "$name: expected one valid checkpoint after the signal"; }
    st=$(wait_end "$id" 120)
    say "$name: job $id $st, exit $(field "$id" ExitCode), restarts $(field "$id" Restarts)"
    grep -q "got SIG$sig" "$log" || { say "log lacks: the batch shell got $sig"; ok=0; }
    grep -q 'interrupted and checkpointed (exit 3)' "$log" || { say "log lacks: trainer exit 3"; ok=0; }
    grep -q 'requeueing job' "$log" || { say "log lacks: requeue"; ok=0; }
    grep -q '\] job [0-9]* restart 1 ' "$log" || { say "log lacks: the requeued run (restart 1)"; ok=0; }
    grep -qi "resum.*$ckpts" < <(sed -n '/\] job [0-9]* restart 1 /,$p' "$log") ||
        { say "log of the requeued run does not say it resumes from $ckpts"; ok=0; }
    grep -q "step $steps/$steps" "$log" || { say "log lacks: step $steps/$steps"; ok=0; }
    ck=$WORK/run-$name/$(printf 'ckpt-%08d.h5' "$steps")
    valid_ckpt "$ck" || { say "$ck is missing or has no /model"; ok=0; }
    if [ "$st" != COMPLETED ] || [ "$(field "$id" Restarts)" != 1 ] || [ $ok = 0 ]; then
        show_log "$log"; fail "$name case"
    fi
    say "$name: checkpointed at $ckpts on $sig, requeued once, resumed and reached step $steps"
}

preempt_case preempt-usr1 srun USR1 200
preempt_case preempt-term mpirun TERM 100

# ---------------------------------------------------------------- case: cancel
# a plain scancel ends the job for good: it checkpoints but does not requeue itself
start_training cancel srun 100000
scancel "$id" || fail "cancel: scancel $id failed"
st=$(wait_end "$id" 60)
ckpts=$(cd "$WORK/run-cancel" 2>/dev/null && ls ckpt-*.h5 2>/dev/null)
say "cancel: job $id $st, restarts $(field "$id" Restarts), checkpoints: ${ckpts:-none}"
if [ "$st" != CANCELLED ] || [ "$(field "$id" Restarts)" != 0 ] || ! grep -q 'not requeueing' "$log" ||
   [ -z "$ckpts" ]; then
    show_log "$log"; fail "cancel: expected CANCELLED, no restart, 'not requeueing' and a checkpoint"
fi

say "PASSED (prepare, train, preempt-usr1, preempt-term, cancel) in $((SECONDS - t0)) s"
exit 0
}
