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
    if (!m->params || !m->grads) {
        ddsp_model_free(m);
        return ddsp_error("out of memory for %zu parameters", m->n_params);
    }
    return DDSP_OK;
}

void ddsp_model_free(ddsp_model *m) {
    if (!m) return;
    ddsp_free(m->params);
    ddsp_free(m->grads);
    memset(m, 0, sizeof *m);
}

void ddsp_model_zero_grad(ddsp_model *m) {
    memset(m->grads, 0, sizeof(float) * m->n_params);
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

/* ------------------------------------------------------------------ activations */
typedef struct {
    float *pre, *act, *mean, *rstd; /* (M, C), (M, C), (M), (M) */
} layer_acts;

struct ddsp_model_acts {
    size_t max_B, F, M;
    float *in_ld, *in_f0;              /* (M, 1) scaled inputs */
    layer_acts ld[8], f0[8], out[8];   /* per FcStack layer */
    float *gru;                        /* (M, G) */
    void *gru_ws;
    float *raw;                        /* (M, n_controls) */
    float *d_a, *d_b, *d_a2, *d_b2;    /* (M, C) */
    float *d_r;                        /* (M, G) */
    float *d_x, *d_y;                  /* (M, max(C, G)) scratch */
    void *block;                       /* one allocation for all of the above */
};

/* bytes of n floats rounded up to 64; with p, hands out the next such piece of a block */
static size_t carve(char **p, size_t n) {
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (p) *p += bytes;
    return bytes;
}

static float *take(char **p, size_t n) {
    float *r = (float *)*p;
    carve(p, n);
    return r;
}

ddsp_model_acts *ddsp_model_acts_init(const ddsp_model *m, size_t max_batch, size_t F) {
    ddsp_model_acts *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    const size_t C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units, M = max_batch * F;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth), CG = C > G ? C : G;
    const int L = m->cfg.n_layers;
    a->max_B = max_batch, a->F = F, a->M = M;
    /* carve every buffer from one block, each 64-byte aligned */
    size_t need = 0;
    need += carve(NULL, 2 * M);
    need += (size_t)(3 * L) * (2 * carve(NULL, M * C) + 2 * carve(NULL, M));
    need += carve(NULL, M * G) + carve(NULL, M * K) + carve(NULL, 4 * M * C) +
            carve(NULL, M * G) + carve(NULL, 2 * M * CG);
    const size_t ws = ddsp_gru_workspace_size(max_batch, F, G);
    a->block = ddsp_alloc(need);
    a->gru_ws = ddsp_alloc(ws);
    if (!a->block || !a->gru_ws) {
        ddsp_model_acts_free(a);
        ddsp_error("out of memory for activations (%.0f MB for batch %zu)",
                   (double)(need + ws) / 1e6, max_batch);
        return NULL;
    }
    char *p = a->block;
    a->in_ld = take(&p, 2 * M);
    a->in_f0 = a->in_ld + M;
    layer_acts *stacks[3] = {a->ld, a->f0, a->out};
    for (int s = 0; s < 3; s++)
        for (int l = 0; l < L; l++) {
            stacks[s][l].pre = take(&p, M * C);
            stacks[s][l].act = take(&p, M * C);
            stacks[s][l].mean = take(&p, M);
            stacks[s][l].rstd = take(&p, M);
        }
    a->gru = take(&p, M * G);
    a->raw = take(&p, M * K);
    a->d_a = take(&p, 4 * M * C);
    a->d_b = a->d_a + M * C, a->d_a2 = a->d_b + M * C, a->d_b2 = a->d_a2 + M * C;
    a->d_r = take(&p, M * G);
    a->d_x = take(&p, 2 * M * CG);
    a->d_y = a->d_x + M * CG;
    return a;
}

void ddsp_model_acts_free(ddsp_model_acts *a) {
    if (!a) return;
    ddsp_free(a->block);
    ddsp_free(a->gru_ws);
    free(a);
}

/* ------------------------------------------------------------------ decoder */
typedef struct {
    const float *W, *b, *gamma, *beta;
    float *dW, *db, *dgamma, *dbeta;
} fc_params;

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
    return p;
}

/* One FcStack on (M, Cin) input given as column blocks (for the output stack's concat). */
static const float *stack_forward(const ddsp_model *m, layer_acts *la, const char *name, int nblk,
                                  const float *const *in, const size_t *Cin, size_t M) {
    const size_t C = (size_t)m->cfg.hidden;
    const float *x = NULL;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        fc_params p = fc(m, name, l);
        if (l == 0) ddsp_dense_forward_cat(la[l].pre, nblk, in, Cin, p.W, p.b, M, C);
        else ddsp_dense_forward(la[l].pre, x, p.W, p.b, M, C, C);
        ddsp_layernorm_leaky_forward(la[l].act, la[l].mean, la[l].rstd, la[l].pre, p.gamma,
                                     p.beta, LN_EPS, SLOPE, M, C);
        x = la[l].act;
    }
    return x;
}

/* Backward through an FcStack: d_out (M, C) is consumed (used as scratch); the gradient of
 * the stack's input blocks goes to din[k] (NULL entries skipped). */
static void stack_backward(ddsp_model *m, ddsp_model_acts *a, layer_acts *la, const char *name,
                           float *d_out, int nblk, const float *const *in, const size_t *Cin,
                           float *const *din, size_t M) {
    const size_t C = (size_t)m->cfg.hidden;
    float *d = d_out, *other = d_out == a->d_x ? a->d_y : a->d_x;
    for (int l = m->cfg.n_layers - 1; l >= 0; l--) {
        fc_params p = fc(m, name, l);
        ddsp_layernorm_leaky_backward(d, p.dgamma, p.dbeta, d, la[l].act, la[l].pre, la[l].mean,
                                      la[l].rstd, p.gamma, SLOPE, M, C);
        if (l == 0) {
            ddsp_dense_backward_cat(din, p.dW, p.db, d, nblk, in, Cin, p.W, M, C);
        } else {
            ddsp_dense_backward(other, p.dW, p.db, d, la[l - 1].act, p.W, M, C, C);
            float *t = d;
            d = other, other = t;
        }
    }
}

const float *ddsp_decoder_forward(const ddsp_model *m, ddsp_model_acts *a, const float *f0_hz,
                                  const float *loudness_db, size_t B) {
    return ddsp_decoder_forward_state(m, a, f0_hz, loudness_db, B, NULL, NULL);
}

const float *ddsp_decoder_forward_state(const ddsp_model *m, ddsp_model_acts *a,
                                        const float *f0_hz, const float *loudness_db, size_t B,
                                        const float *h0, float *h_final) {
    DDSP_ASSERT(B >= 1 && B <= a->max_B, "decoder batch %zu not in 1..%zu", B, a->max_B);
    const size_t M = B * a->F, C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth);
    const float ldr = (float)m->cfg.ld_range;
    for (size_t i = 0; i < M; i++) {
        /* hz_to_midi with magenta's guard: f0 <= 0 maps to 0 */
        const double f = f0_hz[i];
        const double midi = f > 0.0 ? 12.0 * (log2(f > 1e-5 ? f : 1e-5) - log2(440.0)) + 69.0 : 0.0;
        a->in_f0[i] = (float)(midi / F0_RANGE);
        a->in_ld[i] = loudness_db[i] / ldr + 1.0f;
    }
    const size_t one = 1;
    const float *ld_in[1] = {a->in_ld}, *f0_in[1] = {a->in_f0};
    const float *xa = stack_forward(m, a->ld, "ld_stack", 1, ld_in, &one, M);
    const float *xb = stack_forward(m, a->f0, "f0_stack", 1, f0_in, &one, M);
    const float *gin[2] = {xa, xb};
    const size_t gC[2] = {C, C};
    ddsp_gru_forward_cat(a->gru, a->gru_ws, 2, gin, gC, ddsp_model_param(m, "decoder/gru/kernel"),
                         ddsp_model_param(m, "decoder/gru/recurrent_kernel"),
                         ddsp_model_param(m, "decoder/gru/bias_input"),
                         ddsp_model_param(m, "decoder/gru/bias_recurrent"), h0, B, a->F, G);
    if (h_final)
        for (size_t b = 0; b < B; b++)
            memcpy(h_final + b * G, a->gru + (b * a->F + a->F - 1) * G, sizeof(float) * G);
    const float *oin[3] = {xa, xb, a->gru};
    const size_t oC[3] = {C, C, G};
    const float *xo = stack_forward(m, a->out, "out_stack", 3, oin, oC, M);
    ddsp_dense_forward(a->raw, xo, ddsp_model_param(m, "decoder/dense_out/kernel"),
                       ddsp_model_param(m, "decoder/dense_out/bias"), M, C, K);
    return a->raw;
}

void ddsp_decoder_backward(ddsp_model *m, ddsp_model_acts *a, const float *d_raw, size_t B) {
    const size_t M = B * a->F, C = (size_t)m->cfg.hidden, G = (size_t)m->cfg.gru_units;
    const size_t K = ddsp_synth_n_controls(&m->cfg.synth);
    const int L = m->cfg.n_layers;
    /* output Dense */
    ddsp_dense_backward(a->d_x, ddsp_model_grad(m, "decoder/dense_out/kernel"),
                        ddsp_model_grad(m, "decoder/dense_out/bias"), d_raw, a->out[L - 1].act,
                        ddsp_model_param(m, "decoder/dense_out/kernel"), M, C, K);
    /* output stack: its input is concat(a, b, r) */
    const float *xa = a->ld[L - 1].act, *xb = a->f0[L - 1].act;
    const float *oin[3] = {xa, xb, a->gru};
    const size_t oC[3] = {C, C, G};
    float *const odin[3] = {a->d_a, a->d_b, a->d_r};
    stack_backward(m, a, a->out, "out_stack", a->d_x, 3, oin, oC, odin, M);
    /* GRU on concat(a, b) */
    const float *gin[2] = {xa, xb};
    const size_t gC[2] = {C, C};
    float *const gdin[2] = {a->d_a2, a->d_b2};
    ddsp_gru_backward_cat(gdin, ddsp_model_grad(m, "decoder/gru/kernel"),
                          ddsp_model_grad(m, "decoder/gru/recurrent_kernel"),
                          ddsp_model_grad(m, "decoder/gru/bias_input"),
                          ddsp_model_grad(m, "decoder/gru/bias_recurrent"), NULL, a->d_r,
                          a->gru_ws, 2, gin, gC, ddsp_model_param(m, "decoder/gru/kernel"),
                          ddsp_model_param(m, "decoder/gru/recurrent_kernel"), NULL, a->gru, B,
                          a->F, G);
    /* a and b feed both the GRU and the output stack: sum the two paths */
    for (size_t i = 0; i < M * C; i++) {
        a->d_x[i] = a->d_a[i] + a->d_a2[i];
        a->d_b[i] += a->d_b2[i];
    }
    const size_t one = 1;
    const float *ld_in[1] = {a->in_ld}, *f0_in[1] = {a->in_f0};
    float *const none[1] = {NULL};
    stack_backward(m, a, a->ld, "ld_stack", a->d_x, 1, ld_in, &one, none, M);
    memcpy(a->d_x, a->d_b, sizeof(float) * M * C);
    stack_backward(m, a, a->f0, "f0_stack", a->d_x, 1, f0_in, &one, none, M);
}
