#!/usr/bin/env bash
# ckpt_corrupt.sh DDSP H5EDIT DATA_DIR WORK: a checkpoint of the small model, then copies with
# one value changed (h5edit), each through every command that reads a checkpoint (inspect,
# train --resume, resynth, eval). Every command must either work or exit 1 with a last
# stderr line naming the file and the field; never a crash, an assertion (exit 134), a
# hang, or NaN weights written. Before issue 15 model_layers 5-8 aborted with "too many
# tensors", an inconsistent epoch_position read uninitialised memory and a negative Adam v
# was accepted (NaN weights at the next checkpoint).
set -u
ddsp=$1 edit=$2 data=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 2
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

"$ddsp" prepare "$data/flute.wav" --out ds.h5 --example-secs 2 --hop-secs 2 >/dev/null 2>prep.err ||
  { cat prep.err; exit 1; }
"$ddsp" train --data ds.h5 --model small --steps 2 --ckpt-every 2 --out run >/dev/null 2>train.err ||
  { cat train.err; exit 1; }
good=run/ckpt-00000002.h5
[ -f "$good" ] || { echo "no checkpoint written"; exit 1; }

# name | edit | commands that must fail (i r s e = inspect resume resynth eval) | expected text
cases=(
  "layers5|attr /config model_layers int 5|irse|model_layers 5"
  "layers8|attr /config model_layers int 8|irse|model_layers 8"
  "layers1|attr /config model_layers int 1|irse|model_layers 1"
  "layers99|attr /config model_layers int 99|irse|99 layers not in 1..8"
  "hidden|attr /config model_hidden int 8192|irse|model_hidden 8192"
  "ldrange|attr /config model_ld_range float 1e39|irse|loudness range"
  "epochpos|attr /state epoch_position int 999999|r|epoch_position 999999"
  "epoch0|attr /state epoch int 0|r|epoch 0, epoch_position"
  "posneg|attr /state epoch_position int -5|irse|epoch_position"
  "nranks|attr /state n_ranks int 0|irse|n_ranks"
  "vneg|value /optimizer/v/decoder/gru/kernel 3 -1|ir|negative"
  "vnan|value /optimizer/v/decoder/gru/kernel 3 nan|ir|non-finite"
  "mnan|value /optimizer/m/decoder/gru/kernel 7 inf|ir|non-finite"
  "wnan|value /model/decoder/gru/kernel 0 nan|irse|non-finite"
  "batch|attr /config run_batch int -1|r|run_batch -1"
  "lr|attr /config adam_lr float nan|ir|learning rate"
  "optstep|attr /optimizer step int 999|ir|behind /optimizer step"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name ed must want <<<"$c"
  f=$work/c_$name.h5
  cp "$good" "$f"
  # shellcheck disable=SC2086
  "$edit" "$f" $ed || { fail "$name: h5edit $ed"; continue; }
  for k in i r s e; do
    case $k in
      i) cmd=(inspect "$f") ;;
      r) rm -rf "r_$name"; cmd=(train --resume "$f" --steps 3 --out "r_$name") ;;
      s) cmd=(resynth --ckpt "$f" --in "$data/flute.wav" --out "o_$name.wav") ;;
      e) cmd=(eval --ckpt "$f" --data ds.h5) ;;
    esac
    timeout -k 5 120 "$ddsp" "${cmd[@]}" >out.txt 2>err.txt
    rc=$? last=$(grep . err.txt | tail -n 1)
    if [ $rc -ge 124 ]; then
      fail "$name ${cmd[0]}: exit $rc (crash, abort or hang): $last"
    elif grep -q 'assertion `' err.txt; then
      fail "$name ${cmd[0]}: assertion: $last"
    elif [[ $must == *$k* ]]; then
      if [ $rc -ne 1 ]; then
        fail "$name ${cmd[0]}: exit $rc, expected 1 ($last)"
      elif [[ $last != *"$f"* || $last != *"$want"* ]]; then
        fail "$name ${cmd[0]}: the error does not name the file and '$want': $last"
      else
        echo "ok   $name ${cmd[0]}: $last" | cut -c1-160
      fi
    elif [ $rc -ne 0 ]; then
      fail "$name ${cmd[0]}: exit $rc where the value is not used: $last"
    fi
  done
done

# weights that overflow the forward pass: five non-finite steps in a row stop the run with
# a message that says no checkpoint of this run exists yet (it once claimed one was intact)
cp "$good" big.h5
"$edit" big.h5 value /model/decoder/ld_stack/0/layer_norm/gamma all 3e38 || fail "h5edit fill"
rm -rf r_big
"$ddsp" train --resume big.h5 --steps 20 --ckpt-every 100 --out r_big >out.txt 2>err.txt
rc=$? last=$(grep . err.txt | tail -n 1)
[ $rc -eq 1 ] && [[ $last == *"5 consecutive non-finite steps: stopping before any checkpoint of this run was written in "*"/r_big (nothing to resume from)" ]] ||
  fail "non-finite steps: exit $rc, $last"
! ls r_big | grep -q 'ckpt-' || fail "non-finite steps: a checkpoint was written"

# inspect --json on an error: one JSON object on stdout
"$ddsp" inspect --json "$work/c_vneg.h5" >out.txt 2>/dev/null
grep -q '"ok": false' out.txt && grep -q 'negative value' out.txt ||
  fail "inspect --json does not report the problem in its JSON: $(head -c 200 out.txt)"
"$ddsp" inspect --json "$work/nonexistent.h5" >out.txt 2>/dev/null
grep -q '"error": ".*nonexistent.h5: no such file"' out.txt ||
  fail "inspect --json on a missing file: $(head -c 200 out.txt)"

echo "ckpt_corrupt: $fails failure(s)"
[ $fails -eq 0 ]
