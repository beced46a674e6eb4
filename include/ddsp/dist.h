/* ddsp/dist.h — the process group: every MPI call of ddsp is behind this header.
 *
 * A plain `ddsp ...` without mpirun/srun is a one-rank job (MPI singleton start). Tests and
 * benchmarks that never start MPI use ddsp_dist_single(): a group of one whose collectives
 * are local no-ops, so the same code runs with and without MPI.
 *
 * Collectives return DDSP_OK or DDSP_ERR (message says which operation failed); every rank
 * of the group must call them in the same order. The communicator reports errors
 * (MPI_ERRORS_RETURN) instead of aborting, so a failure can be reported before the job ends.
 */
#ifndef DDSP_DIST_H
#define DDSP_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    MPI_Comm comm; /* MPI_COMM_WORLD (errors returned), or MPI_COMM_NULL for ddsp_dist_single */
    int rank, size;
} ddsp_dist;

/* Start MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) and fill *d; sets the log
 * rank and registers the abort DDSP_ASSERT uses (MPI_Abort of the whole job). DDSP_OK or
 * DDSP_ERR. */
int ddsp_dist_init(ddsp_dist *d, int *argc, char ***argv);
/* A group of one without MPI (rank 0, size 1): collectives do nothing. */
void ddsp_dist_single(ddsp_dist *d);
/* Finalize MPI if this process started it. */
void ddsp_dist_finalize(void);
/* One line for an MPI error code (for messages). */
const char *ddsp_dist_strerror(int err);
/* Abort every rank with exit code `code` (use when one rank fails where the others would
 * wait in a collective). Never returns. */
void ddsp_dist_abort(const ddsp_dist *d, int code) __attribute__((noreturn));

/* Agree on failure: returns non-zero on every rank if `failed` is non-zero on any rank. */
int ddsp_dist_any(const ddsp_dist *d, int failed);
/* In-place sums over the ranks of buf (n values), in rank order as MPI reduces them. */
int ddsp_dist_sum_f32(const ddsp_dist *d, float *buf, size_t n);
int ddsp_dist_sum_f64(const ddsp_dist *d, double *buf, size_t n);
/* In-place element-wise maxima over the ranks (e.g. a file table each rank filled in part). */
int ddsp_dist_max_i64(const ddsp_dist *d, int64_t *buf, size_t n);
int ddsp_dist_max_i32(const ddsp_dist *d, int32_t *buf, size_t n);
/* (e.g. phase timings: the slowest rank's; pass -t too and the max of -t is minus the fastest) */
int ddsp_dist_max_f64(const ddsp_dist *d, double *buf, size_t n);
/* 1 on every rank when every rank passed the same v, else 0 (e.g. a checksum of weights);
 * DDSP_ERR when the collective fails. */
int ddsp_dist_same_u64(const ddsp_dist *d, uint64_t v);
/* Broadcast `bytes` bytes of buf from rank `root`. */
int ddsp_dist_bcast(const ddsp_dist *d, void *buf, size_t bytes, int root);

/* Make every rank's FFTW plans identical to rank 0's: rank 0 has planned; its wisdom, float
 * (fftwf_mpi_broadcast_wisdom) and double, is broadcast and imported, so the other ranks then
 * plan instantly and pick the same algorithms. Collective. */
int ddsp_dist_share_wisdom(const ddsp_dist *d);

/* Make the HDF5 file-access property list fapl (an hid_t) open files collectively over the
 * group's communicator (parallel HDF5); nothing for ddsp_dist_single. DDSP_OK or DDSP_ERR. */
int ddsp_dist_h5_parallel(const ddsp_dist *d, int64_t fapl);

#endif
