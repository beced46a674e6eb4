/* The products of one network in one precision on oneDNN matmul (see nn_internal.h):
 * a primitive per distinct shape, created on first use and kept, with its memory objects
 * and a user-owned scratchpad per thread slot, so that running a product allocates nothing.
 *
 * Why oneDNN for fp32 too (tests/bench/bench_gemm.c, one thread, decoder shapes, M = 4000
 * rows, medians, AMD EPYC Zen 4): oneDNN f32 runs the big products at the speed of
 * OpenBLAS's AVX-512 kernel (93-106 against 78-104 GFLOP/s) and the recurrent (4, 512) x
 * (512, 1536) product with the weights reordered once at 100-106 GFLOP/s, against 86-91 for
 * our panel kernel and 27-37 for OpenBLAS sgemm; bf16 runs all of them at 180-210. One
 * library for every product also leaves a single OpenMP pool (oneDNN threads with libgomp). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SLOTS = 256 };

#define DNNL_OK(call)                                                                          \
    do {                                                                                       \
        const dnnl_status_t st_ = (call);                                                      \
        DDSP_ASSERT(st_ == dnnl_success, "oneDNN: %s failed (status %d)", #call, (int)st_);  \
    } while (0)

struct nn_gemm {
    nn_gemm_shape s;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t b_md; /* the weights' layout the primitive wants */
    size_t scratch_bytes;
    /* per thread slot: src, weights, dst, bias, scratchpad */
    dnnl_memory_t (*mem)[5];
    dnnl_primitive_t pack;   /* reorder of plain B into b_md (packed_b only) */
    dnnl_memory_t pack_mem[2];
};

struct ddsp_nn {
    ddsp_precision prec;
    int slots; /* thread slots: the thread count when made */
    dnnl_engine_t engine;
    dnnl_stream_t *stream; /* (slots) */
    void **scratch;        /* (slots) scratchpads, the largest any product needs */
    size_t *scratch_bytes; /* (slots) */
    nn_gemm **gemm; /* (n_gemm) made so far, each its own allocation (pointers stay valid) */
    int n_gemm, cap_gemm;
};

ddsp_nn *ddsp_nn_init(ddsp_precision p) {
    ddsp_nn *nn = calloc(1, sizeof *nn);
    if (!nn) {
        ddsp_error("out of memory");
        return NULL;
    }
    nn->prec = p;
    nn->slots = omp_get_max_threads();
    DDSP_ASSERT(nn->slots >= 1 && nn->slots <= MAX_SLOTS, "nn: %d threads", nn->slots);
    nn->stream = calloc((size_t)nn->slots, sizeof *nn->stream);
    nn->scratch = calloc((size_t)nn->slots, sizeof *nn->scratch);
    nn->scratch_bytes = calloc((size_t)nn->slots, sizeof *nn->scratch_bytes);
    if (!nn->stream || !nn->scratch || !nn->scratch_bytes ||
        dnnl_engine_create(&nn->engine, dnnl_cpu, 0) != dnnl_success) {
        ddsp_nn_free(nn);
        ddsp_error("oneDNN: cannot create the CPU engine");
        return NULL;
    }
    for (int i = 0; i < nn->slots; i++)
        if (dnnl_stream_create(&nn->stream[i], nn->engine, dnnl_stream_default_flags) !=
            dnnl_success) {
            ddsp_nn_free(nn);
            ddsp_error("oneDNN: cannot create a stream");
            return NULL;
        }
    return nn;
}

void ddsp_nn_free(ddsp_nn *nn) {
    if (!nn) return;
    for (int g = 0; g < nn->n_gemm; g++) {
        nn_gemm *m = nn->gemm[g];
        for (int i = 0; i < nn->slots; i++)
            for (int k = 0; k < 5; k++)
                if (m->mem[i][k]) dnnl_memory_destroy(m->mem[i][k]);
        free(m->mem);
        dnnl_primitive_destroy(m->prim);
        if (m->pack) {
            dnnl_primitive_destroy(m->pack);
            dnnl_memory_destroy(m->pack_mem[0]);
            dnnl_memory_destroy(m->pack_mem[1]);
        }
        free(m);
    }
    free(nn->gemm);
    for (int i = 0; i < nn->slots; i++) {
        if (nn->stream && nn->stream[i]) dnnl_stream_destroy(nn->stream[i]);
        if (nn->scratch) ddsp_free(nn->scratch[i]);
    }
    if (nn->engine) dnnl_engine_destroy(nn->engine);
    free(nn->stream);
    free(nn->scratch);
    free(nn->scratch_bytes);
    free(nn);
}

ddsp_precision ddsp_nn_precision(const ddsp_nn *nn) {
    return nn->prec;
}

static dnnl_data_type_t dtype(const ddsp_nn *nn) {
    return nn->prec == DDSP_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* (rows, cols) row-major with row stride ld, or its transpose stored (cols, rows). */
static void md2(dnnl_memory_desc_t *md, size_t rows, size_t cols, size_t ld, int trans,
                dnnl_data_type_t t) {
    dnnl_dims_t dims = {(dnnl_dim_t)rows, (dnnl_dim_t)cols};
    dnnl_dims_t strides = {trans ? 1 : (dnnl_dim_t)ld, trans ? (dnnl_dim_t)ld : 1};
    DNNL_OK(dnnl_memory_desc_init_by_strides(md, 2, dims, t, strides));
}

static int same_shape(const nn_gemm_shape *a, const nn_gemm_shape *b) {
    return a->M == b->M && a->N == b->N && a->K == b->K && a->lda == b->lda &&
           a->ldb == b->ldb && a->ldc == b->ldc && a->ta == b->ta && a->tb == b->tb &&
           a->acc == b->acc && a->bias == b->bias && a->packed_b == b->packed_b &&
           a->serial == b->serial;
}

static void grow_scratch(ddsp_nn *nn, int slot, size_t bytes) {
    if (bytes <= nn->scratch_bytes[slot]) return;
    ddsp_free(nn->scratch[slot]);
    nn->scratch[slot] = ddsp_alloc(bytes);
    DDSP_ASSERT(nn->scratch[slot] != NULL, "out of memory for a %zu-byte GEMM scratchpad", bytes);
    nn->scratch_bytes[slot] = bytes;
}

static void make(ddsp_nn *nn, nn_gemm *g, const nn_gemm_shape *s) {
    memset(g, 0, sizeof *g);
    g->s = *s;
    const dnnl_data_type_t t = dtype(nn);
    dnnl_memory_desc_t a, b, c, bias;
    md2(&a, s->M, s->K, s->lda, s->ta, t);
    if (s->packed_b) {
        dnnl_dims_t dims = {(dnnl_dim_t)s->K, (dnnl_dim_t)s->N};
        DNNL_OK(dnnl_memory_desc_init_by_tag(&b, 2, dims, t, dnnl_format_tag_any));
    } else {
        md2(&b, s->K, s->N, s->ldb, s->tb, t);
    }
    md2(&c, s->M, s->N, s->ldc, 0, dnnl_f32);
    md2(&bias, 1, s->N, s->N, 0, dnnl_f32);
    dnnl_matmul_desc_t d;
    DNNL_OK(dnnl_matmul_desc_init(&d, &a, &b, s->bias ? &bias : NULL, &c));
    dnnl_primitive_attr_t attr;
    DNNL_OK(dnnl_primitive_attr_create(&attr));
    DNNL_OK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    dnnl_post_ops_t po = NULL;
    if (s->acc) {
        DNNL_OK(dnnl_post_ops_create(&po));
        DNNL_OK(dnnl_post_ops_append_sum(po, 1.0f));
        DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    /* oneDNN sizes its work split by the thread count when a primitive is made: a serial
     * product (one per thread inside our parallel region) is made for one thread. */
    const int nt = omp_get_max_threads();
    if (s->serial) omp_set_num_threads(1);
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &d, attr, nn->engine, NULL));
    DNNL_OK(dnnl_primitive_create(&g->prim, pd));
    if (s->serial) omp_set_num_threads(nt);
    g->b_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    g->scratch_bytes = dnnl_memory_desc_get_size(sp);
    g->mem = calloc((size_t)nn->slots, sizeof *g->mem);
    DDSP_ASSERT(g->mem != NULL, "out of memory");
    for (int i = 0; i < nn->slots; i++) {
        if (!s->serial && i > 0) break; /* a parallel product runs from slot 0 only */
        DNNL_OK(dnnl_memory_create(&g->mem[i][0], &a, nn->engine, DNNL_MEMORY_NONE));
        DNNL_OK(dnnl_memory_create(&g->mem[i][1], &g->b_md, nn->engine, DNNL_MEMORY_NONE));
        DNNL_OK(dnnl_memory_create(&g->mem[i][2], &c, nn->engine, DNNL_MEMORY_NONE));
        if (s->bias)
            DNNL_OK(dnnl_memory_create(&g->mem[i][3], &bias, nn->engine, DNNL_MEMORY_NONE));
        DNNL_OK(dnnl_memory_create(&g->mem[i][4], sp, nn->engine, DNNL_MEMORY_NONE));
        grow_scratch(nn, i, g->scratch_bytes);
    }
    if (s->packed_b) { /* reorder from plain (K, N), or (N, K) when tb */
        dnnl_memory_desc_t plain;
        md2(&plain, s->K, s->N, s->ldb, s->tb, t);
        dnnl_primitive_desc_t rpd;
        DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, &plain, nn->engine, &g->b_md,
                                                   nn->engine, NULL));
        DNNL_OK(dnnl_primitive_create(&g->pack, rpd));
        DNNL_OK(dnnl_memory_create(&g->pack_mem[0], &plain, nn->engine, DNNL_MEMORY_NONE));
        DNNL_OK(dnnl_memory_create(&g->pack_mem[1], &g->b_md, nn->engine, DNNL_MEMORY_NONE));
        dnnl_primitive_desc_destroy(rpd);
    }
    dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
}

nn_gemm *nn_gemm_get(ddsp_nn *nn, const nn_gemm_shape *s) {
    DDSP_ASSERT(!omp_in_parallel(), "nn: products are looked up outside parallel regions");
    DDSP_ASSERT(s->M > 0 && s->N > 0 && s->K > 0, "nn: empty product %zux%zux%zu", s->M, s->N,
                s->K);
    DDSP_ASSERT(!s->packed_b || !s->bias, "nn: packed products take no bias");
    for (int i = 0; i < nn->n_gemm; i++)
        if (same_shape(&nn->gemm[i]->s, s)) return nn->gemm[i];
    if (nn->n_gemm == nn->cap_gemm) {
        const int cap = nn->cap_gemm ? 2 * nn->cap_gemm : 64;
        nn_gemm **a = realloc(nn->gemm, sizeof *a * (size_t)cap);
        DDSP_ASSERT(a != NULL, "out of memory for products");
        nn->gemm = a, nn->cap_gemm = cap;
    }
    nn_gemm *g = malloc(sizeof *g);
    DDSP_ASSERT(g != NULL, "out of memory for a product");
    make(nn, g, s);
    nn->gemm[nn->n_gemm++] = g;
    return g;
}

size_t nn_gemm_packed_bytes(const nn_gemm *g) {
    return dnnl_memory_desc_get_size(&g->b_md);
}

int nn_gemm_same_packing(const nn_gemm *a, const nn_gemm *b) {
    return dnnl_memory_desc_equal(&a->b_md, &b->b_md);
}

void nn_gemm_pack(ddsp_nn *nn, nn_gemm *g, void *dst, const void *B) {
    DDSP_ASSERT(g->pack != NULL, "nn: product was not made with packed_b");
    DDSP_ASSERT(!omp_in_parallel(), "nn: pack outside parallel regions");
    DNNL_OK(dnnl_memory_set_data_handle(g->pack_mem[0], (void *)B));
    DNNL_OK(dnnl_memory_set_data_handle(g->pack_mem[1], dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, g->pack_mem[0]}, {DNNL_ARG_TO, g->pack_mem[1]}};
    DNNL_OK(dnnl_primitive_execute(g->pack, nn->stream[0], 2, args));
}

void nn_gemm_run(ddsp_nn *nn, const nn_gemm *g, float *C, const void *A, const void *B,
                 const float *bias) {
    int slot = 0;
    if (g->s.serial) {
        slot = omp_get_thread_num();
        DDSP_ASSERT(slot < nn->slots, "nn: thread %d beyond the %d made for", slot, nn->slots);
    } else {
        DDSP_ASSERT(!omp_in_parallel(), "nn: a parallel product inside a parallel region");
    }
    DDSP_ASSERT(!g->s.bias || bias, "nn: product needs its bias");
    dnnl_memory_t *m = g->mem[slot];
    DNNL_OK(dnnl_memory_set_data_handle(m[0], (void *)A));
    DNNL_OK(dnnl_memory_set_data_handle(m[1], (void *)B));
    DNNL_OK(dnnl_memory_set_data_handle(m[2], C));
    DNNL_OK(dnnl_memory_set_data_handle(m[4], nn->scratch[slot]));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, m[0]},
                               {DNNL_ARG_WEIGHTS, m[1]},
                               {DNNL_ARG_DST, m[2]},
                               {DNNL_ARG_SCRATCHPAD, m[4]},
                               {DNNL_ARG_BIAS, m[3]}};
    if (g->s.bias) DNNL_OK(dnnl_memory_set_data_handle(m[3], (void *)bias));
    DNNL_OK(dnnl_primitive_execute(g->prim, nn->stream[slot], g->s.bias ? 5 : 4, args));
}

void nn_mm(ddsp_nn *nn, const nn_gemm_shape *s, float *C, const void *A, const void *B,
             const float *bias) {
    nn_gemm_run(nn, nn_gemm_get(nn, s), C, A, B, bias);
}
