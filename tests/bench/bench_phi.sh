#!/usr/bin/env bash
# Cost of each choice of Φ relative to the optimised MSS l1log: loss + gradient of 4 s of
# violin vs flute (data/), one thread, `ddsp loss --grad-out` (which times the loss call
# only), rounds interleaved over all Φ so machine noise hits them alike. Prints a Markdown
# table: median ms and its ratio to l1log.
#   tests/bench/bench_phi.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-7}
ddsp=$build/ddsp
[ -x "$ddsp" ] || { echo "bench_phi.sh: $ddsp not built (run make first)" >&2; exit 1; }
. "$(dirname "$0")/common.sh"
data=$here/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
phis=(l1log mag logmag mag,logmag delta_time delta_freq cumsum_freq sc mel logmel loudness scat1
      scat2 scat1,scat2 scat1,scat2,scat_j=10 mfcc mfcc,dist=cos mag,dist=cos perceptual "mag,logmag,delta_time,delta_freq,cumsum_freq,sc,mel,logmel,loudness,scat1,scat2"
      jtfs)
for r in $(seq "$rounds"); do
  for i in "${!phis[@]}"; do
    OMP_NUM_THREADS=1 "$ddsp" loss "$data/violin.wav" "$data/flute.wav" --length 64000 \
      --loss "${phis[$i]}" --grad-out "$tmp/g.h5" |
      sed -n 's/.*loss + gradient in \([0-9.]*\) ms.*/\1/p' >> "$tmp/t$i"
  done
done
ref=$(median < "$tmp/t0")
echo "Φ loss + gradient, 4 s violin vs flute, 1 thread, median of $rounds ($(date -u +%F), $(cpu_name))"
echo
echo "| Φ | ms | × MSS l1log |"
echo "|---|---|---|"
for i in "${!phis[@]}"; do
  m=$(median < "$tmp/t$i")
  awk -v p="${phis[$i]}" -v m="$m" -v r="$ref" 'BEGIN { printf "| `%s` | %.1f | %.1f |\n", p, m, m / r }'
done
