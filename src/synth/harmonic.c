/* Harmonic oscillator bank (magenta ddsp.synths.Harmonic + core.harmonic_synthesis with
 * amp_resample_method 'window'), forward and backward, without the (B, N, H) envelopes.
 *
 * Within frame f, sample t (i = f hop + t) is
 *   y_i = (1 - w_t) sum_k s_ik A_fk + w_t sum_k s_ik A_(f+1)k,   s_ik = sin(k phi_i) [k <= nh_i]
 * (A_F := A_(F-1)), so forward needs two H-term dot products per sample and backward the
 * per-frame contractions G0_fk = sum_t s_ik d_i (1 - w_t), G1_fk = sum_t s_ik d_i w_t, with
 * dA_f = G0_f + G1_(f-1) (+ G1_(F-1) for the held last frame).
 *
 * sin(k phi) for k = 1..H comes from the Chebyshev recurrence
 *   sin((k+1) phi) = 2 cos(phi) sin(k phi) - sin((k-1) phi)
 * in double (its error grows ~k^2 eps, ~1e-13 here; float would not do), evaluated for
 * blocks of 32 samples held in AVX-512 registers (GCC vector extensions; other targets split
 * them). The audio-rate Nyquist mask k <= nh_i only costs a select for the few k between a
 * block's smallest and largest nh.
 *
 * The fundamental's phase is the float64 inclusive cumsum of 2 pi f0 / sr wrapped mod 2 pi
 * (one sequential pass per example); sin/cos of it are evaluated per frame. */
#include "synth_internal.h"

#include "ddsp/util.h"

#include <string.h>

typedef double vd8 __attribute__((vector_size(64)));
typedef long long vl8 __attribute__((vector_size(64)));
enum { VL = 8, NV = 4, BS = VL * NV };

/* The running sum is kept wrapped (fmod is exact, so each step only rounds the addition):
 * the same phase mod 2 pi as the reference's cumsum-then-remainder, with a smaller rounding
 * error (~1e-16 per step instead of ulp(cumsum) ~1e-12 late in a 4 s example). */
void synth_harmonic_phase(ddsp_synth *s, const float *f0_hz, double *phase, size_t b) {
    const size_t F = s->F, N = s->N;
    const float *f0 = f0_hz + b * F;
    double *ph = s->sinp + b * N; /* wrapped phase, turned into sin per frame */
    const double step = (double)F / (double)N;
    double acc = phase ? phase[b] : 0.0;
    for (size_t i = 0; i < N; i++) {
        acc += SYNTH_TWO_PI * synth_f0_at(f0, F, step, i) / s->sr;
        if (acc >= SYNTH_TWO_PI || acc < 0.0) {
            acc = fmod(acc, SYNTH_TWO_PI);
            if (acc < 0.0) acc += SYNTH_TWO_PI;
        }
        ph[i] = acc;
    }
    if (phase) phase[b] = acc;
}

void synth_harmonic_controls(ddsp_synth *s, const float *raw, const float *f0_hz, size_t b,
                             size_t f_lo, size_t f_hi) {
    const int H = s->H;
    double d[SYNTH_MAX_HARMONICS + 1], y[SYNTH_MAX_HARMONICS + 1];
    for (size_t f = f_lo; f < f_hi; f++) {
        const size_t bf = b * s->F + f;
        const float *r = raw + bf * s->C;
#pragma omp simd
        for (int k = 0; k <= H; k++)
            y[k] = synth_exp_sigmoid((double)r[k], &d[k]);
        s->amp[bf] = y[0];
        s->dsig_amp[bf] = (float)d[0];
        /* hd = 0 where k f0 >= sr/2 (frame rate), then hd / sum hd (safe_divide) */
        const int nk = synth_n_below((double)f0_hz[bf], s->nyq, H);
        double *hd = s->hdn + bf * H;
        float *ds = s->dsig_hd + bf * H;
        double sum = 0.0;
        for (int k = 0; k < H; k++) {
            hd[k] = k < nk ? y[1 + k] : 0.0;
            ds[k] = k < nk ? (float)d[1 + k] : 0.0f;
            sum += hd[k];
        }
        if (sum != 0.0)
            for (int k = 0; k < H; k++)
                hd[k] /= sum;
        s->inv_sum[bf] = sum != 0.0 ? 1.0 / sum : 0.0;
    }
}

/* Load n <= BS samples' sin, 2 cos and nh into zero-padded vectors; returns the smallest
 * and largest nh over the valid samples. */
static void load_block(vd8 sn[NV], vd8 c2[NV], vd8 nhv[NV], int *kmin, int *kmax,
                       const double *sinp, const double *cos2, const uint16_t *nh, int n, int H) {
    double a[BS], c[BS], k[BS];
    int lo = H, hi = 0;
    for (int l = 0; l < BS; l++) {
        if (l < n) {
            a[l] = sinp[l];
            c[l] = cos2[l];
            k[l] = nh[l];
            lo = nh[l] < lo ? nh[l] : lo;
            hi = nh[l] > hi ? nh[l] : hi;
        } else {
            a[l] = c[l] = k[l] = 0.0;
        }
    }
    memcpy(sn, a, sizeof a);
    memcpy(c2, c, sizeof c);
    memcpy(nhv, k, sizeof k);
    *kmin = n > 0 ? lo : 0;
    *kmax = hi;
}

/* out[t] (n samples) = (1 - w_t) sum_k s_tk a0_k + w_t sum_k s_tk a1_k. */
static void block_forward(float *out, const double *sinp, const double *cos2, const uint16_t *nh,
                          const double *w, int n, const double *a0, const double *a1, int H) {
    vd8 sc[NV], cc[NV], nhv[NV], sp[NV], p0[NV], p1[NV];
    int kmin, kmax;
    load_block(sc, cc, nhv, &kmin, &kmax, sinp, cos2, nh, n, H);
    for (int j = 0; j < NV; j++)
        sp[j] = p0[j] = p1[j] = (vd8){0};
    int k = 1;
    for (; k <= kmin; k++) {
        const double x0 = a0[k - 1], x1 = a1[k - 1];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            p0[j] += sc[j] * x0;
            p1[j] += sc[j] * x1;
            const vd8 nx = cc[j] * sc[j] - sp[j];
            sp[j] = sc[j];
            sc[j] = nx;
        }
    }
    for (; k <= kmax; k++) {
        const double x0 = a0[k - 1], x1 = a1[k - 1], kd = (double)k;
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            const vd8 sm = (vd8)((vl8)sc[j] & (kd <= nhv[j]));
            p0[j] += sm * x0;
            p1[j] += sm * x1;
            const vd8 nx = cc[j] * sc[j] - sp[j];
            sp[j] = sc[j];
            sc[j] = nx;
        }
    }
    double q0[BS], q1[BS];
    memcpy(q0, p0, sizeof q0);
    memcpy(q1, p1, sizeof q1);
    for (int l = 0; l < n; l++)
        out[l] = (float)(q0[l] * (1.0 - w[l]) + q1[l] * w[l]);
}

/* acc0/acc1 (H, VL) lane sums += s_tk d_t (1 - w_t) and s_tk d_t w_t over n samples. */
static void block_backward(double *acc0, double *acc1, const float *d, const double *sinp,
                           const double *cos2, const uint16_t *nh, const double *w, int n, int H) {
    vd8 sc[NV], cc[NV], nhv[NV], sp[NV], e0[NV], e1[NV];
    int kmin, kmax;
    load_block(sc, cc, nhv, &kmin, &kmax, sinp, cos2, nh, n, H);
    double q0[BS], q1[BS];
    for (int l = 0; l < BS; l++) {
        q0[l] = l < n ? (double)d[l] * (1.0 - w[l]) : 0.0;
        q1[l] = l < n ? (double)d[l] * w[l] : 0.0;
    }
    memcpy(e0, q0, sizeof q0);
    memcpy(e1, q1, sizeof q1);
    for (int j = 0; j < NV; j++)
        sp[j] = (vd8){0};
    int k = 1;
    for (; k <= kmin; k++) {
        vd8 g0, g1;
        memcpy(&g0, acc0 + (size_t)(k - 1) * VL, sizeof g0);
        memcpy(&g1, acc1 + (size_t)(k - 1) * VL, sizeof g1);
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            g0 += sc[j] * e0[j];
            g1 += sc[j] * e1[j];
            const vd8 nx = cc[j] * sc[j] - sp[j];
            sp[j] = sc[j];
            sc[j] = nx;
        }
        memcpy(acc0 + (size_t)(k - 1) * VL, &g0, sizeof g0);
        memcpy(acc1 + (size_t)(k - 1) * VL, &g1, sizeof g1);
    }
    for (; k <= kmax; k++) {
        const double kd = (double)k;
        vd8 g0, g1;
        memcpy(&g0, acc0 + (size_t)(k - 1) * VL, sizeof g0);
        memcpy(&g1, acc1 + (size_t)(k - 1) * VL, sizeof g1);
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            const vd8 sm = (vd8)((vl8)sc[j] & (kd <= nhv[j]));
            g0 += sm * e0[j];
            g1 += sm * e1[j];
            const vd8 nx = cc[j] * sc[j] - sp[j];
            sp[j] = sc[j];
            sc[j] = nx;
        }
        memcpy(acc0 + (size_t)(k - 1) * VL, &g0, sizeof g0);
        memcpy(acc1 + (size_t)(k - 1) * VL, &g1, sizeof g1);
    }
}

/* Per sample of frame f: sin and 2 cos of the (wrapped) phase, and the Nyquist count. */
static void frame_oscillator(ddsp_synth *s, const float *f0_hz, size_t b, size_t f) {
    const size_t hop = (size_t)s->hop, i0 = b * s->N + f * hop;
    const double step = (double)s->F / (double)s->N, nyq = s->nyq;
    const float *f0 = f0_hz + b * s->F;
    const int H = s->H;
    double *sn = s->sinp + i0, *c2 = s->cos2 + i0;
    uint16_t *nh = s->nh + i0;
#pragma omp simd
    for (size_t t = 0; t < hop; t++) {
        double sv, cv;
        synth_sincos(sn[t], &sv, &cv);
        sn[t] = sv;
        c2[t] = 2.0 * cv;
        nh[t] = (uint16_t)synth_n_below(synth_f0_at(f0, s->F, step, f * hop + t), nyq, H);
    }
}

void synth_harmonic_frames(ddsp_synth *s, const float *f0_hz, size_t b, size_t f_lo, size_t f_hi) {
    const int H = s->H, hop = s->hop;
    double a0[SYNTH_MAX_HARMONICS], a1[SYNTH_MAX_HARMONICS];
    for (size_t f = f_lo; f < f_hi; f++) {
        frame_oscillator(s, f0_hz, b, f);
        const size_t bf = b * s->F + f, bf1 = f + 1 < s->F ? bf + 1 : bf;
        for (int k = 0; k < H; k++) {
            a0[k] = s->amp[bf] * s->hdn[bf * H + k];
            a1[k] = s->amp[bf1] * s->hdn[bf1 * H + k];
        }
        const size_t i0 = b * s->N + f * (size_t)hop;
        for (int t = 0; t < hop; t += BS) {
            const int n = hop - t < BS ? hop - t : BS;
            block_forward(s->harm + i0 + t, s->sinp + i0 + t, s->cos2 + i0 + t, s->nh + i0 + t,
                          s->w_amp + t, n, a0, a1, H);
        }
    }
}

void synth_harmonic_backward_frames(ddsp_synth *s, const float *d, size_t b, size_t f_lo,
                                    size_t f_hi) {
    const int H = s->H, hop = s->hop;
    double acc0[SYNTH_MAX_HARMONICS * VL], acc1[SYNTH_MAX_HARMONICS * VL];
    for (size_t f = f_lo; f < f_hi; f++) {
        memset(acc0, 0, sizeof(double) * (size_t)H * VL);
        memset(acc1, 0, sizeof(double) * (size_t)H * VL);
        const size_t i0 = b * s->N + f * (size_t)hop;
        for (int t = 0; t < hop; t += BS) {
            const int n = hop - t < BS ? hop - t : BS;
            block_backward(acc0, acc1, d + i0 + t, s->sinp + i0 + t, s->cos2 + i0 + t,
                           s->nh + i0 + t, s->w_amp + t, n, H);
        }
        double *g0 = s->g0 + (b * s->F + f) * H, *g1 = s->g1 + (b * s->F + f) * H;
        for (int k = 0; k < H; k++) {
            double u = 0.0, v = 0.0;
            for (int l = 0; l < VL; l++) {
                u += acc0[k * VL + l];
                v += acc1[k * VL + l];
            }
            g0[k] = u;
            g1[k] = v;
        }
    }
}

/* dA -> d raw through A = amp * hd / sum(hd) and exp_sigmoid:
 *   d amp = sum_k dA_k hdn_k,  d hd_k = amp / sum * (dA_k - d amp)  (unmasked k). */
void synth_harmonic_backward_controls(ddsp_synth *s, float *d_raw, size_t b, size_t f_lo,
                                      size_t f_hi) {
    const int H = s->H;
    const size_t F = s->F;
    static const double zero[SYNTH_MAX_HARMONICS];
    double dA[SYNTH_MAX_HARMONICS];
    for (size_t f = f_lo; f < f_hi; f++) {
        const size_t bf = b * F + f;
        const double *g0 = s->g0 + bf * H, *g1p = f > 0 ? s->g1 + (bf - 1) * H : zero;
        const double *g1l = f + 1 == F ? s->g1 + bf * H : zero; /* the held last frame */
        const double *hdn = s->hdn + bf * H;
        double damp = 0.0;
        for (int k = 0; k < H; k++) {
            dA[k] = g0[k] + g1p[k] + g1l[k];
            damp += dA[k] * hdn[k];
        }
        float *dr = d_raw + bf * s->C;
        dr[0] = (float)(damp * s->dsig_amp[bf]);
        const double sc = s->amp[bf] * s->inv_sum[bf];
        const float *ds = s->dsig_hd + bf * H;
        for (int k = 0; k < H; k++)
            dr[1 + k] = (float)(sc * (dA[k] - damp) * ds[k]);
    }
}
