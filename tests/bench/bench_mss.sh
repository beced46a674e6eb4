#!/usr/bin/env bash
# Side-by-side benchmark of the MSS loss + gradient: ddsp (tests/bench/bench_mss) against
# the PyTorch peer (../shared/reference/ddsp_ref.py mssbench), interleaved in the same run,
# for B = 1, 4, 16 and 1, 2 threads. Each cell is the median over ROUNDS processes of each
# process's median call time. Prints a Markdown table (audio-seconds per second).
#   tests/bench/bench_mss.sh [BUILD_DIR] [ROUNDS]      (needs ./install-deps.sh --bench)
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
bench=$build/tests/bench_mss
[ -x "$bench" ] || { echo "bench_mss.sh: $bench not built (run make first)" >&2; exit 1; }
. "$(dirname "$0")/common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for th in 1 2; do
  for B in 1 4 16; do
    steps=15; [ "$B" = 16 ] && steps=7
    for r in $(seq "$rounds"); do
      OMP_NUM_THREADS=$th "${blas_env[@]}" "$bench" --batch "$B" --steps "$steps" --warmup 2 > "$tmp/c"
      awk '/mode=recompute_target/ {for(i=1;i<=NF;i++) if($i ~ /^audio_s_per_s=/){split($i,a,"=");print a[2]}}' "$tmp/c" >> "$tmp/c_${th}_${B}"
      awk '/mode=precomputed_target/ {for(i=1;i<=NF;i++) if($i ~ /^audio_s_per_s=/){split($i,a,"=");print a[2]}}' "$tmp/c" >> "$tmp/cp_${th}_${B}"
      OMP_NUM_THREADS=$th "${blas_env[@]}" "$bench" --batch "$B" --steps "$steps" --warmup 2 --precision fast |
        awk '/mode=recompute_target/ {for(i=1;i<=NF;i++) if($i ~ /^audio_s_per_s=/){split($i,a,"=");print a[2]}}' >> "$tmp/cf_${th}_${B}"
      if [ $have_peer = 1 ]; then
        /usr/bin/python3 "$peer" mssbench --blas-core "$blas_core" --batch "$B" --threads "$th" --steps "$steps" --warmup 2 2>/dev/null |
          sed -n 's/.*audio_s_per_s=\([0-9.]*\).*/\1/p' >> "$tmp/p_${th}_${B}"
      fi
    done
  done
done
echo "MSS l1log loss + gradient, 4 s pairs at 16 kHz, audio-seconds/s, median of $rounds runs ($(date -u +%F), $(cpu_name))"
echo
echo "| batch | threads | peer (PyTorch) | ddsp exact | ratio | ddsp fast | ratio | ddsp exact, target spectra precomputed | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for th in 1 2; do
  for B in 1 4 16; do
    c=$(median < "$tmp/c_${th}_${B}"); cf=$(median < "$tmp/cf_${th}_${B}"); cp=$(median < "$tmp/cp_${th}_${B}")
    if [ $have_peer = 1 ]; then p=$(median < "$tmp/p_${th}_${B}"); else p=nan; fi
    awk -v B="$B" -v th="$th" -v p="$p" -v c="$c" -v cf="$cf" -v cp="$cp" 'BEGIN {
      printf "| %d | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.0f | %.2fx |\n", B, th, p, c, c/p, cf, cf/p, cp, cp/p }'
  done
done
