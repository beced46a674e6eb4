#!/bin/bash
# The layout rules README "Layout" states, checked on the source tree:
#  - modules depend one way: a module's sources and its public headers include only the
#    headers of modules before it in ORDER (a header belongs to the module of the same name;
#    run.h belongs to train, formats.h to everyone);
#  - no MPI_ outside src/dist; no HDF5 or MPI calls in src/cli;
#  - every src/cli/*.c <= 350 lines, every file in src/ <= 800 lines.
# Usage: lint.sh REPO_ROOT. Exit 1 listing every violation.
set -u
root=$1
ORDER="util dist audio dsp features data nn synth model loss optim ckpt train infer analysis plot inspect report cli"
owner() { case $1 in run) echo train ;; *) echo "$1" ;; esac; }
pos() { local i=0 m; for m in $ORDER; do [ "$m" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
bad=0
say() { echo "lint: $*"; bad=1; }
for m in $ORDER; do
  files=$(ls "$root/src/$m"/*.[ch] 2>/dev/null)
  for h in "$root"/include/ddsp/*.h; do
    [ "$(owner "$(basename "$h" .h)")" = "$m" ] && files="$files $h"
  done
  pm=$(pos "$m")
  for f in $files; do
    for inc in $(grep -ho '#include "ddsp/[a-z]*\.h"' "$f" | sed 's/.*ddsp\/\([a-z]*\)\.h"/\1/'); do
      [ "$inc" = formats ] && continue
      o=$(owner "$inc"); po=$(pos "$o")
      [ "$po" -ge 0 ] || { say "${f#$root/}: includes ddsp/$inc.h of no known module"; continue; }
      [ "$po" -le "$pm" ] || say "${f#$root/}: module $m includes ddsp/$inc.h of $o, which comes after it"
    done
  done
done
for f in $(grep -l 'MPI_' "$root"/src/*/*.[ch] | grep -v "/src/dist/"); do say "${f#$root/}: MPI_ outside src/dist"; done
for f in "$root"/src/cli/*.c; do
  grep -qE '\bH5[A-Z][A-Za-z_]*\(|#include <hdf5.h>|#include <mpi.h>|\bMPI_' "$f" && say "${f#$root/}: HDF5 or MPI in the command line"
  n=$(wc -l < "$f"); [ "$n" -le 350 ] || say "${f#$root/}: $n lines (> 350)"
done
for f in "$root"/src/*/*.[ch]; do
  n=$(wc -l < "$f"); [ "$n" -le 800 ] || say "${f#$root/}: $n lines (> 800)"
done
[ $bad = 0 ] && echo "lint: layout rules hold"
exit $bad
