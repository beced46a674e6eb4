#!/usr/bin/env bash
# outputs.sh DDSP H5EDIT DATA_DIR FIXTURES WORK: what a job may leave behind or publish.
#  - two `ddsp prepare` jobs writing one --out at once: each writes its own temporary, one
#    publishes, the other exits 1 saying so, and the file holds the publisher's examples
#    (before: both wrote OUT.tmp; one failed "cannot rename", the other exited 0 reporting its
#    counts over the first job's file);
#  - SIGTERM during prepare removes the temporary (it left an 87 MB OUT.tmp); a SIGKILL's
#    leftover is removed by the next prepare of that output;
#  - jacobian --controls with a NaN control exits 1 naming the dataset (it wrote NaN results);
#  - a landscape around a silent target warns that it cannot be normalised.
set -u
ddsp=$1 edit=$2 data=$3 fix=$4 work=$5
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 2
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- concurrent prepare: flute (24 examples) and violin (54) into the same file
"$ddsp" prepare "$data/flute.wav" --out same.h5 > a.out 2> a.err &
pa=$!
"$ddsp" prepare "$data/violin.wav" --out same.h5 > b.out 2> b.err &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
if [ $((ra + rb)) -ne 1 ]; then
  fail "concurrent prepare: exit codes $ra and $rb, expected one 0 and one 1"
else
  if [ $ra -eq 0 ]; then win=a lose=b want="21 train"; else win=b lose=a want="48 train"; fi
  grep -q "appeared while this job was writing it" $lose.err || fail "concurrent prepare: $(tail -n1 $lose.err)"
  grep -q "wrote same.h5: $want" $win.out || fail "concurrent prepare: the winner says $(cat $win.out)"
  n=$(h5dump -H -d /split same.h5 | sed -n 's/.*SIMPLE { ( \([0-9]*\) ).*/\1/p')
  case $win in a) [ "$n" = 24 ] ;; b) [ "$n" = 54 ] ;; esac || fail "concurrent prepare: same.h5 has $n examples, not the winner's"
  echo "concurrent prepare: $win published ($n examples), $lose: $(tail -n1 $lose.err | cut -c1-90)"
fi
ls same.h5.tmp* >/dev/null 2>&1 && fail "concurrent prepare left a temporary: $(ls same.h5.tmp*)"

# ---- SIGTERM, then SIGKILL, during prepare of the whole data folder (~3 s)
"$ddsp" prepare "$data" --out sig.h5 > /dev/null 2>&1 &
p=$!
for _ in $(seq 100); do ls sig.h5.tmp-* >/dev/null 2>&1 && break; sleep 0.05; done
kill -TERM $p; wait $p; rc=$?
[ $rc -eq 143 ] || fail "SIGTERM during prepare: exit $rc, expected 143"
ls sig.h5* >/dev/null 2>&1 && fail "SIGTERM during prepare left $(ls sig.h5*)"
"$ddsp" prepare "$data" --out sig.h5 > /dev/null 2>&1 &
p=$!
for _ in $(seq 100); do ls sig.h5.tmp-* >/dev/null 2>&1 && break; sleep 0.05; done
kill -KILL $p; wait $p 2>/dev/null
left=$(ls sig.h5.tmp-* 2>/dev/null)
[ -n "$left" ] || fail "SIGKILL during prepare left no temporary (test did not catch it mid-write)"
"$ddsp" prepare "$data/flute.wav" --out sig.h5 > /dev/null 2> k.err || fail "prepare after SIGKILL: $(tail -n1 k.err)"
grep -q "removed .*sig.h5.tmp-.*, left by a writer that no longer runs" k.err || fail "the leftover was not reported removed"
ls sig.h5.tmp-* >/dev/null 2>&1 && fail "the SIGKILL leftover is still there"
echo "prepare: SIGTERM removes its temporary; a SIGKILL leftover is swept by the next prepare"

# ---- jacobian with a NaN control
cp "$fix/controls48.h5" nan.h5
"$edit" nan.h5 value /f0_hz 7 nan || fail "h5edit"
"$ddsp" jacobian --controls nan.h5 --frames 20:22 --rank 4 --out J.h5 > /dev/null 2> j.err
rc=$?
[ $rc -eq 1 ] && grep -q "nan.h5: 'f0_hz' holds a non-finite value at frame 7" j.err ||
  fail "jacobian with NaN controls: exit $rc, $(tail -n1 j.err)"
[ -e J.h5 ] && fail "jacobian with NaN controls wrote J.h5"

# ---- a landscape around a silent target (a noise burst shifted out of the signal)
"$ddsp" landscape --sound noise --vary seed --grid 3 --samples 2048 --target-shift 2048 \
  --loss l1log --out L.h5 > l.out 2> l.err || fail "landscape: $(tail -n1 l.err)"
grep -q "warning: l1log: the target is at distance 0 from silence" l.err || fail "no silent-target warning: $(cat l.err)"
grep -q " n/a " l.out || fail "the table printed a ratio for a silent target: $(cat l.out)"

echo "outputs: $fails failure(s)"
[ $fails -eq 0 ]
