/* The solo_instrument model: parameter table, Keras initialisation and the RnnFcDecoder
 * forward/backward (magenta ddsp/training/decoders.py RnnFcDecoder, nn.py FcStack), built
 * from the layers in src/nn. See ddsp/model.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddsp/model.h"
#include "ddsp/nn.h"
#include "ddsp/util.h"

#define LN_EPS 1e-3f  /* Keras LayerNormalization default */
#define SLOPE 0.2f    /* tf.nn.leaky_relu default */
#define F0_RANGE 127.0

int ddsp_model_config_preset(ddsp_model_config *c, const char *name) {
    memset(c, 0, sizeof *c);
    ddsp_synth_config_default(&c->synth);
    c->ld_range = 120.0;
    if (!strcmp(name, "full")) {
        c->hidden = 512, c->gru_units = 512, c->n_layers = 3;
    } else if (!strcmp(name, "small")) {
        c->hidden = 64, c->gru_units = 64, c->n_layers = 2;
    } else {
        return ddsp_error("unknown model '%s' (full or small)", name);
    }
    return DDSP_OK;
}

int ddsp_model_config_check(const ddsp_model_config *c) {
    if (c->hidden < 1 || c->hidden > 8192) return ddsp_error("model: hidden size %d not in 1..8192", c->hidden);
    if (c->gru_units < 1 || c->gru_units > 8192)
        return ddsp_error("model: GRU units %d not in 1..8192", c->gru_units);
    if (c->n_layers < 1 || c->n_layers > DDSP_MODEL_MAX_LAYERS)
        return ddsp_error("model: %d layers not in 1..%d", c->n_layers, DDSP_MODEL_MAX_LAYERS);
    if (!(c->ld_range >= 1.0 && c->ld_range <= 300.0))
        return ddsp_error("model: loudness range %g not in 1..300 dB", c->ld_range);
    return ddsp_synth_config_check(&c->synth);
}

/* ------------------------------------------------------------------ parameter table */
_Static_assert(3 * 4 * DDSP_MODEL_MAX_LAYERS + 4 + 2 + 1 <= DDSP_MODEL_MAX_TENSORS,
               "DDSP_MODEL_MAX_TENSORS too small for DDSP_MODEL_MAX_LAYERS");

static int add(ddsp_model *m, const char *name, size_t d0, size_t d1) {
    DDSP_ASSERT(m->n_tensors < DDSP_MODEL_MAX_TENSORS, "too many tensors");
    ddsp_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = d1 ? 2 : 1;
    t->shape[0] = d0, t->shape[1] = d1;
    t->size = d1 ? d0 * d1 : d0;
    /* 16-float (64-byte) alignment of every tensor: vector loads and BLAS like it */
    t->offset = m->n_params;
    m->n_params += (t->size + 15) / 16 * 16;
    m->n_weights += t->size;
    return m->n_tensors - 1;
}

static void add_stack(ddsp_model *m, const char *stack, size_t in, size_t C, int L) {
    char n[48];
    for (int l = 0; l < L; l++) {
        snprintf(n, sizeof n, "decoder/%s/%d/dense/kernel", stack, l);
        add(m, n, l == 0 ? in : C, C);
        snprintf(n, sizeof n, "decoder/%s/%d/dense/bias", stack, l);
        add(m, n, C, 0);
        snprintf(n, sizeof n, "decoder/%s/%d/layer_norm/gamma", stack, l);
        add(m, n, C, 0);
        snprintf(n, sizeof n, "decoder/%s/%d/layer_norm/beta", stack, l);
        add(m, n, C, 0);
    }
}

int ddsp_model_layout(ddsp_model *m, const ddsp_model_config *c) {
    memset(m, 0, sizeof *m);
    if (ddsp_model_config_check(c)) return DDSP_ERR;
    m->cfg = *c;
    const size_t C = (size_t)c->hidden, G = (size_t)c->gru_units;
    const int L = c->n_layers;
    add_stack(m, "ld_stack", 1, C, L);
    add_stack(m, "f0_stack", 1, C, L);
    add(m, "decoder/gru/kernel", 2 * C, 3 * G);
    add(m, "decoder/gru/recurrent_kernel", G, 3 * G);
    add(m, "decoder/gru/bias_input", 3 * G, 0);
    add(m, "decoder/gru/bias_recurrent", 3 * G, 0);
    add_stack(m, "out_stack", 2 * C + G, C, L);
    add(m, "decoder/dense_out/kernel", C, ddsp_synth_n_controls(&c->synth));
    add(m, "decoder/dense_out/bias", ddsp_synth_n_controls(&c->synth), 0);
    if (c->synth.reverb) add(m, "reverb/ir", (size_t)c->synth.reverb_length, 0);
    return DDSP_OK;
}

int ddsp_model_init(ddsp_model *m, const ddsp_model_config *c) {
    if (ddsp_model_layout(m, c)) return DDSP_ERR;
    m->params = ddsp_alloc(sizeof(float) * m->n_params);
    m->grads = ddsp_alloc(sizeof(float) * m->n_params);
    m->prec = DDSP_PREC_FP32;
    m->gparams = m->params;
    if (!m->params || !m->grads) {
        ddsp_model_free(m);
        return ddsp_error("out of memory for %zu parameters", m->n_params);
    }
    return DDSP_OK;
}

int ddsp_model_set_precision(ddsp_model *m, ddsp_precision p) {
    DDSP_ASSERT(m->params != NULL, "set_precision before ddsp_model_init");
    if (m->gparams != (void *)m->params) ddsp_free(m->gparams);
    m->gparams = m->params;
    m->prec = p;
    if (p == DDSP_PREC_BF16) {
        m->gparams = ddsp_alloc(sizeof(ddsp_bf16) * m->n_params);
        if (!m->gparams) {
            m->gparams = m->params, m->prec = DDSP_PREC_FP32;
            return ddsp_error("out of memory for the bf16 weights (%zu)", m->n_params);
        }
    }
    return DDSP_OK;
}

void ddsp_model_free(ddsp_model *m) {
    if (!m) return;
    if (m->gparams != (void *)m->params) ddsp_free(m->gparams);
    ddsp_free(m->params);
    ddsp_free(m->grads);
    memset(m, 0, sizeof *m);
}

void ddsp_model_zero_grad(ddsp_model *m) {
    /* 19 MB for the full model: split over the threads (one core's stores do not fill the
     * memory bandwidth) */
    enum { CHUNK = 1 << 16 };
    const size_t n = m->n_params, nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (nc > 1)
    for (size_t c = 0; c < nc; c++)
        memset(m->grads + c * CHUNK, 0, sizeof(float) * (c + 1 < nc ? CHUNK : n - c * CHUNK));
}

const ddsp_tensor *ddsp_model_tensor(const ddsp_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

float *ddsp_model_param(const ddsp_model *m, const char *name) {
    const ddsp_tensor *t = ddsp_model_tensor(m, name);
    DDSP_ASSERT(t != NULL, "no tensor '%s'", name);
    return m->params + t->offset;
}

float *ddsp_model_grad(const ddsp_model *m, const char *name) {
    const ddsp_tensor *t = ddsp_model_tensor(m, name);
    DDSP_ASSERT(t != NULL, "no tensor '%s'", name);
    return m->grads + t->offset;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Orthogonal (H, 3H) with orthonormal rows, as Keras' Orthogonal initializer: QR (here
 * modified Gram-Schmidt, in double) of a Gaussian matrix. */
static void orthogonal_rows(float *U, size_t rows, size_t cols, uint64_t key) {
    double *a = ddsp_alloc(sizeof(double) * rows * cols);
    DDSP_ASSERT(a != NULL, "out of memory initialising weights");
    for (size_t i = 0; i < rows * cols; i++) a[i] = ddsp_rng_normal(key, i);
    for (size_t i = 0; i < rows; i++) {
        double *ri = a + i * cols;
        for (int pass = 0; pass < 2; pass++) /* twice is enough (Giraud et al. 2005) */
            for (size_t j = 0; j < i; j++) {
                const double *rj = a + j * cols;
                double d = 0.0;
                for (size_t k = 0; k < cols; k++) d += ri[k] * rj[k];
                for (size_t k = 0; k < cols; k++) ri[k] -= d * rj[k];
            }
        double nrm = 0.0;
        for (size_t k = 0; k < cols; k++) nrm += ri[k] * ri[k];
        nrm = 1.0 / sqrt(nrm);
        for (size_t k = 0; k < cols; k++) ri[k] *= nrm;
    }
    for (size_t i = 0; i < rows * cols; i++) U[i] = (float)a[i];
    ddsp_free(a);
}

void ddsp_model_init_weights(ddsp_model *m, uint64_t seed) {
    memset(m->params, 0, sizeof(float) * m->n_params);
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const uint64_t key = ddsp_rng_key(seed, 0x1417, (uint64_t)i);
        if (ends_with(t->name, "recurrent_kernel")) {
            orthogonal_rows(p, t->shape[0], t->shape[1], key);
        } else if (ends_with(t->name, "kernel")) {
            const float a = (float)sqrt(6.0 / (double)(t->shape[0] + t->shape[1]));
            ddsp_rng_uniform(p, t->size, key, 0, -a, a);
        } else if (ends_with(t->name, "gamma")) {
            for (size_t k = 0; k < t->size; k++) p[k] = 1.0f;
        } else if (!strcmp(t->name, "reverb/ir")) {
            for (size_t k = 0; k < t->size; k++) p[k] = (float)(1e-6 * ddsp_rng_normal(key, k));
            p[0] = 0.0f;
        } /* biases, beta: zero */
    }
}

/* ------------------------------------------------------------------ activations
 * Products read operands of the model's precision ("nn type"); LayerNorm-leaky layers write
 * their output straight in it. The output stack's input concat(a, b, r) is one (M, 2C + G)
 * matrix `cat` that the ld and f0 stacks' last layers and the GRU write their column blocks
 * of, so it and the GRU's input (its first 2C columns) need no copy; its gradient d_cat
 * likewise, with the GRU adding its input gradient into the first 2C columns. The stacks'
 * first layers (one input column: an outer product) run in fp32 in both precisions, so the
 * scaled f0 and loudness enter at full precision. So does the output Dense (the head, 1.5 of
 * the step's 115 GFLOP at B = 4): its 126 outputs are logits that exp_sigmoid and the
 * harmonic softmax amplify (exp_sigmoid's relative error is ~2.3 (1 - sigmoid) times the
 * logit's absolute error). On the bundled data the initial validation loss of a bf16
 * decoder was 2.7 % below fp32's with a bf16 head and is 2.3 % below with this one (the
 * rest is the bf16 rounding of the weights). The output stack's last LayerNorm writes fp32
 * for it. */
typedef struct {
    float *pre, *mean, *rstd; /* (M, C), (M), (M) */
    void *act;                /* (M, C) of precision prec, row stride ld */
    size_t ld;
    ddsp_precision prec;      /* nn type, or fp32 for the head's input */
} layer_acts;

struct ddsp_model_acts {
    size_t max_B, F, M;
    ddsp_precision prec;
    size_t es;                         /* bytes per operand */
    ddsp_nn *nn, *nn32;                /* products in prec; fp32 (first layers) */
    ddsp_gru *gru;
    float *in_ld, *in_f0;              /* (M, 1) scaled inputs */
    layer_acts ld[8], f0[8], out[8];   /* per FcStack layer */
    void *cat;                         /* (M, 2C + G) nn type */
    float *gru_out;                    /* (M, G) */
    float *raw;                        /* (M, n_controls) */
    float *d_cat;                      /* (M, 2C + G) */
    float *d_x, *d_y;                  /* (M, C) */
    void *d_g;                         /* (M, C) nn type (bf16 only) */
    void *block;                       /* one allocation for all of the above */
};

/* bytes rounded up to 64; with p, hands out the next such piece of a block */
static size_t carve(char **p, size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    if (p) *p += bytes;
    return bytes;
}

static void *take(char **p, size_t bytes) {
    void *r = *p;
    carve(p, bytes);
    return r;
}

ddsp_model_acts *ddsp_model_acts_init(const ddsp_model *m, size_t max_batch, size_t F) {
    ddsp_model_acts *a = calloc(1, sizeof *a);
    if (!a) {
        ddsp_error("out of memory");
        return NULL;
    }
    const size_t C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units, M = max_batch * F;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth);
    const size_t fs = sizeof(float), CAT = 2 * C + G;
    const int L = m->cfg.n_layers;
    a->max_B = max_batch, a->F = F, a->M = M;
    a->prec = m->prec;
    a->es = ddsp_precision_size(m->prec);
    const size_t es = a->es;
    /* carve every buffer from one block, each 64-byte aligned; the ld and f0 stacks' last
     * activations live in cat */
    size_t need = carve(NULL, 2 * M * fs);
    need += (size_t)(3 * L) * (carve(NULL, M * C * fs) + 2 * carve(NULL, M * fs));
    need += (size_t)(3 * L - 3) * carve(NULL, M * C * es) + carve(NULL, M * C * fs);
    need += carve(NULL, M * CAT * es) + carve(NULL, M * G * fs) + carve(NULL, M * K * fs) +
            carve(NULL, M * CAT * fs) + 2 * carve(NULL, M * C * fs);
    if (a->prec != DDSP_PREC_FP32) need += carve(NULL, M * C * es);
    a->block = ddsp_alloc(need);
    a->nn = a->block ? ddsp_nn_init(a->prec) : NULL;
    a->nn32 = a->nn ? ddsp_nn_init(DDSP_PREC_FP32) : NULL;
    a->gru = a->nn32 ? ddsp_gru_init(a->nn, max_batch, F, 2 * C, G) : NULL;
    if (!a->gru) {
        ddsp_model_acts_free(a);
        ddsp_error("out of memory for activations (%.0f MB for batch %zu)", (double)need / 1e6,
                   max_batch);
        return NULL;
    }
    char *p = a->block;
    a->in_ld = take(&p, 2 * M * fs);
    a->in_f0 = a->in_ld + M;
    a->cat = take(&p, M * CAT * es);
    layer_acts *stacks[3] = {a->ld, a->f0, a->out};
    for (int s = 0; s < 3; s++)
        for (int l = 0; l < L; l++) {
            layer_acts *la = &stacks[s][l];
            la->pre = take(&p, M * C * fs);
            la->mean = take(&p, M * fs);
            la->rstd = take(&p, M * fs);
            la->prec = a->prec;
            if (s < 2 && l == L - 1) { /* into cat: columns [0, C) and [C, 2C) */
                la->act = (char *)a->cat + es * (size_t)s * C;
                la->ld = CAT;
            } else if (s == 2 && l == L - 1) { /* the head's input */
                la->act = take(&p, M * C * fs);
                la->ld = C;
                la->prec = DDSP_PREC_FP32;
            } else {
                la->act = take(&p, M * C * es);
                la->ld = C;
            }
        }
    a->gru_out = take(&p, M * G * fs);
    a->raw = take(&p, M * K * fs);
    a->d_cat = take(&p, M * CAT * fs);
    a->d_x = take(&p, M * C * fs);
    a->d_y = take(&p, M * C * fs);
    if (a->prec != DDSP_PREC_FP32) a->d_g = take(&p, M * C * es);
    return a;
}

void ddsp_model_acts_free(ddsp_model_acts *a) {
    if (!a) return;
    ddsp_gru_free(a->gru);
    ddsp_nn_free(a->nn);
    ddsp_nn_free(a->nn32);
    ddsp_free(a->block);
    free(a);
}

/* ------------------------------------------------------------------ decoder */
typedef struct {
    const float *W, *b, *gamma, *beta; /* fp32 master values */
    const void *Wg;                    /* W as operands (nn type) */
    float *dW, *db, *dgamma, *dbeta;
} fc_params;

static const void *gparam(const ddsp_model *m, const char *name) {
    const ddsp_tensor *t = ddsp_model_tensor(m, name);
    DDSP_ASSERT(t != NULL, "no tensor '%s'", name);
    return (const char *)m->gparams + ddsp_precision_size(m->prec) * t->offset;
}

static fc_params fc(const ddsp_model *m, const char *stack, int l) {
    char n[48];
    fc_params p;
#define GET(field, gfield, suffix)                                                             \
    snprintf(n, sizeof n, "decoder/%s/%d/%s", stack, l, suffix);                               \
    p.field = ddsp_model_param(m, n);                                                          \
    p.gfield = ddsp_model_grad(m, n);
    GET(W, dW, "dense/kernel")
    GET(b, db, "dense/bias")
    GET(gamma, dgamma, "layer_norm/gamma")
    GET(beta, dbeta, "layer_norm/beta")
#undef GET
    snprintf(n, sizeof n, "decoder/%s/%d/dense/kernel", stack, l);
    p.Wg = gparam(m, n);
    return p;
}

/* One FcStack. Its input: (M, Cin) operands with row stride ld_in, or, for the ld and f0
 * stacks (in32 != NULL), the (M, 1) float scaled feature. */
static void stack_forward(const ddsp_model *m, ddsp_model_acts *a, layer_acts *la,
                          const char *name, const float *in32, const void *in, size_t ld_in,
                          size_t Cin, size_t M) {
    const size_t C = (size_t)m->cfg.hidden;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        fc_params p = fc(m, name, l);
        if (l == 0 && in32) ddsp_dense_forward(a->nn32, la[0].pre, in32, 1, p.W, p.b, M, 1, C);
        else if (l == 0) ddsp_dense_forward(a->nn, la[0].pre, in, ld_in, p.Wg, p.b, M, Cin, C);
        else ddsp_dense_forward(a->nn, la[l].pre, la[l - 1].act, la[l - 1].ld, p.Wg, p.b, M, C, C);
        ddsp_layernorm_leaky_forward(la[l].act, la[l].prec, la[l].ld, la[l].mean, la[l].rstd,
                                     la[l].pre, p.gamma, p.beta, LN_EPS, SLOPE, M, C);
    }
}

/* Backward through an FcStack from d_out (M, C; row stride ld_dout) float. Its input's
 * gradient goes to din (M, Cin; row stride ld_din; NULL: not wanted); for the ld and f0
 * stacks (in32 != NULL) only the weights' gradients are taken. Uses d_x, d_y, d_g. */
static void stack_backward(ddsp_model *m, ddsp_model_acts *a, layer_acts *la, const char *name,
                           const float *d_out, size_t ld_dout, const float *in32, const void *in,
                           size_t ld_in, size_t Cin, float *din, size_t ld_din, size_t M) {
    const size_t C = (size_t)m->cfg.hidden;
    float *d = a->d_x, *other = a->d_y;
    const float *src = d_out;
    size_t ld_src = ld_dout;
    for (int l = m->cfg.n_layers - 1; l >= 0; l--) {
        fc_params p = fc(m, name, l);
        const int first32 = l == 0 && in32;
        void *dg = first32 || !a->d_g ? NULL : a->d_g; /* operand copy of d (bf16) */
        ddsp_layernorm_leaky_backward(d, dg, a->prec, p.dgamma, p.dbeta, src, ld_src, la[l].pre,
                                      la[l].mean, la[l].rstd, p.gamma, p.beta, SLOPE, M, C);
        const void *d_op = dg ? dg : (const void *)d;
        if (first32) {
            ddsp_dense_backward(a->nn32, NULL, 0, p.dW, p.db, d, d, in32, 1, p.W, M, 1, C);
        } else if (l == 0) {
            ddsp_dense_backward(a->nn, din, ld_din, p.dW, p.db, d, d_op, in, ld_in, p.Wg, M, Cin, C);
        } else {
            ddsp_dense_backward(a->nn, other, C, p.dW, p.db, d, d_op, la[l - 1].act,
                                la[l - 1].ld, p.Wg, M, C, C);
            float *t = d;
            d = other, other = t;
        }
        src = d, ld_src = C;
    }
}

const float *ddsp_model_forward(const ddsp_model *m, ddsp_model_acts *a, const float *f0_hz,
                                  const float *loudness_db, size_t B) {
    return ddsp_model_forward_state(m, a, f0_hz, loudness_db, B, NULL, NULL);
}

const float *ddsp_model_forward_state(const ddsp_model *m, ddsp_model_acts *a,
                                        const float *f0_hz, const float *loudness_db, size_t B,
                                        const float *h0, float *h_final) {
    DDSP_ASSERT(B >= 1 && B <= a->max_B, "decoder batch %zu not in 1..%zu", B, a->max_B);
    DDSP_ASSERT(a->prec == m->prec, "decoder: activations made for %s, model is %s",
                ddsp_precision_name(a->prec), ddsp_precision_name(m->prec));
    const size_t M = B * a->F, C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth), CAT = 2 * C + G;
    const float ldr = (float)m->cfg.ld_range;
    const int L = m->cfg.n_layers;
    if (m->prec != DDSP_PREC_FP32) ddsp_nn_convert(m->gparams, m->prec, m->params, m->n_params);
    for (size_t i = 0; i < M; i++) {
        /* hz_to_midi with magenta's guard: f0 <= 0 maps to 0 */
        const double f = f0_hz[i];
        const double midi = f > 0.0 ? 12.0 * (log2(f > 1e-5 ? f : 1e-5) - log2(440.0)) + 69.0 : 0.0;
        a->in_f0[i] = (float)(midi / F0_RANGE);
        a->in_ld[i] = loudness_db[i] / ldr + 1.0f;
    }
    stack_forward(m, a, a->ld, "ld_stack", a->in_ld, NULL, 0, 1, M);
    stack_forward(m, a, a->f0, "f0_stack", a->in_f0, NULL, 0, 1, M);
    void *gru_g = (char *)a->cat + a->es * 2 * C; /* the GRU's columns of cat */
    ddsp_gru_forward(a->gru, a->gru_out, gru_g, CAT, a->cat, CAT,
                     gparam(m, "decoder/gru/kernel"), gparam(m, "decoder/gru/recurrent_kernel"),
                     ddsp_model_param(m, "decoder/gru/bias_input"),
                     ddsp_model_param(m, "decoder/gru/bias_recurrent"), h0, B);
    if (h_final)
        for (size_t b = 0; b < B; b++)
            memcpy(h_final + b * G, a->gru_out + (b * a->F + a->F - 1) * G, sizeof(float) * G);
    stack_forward(m, a, a->out, "out_stack", NULL, a->cat, CAT, CAT, M);
    ddsp_dense_forward(a->nn32, a->raw, a->out[L - 1].act, a->out[L - 1].ld,
                       ddsp_model_param(m, "decoder/dense_out/kernel"),
                       ddsp_model_param(m, "decoder/dense_out/bias"), M, C, K);
    return a->raw;
}

void ddsp_model_backward(ddsp_model *m, ddsp_model_acts *a, const float *d_raw, size_t B) {
    DDSP_ASSERT(a->prec == m->prec, "decoder: activations made for another precision");
    const size_t M = B * a->F, C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth), CAT = 2 * C + G;
    const int L = m->cfg.n_layers;
    /* output Dense, fp32 in both precisions */
    ddsp_dense_backward(a->nn32, a->d_y, C, ddsp_model_grad(m, "decoder/dense_out/kernel"),
                        ddsp_model_grad(m, "decoder/dense_out/bias"), d_raw, d_raw,
                        a->out[L - 1].act, a->out[L - 1].ld,
                        ddsp_model_param(m, "decoder/dense_out/kernel"), M, C, K);
    /* output stack: its input is cat = concat(a, b, r); d_cat overwritten */
    stack_backward(m, a, a->out, "out_stack", a->d_y, C, NULL, a->cat, CAT, CAT, a->d_cat, CAT, M);
    /* GRU on cat[:, 0:2C]: its input gradient adds into d_cat[:, 0:2C] */
    ddsp_gru_backward(a->gru, a->d_cat, CAT, 1, ddsp_model_grad(m, "decoder/gru/kernel"),
                      ddsp_model_grad(m, "decoder/gru/recurrent_kernel"),
                      ddsp_model_grad(m, "decoder/gru/bias_input"),
                      ddsp_model_grad(m, "decoder/gru/bias_recurrent"), NULL, a->d_cat + 2 * C,
                      CAT, a->cat, CAT, gparam(m, "decoder/gru/kernel"),
                      gparam(m, "decoder/gru/recurrent_kernel"), NULL, a->gru_out,
                      (const char *)a->cat + a->es * 2 * C, CAT, B);
    stack_backward(m, a, a->ld, "ld_stack", a->d_cat, CAT, a->in_ld, NULL, 0, 1, NULL, 0, M);
    stack_backward(m, a, a->f0, "f0_stack", a->d_cat + C, CAT, a->in_f0, NULL, 0, 1, NULL, 0, M);
}
