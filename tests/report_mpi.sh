#!/bin/bash
# The phase timings under MPI: a 2-rank run (small model, 1 s examples, 4 steps, a checkpoint
# at 2 and 4) writes the slowest and fastest rank of every step phase to train.csv
# (<phase>_s_max >= <phase>_s_min, rank 0's value between them), and its report shows them.
# usage: report_mpi.sh DDSP MPIEXEC FLUTE.wav WORK_DIR
set -u
ddsp=$1 mpiexec=$2 flute=$3 work=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fail() { echo "report_mpi: FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work" || exit 1
"$ddsp" prepare "$flute" --out "$work/ds.h5" --example-secs 1 > "$work/prepare.log" 2>&1 ||
  fail "prepare: $(cat "$work/prepare.log")"
"$mpiexec" -n 2 --oversubscribe "$ddsp" train --data "$work/ds.h5" --model small --steps 4 \
  --ckpt-every 2 --batch 4 --out "$work/run" > "$work/train.log" 2>&1 || fail "train: $(tail -5 "$work/train.log")"
grep -q 'step 4: report' "$work/train.log" || fail "no report refresh at step 4: $(tail -5 "$work/train.log")"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $(c["forward_s"]) != "" {
    rows++
    split("data forward synth loss backward reduce optim", ph, " ")
    for (k in ph) {
      p = ph[k]; v = $(c[p "_s"]); hi = $(c[p "_s_max"]); lo = $(c[p "_s_min"])
      if (hi == "" || lo == "" || hi + 0 < lo + 0 || v + 0 > hi + 1e-5 || v + 0 < lo - 1e-5) {
        print "step " $1 ": " p " rank 0 " v ", slowest " hi ", fastest " lo; bad = 1 }
    }
  }
  END { if (rows != 4) { print rows " timed rows, expected 4"; bad = 1 } exit bad }' "$work/run/train.csv" ||
  fail "train.csv timings: $(head -3 "$work/run/train.csv")"
grep -q 'slowest rank' "$work/run/report/index.html" || fail "the report does not show the slowest rank"
echo "report_mpi: PASSED"
