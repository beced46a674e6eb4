/* One training batch: decoder -> synth -> loss (MSS or Φ) -> backward, and the update built on it:
 * reduction over ranks, clipping, Adam (see ddsp/train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ddsp/train.h"
#include "ddsp/util.h"

struct ddsp_trainer {
    ddsp_model *m;
    ddsp_model_acts *acts;
    ddsp_synth *syn;
    ddsp_loss *loss;
    size_t max_B, F, N, K;
    float *noise;   /* (B, N) */
    float *audio;   /* (B, N) */
    float *d_audio; /* (B, N) */
    float *d_raw;   /* (B, F, K) */
    double phase_s[DDSP_N_PHASES]; /* the last step's seconds per phase */
};

static const char *const PHASE_NAMES[DDSP_N_PHASES] = {
    "data", "forward", "synth", "loss", "backward", "reduce", "optim", "valid", "ckpt"};

const char *ddsp_phase_name(int phase) {
    return phase >= 0 && phase < DDSP_N_PHASES ? PHASE_NAMES[phase] : NULL;
}

const double *ddsp_trainer_phases(const ddsp_trainer *t) {
    return t->phase_s;
}

ddsp_trainer *ddsp_trainer_init(ddsp_model *m, const ddsp_loss_config *loss, size_t max_batch,
                                size_t F) {
    ddsp_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        ddsp_error("out of memory");
        return NULL;
    }
    t->m = m;
    t->max_B = max_batch, t->F = F;
    t->N = F * (size_t)m->cfg.synth.hop;
    t->K = ddsp_synth_n_controls(&m->cfg.synth);
    t->acts = ddsp_model_acts_init(m, max_batch, F);
    t->syn = t->acts ? ddsp_synth_init(&m->cfg.synth, max_batch, F) : NULL;
    ddsp_loss_config lc = *loss;
    lc.phi.sample_rate = m->cfg.synth.sample_rate; /* mel and loudness terms */
    t->loss = t->syn ? ddsp_loss_init(&lc, max_batch, t->N) : NULL;
    if (!t->loss) {
        ddsp_trainer_free(t);
        return NULL;
    }
    t->noise = ddsp_alloc(sizeof(float) * max_batch * t->N);
    t->audio = ddsp_alloc(sizeof(float) * max_batch * t->N);
    t->d_audio = ddsp_alloc(sizeof(float) * max_batch * t->N);
    t->d_raw = ddsp_alloc(sizeof(float) * max_batch * F * t->K);
    if (!t->noise || !t->audio || !t->d_audio || !t->d_raw) {
        ddsp_trainer_free(t);
        ddsp_error("out of memory for training buffers (batch %zu)", max_batch);
        return NULL;
    }
    return t;
}

void ddsp_trainer_free(ddsp_trainer *t) {
    if (!t) return;
    ddsp_model_acts_free(t->acts);
    ddsp_synth_free(t->syn);
    ddsp_loss_free(t->loss);
    ddsp_free(t->noise);
    ddsp_free(t->audio);
    ddsp_free(t->d_audio);
    ddsp_free(t->d_raw);
    free(t);
}

static void draw_noise(ddsp_trainer *t, const int64_t *ids, size_t B, uint64_t seed,
                       uint64_t step) {
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < B; b++)
        ddsp_rng_uniform(t->noise + b * t->N, t->N, ddsp_rng_key(seed, step, (uint64_t)ids[b]), 0,
                         -1.0f, 1.0f);
}

static const float *reverb_ir(const ddsp_trainer *t) {
    return t->m->cfg.synth.reverb ? ddsp_model_param(t->m, "reverb/ir") : NULL;
}

double ddsp_trainer_step(ddsp_trainer *t, ddsp_mss_value *value, const float *f0_hz,
                         const float *loudness_db, const float *target, const int64_t *ids,
                         size_t B, uint64_t seed, uint64_t step, int grad, float grad_scale) {
    DDSP_ASSERT(B >= 1 && B <= t->max_B, "trainer batch %zu not in 1..%zu", B, t->max_B);
    double *ph = t->phase_s, t0 = ddsp_now(), t1;
    memset(ph, 0, sizeof t->phase_s);
    const float *raw = ddsp_model_forward(t->m, t->acts, f0_hz, loudness_db, B);
    t1 = ddsp_now(), ph[DDSP_PHASE_FORWARD] = t1 - t0, t0 = t1;
    draw_noise(t, ids, B, seed, step);
    ddsp_synth_forward(t->syn, t->audio, raw, f0_hz, t->noise, reverb_ir(t), NULL, B);
    t1 = ddsp_now(), ph[DDSP_PHASE_SYNTH] = t1 - t0, t0 = t1;
    ddsp_mss_value v;
    if (grad) memset(t->d_audio, 0, sizeof(float) * B * t->N);
    ddsp_loss_eval(t->loss, &v, grad ? t->d_audio : NULL, grad_scale, target, t->audio, B);
    t1 = ddsp_now(), ph[DDSP_PHASE_LOSS] = t1 - t0, t0 = t1;
    if (grad) {
        float *d_ir = t->m->cfg.synth.reverb ? ddsp_model_grad(t->m, "reverb/ir") : NULL;
        ddsp_synth_backward(t->syn, t->d_raw, d_ir, t->d_audio, B);
        ddsp_model_backward(t->m, t->acts, t->d_raw, B);
        ph[DDSP_PHASE_BACKWARD] = ddsp_now() - t0;
    }
    if (value) *value = v;
    return v.total;
}

const float *ddsp_trainer_audio(const ddsp_trainer *t) {
    return t->audio;
}

void ddsp_trainer_synthesize(ddsp_trainer *t, float *audio, const float *f0_hz,
                             const float *loudness_db, const int64_t *ids, size_t B,
                             uint64_t seed, uint64_t step, int parts) {
    DDSP_ASSERT(B >= 1 && B <= t->max_B, "trainer batch %zu not in 1..%zu", B, t->max_B);
    const float *raw = ddsp_model_forward(t->m, t->acts, f0_hz, loudness_db, B);
    draw_noise(t, ids, B, seed, step);
    ddsp_synth_forward(t->syn, t->audio, raw, f0_hz, t->noise, reverb_ir(t), NULL, B);
    const float *src = parts == 1 ? ddsp_synth_harmonic(t->syn)
                       : parts == 2 ? ddsp_synth_noise(t->syn) : t->audio;
    memcpy(audio, src, sizeof(float) * B * t->N);
}

int ddsp_train_update(ddsp_trainer *t, ddsp_adam *o, const ddsp_dist *d, const float *f0_hz,
                      const float *loudness_db, const float *target, const int64_t *ids,
                      size_t n, size_t global_B, uint64_t seed, uint64_t step, int stop,
                      ddsp_train_result *res) {
    ddsp_model *m = t->m;
    memset(res, 0, sizeof *res);
    double t0 = ddsp_now();
    ddsp_model_zero_grad(m);
    const double zero_s = ddsp_now() - t0;
    ddsp_mss_value val;
    const double share = (double)n / (double)global_B;
    ddsp_trainer_step(t, &val, f0_hz, loudness_db, target, ids, n, seed, step, 1, (float)share);
    memcpy(res->phase_s, t->phase_s, sizeof res->phase_s);
    /* the global loss: the ranks' batch means weighted by their share; and the stop flag */
    const int S = DDSP_MSS_MAX_SCALES;
    double lv[2 + DDSP_MSS_MAX_SCALES];
    lv[0] = val.total * share;
    for (int s = 0; s < S; s++) lv[1 + s] = val.per_scale[s] * share;
    lv[1 + S] = stop != 0;
    const double ta = ddsp_now();
    if (ddsp_dist_sum_f32(d, m->grads, m->n_params) || ddsp_dist_sum_f64(d, lv, 2 + (size_t)S))
        return DDSP_ERR;
    t0 = ddsp_now();
    res->phase_s[DDSP_PHASE_REDUCE] = t0 - ta;
    res->reduce_s = d->size > 1 ? t0 - ta : 0.0;
    res->loss = lv[0];
    memcpy(res->per_scale, lv + 1, sizeof res->per_scale);
    res->stop = lv[1 + S] > 0;
    res->grad_norm = ddsp_optim_grad_norm(m->grads, m->n_params);
    res->lr = ddsp_adam_lr(&o->cfg, o->step);
    if (!isfinite(res->loss) || !isfinite(res->grad_norm)) {
        res->skipped = 1;
    } else {
        ddsp_optim_clip_grads(m->grads, m->n_params, res->grad_norm, o->cfg.clip_norm);
        ddsp_adam_update(o, m->params, m->grads);
    }
    res->phase_s[DDSP_PHASE_OPTIM] = zero_s + (ddsp_now() - t0);
    return DDSP_OK;
}
