/* MPI start-up and the few collectives every command needs (see ddsp/dist.h). */
#include "ddsp/dist.h"
#include "ddsp/util.h"

#include <fftw3-mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int started;

int ddsp_dist_init(ddsp_dist *d, int *argc, char ***argv) {
    int inited = 0, provided = 0, err;
    MPI_Initialized(&inited);
    if (!inited) {
        err = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS) return ddsp_error("MPI_Init_thread failed: %s", ddsp_mpi_strerror(err));
        started = 1;
    }
    d->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    ddsp_log_set_rank(d->rank);
    return DDSP_OK;
}

void ddsp_dist_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (started && !fin) MPI_Finalize();
}

const char *ddsp_mpi_strerror(int err) {
    static _Thread_local char buf[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, buf, &len) != MPI_SUCCESS) snprintf(buf, sizeof buf, "MPI error %d", err);
    return buf;
}

void ddsp_dist_abort(const ddsp_dist *d, int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(d->comm, code);
    __builtin_unreachable();
}

int ddsp_dist_any(const ddsp_dist *d, int failed) {
    int in = failed != 0, out = in;
    if (d->size > 1 && MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, d->comm) != MPI_SUCCESS)
        ddsp_dist_abort(d, 1);
    return out;
}

int ddsp_dist_share_wisdom(const ddsp_dist *d) {
    if (d->size == 1) return DDSP_OK;
    fftwf_mpi_broadcast_wisdom(d->comm);
    /* double precision (the exact MSS spectra): fftw3_mpi is not linked, so by hand */
    char *w = d->rank == 0 ? fftw_export_wisdom_to_string() : NULL;
    long len = w ? (long)strlen(w) + 1 : 0;
    if (MPI_Bcast(&len, 1, MPI_LONG, 0, d->comm) != MPI_SUCCESS)
        return ddsp_error("MPI_Bcast of FFTW wisdom failed");
    if (d->rank != 0) w = calloc((size_t)len + 1, 1);
    if (!w && len > 0) return ddsp_error("out of memory for FFTW wisdom");
    int rc = DDSP_OK;
    if (len > 0 && MPI_Bcast(w, (int)len, MPI_CHAR, 0, d->comm) != MPI_SUCCESS)
        rc = ddsp_error("MPI_Bcast of FFTW wisdom failed");
    else if (len > 0 && d->rank != 0 && !fftw_import_wisdom_from_string(w))
        rc = ddsp_error("rank %d could not import rank 0's FFTW wisdom", d->rank);
    free(w);
    return rc;
}
