#!/usr/bin/env bash
# infer_cli.sh DDSP DATA_DIR WORK_DIR: `ddsp resynth`, `ddsp eval` and `ddsp jacobian --ckpt`
# end to end on a tiny
# run (a few seconds): output length and rate for odd lengths, 44.1 kHz stereo input and
# --model-rate; chunked == one-shot through the CLI; parts, shifts and auto-adjust; eval
# table / JSON keys / CSV with finite metrics; bad inputs give a one-line error and exit 1,
# bad usage exit 2. Needs only the ddsp binary and the bundled data/ folder.
set -u
DDSP=$1 DATA=$2 W=$3
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/cli_expect.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # RC REGEX ARGS... (cli_expect.sh: exit code, output, one-line error)
    local rc=$1 re=$2
    shift 2
    "$EXPECT" "$rc" "$re" "$DDSP" "$@" > "$W/expect.log" 2>&1 || { cat "$W/expect.log"; fail "ddsp $*"; }
}

rm -rf "$W" && mkdir -p "$W" || exit 1

# ---------------------------------------------------------------- fixtures
le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }
# pcm16_wav OUT RATE CHANNELS FRAMES: int16 WAV whose samples are bytes of the violin recording
pcm16_wav() {
    local out=$1 rate=$2 ch=$3 n=$4 bytes=$(($4 * $3 * 2))
    {
        printf 'RIFF'; le32 $((36 + bytes)); printf 'WAVEfmt '; le32 16; le16 1; le16 "$ch"
        le32 "$rate"; le32 $((rate * ch * 2)); le16 $((ch * 2)); le16 16; printf 'data'; le32 $bytes
        tail -c +45 "$DATA/violin.wav" | head -c $bytes
    } > "$out"
}
pcm16_wav "$W/odd16k.wav" 16000 1 20011        # 1.25 s, not a whole number of frames
pcm16_wav "$W/st44.wav" 44100 2 55127          # stereo 44.1 kHz, odd length
pcm16_wav "$W/empty.wav" 16000 1 0
echo "this is not audio" > "$W/notaudio.wav"
head -c 100 "$W/odd16k.wav" > "$W/truncated.wav"

# a tiny run: one file prepared, a small model trained for 3 steps
"$DDSP" prepare "$DATA/flute.wav" --out "$W/ds.h5" > "$W/prepare.log" 2>&1 || { cat "$W/prepare.log"; echo "FAIL: prepare"; exit 1; }
"$DDSP" train --data "$W/ds.h5" --model small --steps 3 --batch 2 --out "$W/run" --valid-every 0 \
    > "$W/train.log" 2>&1 || { cat "$W/train.log"; echo "FAIL: train"; exit 1; }
CKPT=$(ls "$W"/run/ckpt-*.h5 | tail -1)

# ---------------------------------------------------------------- resynth
# `ddsp loss A B` succeeds only when A and B have the same rate and length
expect 0 "wrote .*out16.wav: 20011 samples at 16000 Hz" resynth --ckpt "$W/run" --in "$W/odd16k.wav" --out "$W/out16.wav"
expect 0 "total loss" loss "$W/odd16k.wav" "$W/out16.wav"
expect 0 "wrote .*out44.wav: 55127 samples at 44100 Hz" resynth --ckpt "$CKPT" --in "$W/st44.wav" --out "$W/out44.wav"
expect 0 "total loss" loss "$W/st44.wav" "$W/out44.wav"
expect 0 "out44m.wav: 20001 samples at 16000 Hz" resynth --ckpt "$CKPT" --in "$W/st44.wav" --out "$W/out44m.wav" --model-rate
expect 1 "sample rates differ.*44100 Hz.*16000 Hz" loss "$W/st44.wav" "$W/out44m.wav"

# chunked == one-shot through the CLI (one thread: the same GEMM paths)
OMP_NUM_THREADS=1 "$DDSP" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/c1.wav" --chunk-secs 0.03 > /dev/null || fail "chunk 0.03"
OMP_NUM_THREADS=1 "$DDSP" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/c2.wav" --chunk-secs 1000 > /dev/null || fail "chunk 1000"
d=$("$DDSP" loss "$W/c2.wav" "$W/c1.wav" --loss l1 --json | sed 's/.*"loss": \([^,]*\),.*/\1/')
awk -v d="$d" 'BEGIN { exit !(d < 1e-5) }' || fail "chunked vs one-shot: spectral L1 $d"
echo "chunked vs one-shot spectral L1 distance: $d"

expect 0 "harmonic only" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/h.wav" --harmonic-only --seed 3
expect 0 "noise only" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/n.wav" --noise-only
expect 0 "pitch \+12 semitones, loudness -6 dB" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/p.wav" --pitch-shift 12 --loudness-shift -6
expect 0 "adjust +auto: .*octave" resynth --ckpt "$CKPT" --in "$W/st44.wav" --out "$W/a.wav" --auto-adjust --conf-threshold 0.9
# white noise: no voiced frame. Its f0 summary says so (it printed "median nan Hz"); a model
# trained on it has no pitch to move toward, and --auto-adjust says so instead of shifting the
# input by -6 octaves (its f0 statistics were those of no frame)
{
    printf 'RIFF'; le32 $((36 + 160000)); printf 'WAVEfmt '; le32 16; le16 1; le16 1
    le32 16000; le32 32000; le16 2; le16 16; printf 'data'; le32 160000
    head -c 160000 /dev/urandom
} > "$W/noise.wav"
expect 0 "features +no voiced frame" resynth --ckpt "$CKPT" --in "$W/noise.wav" --out "$W/nz.wav"
"$DDSP" prepare "$W/noise.wav" --out "$W/noise.h5" > /dev/null 2>&1 || fail "prepare noise"
"$DDSP" train --data "$W/noise.h5" --model small --steps 1 --batch 1 --out "$W/noiserun" --valid-every 0 \
    > /dev/null 2>&1 || fail "train on noise"
expect 0 "trained on data without voiced frames .voiced fraction 0.: --auto-adjust has no pitch" \
    resynth --ckpt "$W/noiserun" --in "$W/st44.wav" --out "$W/an.wav" --auto-adjust
grep -q "octave" "$W/expect.log" && fail "auto-adjust on a noise-trained model shifted octaves"

expect 1 "nope.h5: no such checkpoint" resynth --ckpt "$W/nope.h5" --in "$W/odd16k.wav" --out "$W/x.wav"
expect 1 "ds.h5: not a ddsp checkpoint" resynth --ckpt "$W/ds.h5" --in "$W/odd16k.wav" --out "$W/x.wav"
expect 1 "notaudio.wav: not an HDF5 file" resynth --ckpt "$W/notaudio.wav" --in "$W/odd16k.wav" --out "$W/x.wav"
expect 1 "no checkpoint" resynth --ckpt "$W" --in "$W/odd16k.wav" --out "$W/x.wav"
expect 1 "notaudio.wav: not a readable audio file" resynth --ckpt "$CKPT" --in "$W/notaudio.wav" --out "$W/x.wav"
expect 1 "truncated.wav" resynth --ckpt "$CKPT" --in "$W/truncated.wav" --out "$W/x.wav"
expect 1 "empty.wav: file contains no audio samples" resynth --ckpt "$CKPT" --in "$W/empty.wav" --out "$W/x.wav"
expect 1 "missing.wav" resynth --ckpt "$CKPT" --in "$W/missing.wav" --out "$W/x.wav"
expect 1 "cannot write to folder" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/no/such/dir/x.wav"
expect 2 "--ckpt, --in and --out are required" resynth --ckpt "$CKPT" --out "$W/x.wav"
expect 2 "exclude each other" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/x.wav" --harmonic-only --noise-only
expect 2 "--chunk-secs 0 is out of range" resynth --ckpt "$CKPT" --in "$W/odd16k.wav" --out "$W/x.wav" --chunk-secs 0
expect 2 "unknown option '--bogus'" resynth --bogus
[ -e "$W/x.wav" ] && fail "a failed resynth left an output file"
ls "$W"/*.tmp* > /dev/null 2>&1 && fail "a temporary file was left behind"

# ---------------------------------------------------------------- eval
expect 0 "mean +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ +[01]\.[0-9]+" eval --ckpt "$W/run" --data "$W/ds.h5"
"$DDSP" eval --ckpt "$CKPT" --data "$W/ds.h5" --split all --json --csv "$W/eval.csv" > "$W/eval.json" 2> "$W/eval.err" || fail "eval --json: $(cat "$W/eval.err")"
for k in '"mean": {' '"mss": [0-9]' '"loudness_l1_db": [0-9]' '"f0_l1_cents": [0-9]' '"rpa": [0-9]' \
         '"examples": \[' '"conf_threshold": 0.85' '"split": "all"' '"example": [0-9]'; do
    grep -q -- "$k" "$W/eval.json" || fail "eval JSON lacks $k"
done
grep -qiE '": -?(nan|inf|null)' "$W/eval.json" && fail "eval JSON has non-finite numbers"
head -1 "$W/eval.csv" | grep -q '^example,split,mss,loudness_l1_db,f0_l1_cents,rpa,conf_frames,frames$' || fail "eval CSV header"
[ "$(grep -c '^[0-9]' "$W/eval.csv")" -ge 2 ] || fail "eval CSV rows"
if command -v python3 > /dev/null && python3 -c 'import json' 2> /dev/null; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["mean"]["mss"] > 0' "$W/eval.json" || fail "eval JSON does not parse"
fi
# --loss: the mss column under another Φ (its name in the header line), a bad one refused
expect 0 "metrics +mss: mag=1,logmag=1,dist=l2, 6 scales" eval --ckpt "$CKPT" --data "$W/ds.h5" --loss mag,logmag,dist=l2
expect 1 "unknown loss 'bogus'" eval --ckpt "$CKPT" --data "$W/ds.h5" --loss bogus
expect 1 "notaudio.wav: not an HDF5 file" eval --ckpt "$CKPT" --data "$W/notaudio.wav"
expect 1 "noiserun: is a folder, not a dataset file" eval --ckpt "$CKPT" --data "$W/noiserun"
# --json on an error: still one JSON object on stdout (it printed nothing)
"$DDSP" eval --ckpt "$CKPT" --data "$W/noise.h5" --json > "$W/eval_err.json" 2> /dev/null && fail "eval on a split with no examples exited 0"
grep -q '^{"ok": false, "error": ".*noise.h5: no validation examples' "$W/eval_err.json" || fail "eval --json error object: $(cat "$W/eval_err.json")"
# a metric without a value is an empty CSV field (it was "nan"): noise has no confident frame
"$DDSP" eval --ckpt "$CKPT" --data "$W/noise.h5" --split train --csv "$W/noise_eval.csv" > /dev/null 2>&1 || fail "eval on noise"
grep -qi nan "$W/noise_eval.csv" && fail "eval CSV holds nan: $(cat "$W/noise_eval.csv")"
expect 1 "no such checkpoint" eval --ckpt "$W/nope" --data "$W/ds.h5"
expect 2 "unknown split 'test'" eval --ckpt "$CKPT" --data "$W/ds.h5" --split test
expect 2 "--ckpt and --data are required" eval --ckpt "$CKPT"

# ---------------------------------------------------------------- jacobian at a model's controls
expect 0 "J: .* x 252 controls .frames 40:42" jacobian --ckpt "$CKPT" --in "$W/odd16k.wav" --seconds 0.5 --frames 40:42 --rank 2 --out "$W/jac.h5"
expect 1 "notaudio.wav: not a readable audio file" jacobian --ckpt "$CKPT" --in "$W/notaudio.wav" --out "$W/x.h5"
expect 1 "no such checkpoint" jacobian --ckpt "$W/nope.h5" --in "$W/odd16k.wav" --out "$W/x.h5"

# ---------------------------------------------------------------- paths up to PATH_MAX
# a run folder 2000 characters deep: train, resume, resynth, loss --grad-out, inspect, plot
# (train wrote its checkpoint and then failed on resynth.wav past ~1010 characters, and
# errors were cut at 1023 characters, before their reason)
L="$W/long"
for k in 1 2 3 4 5 6 7 8 9; do L="$L/$(printf 'd%.0s' $(seq 220))"; done
mkdir -p "$L" || fail "mkdir a long path"
"$DDSP" train --data "$W/ds.h5" --model small --steps 2 --batch 1 --out "$L/run" --valid-every 0 \
    > "$W/long.log" 2>&1 || fail "train into a ${#L}-character folder: $(tail -c 300 "$W/long.log")"
[ -f "$L/run/resynth.wav" ] && [ -f "$L/run/ckpt-00000002.h5" ] || fail "long path: outputs missing"
"$DDSP" train --resume "$L/run" --steps 3 > "$W/long.log" 2>&1 || fail "resume in a long path"
expect 0 "wrote .*long.wav" resynth --ckpt "$L/run" --in "$W/odd16k.wav" --out "$L/long.wav"
expect 0 "wrote gradient" loss "$L/long.wav" "$L/long.wav" --grad-out "$L/g.h5"
expect 0 "check +ok" inspect "$L/run"
expect 0 "wrote" plot "$L/run" --out "$L/p.png"
"$DDSP" loss "$L/missing.wav" "$W/odd16k.wav" 2> "$W/long.err"
grep -q "missing.wav: no such file$" "$W/long.err" || fail "a long-path error lost its reason: $(tail -c 100 "$W/long.err")"
echo "paths of ${#L} characters: train, resume, resynth, loss, inspect, plot ok"

if [ $fails -ne 0 ]; then echo "infer_cli: $fails check(s) FAILED"; exit 1; fi
echo "infer_cli: all checks passed"
