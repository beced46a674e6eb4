#!/usr/bin/env bash
# cli_expect.sh RC REGEX CMD...: run CMD; pass when its exit code is RC and its output
# (stdout+stderr) matches REGEX. For RC != 0 the error must also be ONE line on stderr.
set -u
want_rc=$1 regex=$2
shift 2
out=$("$@" 2>/tmp/cli_expect_err.$$)
rc=$?
err=$(cat /tmp/cli_expect_err.$$)
rm -f /tmp/cli_expect_err.$$
printf '%s\n%s\n' "$out" "$err"
if [ "$rc" -ne "$want_rc" ]; then echo "FAIL: exit code $rc, expected $want_rc"; exit 1; fi
if ! printf '%s\n%s\n' "$out" "$err" | grep -Eq -- "$regex"; then
  echo "FAIL: output does not match /$regex/"; exit 1
fi
if [ "$want_rc" -ne 0 ] && [ "$(printf '%s' "$err" | grep -c .)" -ne 1 ]; then
  echo "FAIL: expected a one-line error on stderr"; exit 1
fi
echo "ok"
