/* ddsp/dist.h — the MPI process group. Only this module calls MPI_Init_thread/MPI_Finalize;
 * everything else takes a communicator (or rank and size) as arguments.
 *
 * A plain `ddsp ...` without mpirun/srun is a one-rank job (MPI singleton start). */
#ifndef DDSP_DIST_H
#define DDSP_DIST_H

#include <mpi.h>

typedef struct {
    MPI_Comm comm; /* MPI_COMM_WORLD, errors returned (MPI_ERRORS_RETURN), not fatal */
    int rank, size;
} ddsp_dist;

/* Start MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) and fill *d; sets the log
 * rank. Returns DDSP_OK or DDSP_ERR. */
int ddsp_dist_init(ddsp_dist *d, int *argc, char ***argv);
/* Finalize MPI if this process started it. */
void ddsp_dist_finalize(void);
/* One line for an MPI error code (for messages). */
const char *ddsp_mpi_strerror(int err);
/* Abort every rank with exit code `code` (use when one rank fails where the others would
 * wait in a collective). Never returns. */
void ddsp_dist_abort(const ddsp_dist *d, int code) __attribute__((noreturn));
/* Make every rank's FFTW plans identical to rank 0's: rank 0 has planned (FFTW_MEASURE);
 * its wisdom, float (fftwf_mpi_broadcast_wisdom) and double, is broadcast and imported, so
 * the other ranks then plan instantly and pick the same algorithms. Collective. */
int ddsp_dist_share_wisdom(const ddsp_dist *d);
/* Agree on failure: returns non-zero on every rank if `failed` is non-zero on any rank. */
int ddsp_dist_any(const ddsp_dist *d, int failed);

#endif
