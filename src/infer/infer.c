/* Inference helpers: checkpoint loading, features, magenta's timbre-transfer adjustment and
 * the evaluation metrics (see ddsp/infer.h). The chunked resynthesis is in resynth.c. */
#include "ddsp/infer.h"

#include "ddsp/ckpt.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- checkpoint */
int ddsp_infer_load(ddsp_infer_model *im, const char *src) {
    memset(im, 0, sizeof *im);
    struct stat st;
    if (stat(src, &st) != 0) return ddsp_error("%s: no such checkpoint file or run folder", src);
    if (S_ISDIR(st.st_mode)) {
        if (ddsp_ckpt_latest(src, NULL, im->path, sizeof im->path)) return DDSP_ERR;
    } else if ((size_t)snprintf(im->path, sizeof im->path, "%s", src) >= sizeof im->path) {
        return ddsp_error("%s: path too long", src);
    }
    ddsp_ckpt_state s;
    if (ddsp_ckpt_read(im->path, &im->m, NULL, &s, NULL, &im->loss, 0)) {
        memset(im, 0, sizeof *im);
        return DDSP_ERR;
    }
    im->step = s.step, im->seed = s.seed;
    static const char *const names[7] = {
        "f0_midi_mean",     "f0_midi_std",     "loudness_db_mean_voiced", "loudness_db_std_voiced",
        "loudness_db_mean", "loudness_db_max", "voiced_fraction"};
    double v[7];
    int ok = 1;
    /* the voiced statistics (0-3) are NaN when the training data had no voiced frame */
    for (int i = 0; i < 7 && ok; i++)
        ok = ddsp_ckpt_stat(im->path, names[i], &v[i]) == DDSP_OK && (i < 4 || isfinite(v[i]));
    if (ok) {
        im->has_stats = 1;
        im->stats = (ddsp_infer_stats){v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
    }
    ddsp_error("%s", ""); /* a missing /dataset_stats is not an error here */
    return DDSP_OK;
}

void ddsp_infer_free(ddsp_infer_model *im) {
    if (!im) return;
    ddsp_model_free(&im->m);
    memset(im, 0, sizeof *im);
}

/* ---------------------------------------------------------------- features */
int ddsp_infer_features_alloc(ddsp_infer_features *ft, size_t F) {
    memset(ft, 0, sizeof *ft);
    ft->F = F;
    ft->f0_hz = ddsp_alloc(sizeof(float) * (F ? F : 1));
    ft->conf = ddsp_alloc(sizeof(float) * (F ? F : 1));
    ft->loudness_db = ddsp_alloc(sizeof(float) * (F ? F : 1));
    if (!ft->f0_hz || !ft->conf || !ft->loudness_db) {
        ddsp_infer_features_free(ft);
        return ddsp_error("out of memory for features of %zu frames", F);
    }
    return DDSP_OK;
}

void ddsp_infer_features_free(ddsp_infer_features *ft) {
    if (!ft) return;
    ddsp_free(ft->f0_hz);
    ddsp_free(ft->conf);
    ddsp_free(ft->loudness_db);
    memset(ft, 0, sizeof *ft);
}

int ddsp_infer_features_compute(ddsp_infer_features *ft, const float *x, size_t N, int sample_rate,
                                int hop) {
    memset(ft, 0, sizeof *ft);
    if (N == 0) return ddsp_error("no audio samples to analyse");
    ddsp_f0_config fc;
    ddsp_loudness_config lc;
    ddsp_f0_config_default(&fc);
    ddsp_loudness_config_default(&lc);
    fc.sample_rate = lc.sample_rate = sample_rate;
    fc.hop = lc.hop = hop;
    if (ddsp_f0_config_check(&fc) || ddsp_loudness_config_check(&lc)) return DDSP_ERR;
    if (ddsp_infer_features_alloc(ft, ddsp_feature_frames(N, hop))) return DDSP_ERR;
    if (ddsp_f0_track(&fc, x, N, ft->f0_hz, ft->conf) ||
        ddsp_loudness(&lc, x, N, ft->loudness_db)) {
        ddsp_infer_features_free(ft);
        return DDSP_ERR;
    }
    return DDSP_OK;
}

/* ---------------------------------------------------------------- adjustment */
void ddsp_adjust_config_default(ddsp_adjust_config *c) {
    memset(c, 0, sizeof *c);
    c->quiet_db = 20.0;
    c->min_db = -120.0;
}

static double hz_to_midi(double f) {
    return 69.0 + 12.0 * log2(fmax(f, 1e-3) / 440.0);
}

void ddsp_infer_detect_notes(uint8_t *on, float *ratio, const float *loudness_db, const float *conf,
                             size_t F, double min_db) {
    enum { SMOOTH = 40, PAD_LEFT = (SMOOTH - 1) / 2 }; /* tf conv1d 'SAME' */
    const double thr_conf = 0.7;
    double mean = 0.0;
    for (size_t i = 0; i < F; i++)
        mean += loudness_db[i];
    mean /= (double)(F ? F : 1);
    const double thr = (mean - min_db) * thr_conf * thr_conf;
    /* box filter of conf^2 by a running sum over [i - PAD_LEFT, i - PAD_LEFT + SMOOTH) */
    double run = 0.0;
    for (size_t j = 0; j < F && j < SMOOTH - PAD_LEFT - 1; j++)
        run += (double)conf[j] * conf[j];
    for (size_t i = 0; i < F; i++) {
        const size_t add = i + SMOOTH - PAD_LEFT - 1; /* the window's last index */
        if (add < F) run += (double)conf[add] * conf[add];
        const double sm = run / SMOOTH;
        const double r = thr > 0.0 ? sm * ((double)loudness_db[i] - min_db) / thr : 0.0;
        on[i] = r >= 1.0;
        if (ratio) ratio[i] = (float)r;
        if (i >= (size_t)PAD_LEFT) {
            const size_t drop = i - PAD_LEFT; /* leaves the window of i + 1 */
            run -= (double)conf[drop] * conf[drop];
        }
    }
}

int ddsp_infer_adjust(const ddsp_adjust_config *c, const ddsp_infer_stats *st,
                      ddsp_infer_features *ft, float *harm_gain, ddsp_adjust_report *rep) {
    ddsp_adjust_report r;
    memset(&r, 0, sizeof r);
    r.ld_gain = 1.0;
    const size_t F = ft->F;
    if (c->auto_adjust) {
        if (!st)
            return ddsp_error("--auto-adjust needs the training data statistics, and the "
                              "checkpoint has no /dataset_stats");
        uint8_t *on = malloc(F ? F : 1);
        float *ratio = malloc(sizeof(float) * (F ? F : 1));
        if (!on || !ratio) {
            free(on), free(ratio);
            return ddsp_error("out of memory");
        }
        ddsp_infer_detect_notes(on, ratio, ft->loudness_db, ft->conf, F, c->min_db);
        double sp = 0.0, sl = 0.0, sl2 = 0.0;
        for (size_t i = 0; i < F; i++)
            if (on[i]) {
                r.n_on++;
                sp += hz_to_midi(ft->f0_hz[i]);
                sl += ft->loudness_db[i], sl2 += (double)ft->loudness_db[i] * ft->loudness_db[i];
            }
        /* a model trained on unvoiced data (noise, silence) has no pitch statistics: its
         * f0 mean is 0 (MIDI), which would shift any input down by ~6 octaves */
        r.no_voiced_stats = !(st->voiced_fraction > 0.0) || !isfinite(st->f0_midi_mean);
        if (r.n_on > 0 && !r.no_voiced_stats) {
            const double n = (double)r.n_on;
            r.in_pitch_mean = sp / n;
            r.in_ld_mean = sl / n;
            r.in_ld_std = sqrt(fmax(sl2 / n - r.in_ld_mean * r.in_ld_mean, 0.0));
            /* whole octaves toward the training data's mean pitch (nearest; see infer.h) */
            r.octaves = round((st->f0_midi_mean - r.in_pitch_mean) / 12.0);
            const float fo = (float)exp2(r.octaves);
            double g = r.in_ld_std >= 0.1 ? st->loudness_db_std_voiced / r.in_ld_std : 1.0;
            g = fmin(fmax(g, 0.5), 2.0);
            r.ld_gain = g;
            r.ld_offset = st->loudness_db_mean_voiced - g * r.in_ld_mean;
            for (size_t i = 0; i < F; i++) {
                ft->f0_hz[i] *= fo;
                if (on[i])
                    ft->loudness_db[i] = (float)(g * ft->loudness_db[i] + r.ld_offset);
                else /* magenta: turn down the note-off parts */
                    ft->loudness_db[i] -=
                        (float)(c->quiet_db * (1.0 - fmin(fmax(ratio[i], 0.0f), 1.0)));
            }
        }
        free(on), free(ratio);
    }
    const float fs = (float)exp2(c->pitch_shift / 12.0), ls = (float)c->loudness_shift;
    for (size_t i = 0; i < F; i++) {
        if (c->pitch_shift != 0.0) ft->f0_hz[i] *= fs;
        if (c->loudness_shift != 0.0) ft->loudness_db[i] += ls;
        if (c->auto_adjust && ft->loudness_db[i] < (float)c->min_db)
            ft->loudness_db[i] = (float)c->min_db;
        const int mute = c->conf_threshold > 0.0 && ft->conf[i] < c->conf_threshold;
        r.n_muted += (size_t)mute;
        if (harm_gain) harm_gain[i] = mute ? 0.0f : 1.0f;
    }
    if (rep) *rep = r;
    return DDSP_OK;
}

/* ---------------------------------------------------------------- metrics */
int ddsp_eval_features(ddsp_eval_metrics *out, const float *y, size_t N, const float *f0_ref,
                       const float *conf_ref, const float *ld_ref, size_t F,
                       const ddsp_f0_config *f0c, const ddsp_loudness_config *ld,
                       double conf_threshold) {
    memset(out, 0, sizeof *out);
    if (ddsp_feature_frames(N, ld->hop) != F || ddsp_feature_frames(N, f0c->hop) != F)
        return ddsp_error("eval: %zu samples do not give the %zu reference frames", N, F);
    float *ly = ddsp_alloc(sizeof(float) * F), *fy = ddsp_alloc(sizeof(float) * F);
    float *cy = ddsp_alloc(sizeof(float) * F);
    int rc = DDSP_ERR;
    if (!ly || !fy || !cy) {
        ddsp_error("out of memory");
        goto cleanup;
    }
    if (ddsp_loudness(ld, y, N, ly) || ddsp_f0_track(f0c, y, N, fy, cy)) goto cleanup;
    double sl = 0.0, sc = 0.0;
    size_t nc = 0, hit = 0;
    for (size_t i = 0; i < F; i++) {
        sl += fabs((double)ly[i] - ld_ref[i]);
        if (!(conf_ref[i] >= conf_threshold) || !(f0_ref[i] > 0.0f)) continue;
        const double cents = fabs(1200.0 * log2(fmax((double)fy[i], 1e-3) / f0_ref[i]));
        sc += cents;
        hit += cents < 50.0; /* mir_eval raw_pitch_accuracy: strictly inside the tolerance */
        nc++;
    }
    out->n_frames = F, out->n_conf = nc;
    out->loudness_l1_db = sl / (double)F;
    out->f0_l1_cents = nc ? sc / (double)nc : NAN;
    out->rpa = nc ? (double)hit / (double)nc : NAN;
    rc = DDSP_OK;
cleanup:
    ddsp_free(ly), ddsp_free(fy), ddsp_free(cy);
    return rc;
}
