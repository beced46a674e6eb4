#!/usr/bin/env bash
# Where the time of a training step goes (train.csv's phase columns, ddsp/train.h): full model,
# global batch B, 4 s examples, on 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1
# thread. Each run trains STEPS steps without validation or checkpoints; the first step
# (warm-up) is dropped; a cell is the median over the steps of all ROUNDS runs (interleaved).
# Under 2 ranks: the slowest / fastest rank of each phase (<phase>_s_max / _min).
#   tests/bench/bench_phases.sh [BUILD_DIR] [ROUNDS] [B] [STEPS]
set -euo pipefail
build=${1:-build}; rounds=${2:-3}; B=${3:-4}; steps=${4:-6}
ddsp=$build/ddsp
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$ddsp" prepare data --out "$work/ds.h5" 2>/dev/null >/dev/null
. "$(dirname "$0")/common.sh"
run() { # ranks threads: appends the rows of its train.csv (past step 1) to $work/<n>x<t>.csv
  local n=$1 t=$2
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "${blas_env[@]}" mpirun -n "$n" --oversubscribe \
    --bind-to none "$ddsp" train --data "$work/ds.h5" --batch "$B" --steps "$steps" \
    --valid-every 0 --ckpt-every 0 --log-every 1000 --no-report --out "$work/run" >/dev/null 2>&1
  [ -f "$work/${n}x${t}.csv" ] || head -1 "$work/run/train.csv" > "$work/${n}x${t}.csv"
  awk -F, 'NR > 1 && $1 >= 2' "$work/run/train.csv" >> "$work/${n}x${t}.csv"
  rm -rf "$work/run"
}
for r in $(seq "$rounds"); do
  for cfg in "1 1" "1 2" "2 1"; do run $cfg; done
done
col() { # FILE COLUMN -> median of the column
  awk -F, -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } k && $k != "" { print $k }' "$1" | median
}
phases="data forward synth loss backward reduce optim"
echo "Phase split of a training step, full model, global batch $B of 4 s examples, median over $((steps - 1)) steps x $rounds runs ($(date -u +%F), $(cpu_name), OpenBLAS core: $blas_core); seconds (% of the step)"
echo
echo "| phase | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread: rank 0 | slowest rank | fastest rank |"
echo "|---|---|---|---|---|---|"
tot() { local f=$1 s=0; for p in $phases; do s=$(awk -v a="$s" -v b="$(col "$f" "${p}_s")" 'BEGIN { print a + b }'); done; echo "$s"; }
t11=$(tot "$work/1x1.csv"); t12=$(tot "$work/1x2.csv"); t21=$(tot "$work/2x1.csv")
for p in $phases; do
  awk -v p="$p" -v a="$(col "$work/1x1.csv" "${p}_s")" -v b="$(col "$work/1x2.csv" "${p}_s")" \
      -v c="$(col "$work/2x1.csv" "${p}_s")" -v hi="$(col "$work/2x1.csv" "${p}_s_max")" \
      -v lo="$(col "$work/2x1.csv" "${p}_s_min")" -v ta="$t11" -v tb="$t12" -v tc="$t21" 'BEGIN {
    printf "| %s | %.3f (%.0f%%) | %.3f (%.0f%%) | %.3f (%.0f%%) | %.3f | %.3f |\n", p, a, 100*a/ta,
           b, 100*b/tb, c, 100*c/tc, hi, lo }'
done
awk -v a="$t11" -v b="$t12" -v c="$t21" 'BEGIN { printf "| step (sum of medians) | %.3f | %.3f | %.3f | | |\n", a, b, c }'
