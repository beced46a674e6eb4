#!/usr/bin/env bash
# prepare_ranks.sh DDSP MPIEXEC DATA_DIR WORK_DIR: `ddsp prepare` on the bundled audio with
# 1, 2 and 3 ranks (3 ranks on 2 files: one rank has nothing to do), and a second 1-rank run,
# must give datasets whose content is identical (h5diff), in the default configuration (no
# DDSP_FFTW_PLANNER: with FFTW_MEASURE the loudness differed by ~4e-6 dB between runs), and
# h5dump must list the documented datasets.
set -euo pipefail
ddsp=$1 mpiexec=$2 data=$3 work=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
unset DDSP_FFTW_PLANNER
rm -rf "$work" && mkdir -p "$work"
"$ddsp" prepare "$data" --out "$work/r1.h5"
"$ddsp" prepare "$data" --out "$work/r1b.h5"
h5diff "$work/r1.h5" "$work/r1b.h5" || { echo "FAIL: two 1-rank runs differ"; exit 1; }
for n in 2 3; do
  "$mpiexec" -n $n --oversubscribe "$ddsp" prepare "$data" --out "$work/r$n.h5"
  h5diff "$work/r1.h5" "$work/r$n.h5" || { echo "FAIL: $n-rank dataset differs from 1-rank"; exit 1; }
done
for ds in audio f0_hz f0_confidence loudness_db split source_file source_offset files; do
  h5dump -H "$work/r1.h5" | grep -q "DATASET \"$ds\"" || { echo "FAIL: no /$ds"; exit 1; }
done
h5dump -H -d /audio "$work/r1.h5" | grep -q 'DATASPACE  SIMPLE { ( 78, 64000 )' ||
  { echo "FAIL: /audio is not (78, 64000)"; exit 1; }
h5dump -a /format "$work/r1.h5" | grep -q '"ddsp-dataset"' || { echo "FAIL: format attr"; exit 1; }
echo ok
