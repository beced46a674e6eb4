#!/usr/bin/env bash
# Weak scaling of `ddsp train` on one node: 1 rank x 1 thread, 2 ranks x 1 thread and
# 1 rank x 2 threads at a fixed PER-RANK batch (full model, 4 s examples). Prints audio-s/s
# (median of ROUNDS runs, from the trainer's own step timing), the speed-up over 1 x 1, the
# parallel efficiency and the time per step spent in the gradient allreduce.
#   tests/bench/bench_scaling.sh [BUILD_DIR] [ROUNDS] [PER_RANK_BATCH] [STEPS] [PRECISION]
set -euo pipefail
build=${1:-build}; rounds=${2:-5}; b=${3:-2}; steps=${4:-6}; prec=${5:-fp32}
ddsp=$build/ddsp
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$ddsp" prepare data --out "$work/ds.h5" 2>/dev/null >/dev/null
. "$(dirname "$0")/common.sh"
run() { # ranks threads -> "aps allreduce_ms"
  local n=$1 t=$2 log
  log=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "${blas_env[@]}" mpirun -n "$n" --oversubscribe --bind-to none \
        "$ddsp" train --data "$work/ds.h5" --batch $((b * n)) --steps "$steps" --valid-every 0 \
        --ckpt-every 0 --log-every 1000 --precision "$prec" --out "$work/run" 2>&1)
  rm -rf "$work/run"
  aps=$(echo "$log" | sed -n 's/.* \([0-9.]*\) audio-s\/s .*/\1/p' | tail -n 1)
  ar=$(echo "$log" | sed -n 's/.*allreduce ([0-9]* floats): \([0-9.]*\) ms per step.*/\1/p' | tail -n 1)
  echo "$aps ${ar:-0}"
}
for r in $(seq "$rounds"); do   # interleaved, so a noisy minute hits every layout alike
  for cfg in "1 1" "2 1" "1 2"; do run $cfg >> "$work/${cfg// /x}"; done
done
base=$(cut -d' ' -f1 "$work/1x1" | median)
echo "Weak scaling, full model, $prec, $b example(s) of 4 s per rank, $steps steps, median of $rounds runs ($(date -u +%F), $(cpu_name), load average $(cut -d' ' -f1 /proc/loadavg) at the end)"
echo
echo "| ranks x threads | global batch | audio-s/s | speed-up | efficiency | allreduce ms/step |"
echo "|---|---|---|---|---|---|"
for cfg in "1 1" "2 1" "1 2"; do
  set -- $cfg
  a=$(cut -d' ' -f1 "$work/${1}x${2}" | median); ar=$(cut -d' ' -f2 "$work/${1}x${2}" | median)
  awk -v n="$1" -v t="$2" -v a="$a" -v base="$base" -v ar="$ar" -v B=$((b * $1)) 'BEGIN {
    printf "| %d x %d | %d | %.2f | %.2fx | %.0f%% | %.1f |\n", n, t, B, a, a/base, 100*a/base/(n*t), ar }'
done
