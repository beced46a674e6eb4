/* A rank's share of each global batch, in the seeded epoch order (see ddsp/data.h). */
#include "ddsp/data.h"
#include "ddsp/util.h"

#include <stdlib.h>
#include <string.h>

/* Seeded permutation of the training examples for one epoch; the same on every rank. */
static void epoch_order(int64_t *order, const int64_t *train, int64_t n, uint64_t seed,
                        uint64_t epoch) {
    memcpy(order, train, sizeof(int64_t) * (size_t)n);
    const uint64_t key = ddsp_rng_key(seed, 0xE90C, epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(ddsp_rng_u64(key, (uint64_t)i) % (uint64_t)(i + 1));
        const int64_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

void ddsp_batcher_free(ddsp_batcher *b) {
    if (!b) return;
    free(b->order), free(b->gidx), free(b->ids);
    ddsp_free(b->f0), ddsp_free(b->ld), ddsp_free(b->audio);
    memset(b, 0, sizeof *b);
}

int ddsp_batcher_init(ddsp_batcher *b, const ddsp_dataset *ds, size_t B, int rank, int size,
                      uint64_t seed, int64_t epoch, int64_t pos) {
    memset(b, 0, sizeof *b);
    DDSP_ASSERT(size >= 1 && rank >= 0 && rank < size, "rank %d of %d", rank, size);
    if (ds->n_train < 1) return ddsp_error("%s: no training examples", ds->path);
    if (B < (size_t)size)
        return ddsp_error("batch %zu is smaller than the %d ranks: every rank needs an example", B,
                          size);
    /* a fresh order, or a position inside an epoch's permutation of this dataset */
    if (!(epoch == 0 && pos == DDSP_BATCHER_FRESH) && !(epoch >= 1 && pos >= 0 && pos <= ds->n_train))
        return ddsp_error("data position epoch %lld, example %lld does not fit the %lld training "
                          "examples of %s", (long long)epoch, (long long)pos,
                          (long long)ds->n_train, ds->path);
    b->ds = ds, b->B = B, b->rank = rank, b->size = size, b->seed = seed;
    b->epoch = epoch, b->pos = pos;
    b->bmax = (B + (size_t)size - 1) / (size_t)size;
    b->order = malloc(sizeof(int64_t) * (size_t)ds->n_train);
    b->gidx = malloc(sizeof(int64_t) * B);
    b->ids = malloc(sizeof(int64_t) * b->bmax);
    b->f0 = ddsp_alloc(sizeof(float) * b->bmax * (size_t)ds->F);
    b->ld = ddsp_alloc(sizeof(float) * b->bmax * (size_t)ds->F);
    b->audio = ddsp_alloc(sizeof(float) * b->bmax * (size_t)ds->T);
    if (!b->order || !b->gidx || !b->ids || !b->f0 || !b->ld || !b->audio) {
        ddsp_batcher_free(b);
        return ddsp_error("%s: out of memory for batches of %zu examples", ds->path, B);
    }
    if (epoch > 0) epoch_order(b->order, ds->train, ds->n_train, seed, (uint64_t)epoch - 1);
    return DDSP_OK;
}

int ddsp_batcher_load(ddsp_batcher *b, const int64_t *rows, size_t n) {
    DDSP_ASSERT(n <= b->bmax, "%zu rows, buffers hold %zu", n, b->bmax);
    const ddsp_dataset *ds = b->ds;
    for (size_t k = 0; k < n; k++) {
        b->ids[k] = rows[k];
        if (ddsp_dataset_read(ds, rows[k], b->audio + k * (size_t)ds->T, b->f0 + k * (size_t)ds->F,
                              b->ld + k * (size_t)ds->F))
            return DDSP_ERR;
    }
    b->n = n;
    return DDSP_OK;
}

int ddsp_batcher_next(ddsp_batcher *b) {
    const ddsp_dataset *ds = b->ds;
    for (size_t k = 0; k < b->B; k++) {
        if (b->pos >= ds->n_train) {
            epoch_order(b->order, ds->train, ds->n_train, b->seed, (uint64_t)b->epoch++);
            b->pos = 0;
        }
        b->gidx[k] = b->order[b->pos++];
    }
    size_t n = 0; /* this rank's share: examples rank, rank + size, ... */
    for (size_t k = (size_t)b->rank; k < b->B; k += (size_t)b->size) b->ids[n++] = b->gidx[k];
    return ddsp_batcher_load(b, b->ids, n);
}
