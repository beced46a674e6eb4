#!/usr/bin/env bash
# check_bad.sh DDSP_BINARY BAD_DIR WORKDIR: run every file of BAD_DIR through the CLI entry
# points that read it (loss, prepare, train --data, train --resume) and check the expectations of BAD_DIR/README.md's table (exit code,
# a one-line error naming the file, no crash, no sanitizer report, no hang, nothing left
# behind by a failed prepare). Exit code 0 when all hold. Works with a sanitizer build:
# a report is a failure whatever the exit code.
set -u
if [ $# -ne 3 ]; then
  echo "usage: check_bad.sh DDSP_BINARY BAD_DIR WORKDIR" >&2
  exit 2
fi
ddsp=$1 bad=$2 work=$3
readme=$bad/README.md
[ -x "$ddsp" ] || { echo "check_bad: $ddsp is not executable" >&2; exit 2; }
[ -f "$readme" ] || { echo "check_bad: no $readme" >&2; exit 2; }
mkdir -p "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
LIMIT=${CHECK_BAD_LIMIT:-120}
crash_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|assertion `|Segmentation fault|MPI_ABORT|SUMMARY: (Address|Undefined|Leak)'
n=0 fails=0

# first stack frame of a sanitizer report that is not the sanitizer's own
first_frame() {
  grep -E '^ +#[0-9]+ 0x' "$1" |
    grep -vE '__interceptor_|__asan|__sanitizer|__ubsan|libclang_rt|/sanitizer_common/|in (malloc|calloc|realloc|free|memcpy|memmove|memset) ' |
    head -n 1
}

# check FILE ENTRY WANT_RC CONTAINS -- CMD...: run CMD, compare with the expectations.
# WANT_RC is a code or codes separated by '/' (0/1: either); a trailing '!' (1!) marks an
# input that triggers a known bug inside libhdf5: a sanitizer report whose first frame is
# in libhdf5 is then accepted.
check() {
  local file=$1 entry=$2 want=$3 contains=$4 lib_ok=0 xfail=0 limit=$LIMIT
  shift 5
  case $want in *!) want=${want%!} lib_ok=1 ;; esac
  case $want in x*) want=${want#x} xfail=1 limit=15 ;; esac
  local out=$work/$entry.$file.out err=$work/$entry.$file.err
  n=$((n + 1))
  timeout -k 5 "$limit" "$@" >"$out" 2>"$err"
  local rc=$? why=""
  local last lines
  last=$(grep . "$err" | tail -n 1)
  lines=$(grep -c . "$err")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why="no answer within ${limit}s (hang?)"
  elif [ "$rc" -ge 128 ]; then
    why="killed by signal $((rc - 128))"
  elif grep -Eq "$crash_re" "$err"; then
    if [ "$lib_ok" = 1 ] && first_frame "$err" | grep -q 'libhdf5'; then
      printf 'ok   %-8s %-30s known libhdf5 bug reported by the sanitizer: %s\n' "$entry" "$file" \
        "$(grep -Em1 "$crash_re" "$err" | cut -c1-80)"
      return
    fi
    why="sanitizer report or assertion: $(grep -Em1 "$crash_re" "$err")"
  elif [[ "/$want/" != *"/$rc/"* ]]; then
    why="exit code $rc, expected $want"
  elif [ "$rc" -eq 0 ]; then
    case $entry in
      loss) grep -q 'total loss' "$out" || why="no 'total loss' line" ;;
      prepare) [ -f "$work/prepare.$file.h5" ] || why="exit 0 but no dataset written" ;;
      train | resume) grep -q '^trained' "$out" || why="no 'trained' line" ;;
    esac
  else
    if [ "$entry" = loss ] && [ "$lines" -ne 1 ]; then
      why="expected a one-line error on stderr, got $lines lines"
    elif [ -n "$contains" ] && [[ "$last" != *"$contains"* ]]; then
      why="last stderr line does not contain '$contains'"
    elif [ "$entry" = prepare ] && { [ -e "$work/prepare.$file.h5" ] || compgen -G "$work/prepare.$file.h5.tmp*" >/dev/null; }; then
      why="a failed prepare left its output behind"
    fi
  fi
  if [ "$xfail" = 1 ]; then
    if [ -n "$why" ]; then
      printf 'XFAIL %-7s %-30s %s (known bug, see README)\n' "$entry" "$file" "$why"
    else
      printf 'XPASS %-7s %-30s exit %d: fixed? drop the x in README\n' "$entry" "$file" "$rc"
    fi
  elif [ -n "$why" ]; then
    fails=$((fails + 1))
    printf 'FAIL %-8s %-30s %s\n' "$entry" "$file" "$why"
    sed 's/^/    stderr: /' "$err" | head -n 30
  else
    printf 'ok   %-8s %-30s exit %d  %s\n' "$entry" "$file" "$rc" "${last:0:110}"
  fi
}

trim() { local s=$1; s=${s#"${s%%[! ]*}"}; s=${s%"${s##*[! ]}"}; s=${s#\`}; s=${s%\`}; printf '%s' "$s"; }

declare -A listed=()
while IFS='|' read -r _ c_file _ c_loss c_prep c_train c_resume c_contains _; do
  file=$(trim "$c_file") loss=$(trim "$c_loss") prep=$(trim "$c_prep") train=$(trim "$c_train")
  resume=$(trim "$c_resume")
  contains=$(trim "$c_contains")
  contains=${contains//\{f\}/$file}
  listed[$file]=1
  f=$bad/$file
  if [ ! -f "$f" ]; then
    fails=$((fails + 1))
    echo "FAIL          $file: in the table but not in $bad"
    continue
  fi
  if [ "$loss" != - ]; then
    check "$file" loss "$loss" "$contains" -- "$ddsp" loss "$f" "$f"
  fi
  if [ "$prep" != - ]; then
    rm -f "$work/prepare.$file.h5" "$work/prepare.$file.h5.tmp"*
    check "$file" prepare "$prep" "$contains" -- "$ddsp" prepare "$f" --out "$work/prepare.$file.h5" \
      --strict --example-secs 0.016 --hop-secs 0.016
  fi
  if [ "$train" != - ]; then
    rm -rf "$work/train.$file"
    check "$file" train "$train" "$contains" -- "$ddsp" train --data "$f" --steps 1 --model small \
      --out "$work/train.$file"
  fi
  if [ "$resume" != - ]; then
    rm -rf "$work/resume.$file"
    check "$file" resume "$resume" "$contains" -- "$ddsp" train --resume "$f" --steps 1 \
      --out "$work/resume.$file"
  fi
done < <(grep '^| `' "$readme")

# every input in the folder must have a row (an unlisted file would go unchecked)
for f in "$bad"/*.wav "$bad"/*.h5; do
  [ -e "$f" ] || continue
  b=${f##*/}
  if [ -z "${listed[$b]:-}" ]; then
    fails=$((fails + 1))
    echo "FAIL          $b: no row in $readme"
  fi
done
echo "check_bad: $n runs, $fails failure(s)"
[ "$fails" -eq 0 ]
