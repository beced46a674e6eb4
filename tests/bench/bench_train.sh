#!/usr/bin/env bash
# Side-by-side benchmark of the full training step (solo_instrument, 4 s examples): ddsp
# (tests/bench/bench_train) against the tuned PyTorch peer (../shared/reference/ddsp_ref.py
# bench), interleaved in the same run, for B = 1, 4, 16 and 1, 2 threads. Each cell is the
# median over ROUNDS processes of each process's median step. Prints a Markdown table with
# seconds per step, audio-seconds/s, the ratio, ddsp's GFLOP/s and the sgemm GFLOP/s
# measured in the same process, and ddsp's peak resident memory. Both sides use the same
# OpenBLAS kernel (DDSP_BENCH_BLAS_CORE, see common.sh; default: the CPU's own).
#   tests/bench/bench_train.sh [BUILD_DIR] [ROUNDS] [BATCHES]   (needs ./install-deps.sh --bench)
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
batches=${3:-"1 4 16"}
bench=$build/tests/bench_train
[ -x "$bench" ] || { echo "bench_train.sh: $bench not built (run make first)" >&2; exit 1; }
. "$(dirname "$0")/common.sh"
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for th in 1 2; do
  for B in $batches; do
    steps=7 warm=2
    [ "$B" -ge 16 ] && steps=3 warm=1
    for r in $(seq "$rounds"); do
      out=$(OMP_NUM_THREADS=$th OPENBLAS_NUM_THREADS=$th "${blas_env[@]}" "$bench" --batch "$B" --steps $steps --warmup $warm)
      echo "$out" | field median_s >> "$tmp/c_${th}_${B}"
      echo "$out" | field gflops >> "$tmp/g_${th}_${B}"
      echo "$out" | field sgemm_gflops >> "$tmp/s_${th}_${B}"
      echo "$out" | field peak_rss_mb >> "$tmp/m_${th}_${B}"
      echo "$out" | field blas_core > "$tmp/core"
      if [ $have_peer = 1 ]; then
        /usr/bin/python3 "$peer" bench --blas-core "$blas_core" --batch "$B" --threads "$th" --steps $steps --warmup $warm 2>/dev/null |
          sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' >> "$tmp/p_${th}_${B}"
      fi
    done
  done
done
echo "Training step, solo_instrument (4.8 M parameters), 4 s examples, median of $rounds runs ($(date -u +%F), $(cpu_name), OpenBLAS core $(cat "$tmp/core") for both)"
echo
echo "| batch | threads | peer s/step | ddsp s/step | peer audio-s/s | ddsp audio-s/s | ratio | ddsp GFLOP/s | sgemm GFLOP/s (same process) | ddsp peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for th in 1 2; do
  for B in $batches; do
    c=$(median < "$tmp/c_${th}_${B}"); g=$(median < "$tmp/g_${th}_${B}")
    s=$(median < "$tmp/s_${th}_${B}"); m=$(median < "$tmp/m_${th}_${B}")
    if [ $have_peer = 1 ]; then p=$(median < "$tmp/p_${th}_${B}"); else p=nan; fi
    awk -v B="$B" -v th="$th" -v p="$p" -v c="$c" -v g="$g" -v s="$s" -v m="$m" 'BEGIN {
      printf "| %d | %d | %.3f | %.3f | %.2f | %.2f | %.2fx | %.0f | %.0f | %.0f |\n", B, th, p, c, 4*B/p, 4*B/c, p/c, g, s, m }'
  done
done
