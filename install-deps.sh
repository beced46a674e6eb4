#!/usr/bin/env bash
# Installs every Debian 12 package ddsp needs to build, test and run under MPI.
# Idempotent: when everything is already installed it only checks and returns.
#   ./install-deps.sh          build + test + MPI runtime
#   ./install-deps.sh --bench  also the PyTorch peer used by tests/bench (python3-torch ...)
#   ./install-deps.sh --browser  also Debian's chromium (~290 MB installed), which the ctest
#                              `report_browser` uses to render the run report (.ci/run passes it;
#                              without it that test is reported SKIPPED)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config make
  libopenmpi-dev openmpi-bin                 # MPI (dist module, mpirun tests)
  libfftw3-dev libfftw3-mpi-dev              # FFTW3 single precision + fftwf_mpi (wisdom broadcast)
  libhdf5-openmpi-dev hdf5-tools             # parallel HDF5 (Open MPI build) + h5dump
  libopenblas-dev libopenblas0-openmp        # BLAS; the OpenMP variant is selected below
  libdnnl-dev                                # oneDNN: the decoder's fp32 and bf16 GEMMs
  libsndfile1-dev libsoxr-dev                # audio files, resampling
  libcairo2-dev                              # ddsp plot (PNG figures)
  libxml2-utils                              # xmllint: the report test parses the page as XML
  slurmctld slurmd slurm-client munge        # a real one-node SLURM for the jobs/ tests
)
for arg in "$@"; do
  case $arg in
    --bench) pkgs+=(python3-torch python3-h5py python3-numpy python3-scipy python3-soundfile
                    libtcmalloc-minimal4) ;;
    --browser) pkgs+=(chromium) ;;
    *) echo "install-deps: unknown option $arg (--bench, --browser)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#pkgs[@]} packages present"
fi
