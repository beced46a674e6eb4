/* MPI start-up and every collective ddsp uses (see ddsp/dist.h). No other module calls MPI:
 * they take a ddsp_dist and call these. */
#include "ddsp/dist.h"
#include "ddsp/util.h"

#include <fftw3-mpi.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int started;

/* DDSP_ASSERT's abort once MPI is up: a bug on one rank ends the whole job, instead of the
 * other ranks waiting for it in a collective for ever. */
static void abort_job(int code) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, code);
}

int ddsp_dist_init(ddsp_dist *d, int *argc, char ***argv) {
    int inited = 0, provided = 0, err;
    MPI_Initialized(&inited);
    if (!inited) {
        err = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS) return ddsp_error("MPI_Init_thread failed: %s", ddsp_dist_strerror(err));
        started = 1;
    }
    d->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    ddsp_log_set_rank(d->rank);
    ddsp_set_abort_hook(abort_job);
    return DDSP_OK;
}

void ddsp_dist_single(ddsp_dist *d) {
    d->comm = MPI_COMM_NULL;
    d->rank = 0;
    d->size = 1;
}

void ddsp_dist_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (started && !fin) MPI_Finalize();
}

const char *ddsp_dist_strerror(int err) {
    static _Thread_local char buf[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, buf, &len) != MPI_SUCCESS) snprintf(buf, sizeof buf, "MPI error %d", err);
    return buf;
}

void ddsp_dist_abort(const ddsp_dist *d, int code) {
    fflush(stdout);
    fflush(stderr);
    if (d->comm != MPI_COMM_NULL) MPI_Abort(d->comm, code);
    exit(code);
}

int ddsp_dist_any(const ddsp_dist *d, int failed) {
    int in = failed != 0, out = in;
    if (d->size > 1 && MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, d->comm) != MPI_SUCCESS)
        ddsp_dist_abort(d, 1); /* the ranks cannot even agree that something failed */
    return out;
}

/* In-place allreduce of n values of `type` in pieces that fit MPI's int counts. */
static int allreduce(const ddsp_dist *d, void *buf, size_t n, size_t elem, MPI_Datatype type,
                     MPI_Op op, const char *what) {
    if (d->size == 1) return DDSP_OK;
    char *p = buf;
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        const int err = MPI_Allreduce(MPI_IN_PLACE, p + done * elem, (int)k, type, op, d->comm);
        if (err != MPI_SUCCESS)
            return ddsp_error("MPI_Allreduce of %s failed: %s", what, ddsp_dist_strerror(err));
        done += k;
    }
    return DDSP_OK;
}

int ddsp_dist_sum_f32(const ddsp_dist *d, float *buf, size_t n) {
    return allreduce(d, buf, n, sizeof(float), MPI_FLOAT, MPI_SUM, "floats");
}

int ddsp_dist_sum_f64(const ddsp_dist *d, double *buf, size_t n) {
    return allreduce(d, buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM, "doubles");
}

int ddsp_dist_max_i64(const ddsp_dist *d, int64_t *buf, size_t n) {
    return allreduce(d, buf, n, sizeof(int64_t), MPI_INT64_T, MPI_MAX, "a table");
}

int ddsp_dist_max_f64(const ddsp_dist *d, double *buf, size_t n) {
    return allreduce(d, buf, n, sizeof(double), MPI_DOUBLE, MPI_MAX, "timings");
}

int ddsp_dist_max_i32(const ddsp_dist *d, int32_t *buf, size_t n) {
    return allreduce(d, buf, n, sizeof(int32_t), MPI_INT32_T, MPI_MAX, "a table");
}

int ddsp_dist_same_u64(const ddsp_dist *d, uint64_t v) {
    if (d->size == 1) return 1;
    unsigned long long lo = v, hi = v;
    if (MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, d->comm) != MPI_SUCCESS ||
        MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, d->comm) != MPI_SUCCESS)
        return ddsp_error("MPI_Allreduce of a checksum failed");
    return lo == hi;
}

int ddsp_dist_bcast(const ddsp_dist *d, void *buf, size_t bytes, int root) {
    if (d->size == 1) return DDSP_OK;
    char *p = buf;
    for (size_t done = 0; done < bytes;) {
        const size_t k = bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX;
        const int err = MPI_Bcast(p + done, (int)k, MPI_BYTE, root, d->comm);
        if (err != MPI_SUCCESS) return ddsp_error("MPI_Bcast failed: %s", ddsp_dist_strerror(err));
        done += k;
    }
    return DDSP_OK;
}

int ddsp_dist_share_wisdom(const ddsp_dist *d) {
    if (d->size == 1) return DDSP_OK;
    fftwf_mpi_broadcast_wisdom(d->comm);
    /* double precision (the exact MSS spectra): fftw3_mpi is not linked, so by hand */
    char *w = d->rank == 0 ? fftw_export_wisdom_to_string() : NULL;
    long len = w ? (long)strlen(w) + 1 : 0;
    if (ddsp_dist_bcast(d, &len, sizeof len, 0)) return ddsp_error("MPI_Bcast of FFTW wisdom failed");
    if (d->rank != 0) w = calloc((size_t)len + 1, 1);
    if (!w && len > 0) return ddsp_error("out of memory for FFTW wisdom");
    int rc = DDSP_OK;
    if (len > 0 && ddsp_dist_bcast(d, w, (size_t)len, 0))
        rc = ddsp_error("MPI_Bcast of FFTW wisdom failed");
    else if (len > 0 && d->rank != 0 && !fftw_import_wisdom_from_string(w))
        rc = ddsp_error("rank %d could not import rank 0's FFTW wisdom", d->rank);
    free(w);
    return rc;
}

int ddsp_dist_h5_parallel(const ddsp_dist *d, int64_t fapl) {
    if (d->comm == MPI_COMM_NULL) return DDSP_OK;
    if (H5Pset_fapl_mpio((hid_t)fapl, d->comm, MPI_INFO_NULL) < 0)
        return ddsp_error("cannot set up parallel HDF5 access over %d ranks", d->size);
    return DDSP_OK;
}
