#!/usr/bin/env bash
# Side-by-side benchmark of the full training step (solo_instrument, 4 s examples): ddsp
# (tests/bench/bench_train) against the tuned PyTorch peer (../shared/reference/ddsp_ref.py
# bench), each in fp32 and bf16, all four interleaved in the same run, for B = 1, 4, 16 and
# 1, 2 threads. Each cell is the median over ROUNDS processes of each process's median step.
# Prints a Markdown table, one row per batch, threads and precision: seconds per step of the
# peer in that precision and of ddsp, audio-seconds/s, ddsp against the peer in the same
# precision and against the peer in fp32, ddsp's GFLOP/s next to the GEMM ceiling of its
# precision measured in the same process (oneDNN 2048^3: fp32 or bf16), and ddsp's peak
# resident memory. The OpenBLAS kernel (which only the peer's GEMMs use now) is the same for
# both sides (DDSP_BENCH_BLAS_CORE, see common.sh; default: the CPU's own).
#   tests/bench/bench_train.sh [BUILD_DIR] [ROUNDS] [BATCHES] [PRECISIONS]
#   e.g. tests/bench/bench_train.sh build 5 4 "fp32 bf16"     (needs ./install-deps.sh --bench)
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
batches=${3:-"1 4 16"}
precs=${4:-"fp32 bf16"}
bench=$build/tests/bench_train
[ -x "$bench" ] || { echo "bench_train.sh: $bench not built (run make first)" >&2; exit 1; }
. "$(dirname "$0")/common.sh"
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load0=$(cut -d' ' -f1 /proc/loadavg)
for th in 1 2; do
  for B in $batches; do
    steps=7 warm=2
    [ "$B" -ge 16 ] && steps=3 warm=1
    for r in $(seq "$rounds"); do
      for p in $precs; do
        out=$(OMP_NUM_THREADS=$th OPENBLAS_NUM_THREADS=$th "${blas_env[@]}" "$bench" --batch "$B" \
              --steps $steps --warmup $warm --precision "$p")
        k=${th}_${B}_${p}
        echo "$out" | field median_s >> "$tmp/c_$k"
        echo "$out" | field gflops >> "$tmp/g_$k"
        echo "$out" | field "gemm_${p}_gflops" >> "$tmp/s_$k"
        echo "$out" | field peak_rss_mb >> "$tmp/m_$k"
        echo "$out" | field precision > "$tmp/ran_$k" # bf16 falls back to fp32 without native bf16
        if [ $have_peer = 1 ]; then
          /usr/bin/python3 "$peer" bench --blas-core "$blas_core" --batch "$B" --threads "$th" \
            --steps $steps --warmup $warm --precision "$p" 2>/dev/null |
            sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' >> "$tmp/p_$k"
        fi
      done
    done
  done
done
load1=$(cut -d' ' -f1 /proc/loadavg)
echo "Training step, solo_instrument (4.8 M parameters), 4 s examples, median of $rounds runs ($(date -u +%F), $(cpu_name), load average $load0 at start, $load1 at end)"
echo
echo "| batch | threads | precision | peer s/step | ddsp s/step | peer audio-s/s | ddsp audio-s/s | vs peer, same precision | vs peer fp32 | ddsp GFLOP/s | GEMM ceiling GFLOP/s (same process) | ddsp peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for th in 1 2; do
  for B in $batches; do
    for p in $precs; do
      k=${th}_${B}_${p}
      c=$(median < "$tmp/c_$k"); g=$(median < "$tmp/g_$k")
      s=$(median < "$tmp/s_$k"); m=$(median < "$tmp/m_$k"); ran=$(cat "$tmp/ran_$k")
      if [ $have_peer = 1 ]; then
        pp=$(median < "$tmp/p_$k"); pf=$(median < "$tmp/p_${th}_${B}_fp32" 2>/dev/null || echo nan)
      else pp=nan; pf=nan; fi
      [ -s "$tmp/p_${th}_${B}_fp32" ] || pf=nan
      awk -v B="$B" -v th="$th" -v p="$ran" -v pp="$pp" -v pf="$pf" -v c="$c" -v g="$g" -v s="$s" -v m="$m" 'BEGIN {
        printf "| %d | %d | %s | %.3f | %.3f | %.2f | %.2f | %.2fx | %.2fx | %.0f | %.0f | %.0f |\n",
               B, th, p, pp, c, 4*B/pp, 4*B/c, pp/c, pf/c, g, s, m }'
    done
  done
done
