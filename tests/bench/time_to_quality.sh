#!/usr/bin/env bash
# Time to quality, fp32 against bf16 (issue 17): the full model on the bundled data/ (one
# dataset, prepared once), global batch 4, STEPS steps, seed SEED (1), validation every 50 steps,
# one rank x 1 thread per precision, the two runs side by side (one per core). Writes one
# CSV: step, then train and validation loss and audio-s/s of each precision (train loss as
# the trainer logs it; validation loss at steps 0, 50, 100, ...), and prints the validation
# losses at the last step and their ratio (the issue asks bf16 within 3 % of fp32).
#   tests/bench/time_to_quality.sh [BUILD_DIR] [STEPS] [OUT_CSV] [SEED]
#   tests/bench/time_to_quality.sh --merge FP32_RUN_DIR BF16_RUN_DIR OUT_CSV   (runs so far)
#   tests/bench/time_to_quality.sh --summary CSV...   (one line per seed's CSV and their mean:
#       validation losses at the last step, and averaged over the evaluations from step 400)
set -euo pipefail
merge() { # fp32_dir bf16_dir out: join the two train.csv files on step
  awk -F, 'FNR == 1 { f++; next }
    { k = $1; seen[k] = 1; tl[f, k] = $2; vl[f, k] = $3; aps[f, k] = $6 }
    END {
      print "step,fp32_train_loss,fp32_valid_loss,fp32_audio_s_per_s,bf16_train_loss,bf16_valid_loss,bf16_audio_s_per_s"
      for (k in seen) print k "," tl[1, k] "," vl[1, k] "," aps[1, k] "," tl[2, k] "," vl[2, k] "," aps[2, k]
    }' "$1/train.csv" "$2/train.csv" | sort -t, -k1,1g > "$3"
  awk -F, 'NR > 1 && $3 != "" && $6 != "" { s = $1; a = $3; b = $6 }
    END { if (s != "") printf "validation loss at step %s: fp32 %s, bf16 %s (bf16/fp32 = %.4f)\n", s, a, b, b / a }' "$3"
}
summary() { # csv...
  local lines
  lines=$(for f in "$@"; do
    awk -F, -v f="$f" 'NR > 1 && $3 != "" && $6 != "" {
        s = $1; a = $3; b = $6; if ($1 >= 400) { n++; sa += $3; sb += $6 } }
      END { printf "%s: step %s fp32 %.3f bf16 %.3f (x%.3f); steps 400-%s mean fp32 %.3f bf16 %.3f (x%.3f)\n",
              f, s, a, b, b / a, s, sa / n, sb / n, sb / sa }' "$f"
  done)
  echo "$lines"
  echo "$lines" | awk '{ a += $5; b += $7; ma += $13; mb += $15; n++ }
      END { printf "mean of %d seeds: last step fp32 %.3f bf16 %.3f (x%.3f); steps 400+ fp32 %.3f bf16 %.3f (x%.3f)\n",
              n, a / n, b / n, b / a, ma / n, mb / n, mb / ma }'
}
if [ "${1:-}" = --merge ]; then merge "$2" "$3" "$4"; exit 0; fi
if [ "${1:-}" = --summary ]; then shift; summary "$@"; exit 0; fi
build=${1:-build}; steps=${2:-600}; seed=${4:-1}
out=${3:-tests/bench/results/bf16_time_to_quality_seed$seed.csv}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
OMP_NUM_THREADS=1 "$build/ddsp" prepare "$here/data" --out "$work/ds.h5" > /dev/null
for p in fp32 bf16; do
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/ddsp" train --data "$work/ds.h5" \
    --out "$work/run_$p" --steps "$steps" --batch 4 --seed "$seed" --valid-every 50 \
    --ckpt-every "$steps" --log-every 60 --precision "$p" > "$work/$p.log" 2>&1 &
done
wait
merge "$work/run_fp32" "$work/run_bf16" "$out"
echo "wrote $out"
