# Shared by the bench_*.sh scripts (sourced, not run).
#
# BLAS core: both sides of every comparison run the same OpenBLAS kernel. The default,
# DDSP_BENCH_BLAS_CORE=native, drops OPENBLAS_CORETYPE for the measured commands only,
# so OpenBLAS picks the kernel for this CPU - exactly what the
# peer's default `--blas-core native` does. `env` keeps the caller's environment (the
# peer gets `--blas-core env`); any other value is a core name (e.g. Haswell) for both.
blas_core=${DDSP_BENCH_BLAS_CORE:-native}
case "$blas_core" in
  native) blas_env=(env -u OPENBLAS_CORETYPE) ;;
  env)    blas_env=(env) ;;
  *)      blas_env=(env OPENBLAS_CORETYPE="$blas_core") ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peer=${DDSP_PEER:-$here/../shared/reference/ddsp_ref.py}
have_peer=1
[ -f "$peer" ] && /usr/bin/python3 -c "import torch" 2>/dev/null || have_peer=0
[ $have_peer = 1 ] || echo "$(basename "$0"): peer not available ($peer, python3-torch); C only" >&2

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# The CPU's name with its family and model: "AMD EPYC" names Zen 4 (family 25) and Zen 5
# (family 26) alike, whose fp32 GEMM rates differ by 2x (Zen 4 splits 512-bit FMAs in two).
cpu_name() {
  local name fam model gen=""
  name=$(lscpu | sed -n 's/^Model name: *//p')
  fam=$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  model=$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  case "$name:$fam" in AMD*:25) gen="Zen 3/4, " ;; AMD*:26) gen="Zen 5, " ;; esac
  [ "$name:$fam:$model" != "${name}:25:17" ] || gen="Zen 4 Genoa, "
  echo "$name (${gen}family $fam model $model)"
}
