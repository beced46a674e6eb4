#!/usr/bin/env bash
# soak.sh [MINUTES] [WORK_DIR]: a long run of the small model (not in ctest) that watches
# resident memory. Trains on 1 s examples of the bundled flute for MINUTES (default 20), with
# checkpoints and validation every 200 steps, samples every rank's VmRSS (/proc/PID/status)
# every INTERVAL seconds into WORK_DIR/rss.csv, then stops the run with SIGUSR1 (checkpoint,
# exit 3). Prints RSS after the warm-up and at the end; exits 1 if RSS grew by more than
# MARGIN_PCT after the warm-up beyond what the training history takes by design (below), if
# the run died, or if it did not stop cleanly.
#
# environment: DDSP (default build/ddsp), RANKS (1; more runs under mpirun), OMP_NUM_THREADS
# (2 with one rank, else 1), INTERVAL (30 s), WARMUP (10% of the run, 30..120 s, and at
# least 400 steps), MARGIN_PCT (5)
set -euo pipefail
minutes=${1:-20}
work=${2:-soak}
src=$(cd "$(dirname "$0")/.." && pwd)
ddsp=${DDSP:-$src/build/ddsp}
ranks=${RANKS:-1}
interval=${INTERVAL:-30}
margin=${MARGIN_PCT:-5}
secs=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
warmup=${WARMUP:-$(awk -v s="$secs" 'BEGIN { w = s / 10; printf "%d", w < 30 ? 30 : (w > 120 ? 120 : w) }')}
[ "$ranks" = 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} || export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "soak: FAIL: $*" >&2; exit 1; }
[ -x "$ddsp" ] || fail "DDSP=$ddsp is not an executable (build first)"
[ "$secs" -gt "$warmup" ] || fail "$minutes minute(s) is not longer than the ${warmup} s warm-up"

rm -rf "$work" && mkdir -p "$work"
"$ddsp" prepare "$src/data/flute.wav" --out "$work/ds.h5" --example-secs 1 --hop-secs 0.5 \
    > "$work/prepare.log" 2>&1 || { cat "$work/prepare.log"; fail "ddsp prepare failed"; }
args=(train --data "$work/ds.h5" --model small --steps 1000000000 --ckpt-every 200
      --valid-every 200 --log-every 60 --out "$work/run")
if [ "$ranks" = 1 ]; then
    "$ddsp" "${args[@]}" > "$work/train.log" 2>&1 &
else
    mpirun -n "$ranks" --oversubscribe --bind-to none -x OMP_NUM_THREADS "$ddsp" "${args[@]}" \
        > "$work/train.log" 2>&1 &
fi
job=$!
trap 'kill -KILL $pids "$job" 2>/dev/null || true' EXIT # ranks too: mpirun's SIGKILL leaves them
pids=$job
if [ "$ranks" != 1 ]; then
    for _ in $(seq 600); do
        pids=$(pgrep -P "$job" -f "ddsp train" || true)
        [ "$(wc -w <<< "$pids")" = "$ranks" ] && break
        sleep 0.05
    done
    [ "$(wc -w <<< "$pids")" = "$ranks" ] || fail "expected $ranks ranks under mpirun, found '$pids'"
fi
echo "soak: $minutes min of the small model, $ranks rank(s) x $OMP_NUM_THREADS thread(s), RSS every" \
     "$interval s after a $warmup s warm-up; pids $(echo $pids); folder $work"

echo "elapsed_s,step,pid,rss_kb" > "$work/rss.csv"
t0=$SECONDS
sample() {
    local p rss step
    step=$(tail -n 1 "$work/run/train.csv" 2>/dev/null | cut -d, -f1 || true)
    [[ "$step" =~ ^[0-9]+$ ]] || step=0
    for p in $pids; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) ||
            { tail -n 20 "$work/train.log"; fail "process $p died"; }
        [ -n "$rss" ] || { tail -n 20 "$work/train.log"; fail "process $p died"; }
        echo "$((SECONDS - t0)),$step,$p,$rss" >> "$work/rss.csv"
    done
}
sample
next=$interval
while :; do
    left=$((t0 + next - SECONDS))
    [ "$left" -le 0 ] || sleep "$left"
    [ $((SECONDS - t0)) -lt "$secs" ] || break
    sample
    tail -n "$ranks" "$work/rss.csv"
    next=$((next + interval))
done
# a last sample at the end, then stop the run as SLURM would (checkpoint, exit 3)
sample
kill -USR1 "$job"
rc=0; wait "$job" || rc=$?
trap - EXIT
[ $rc = 3 ] || { tail -n 20 "$work/train.log"; fail "the run ended with exit $rc after SIGUSR1, expected 3"; }

# Per rank: RSS after the warm-up (the largest of the first 3 samples from WARMUP seconds and
# step 400 on, two checkpoints and validations done) and at the end (the smallest of the last
# 3), so one sample taken during a checkpoint write, which briefly holds the file's image,
# cannot decide the verdict; a steady leak still shows. The training history grows by design,
# 48 B per step (6 arrays of doubles whose capacity doubles from 1024 entries); that, and 1 MB
# of slack, is subtracted before the margin applies.
awk -F, -v w="$warmup" -v ws=400 -v m="$margin" '
    function cap(n,  c) { c = 1024; while (c < n) c *= 2; return c }
    NR == 1 { next }
    $1 >= w && $2 >= ws && nb[$3] < 3 { if ($4 > base[$3]) base[$3] = $4; if (!nb[$3]++) { bt[$3] = $1; bs[$3] = $2 } }
    { k = n[$3]++ % 3; tail[$3, k] = $4; et[$3] = $1; es[$3] = $2 }
    END {
        bad = 0
        for (p in n) {
            if (!(p in base) || n[p] < 6) { printf "soak: pid %s: too few samples after the warm-up\n", p; bad = 1; continue }
            e = tail[p, 0]; if (tail[p, 1] < e) e = tail[p, 1]; if (tail[p, 2] < e) e = tail[p, 2]
            d = es[p] - bs[p]
            allow = (48 * (cap(es[p]) - cap(bs[p])) + 1048576) / 1024
            g = 100.0 * (e - base[p]) / base[p]
            net = 100.0 * (e - base[p] - allow) / base[p]
            printf "soak: pid %s: RSS %.1f MB after the warm-up (%d s, step %d) -> %.1f MB at the end " \
                   "(%d s, step %d): %+.2f%%\n", p, base[p] / 1024, bt[p], bs[p], e / 1024, et[p], es[p], g
            printf "soak: pid %s: the history accounts for up to %.1f MB of that (%d steps); beyond it " \
                   "%+.2f%% (limit %s%%)\n", p, allow / 1024, d, net, m
            if (net > m) bad = 1
        }
        exit bad
    }' "$work/rss.csv" || fail "resident memory grew after the warm-up (samples in $work/rss.csv)"
echo "soak: PASSED: RSS flat within $margin% after the warm-up; samples in $work/rss.csv," \
     "checkpoints in $work/run"
