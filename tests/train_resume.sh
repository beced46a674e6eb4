#!/usr/bin/env bash
# train_resume.sh MODE DDSP MPIEXEC CKPT_COMPARE DATA_DIR WORK_DIR
# Checkpoint/resume and data-parallel reproducibility of `ddsp train` (small model, 1 s
# examples of the bundled flute so each case takes seconds):
#   resume  2K steps in one run == K steps + --resume + K steps, bit for bit (model, Adam)
#   phi     training through spectral terms (--loss mag,logmag,...): K + resume + K == 2K
#   ranks   1 rank x batch 4 vs 2 ranks x 2 within 5e-5 (rel. L2; see below) after K steps; a
#           checkpoint written by 2 ranks resumes on 1 and on 3 ranks
#   kill    SIGKILL of one rank mid-run under mpirun; every checkpoint left is readable and
#           --resume reaches the same weights, bit for bit, as a run never killed
#   signal  SIGUSR1 (what SLURM sends before a time limit): checkpoint, exit 3; --resume
#           then ends bit for bit where an uninterrupted run ends
#   killrandom  SIGKILL of rank 0 or rank 1 (alternating) after a delay drawn from each of 3
#           seeds, from 10% to 80% of an uninterrupted run (start-up, steps, checkpoint
#           writes); every checkpoint left loads and --resume ends bit for bit where a run
#           never killed ends
#   lock    a second run in a folder a 2-rank run is training in, by --out (1 process) and by
#           --resume (2 ranks), exits 1 naming the holder's pid and writes nothing; after
#           SIGKILL of the holder a new run takes the folder and resumes
#   lifecycle the six ways a run lost work before the run library: another run's folder,
#           unreadable checkpoints and --keep, SIGINT, a kill before the first checkpoint,
#           the dataset setting, settings kept on resume
#   fulldisk  a checkpoint write past a file-size limit (ulimit -f: EFBIG, as on a full
#           disk) fails with exit 1 and a message naming it and the intact previous
#           checkpoint; the checkpoints are byte-identical afterwards, no partial file is
#           left, and a resume with space again ends where an uninterrupted run ends
set -euo pipefail
mode=$1 ddsp=$2 mpiexec=$3 compare=$4 data=$5 work=$6/$1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
rm -rf "$work" && mkdir -p "$work"
"$ddsp" prepare "$data/flute.wav" --out "$work/ds.h5" --example-secs 1 --hop-secs 0.5 2>/dev/null
common=(--data "$work/ds.h5" --model small --valid-every 0 --log-every 100)
run1() { "$ddsp" train "${common[@]}" "$@"; }
runn() { local n=$1; shift; "$mpiexec" -n "$n" --oversubscribe "$ddsp" train "${common[@]}" "$@"; }
same() { # bitwise equality of /model (and /optimizer) of two checkpoints
  h5diff -d 0 "$1" "$2" /model /model >/dev/null || { echo "FAIL: /model of $1 and $2 differ"; exit 1; }
  h5diff -d 0 "$1" "$2" /optimizer /optimizer >/dev/null || { echo "FAIL: /optimizer differs"; exit 1; }
  echo "bitwise identical: $1 $2"
}
ck() { printf '%s/ckpt-%08d.h5' "$1" "$2"; }
fail() { echo "FAIL: $*"; exit 1; }
bg= # the background mpirun of a mode: ended with its ranks if the script stops early
stop_bg() { [ -z "$bg" ] || kill -KILL $(pgrep -P "$bg") "$bg" 2>/dev/null || true; }
trap stop_bg EXIT
now() { date +%s.%N; }
wait_file() { # wait_file FILE LOG: up to 30 s for FILE to appear
  for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.05; done
  cat "$2"; fail "$1 did not appear"
}
ranks_of() { # ranks_of LAUNCHER_PID: the pids of its `ddsp train` children (the ranks)
  pgrep -P "$1" -f "ddsp train" || true
}
wait_gone() { # wait_gone PID...: up to 10 s for processes to end (a zombie has ended)
  local p st
  for p in "$@"; do
    for _ in $(seq 200); do
      st=$(ps -o stat= -p "$p" 2>/dev/null || true)
      [ -n "$st" ] && [ "${st:0:1}" != Z ] || continue 2
      sleep 0.05
    done
    fail "process $p outlived its run"
  done
}

case $mode in
phi)
  # training through spectral terms instead of the MSS; the term list lives in the
  # checkpoint, so K + resume + K equals 2K bit for bit (a resume that fell back to l1log
  # would not)
  terms=mag,logmag,delta_time=0.5,sc,loudness=0.01,scat2=100,scat_j=10
  run1 --loss $terms --steps 12 --ckpt-every 6 --out "$work/one" >/dev/null 2>&1
  run1 --loss $terms --steps 6 --ckpt-every 6 --out "$work/two" >/dev/null 2>&1
  out=$(run1 --resume "$work/two" --steps 12 2>&1)
  echo "$out" | grep -q "loss mag=1,logmag=1,delta_time=0.5,sc=1,loudness=0.01,scat2=100,scat_j=10,scat_q=8,dist=l1" || { echo "$out"; fail "terms not resumed"; }
  same "$(ck "$work/one" 12)" "$(ck "$work/two" 12)"
  run1 --steps 12 --ckpt-every 12 --out "$work/mss" >/dev/null 2>&1
  h5diff -q "$(ck "$work/one" 12)" "$(ck "$work/mss" 12)" /model /model >/dev/null &&
    fail "training through the terms gave the l1log weights"
  # the preset fitted to listeners: stored expanded, so a resume trains through the same Φ
  run1 --loss perceptual --steps 2 --ckpt-every 2 --out "$work/perc" >/dev/null 2>&1
  out=$(run1 --resume "$work/perc" --steps 3 2>&1)
  echo "$out" | grep -q "loss mag=0.103,.*scat2=0.632,mfcc=1,scat_j=9,scat_q=8,dist=cos" ||
    { echo "$out"; fail "perceptual not resumed"; }
  echo "phi: terms resumed from the checkpoint; differs from l1log training"
  ;;
resume)
  run1 --steps 12 --ckpt-every 6 --out "$work/one" >/dev/null 2>&1
  run1 --steps 6 --ckpt-every 6 --out "$work/two" >/dev/null 2>&1
  out=$(run1 --resume "$work/two" --steps 12 2>&1)
  echo "$out" | grep -q "resuming from .*ckpt-00000006.h5 at step 6" || { echo "$out"; echo "FAIL: did not resume"; exit 1; }
  same "$(ck "$work/one" 12)" "$(ck "$work/two" 12)"
  # --resume on a folder without checkpoints starts a new run there
  run1 --resume "$work/fresh" --steps 2 >/dev/null 2>&1
  [ -f "$(ck "$work/fresh" 2)" ] || { echo "FAIL: --resume on an empty folder"; exit 1; }
  ;;
ranks)
  # 1 rank x batch 4 vs 2 ranks x 2: the same up to float summation order. Measured after 8
  # steps: 2.4e-6 relative with the products on oneDNN (Zen 4); before oneDNN 1.9e-5 with the
  # AVX2 (Haswell) kernel that OPENBLAS_CORETYPE=Haswell forced on OpenBLAS; 1.75e-5 of that was there
  # after step 2 (Adam's first steps move every weight by ~lr whatever its gradient's size,
  # so a rounding-level gradient that changes sign moves a weight by 2 lr). Tolerance 5e-5.
  run1 --steps 8 --ckpt-every 4 --out "$work/r1" >/dev/null 2>&1
  runn 2 --steps 8 --ckpt-every 4 --out "$work/r2" >/dev/null 2>&1
  "$compare" "$(ck "$work/r1" 8)" "$(ck "$work/r2" 8)" 5e-5
  for n in 1 3; do
    mkdir -p "$work/from2on$n" && cp "$(ck "$work/r2" 4)" "$work/from2on$n/"
    out=$(runn $n --resume "$work/from2on$n" --steps 8 2>&1)
    echo "$out" | grep -q "written by 2 rank(s); $n now" || { echo "$out"; echo "FAIL: resume on $n"; exit 1; }
    "$compare" "$(ck "$work/r1" 8)" "$(ck "$work/from2on$n" 8)" 5e-5
  done
  ;;
kill|signal)
  runn 2 --steps 24 --ckpt-every 3 --out "$work/ref" >/dev/null 2>&1
  "$mpiexec" -n 2 --oversubscribe "$ddsp" train "${common[@]}" --steps 24 --ckpt-every 3 \
    --keep 100 --out "$work/run" > "$work/log" 2>&1 &
  launcher=$! # mpirun itself: it forwards SIGUSR1 to the ranks
  for _ in $(seq 600); do [ -f "$(ck "$work/run" 6)" ] && break; sleep 0.05; done
  [ -f "$(ck "$work/run" 6)" ] || { cat "$work/log"; echo "FAIL: no checkpoint appeared"; exit 1; }
  if [ "$mode" = kill ]; then
    victim=$(pgrep -P "$launcher" -f "ddsp train" | tail -n 1 || true)
    [ -n "$victim" ] || victim=$(pgrep -f "ddsp train .*--out $work/run" | tail -n 1)
    pids=$(ranks_of "$launcher")
    kill -KILL "$victim"
    rc=0; wait "$launcher" || rc=$?
    wait_gone $pids # the resume below needs the run folder's lock
    [ $rc -ne 0 ] || { echo "FAIL: the run survived SIGKILL of a rank"; exit 1; }
    echo "killed rank pid $victim; launcher exit $rc"
  else
    kill -USR1 "$launcher"
    rc=0; wait "$launcher" || rc=$?
    [ $rc -eq 3 ] || { cat "$work/log"; echo "FAIL: expected exit 3 after SIGUSR1, got $rc"; exit 1; }
    grep -q "stopped by SIGUSR1 at step [0-9]* after writing a checkpoint" "$work/log" || { echo "FAIL: no stop message"; exit 1; }
  fi
  for f in "$work"/run/ckpt-*.h5; do
    h5dump -H "$f" >/dev/null || { echo "FAIL: unreadable checkpoint $f"; exit 1; }
  done
  ls "$work/run" | grep -q '\.tmp' && echo "(a half-written .tmp was left beside the checkpoints, as designed)"
  last=$(ls "$work"/run/ckpt-*.h5 | tail -n 1)
  echo "last checkpoint before the interruption: $last"
  out=$(runn 2 --resume "$work/run" --steps 24 2>&1)
  echo "$out" | grep -q "resuming from" || { echo "$out"; echo "FAIL: did not resume"; exit 1; }
  same "$(ck "$work/ref" 24)" "$(ck "$work/run" 24)"
  # a temporary left by the killed writer is removed by the next run in the folder
  ! ls "$work/run" | grep -q '\.tmp' || { ls "$work/run"; echo "FAIL: a .tmp was left after resume"; exit 1; }
  ;;
killrandom)
  t=$(now)
  runn 2 --steps 80 --ckpt-every 4 --out "$work/ref" >/dev/null 2>&1
  ref_s=$(awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }')
  echo "uninterrupted 2-rank run: $ref_s s"
  for seed in 1 2 3; do
    RANDOM=$seed
    # from 10% to 80% of an uninterrupted run: start-up, steps, checkpoint writes
    delay=$(awk -v r=$RANDOM -v d="$ref_s" 'BEGIN { printf "%.2f", d * (0.1 + 0.7 * r / 32767) }')
    victim_rank=$((seed % 2)) run=$work/run$seed
    for attempt in 1 2 3; do # a run that ends before its kill (a busy machine) goes again, sooner
      rm -rf "$run"
      t=$(now)
      "$mpiexec" -n 2 --oversubscribe "$ddsp" train "${common[@]}" --steps 80 --ckpt-every 4 \
        --keep 100 --out "$run" > "$work/log$seed" 2>&1 &
      launcher=$! bg=$!
      for _ in $(seq 200); do [ "$(ranks_of "$launcher" | wc -l)" = 2 ] && break; sleep 0.05; done
      pids=$(ranks_of "$launcher")
      [ "$(wc -w <<< "$pids")" = 2 ] || { cat "$work/log$seed"; fail "seed $seed: expected 2 ranks under mpirun $launcher, found '$pids'"; }
      sleep "$(awk -v a="$t" -v b="$(now)" -v d="$delay" 'BEGIN { s = d - (b - a); print (s > 0 ? s : 0) }')"
      # rank 0 is the pid in the lock file once it has one; before that, either rank will do
      holder=$(sed -n 's/^pid \([0-9]*\) on .*/\1/p' "$run/.lock" 2>/dev/null || true)
      victim=$(head -n 1 <<< "$pids")
      for p in $pids; do
        is0=0; [ "$p" != "$holder" ] || is0=1
        [ -z "$holder" ] || [ $is0 = $victim_rank ] || victim=$p
      done
      killed=0; kill -KILL "$victim" 2>/dev/null && killed=1
      rc=0; wait "$launcher" || rc=$?
      bg=
      wait_gone $pids
      if [ $rc != 0 ]; then
        [ $killed = 1 ] || { cat "$work/log$seed"; fail "seed $seed: the run failed before it was killed"; }
        break
      fi
      echo "seed $seed: exit 0: the run ended before the kill at $delay s; again at half the delay"
      delay=$(awk -v d="$delay" 'BEGIN { printf "%.2f", d / 2 }')
    done
    [ $rc != 0 ] || fail "seed $seed: three runs exited 0 (each ended before its kill, or survived it)"
    # every checkpoint left is whole HDF5; the newest loads (--resume skips one that does not
    # open, so it must name the newest)
    newest=$(ls "$run"/ckpt-*.h5 2>/dev/null | tail -n 1 || true)
    for f in "$run"/ckpt-*.h5; do
      [ ! -e "$f" ] || h5dump -H "$f" >/dev/null || fail "seed $seed: unreadable checkpoint $f"
    done
    [ -z "$newest" ] || "$ddsp" inspect "$newest" >/dev/null || fail "seed $seed: $newest does not load"
    echo "seed $seed: SIGKILL of rank $victim_rank (pid $victim) at $delay s; mpirun exit $rc;" \
         "$(ls "$run"/ckpt-*.h5 2>/dev/null | wc -l) checkpoints left, newest ${newest:-none}"
    out=$(runn 2 --resume "$run" --steps 80 2>&1) || { echo "$out"; fail "seed $seed: resume failed"; }
    if [ -n "$newest" ]; then
      echo "$out" | grep -q "resuming from $newest " || { echo "$out"; fail "seed $seed: did not resume from $newest"; }
    else
      echo "$out" | grep -q "has no checkpoint yet" || { echo "$out"; fail "seed $seed: did not start afresh"; }
    fi
    same "$(ck "$work/ref" 80)" "$(ck "$run" 80)"
  done
  ;;
lock)
  "$mpiexec" -n 2 --oversubscribe "$ddsp" train "${common[@]}" --steps 100000 --ckpt-every 4 \
    --out "$work/run" > "$work/log" 2>&1 &
  launcher=$! bg=$!
  wait_file "$(ck "$work/run" 4)" "$work/log"
  holder=$(sed -n 's/^pid \([0-9]*\) on .*/\1/p' "$work/run/.lock")
  [ -n "$holder" ] && ranks_of "$launcher" | grep -qx "$holder" ||
    fail "$work/run/.lock does not name a rank of the running job ($(cat "$work/run/.lock"))"
  before=$(ls "$work/run")
  # a one-process run with --out, then a 2-rank run with --resume: both refuse, every rank exits
  for how in out resume; do
    rc=0
    if [ $how = out ]; then
      out=$(timeout 60 "$ddsp" train "${common[@]}" --steps 2 --out "$work/run" 2>&1) || rc=$?
    else
      out=$(timeout 60 "$mpiexec" -n 2 --oversubscribe "$ddsp" train "${common[@]}" --resume "$work/run" --steps 2 2>&1) || rc=$?
    fi
    [ $rc -ne 124 ] || fail "--$how: the refused run hung"
    [ $rc -eq 1 ] || { echo "$out"; fail "--$how: exit $rc, expected 1"; }
    msg=$(grep '^ddsp train:' <<< "$out" || true)
    [ "$(grep -c . <<< "$msg")" = 1 ] || { echo "$out"; fail "--$how: expected one 'ddsp train:' error line"; }
    grep -q "^ddsp train: $work/run: another run (pid $holder on .*) is using this run folder" <<< "$msg" ||
      { echo "$out"; fail "--$how: the message does not name the folder and pid $holder"; }
    echo "--$how refused: $msg"
  done
  kill -0 "$launcher" 2>/dev/null || { cat "$work/log"; fail "the first run died"; }
  # nothing of the refused runs in the folder (the first run only adds checkpoints)
  [ -z "$(comm -13 <(echo "$before") <(ls "$work/run") | grep -Ev '^ckpt-[0-9]+\.h5(\.tmp-.*)?$')" ] ||
    fail "the refused runs left files: $(comm -13 <(echo "$before") <(ls "$work/run"))"
  ! grep -q "another run" "$work/log" || fail "the first run saw the refusals"
  pids=$(ranks_of "$launcher")
  kill -KILL "$holder"
  rc=0; wait "$launcher" || rc=$?
  bg=
  [ $rc -ne 0 ] || fail "the run survived SIGKILL of rank 0"
  wait_gone $pids
  last=$(ls "$work"/run/ckpt-*.h5 | tail -n 1)
  step=$(basename "$last" .h5); step=$((10#${step#ckpt-}))
  echo "SIGKILLed the holder (pid $holder) after step $step; the lock went with it"
  out=$(run1 --resume "$work/run" --steps $((step + 2)) 2>&1) || { echo "$out"; fail "no new run after the holder died"; }
  echo "$out" | grep -q "resuming from $last" || { echo "$out"; fail "did not resume from $last"; }
  grep -q "^pid [0-9]* on " "$work/run/.lock" || fail "the new run did not record its pid"
  [ -f "$(ck "$work/run" $((step + 2)))" ] || fail "the new run wrote no checkpoint"
  ;;
fulldisk)
  run1 --steps 6 --ckpt-every 3 --out "$work/run" >/dev/null 2>&1
  good=$(ck "$work/run" 6)
  sums=$(cd "$work/run" && sha256sum ckpt-*.h5)
  # ulimit -f counts 1 KiB blocks: room for the log, not for half a checkpoint
  limit=$(( $(stat -c %s "$good") / 2048 ))
  rc=0
  # PMIX_MCA_gds=hash: Open MPI's start-up would otherwise create a shared-memory segment
  # larger than the limit and fail in MPI_Init, before the part under test
  out=$(ulimit -f "$limit" && PMIX_MCA_gds=hash exec "$ddsp" train "${common[@]}" --resume "$work/run" --steps 9 --ckpt-every 3 2>&1) || rc=$?
  [ $rc -ne $((128 + 25)) ] || fail "killed by SIGXFSZ instead of reporting the failed write"
  [ $rc -eq 1 ] || { echo "$out"; fail "exit $rc with a $limit KiB file-size limit, expected 1"; }
  msg=$(grep '^ddsp train:' <<< "$out" || true)
  echo "$msg"
  grep -Eq "ckpt-00000009\.h5: cannot write checkpoint \(File too large\); the previous checkpoint .*/ckpt-00000006\.h5 is intact" <<< "$msg" ||
    { echo "$out"; fail "the message does not name the failed and the intact checkpoint"; }
  [ "$(cd "$work/run" && sha256sum ckpt-*.h5)" = "$sums" ] || fail "checkpoints changed: $(ls "$work/run")"
  ! ls "$work/run" | grep -q '\.tmp' || fail "a partial file was left: $(ls "$work/run")"
  "$ddsp" inspect "$good" >/dev/null || fail "$good does not load"
  echo "checkpoints byte-identical after the failed write ($(wc -l <<< "$sums") files, sha256), no .tmp left, $good loads"
  # with space again nothing is lost: the run ends where an uninterrupted one ends
  run1 --resume "$work/run" --steps 9 --ckpt-every 3 >/dev/null 2>&1 || fail "resume with space failed"
  run1 --steps 9 --ckpt-every 3 --out "$work/ref" >/dev/null 2>&1
  same "$(ck "$work/ref" 9)" "$(ck "$work/run" 9)"
  ;;
lifecycle)
  # the six ways the run lifecycle lost work before the run library (issue 16), one check each
  csv_rows() { if [ -f "$1" ]; then grep -c '^[0-9]' "$1" || true; else echo 0; fi; }
  wait_rows() { # wait_rows CSV N LOG: up to 60 s for N data rows in a run's train.csv
    for _ in $(seq 1200); do [ "$(csv_rows "$1")" -ge "$2" ] && return 0; sleep 0.05; done
    cat "$3"; fail "$1 did not reach $2 rows"
  }
  # 1. a fresh run into a folder that holds another run: exit 2, the other run untouched
  run1 --steps 4 --ckpt-every 2 --out "$work/a" >/dev/null 2>&1
  before=$(cd "$work/a" && md5sum ckpt-*.h5 train.csv run.h5)
  rc=0; out=$(run1 --steps 4 --ckpt-every 2 --seed 5 --out "$work/a" 2>&1) || rc=$?
  [ $rc -eq 2 ] && echo "$out" | grep -q "holds another run's files" || { echo "$out"; fail "1: fresh run into another run's folder: exit $rc"; }
  [ "$(cd "$work/a" && md5sum ckpt-*.h5 train.csv run.h5)" = "$before" ] || fail "1: the other run's files changed"
  echo "1 ok: a fresh run into another run's folder refused (exit 2), nothing touched"
  # 2. unreadable ckpt-*.h5 of higher steps: named, never counted towards --keep or deleted
  run1 --steps 4 --ckpt-every 2 --keep 2 --out "$work/b" >/dev/null 2>&1
  echo garbage > "$work/b/ckpt-00000100.h5" && echo garbage > "$work/b/ckpt-00000200.h5"
  out=$(run1 --resume "$work/b" --steps 8 2>&1)
  echo "$out" | grep -q "resuming from .*ckpt-00000004.h5 at step 4" || { echo "$out"; fail "2: did not resume from step 4"; }
  echo "$out" | grep -q "warning: .*ckpt-00000100.h5" || { echo "$out"; fail "2: the unreadable file is not named"; }
  [ "$(cd "$work/b" && ls ckpt-*.h5 | tr '\n' ' ')" = "ckpt-00000006.h5 ckpt-00000008.h5 ckpt-00000100.h5 ckpt-00000200.h5 " ] ||
    fail "2: after --keep 2: $(ls "$work/b")"
  echo "2 ok: unreadable checkpoints named, not counted, not deleted; keep 2 kept steps 6 and 8"
  # 3. SIGINT: the step ends, a checkpoint, exit 3, one line; a second SIGINT ends it at once;
  #    started with SIGINT ignored (nohup, a background job) it stays ignored
  env --default-signal=INT "$ddsp" train "${common[@]}" --steps 100000 --ckpt-every 100000 \
    --log-every 0 --out "$work/c" >"$work/c.log" 2>&1 & bg=$!
  wait_rows "$work/c/train.csv" 2 "$work/c.log"
  kill -INT $bg; rc=0; wait $bg || rc=$?; bg=
  [ $rc -eq 3 ] || { cat "$work/c.log"; fail "3: exit $rc after SIGINT, expected 3"; }
  line=$(grep "stopped by SIGINT at step" "$work/c.log") || { cat "$work/c.log"; fail "3: no stop line"; }
  st=$(echo "$line" | sed 's/.*at step \([0-9]*\).*/\1/')
  [ -f "$(ck "$work/c" "$st")" ] || fail "3: no checkpoint of step $st"
  # (the full model: a step is long enough to send the second one while it runs)
  env --default-signal=INT "$ddsp" train --data "$work/ds.h5" --model full --valid-every 0 \
    --steps 100000 --ckpt-every 100000 --log-every 0 --out "$work/c2" >"$work/c2.log" 2>&1 & bg=$!
  wait_rows "$work/c2/train.csv" 1 "$work/c2.log"
  kill -INT $bg
  for _ in $(seq 200); do grep -q "SIGINT: stopping after this step" "$work/c2.log" && break; sleep 0.01; done
  kill -INT $bg; rc=0; wait $bg || rc=$?; bg=
  [ $rc -eq 130 ] || { cat "$work/c2.log"; fail "3: exit $rc after two SIGINTs, expected 130"; }
  env --ignore-signal=INT "$ddsp" train "${common[@]}" --steps 100000 --ckpt-every 100000 \
    --log-every 0 --out "$work/c3" >"$work/c3.log" 2>&1 & bg=$!
  wait_rows "$work/c3/train.csv" 2 "$work/c3.log"
  kill -INT $bg; n=$(csv_rows "$work/c3/train.csv")
  wait_rows "$work/c3/train.csv" $((n + 2)) "$work/c3.log"
  kill -TERM $bg; rc=0; wait $bg || rc=$?; bg=
  [ $rc -eq 3 ] || { cat "$work/c3.log"; fail "3: with SIGINT ignored: exit $rc after SIGINT+SIGTERM"; }
  grep -q "stopped by SIGTERM" "$work/c3.log" || fail "3: ignored SIGINT stopped the run"
  echo "3 ok: SIGINT checkpoints at step $st and exits 3; twice exits 130 at once; ignored stays ignored"
  # 4. killed before its first checkpoint: --resume alone continues with the run's settings,
  #    from any working directory
  "$ddsp" train --data "$work/ds.h5" --model small --loss l1 --seed 9 --valid-every 0 --log-every 0 \
    --steps 100000 --ckpt-every 100000 --out "$work/d" >"$work/d.log" 2>&1 & bg=$!
  wait_rows "$work/d/train.csv" 1 "$work/d.log"
  kill -KILL $bg; wait $bg 2>/dev/null || true; bg=
  out=$(cd / && "$ddsp" train --resume "$work/d" --steps 2 2>&1) || { echo "$out"; fail "4: resume failed"; }
  echo "$out" | grep -q "train: small model .* loss l1, decoder fp32, run folder" && echo "$out" | grep -q "no checkpoint yet" ||
    { echo "$out"; fail "4: the resumed run did not keep its settings"; }
  [ -f "$(ck "$work/d" 2)" ] || fail "4: no checkpoint after the resume"
  echo "4 ok: a run killed before its first checkpoint resumed with model small, loss l1 from /"
  # 5. the dataset setting: missing is an error naming it (never the bundled data); a
  #    variable-length string (h5py's str) is read
  mkdir -p "$work/e1" "$work/e2"
  cp "$(ck "$work/a" 4)" "$work/e1/" && cp "$(ck "$work/a" 4)" "$work/e2/"
  edit=$(dirname "$compare")/h5edit
  "$edit" "$work/e1/ckpt-00000004.h5" delattr /config run_data
  "$edit" "$work/e2/ckpt-00000004.h5" attr /config run_data vstr "$work/ds.h5"
  rc=0; out=$(run1 --resume "$work/e1/ckpt-00000004.h5" --steps 5 2>&1) || rc=$?
  [ $rc -eq 1 ] && echo "$out" | grep -q "run_data" || { echo "$out"; fail "5: missing run_data: exit $rc"; }
  out=$(cd / && "$ddsp" train --resume "$work/e2/ckpt-00000004.h5" --steps 5 2>&1) || { echo "$out"; fail "5: vlen run_data"; }
  ! echo "$out" | grep -q "preparing" && [ -f "$(ck "$work/e2" 5)" ] || { echo "$out"; fail "5: vlen run_data not used"; }
  echo "5 ok: missing run_data refused naming it; h5py-style string read"
  # 6. cadence settings survive a resume; "nothing to do" rewrites nothing
  run1 --steps 3 --ckpt-every 3 --keep 10 --out "$work/f" >/dev/null 2>&1
  run1 --resume "$work/f" --steps 9 >/dev/null 2>&1
  [ -f "$(ck "$work/f" 6)" ] && [ -f "$(ck "$work/f" 9)" ] || fail "6: --ckpt-every 3 not kept: $(ls "$work/f")"
  h5dump -a /config/run_ckpt_every "$(ck "$work/f" 9)" | grep -q "H5T_STD_I64LE" || fail "6: run_ckpt_every not an integer"
  before=$(cd "$work/f" && md5sum resynth.wav target.wav train.csv && stat -c %Y resynth.wav)
  sleep 1.1
  out=$(run1 --resume "$work/f" --steps 9 2>&1)
  echo "$out" | grep -q "nothing to do" || { echo "$out"; fail "6: no 'nothing to do'"; }
  [ "$(cd "$work/f" && md5sum resynth.wav target.wav train.csv && stat -c %Y resynth.wav)" = "$before" ] ||
    fail "6: 'nothing to do' rewrote the run's files"
  echo "6 ok: checkpoint cadence kept on resume (typed), nothing to do writes nothing"
  ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo ok
