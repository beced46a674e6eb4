/* ddsp/model.h — the solo_instrument model of magenta/ddsp: parameter table and the
 * RnnFcDecoder (f0, loudness -> raw synth controls), forward and backward. The synth's
 * trainable reverb IR ("reverb/ir") is part of the table when the config turns reverb on.
 *
 * Parameters live in ONE contiguous float buffer addressed by a table of named tensors
 * (name, shape, offset); gradients in a second buffer with the same layout. So the gradient
 * allreduce is one call, Adam is one loop and a checkpoint is a loop over the table.
 *
 * Decoder (ddsp_ref.py / magenta RnnFcDecoder), per frame, M = B * F rows:
 *   f0_s = hz_to_midi(f0) / 127, ld_s = ld / ld_range + 1
 *   a = FcStack(ld_s), b = FcStack(f0_s)      FcStack = L x [Dense C -> LayerNorm -> lrelu 0.2]
 *   r = GRU(concat(a, b))                     (G units, gate order r, z, n)
 *   raw = Dense(FcStack(concat(a, b, r)))     (1 + harmonics + noise bands columns)
 * Init as Keras: Glorot-uniform kernels, orthogonal recurrent kernel, zero biases, LayerNorm
 * gamma 1, beta 0; reverb IR ~ N(0, 1e-6) with ir[0] = 0. All from the seeded
 * counter-based RNG, so the initial weights depend on the seed only.
 */
#ifndef DDSP_MODEL_H
#define DDSP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/nn.h"
#include "ddsp/synth.h"

/* 3 stacks x 4 tensors per layer, GRU 4, output 2, reverb 1: room for every buildable
 * config (checked at compile time in model.c). */
#define DDSP_MODEL_MAX_LAYERS 8
#define DDSP_MODEL_MAX_TENSORS 128

typedef struct {
    int hidden;       /* C: FcStack width (512) */
    int gru_units;    /* G (512) */
    int n_layers;     /* L: Dense+LayerNorm+lrelu layers per FcStack (3) */
    double ld_range;  /* loudness scaling (120 = ddsp < 2.0; magenta HEAD 80) */
    ddsp_synth_config synth;
} ddsp_model_config;

/* "full": 512/512/3 (magenta solo_instrument); "small": 64/64/2 (tests, laptops). */
int ddsp_model_config_preset(ddsp_model_config *c, const char *name);
int ddsp_model_config_check(const ddsp_model_config *c);

typedef struct {
    char name[48];      /* e.g. "decoder/ld_stack/0/dense/kernel" */
    int rank;           /* 1 or 2 */
    size_t shape[2];
    size_t offset, size; /* into params/grads, in floats */
} ddsp_tensor;

typedef struct ddsp_model_acts ddsp_model_acts;

typedef struct {
    ddsp_model_config cfg;
    ddsp_tensor tensors[DDSP_MODEL_MAX_TENSORS];
    int n_tensors;
    size_t n_params;  /* floats in params/grads (tensors start 64-byte aligned: padding) */
    size_t n_weights; /* trainable values: the sum of the tensor sizes */
    float *params; /* (n_params), owned: the fp32 master weights */
    float *grads;  /* (n_params), owned */
    ddsp_precision prec; /* of the decoder's products: fp32 (after init) or bf16 */
    void *gparams; /* (n_params) the weights as product operands: params itself in fp32, an
                      owned bf16 copy in bf16, rounded from params by every forward */
} ddsp_model;

/* Build the table and allocate params/grads (zeroed). DDSP_OK or DDSP_ERR (bad config,
 * out of memory). */
int ddsp_model_init(ddsp_model *m, const ddsp_model_config *c);
/* The table only (names, shapes, offsets, n_params), nothing allocated: what a config
 * builds, e.g. to check a file's tensors before allocating. DDSP_OK or DDSP_ERR (bad
 * config). Never pass the result to ddsp_model_free's users as a full model. */
int ddsp_model_layout(ddsp_model *m, const ddsp_model_config *c);
/* Precision of the decoder's products (ddsp/nn.h): DDSP_PREC_FP32 (what init sets) or
 * DDSP_PREC_BF16 (bf16 operands, fp32 accumulation and results; master weights, gradients,
 * LayerNorm, gate maths, synth, loss and optimiser stay fp32). Call before
 * ddsp_model_acts_init: activations are laid out for it. Does not check the CPU: pass the
 * result of ddsp_nn_precision_resolve. DDSP_OK, or DDSP_ERR when the bf16 copy of the
 * weights cannot be allocated. */
int ddsp_model_set_precision(ddsp_model *m, ddsp_precision p);
/* Keras-style initial weights from `seed`. */
void ddsp_model_init_weights(ddsp_model *m, uint64_t seed);
void ddsp_model_free(ddsp_model *m);
void ddsp_model_zero_grad(ddsp_model *m);
/* Tensor by name, or NULL. */
const ddsp_tensor *ddsp_model_tensor(const ddsp_model *m, const char *name);
/* Pointer to a tensor's values (or gradients). */
float *ddsp_model_param(const ddsp_model *m, const char *name);
float *ddsp_model_grad(const ddsp_model *m, const char *name);

/* Activations and work buffers for batches of up to max_batch examples of F frames, in the
 * model's precision (set it first), allocated once with the oneDNN products of the
 * decoder (made for the thread count of ddsp_nn_threads_init; made on the first forward /
 * backward with a new batch size, then kept); nothing is allocated by forward/backward.
 * NULL + ddsp_error on failure. */
ddsp_model_acts *ddsp_model_acts_init(const ddsp_model *m, size_t max_batch, size_t F);
void ddsp_model_acts_free(ddsp_model_acts *a);

/* raw (B, F, n_controls) <- decoder(f0_hz (B, F), loudness_db (B, F)); keeps what the
 * backward needs in a. The returned pointer is owned by a. In bf16 it first rounds the
 * master weights to their bf16 copy (once per forward: ~2 ms for the full model), so it
 * always runs the current params. */
const float *ddsp_model_forward(const ddsp_model *m, ddsp_model_acts *a, const float *f0_hz,
                                  const float *loudness_db, size_t B);
/* The same, with the GRU started from h0 (B, G) instead of zeros (NULL: zeros) and its final
 * state copied to h_final (B, G) when non-NULL: chunked inference carries the state across
 * chunk borders, so chunks give the one-shot result. (Backward assumes h0 = NULL.) */
const float *ddsp_model_forward_state(const ddsp_model *m, ddsp_model_acts *a,
                                        const float *f0_hz, const float *loudness_db, size_t B,
                                        const float *h0, float *h_final);
/* Parameter gradients += dL/dparams given d_raw (B, F, n_controls), for the last forward. */
void ddsp_model_backward(ddsp_model *m, ddsp_model_acts *a, const float *d_raw, size_t B);

#endif
