/* Plain reference of the synthesizer, forward and backward, for tests of the optimised
 * kernels: double precision throughout, the literal formulas of ddsp_ref.py (materialised
 * per-sample amplitude and frequency envelopes, sin(k phase) from libm, the noise IR by a
 * direct cosine sum, direct time-domain convolutions for the noise filter and the reverb),
 * one example at a time, no FFT, no OpenMP. */
#include "synth_internal.h"

#include "ddsp/util.h"

#include <stdlib.h>
#include <string.h>

static double exp_sigmoid_ref(double x, double *dydx) {
    const double sg = 1.0 / (1.0 + exp(-x));
    const double p = pow(sg, SYNTH_LN10);
    *dydx = 2.0 * SYNTH_LN10 * p * (1.0 - sg);
    return 2.0 * p + SYNTH_EXP_SIGMOID_EPS;
}

int ddsp_synth_reference(const ddsp_synth_config *c, size_t B, size_t F, const float *raw,
                         const float *f0_hz, const float *noise, const float *reverb_ir,
                         double *harm, double *noise_out, double *audio, const float *d_audio,
                         double *d_raw, double *d_ir) {
    if (ddsp_synth_config_check(c)) return DDSP_ERR;
    const size_t hop = (size_t)c->hop, N = F * hop, H = (size_t)c->n_harmonics;
    const size_t NB = (size_t)c->n_noise_bands, C = ddsp_synth_n_controls(c);
    const size_t n_ir = 2 * (NB - 1), half = n_ir / 2, L = c->reverb ? (size_t)c->reverb_length : 0;
    const long crop = ((long)n_ir - 1) / 2 - 1;
    const double sr = c->sample_rate, nyq = sr / 2.0;
    double *amp = calloc(F, sizeof(double)), *dsa = calloc(F, sizeof(double));
    double *hd = calloc(F * H, sizeof(double)), *dsh = calloc(F * H, sizeof(double));
    double *sum = calloc(F, sizeof(double)), *A = calloc((F + 1) * H, sizeof(double));
    double *dA = calloc((F + 1) * H, sizeof(double)), *dsm = calloc(F * NB, sizeof(double));
    double *hir = calloc(F * n_ir, sizeof(double)), *phi = calloc(N, sizeof(double));
    double *fenv = calloc(N, sizeof(double)), *yh = calloc(N, sizeof(double));
    double *yn = calloc(N, sizeof(double)), *dry = calloc(N, sizeof(double));
    double *dd = calloc(N, sizeof(double)), *win = calloc(n_ir, sizeof(double));
    double *wt = calloc(hop, sizeof(double)), *tmp = calloc(n_ir, sizeof(double));
    double *mags = calloc(NB, sizeof(double));
    int rc = DDSP_OK;
    if (!amp || !dsa || !hd || !dsh || !sum || !A || !dA || !dsm || !hir || !phi || !fenv || !yh ||
        !yn || !dry || !dd || !win || !wt || !tmp || !mags) {
        rc = ddsp_error("synth reference: out of memory");
        goto cleanup;
    }
    for (size_t m = 0; m < n_ir; m++)
        win[m] = 0.5 - 0.5 * cos(SYNTH_TWO_PI * (double)m / n_ir);
    for (size_t t = 0; t < hop; t++)
        wt[t] = c->amp_interp == DDSP_AMP_WINDOW ? 0.5 - 0.5 * cos(SYNTH_TWO_PI / 2 * t / hop)
                                                 : (double)t / hop;
    if (d_audio && d_ir && c->reverb) memset(d_ir, 0, sizeof(double) * L);
    for (size_t b = 0; b < B; b++) {
        const float *rw = raw + b * F * C, *f0 = f0_hz + b * F, *nz = noise + b * N;
        /* controls */
        for (size_t f = 0; f < F; f++) {
            const float *r = rw + f * C;
            amp[f] = exp_sigmoid_ref(r[0], &dsa[f]);
            sum[f] = 0.0;
            for (size_t k = 0; k < H; k++) {
                hd[f * H + k] = exp_sigmoid_ref(r[1 + k], &dsh[f * H + k]);
                if ((double)f0[f] * (double)(k + 1) >= nyq) hd[f * H + k] = 0.0;
                sum[f] += hd[f * H + k];
            }
            for (size_t k = 0; k < H; k++) {
                const double hn = hd[f * H + k] / (sum[f] == 0.0 ? 1e-7 : sum[f]);
                A[f * H + k] = amp[f] * hn;
            }
            for (size_t j = 0; j < NB; j++)
                mags[j] = exp_sigmoid_ref((double)r[1 + H + j] - 5.0, &dsm[f * NB + j]);
            for (size_t m = 0; m < n_ir; m++) {
                double v = 0.0;
                for (size_t j = 0; j < NB; j++) {
                    const double cj = j == 0 || j == half ? 1.0 : 2.0;
                    v += cj * mags[j] * cos(SYNTH_TWO_PI * (double)(j * m % n_ir) / n_ir);
                }
                tmp[m] = v / (double)n_ir;
            }
            for (size_t m = 0; m < n_ir; m++)
                hir[f * n_ir + m] = win[m] * tmp[(m + half) % n_ir];
        }
        memcpy(A + F * H, A + (F - 1) * H, sizeof(double) * H);
        /* harmonic: envelopes per sample, literal sines */
        double acc = 0.0;
        for (size_t i = 0; i < N; i++) {
            const double src = (double)i * ((double)F / (double)N);
            const size_t lo = (size_t)floor(src), hi = lo + 1 < F ? lo + 1 : F - 1;
            fenv[i] = f0[lo] * (1.0 - (src - lo)) + f0[hi] * (src - lo);
            acc += SYNTH_TWO_PI * fenv[i] / sr;
            phi[i] = fmod(acc, SYNTH_TWO_PI);
            const size_t f = i / hop, t = i % hop;
            double y = 0.0;
            for (size_t k = 0; k < H; k++) {
                if (fenv[i] * (double)(k + 1) >= nyq) continue;
                const double a = A[f * H + k] * (1.0 - wt[t]) + A[(f + 1) * H + k] * wt[t];
                y += a * sin((double)(k + 1) * phi[i]);
            }
            yh[i] = y;
        }
        /* noise: direct linear convolution of each frame with its IR, cropped */
        memset(yn, 0, sizeof(double) * N);
        for (size_t f = 0; f < F; f++)
            for (size_t t = 0; t < hop; t++)
                for (size_t m = 0; m < n_ir; m++) {
                    const long p = (long)(f * hop + t + m) - crop;
                    if (p >= 0 && p < (long)N) yn[p] += hir[f * n_ir + m] * nz[f * hop + t];
                }
        for (size_t i = 0; i < N; i++)
            dry[i] = yh[i] + yn[i];
        if (harm) memcpy(harm + b * N, yh, sizeof(double) * N);
        if (noise_out) memcpy(noise_out + b * N, yn, sizeof(double) * N);
        if (audio)
            for (size_t i = 0; i < N; i++) {
                double v = dry[i];
                for (size_t m = 1; m < L && m <= i; m++)
                    v += (double)reverb_ir[m] * dry[i - m];
                audio[b * N + i] = v;
            }
        if (!d_audio) continue;
        /* backward */
        const float *d = d_audio + b * N;
        for (size_t i = 0; i < N; i++) {
            double v = d[i];
            for (size_t m = 1; m < L && i + m < N; m++)
                v += (double)reverb_ir[m] * d[i + m];
            dd[i] = v;
        }
        if (d_ir)
            for (size_t m = 1; m < L; m++)
                for (size_t i = m; i < N; i++)
                    d_ir[m] += d[i] * dry[i - m];
        memset(dA, 0, sizeof(double) * (F + 1) * H);
        for (size_t i = 0; i < N; i++) {
            const size_t f = i / hop, t = i % hop;
            for (size_t k = 0; k < H; k++) {
                if (fenv[i] * (double)(k + 1) >= nyq) continue;
                const double sk = sin((double)(k + 1) * phi[i]);
                dA[f * H + k] += dd[i] * (1.0 - wt[t]) * sk;
                dA[(f + 1) * H + k] += dd[i] * wt[t] * sk;
            }
        }
        for (size_t k = 0; k < H; k++)
            dA[(F - 1) * H + k] += dA[F * H + k];
        double *dr = d_raw + b * F * C;
        for (size_t f = 0; f < F; f++) {
            const double S = sum[f];
            double damp = 0.0;
            for (size_t k = 0; k < H; k++)
                damp += dA[f * H + k] * hd[f * H + k] / (S == 0.0 ? 1e-7 : S);
            dr[f * C] = damp * dsa[f];
            for (size_t j = 0; j < H; j++) { /* d hn_k / d hd_j = delta_kj / S - hd_k / S^2 */
                double g = 0.0;
                if (S != 0.0 && hd[f * H + j] != 0.0)
                    for (size_t k = 0; k < H; k++)
                        g += dA[f * H + k] * amp[f] *
                             ((k == j ? 1.0 / S : 0.0) - hd[f * H + k] / (S * S));
                dr[f * C + 1 + j] = g * dsh[f * H + j];
            }
            for (size_t m = 0; m < n_ir; m++) { /* d h, then undo window and shift */
                double g = 0.0;
                for (size_t t = 0; t < hop; t++) {
                    const long p = (long)(f * hop + t + m) - crop;
                    if (p >= 0 && p < (long)N) g += dd[p] * nz[f * hop + t];
                }
                tmp[(m + half) % n_ir] = win[m] * g;
            }
            for (size_t j = 0; j < NB; j++) {
                const double cj = j == 0 || j == half ? 1.0 : 2.0;
                double g = 0.0;
                for (size_t m = 0; m < n_ir; m++)
                    g += tmp[m] * cos(SYNTH_TWO_PI * (double)(j * m % n_ir) / n_ir);
                dr[f * C + 1 + H + j] = cj * g / (double)n_ir * dsm[f * NB + j];
            }
        }
    }
cleanup:
    free(amp), free(dsa), free(hd), free(dsh), free(sum), free(A), free(dA), free(dsm);
    free(hir), free(phi), free(fenv), free(yh), free(yn), free(dry), free(dd), free(win);
    free(wt), free(tmp), free(mags);
    return rc;
}
