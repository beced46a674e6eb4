/* ddsp/optim.h — Adam with global-norm gradient clipping and magenta's learning-rate decay.
 *
 * One flat buffer each for parameters, gradients and the two moments (the model's layout),
 * so the update is one loop. Same formulas as torch.optim.Adam (the reference's optimiser):
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
 *   p -= lr_t / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * with lr_t = lr * decay^(t / decay_steps) (magenta: 0.98 per 10000 steps; decay 1 = off),
 * after torch.nn.utils.clip_grad_norm_: g *= clip / (||g|| + 1e-6) when that is < 1. */
#ifndef DDSP_OPTIM_H
#define DDSP_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double lr;          /* 3e-4 */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;         /* 1e-7 (Keras default, as magenta) */
    double clip_norm;   /* 3.0; <= 0 turns clipping off */
    double decay_rate;  /* 1.0 (off); magenta 0.98 */
    double decay_steps; /* 10000 */
} ddsp_adam_config;

typedef struct {
    ddsp_adam_config cfg;
    size_t n;
    float *m, *v;  /* (n) first and second moments, owned */
    int64_t step;  /* updates done */
} ddsp_adam;

void ddsp_adam_config_default(ddsp_adam_config *c);
int ddsp_adam_config_check(const ddsp_adam_config *c);
/* Moments zeroed, step 0. DDSP_OK or DDSP_ERR (out of memory). */
int ddsp_adam_init(ddsp_adam *o, const ddsp_adam_config *c, size_t n);
void ddsp_adam_free(ddsp_adam *o);

/* Global L2 norm of g (n), summed in double in a fixed order. */
double ddsp_optim_grad_norm(const float *g, size_t n);
/* Clip g in place to c->clip_norm given its norm; returns the scale applied (1: none). */
float ddsp_optim_clip_grads(float *g, size_t n, double norm, double clip_norm);
/* Learning rate at update number `step` (0-based) with decay. */
double ddsp_adam_lr(const ddsp_adam_config *c, int64_t step);
/* One update of params (n) from grads (n) (already clipped); increments o->step. */
void ddsp_adam_update(ddsp_adam *o, float *params, const float *grads);

#endif
