#!/usr/bin/env bash
# tests/sanitize.sh [BUILD_DIR]: build ddsp with AddressSanitizer + UBSan (-DDDSP_SANITIZE=ON,
# benchmarks off) in BUILD_DIR (default build-asan) and run the unit and CLI tests there
# with leak detection on. Exit code 0 only when every test passes with no sanitizer report.
#
# Open MPI keeps memory from MPI_Init to the end of the process; tests/fuzz/lsan.supp
# suppresses exactly that (stacks through MPI_Init/MPI_Finalize and its progress thread).
# Matching those frames needs full malloc stacks (fast_unwind_on_malloc=0: Open MPI has no
# frame pointers). A canary first checks that LeakSanitizer works here (it does not under
# ptrace, e.g. strace/gdb) and that a leak in a process that ran MPI_Init is still reported.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:-$root/build-asan}
jobs=$(nproc 2>/dev/null || echo 2)
supp=$root/tests/fuzz/lsan.supp

echo "sanitize: configuring $bdir (DDSP_SANITIZE=ON, DDSP_BENCH=OFF, RelWithDebInfo)"
mkdir -p "$bdir"
cmake -S "$root" -B "$bdir" -DDDSP_SANITIZE=ON -DDDSP_BENCH=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$bdir/sanitize_configure.log" 2>&1 ||
  { cat "$bdir/sanitize_configure.log"; exit 1; }
cmake --build "$bdir" -j "$jobs"

# exitcode 86: a sanitizer report must never pass for an expected `exit 1` of the CLI tests.
# allocator_may_return_null: an impossible allocation (a corrupt file declaring 2^40 rows)
# returns NULL as it does without ASan, so the code's out-of-memory paths are what is tested.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=30:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
command -v llvm-symbolizer >/dev/null && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}

# ---------------------------------------------------------------- canary
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$bdir/CMakeCache.txt")
canary=$bdir/sanitize_canary
mkdir -p "$canary"
cat >"$canary/canary.c" <<'EOF'
/* leaks 4096 bytes after MPI_Init: LeakSanitizer must report canary_leak */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) static void canary_leak(void) {
    char *volatile p = malloc(4096);
    memset(p, 1, 4096);
    p = NULL;
}
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    canary_leak();
    MPI_Finalize();
    return 0;
}
EOF
# shellcheck disable=SC2046
"$cc" -O0 -g -fsanitize=address,undefined -fno-omit-frame-pointer $(mpicc -showme:compile) \
      "$canary/canary.c" -o "$canary/canary" $(mpicc -showme:link)
set +e
"$canary/canary" >"$canary/out.txt" 2>&1
crc=$?
set -e
if [ "$crc" -ne 86 ] || ! grep -q 'canary_leak' "$canary/out.txt"; then
  cat "$canary/out.txt"
  echo "sanitize: FAIL: LeakSanitizer did not report the canary's leak (exit $crc)." \
       "Running under ptrace (strace, gdb) or a seccomp profile that blocks it?" >&2
  exit 1
fi
if grep -q 'SUMMARY: AddressSanitizer: [0-9]* byte(s) leaked' "$canary/out.txt" &&
   [ "$(grep -c '^Direct leak' "$canary/out.txt")" -ne 1 ]; then
  cat "$canary/out.txt"
  echo "sanitize: FAIL: Open MPI leaks not covered by $supp (see above)" >&2
  exit 1
fi
echo "sanitize: LeakSanitizer works (canary leak reported, Open MPI's own suppressed)"

# ---------------------------------------------------------------- tests
cd "$bdir"
ctest -L 'unit|cli' -j "$jobs" --output-on-failure
echo "sanitize: unit and cli tests clean under ASan + UBSan + LSan"
