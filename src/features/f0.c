/* f0 (pitch) tracker: probabilistic YIN with Viterbi smoothing (see ddsp/features.h).
 *
 * Per frame, centred on sample c = hop * i:
 *  1. A difference function centred on c for EVERY lag. YIN's d(tau) = sum_j (x_j - x_{j+tau})^2
 *     over a window that starts at a fixed sample (de Cheveigne & Kawahara 2002, eq. 6) has
 *     its pairs' midpoints at a lag-dependent place, so no fixed frame position is centred for
 *     all pitches. Here each pair is weighted by a Gaussian of its midpoint:
 *         D(tau) = sum_p G(p + tau/2) (x[c+p] - x[c+p+tau])^2,   G(m) = exp(-m^2 / sig^2),
 *     sig = 14.5 ms (G: std 10 ms, 26 ms effective length). Since g(p) g(p+tau) =
 *     G(p + tau/2) exp(-tau^2 / (4 sig^2)) for g(p) = exp(-p^2 / (2 sig^2)),
 *         D(tau) = E(c - tau/2) + E(c + tau/2) - 2 exp(tau^2 / (4 sig^2)) r_g(tau),
 *     r_g the autocorrelation of the g-windowed frame (FFT, two frames per complex transform)
 *     and E = x^2 smoothed by G on a half-sample grid (one FFT convolution per block of
 *     frames). All in double: D is a small difference of large energies.
 *  2. Cumulative-mean-normalised difference d'(tau) = D(tau) tau / sum_{j<=tau} D(j) (YIN
 *     step 3). Its troughs in [sr/fmax, sr/fmin] are scored as in pYIN (Mauch & Dixon 2014,
 *     with librosa.pyin's trough prior): over 100 thresholds with a Beta prior, the troughs
 *     below a threshold share its mass by a Boltzmann distribution over their order (shorter
 *     period first); where none is below, the global minimum gets 0.01 of it. Two priors:
 *     pYIN's Beta(2, 18) gives the voiced probability vp (the troughs' total); a more lenient
 *     Beta(2, 5) gives the pitch candidates' probabilities, because at legato transitions in
 *     a reverberant recording the old and new notes' common period (an octave or two below
 *     the new note) has the deepest trough, while the new note's own trough sits at d' ~ 0.25,
 *     above nearly all of Beta(2, 18)'s thresholds.
 *  3. Candidate periods: parabolic interpolation of D (YIN step 5; on D, not d', whose tau
 *     factor moves the vertex), then for the three most probable one Newton step on D at
 *     fractional lags, evaluated exactly from the frame's power spectrum (newton_refine).
 *  4. Pitch: Viterbi over log-frequency bins (20 cents). Emission = (candidate mass in the bin,
 *     split linearly between the two nearest bins, + 1e-3)^gamma; transitions = a triangle of
 *     +-w bins per frame (vibrato, glides up to 12 octaves/s) plus a jump to any bin (note
 *     changes, 0.25/s). gamma = hop / (sig sqrt(pi)) = 0.16: consecutive frames share ~84% of
 *     their samples, so a frame's evidence is counted once per window, not once per hop;
 *     continuity then outweighs the short octave excursions of mixtures and weak fundamentals.
 *     Decisions are final `lag` frames behind, traced back each time the back-pointer ring
 *     fills (fixed-lag decoding: bounded memory for any length; signals shorter than the
 *     ring, 16 s by default, get the exact Viterbi path). f0 = the refined candidate in the
 *     path's bin (the bin centre if the path crosses a frame without one).
 *  5. Voicing: a two-state HMM (2.5 switches/s) on vp, emissions tempered by the same gamma,
 *     forward-backward; conf = the posterior P(voiced).
 *  6. Frames with conf < 0.5 take f0 from the nearest frame with conf >= 0.5 (the earlier
 *     one on a tie); if no frame has conf >= 0.5, f0 = sqrt(fmin * fmax) everywhere.
 *
 * Everything is allocated once per call; no state outlives it except cached FFTW plans, so
 * concurrent calls on different signals are safe, and results do not depend on threads.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ddsp/dsp.h"
#include "ddsp/features.h"
#include "ddsp/util.h"
#include "features/f0_internal.h"

#define F0_PI 3.14159265358979323846

enum {
    BLOCK = 32,        /* frames analysed per batch (16 complex FFTs, one plan whatever N) */
    MAX_CAND = 8,      /* candidates kept per frame, highest probability first */
    MAX_TROUGHS = 128, /* troughs scored per frame (shortest periods first) */
    N_THR = 100,       /* pYIN thresholds 0.01 .. 1.00 */
    JUMP = 127         /* back-pointer code: came from the previous frame's best bin */
};
/* the MAX_REFINE most probable candidates of a frame, if above REFINE_MIN_PROB, get the exact
 * refinement (newton_refine); the others keep the parabolic estimate */
#define REFINE_MIN_PROB 0.01
/* added to D, times the frame's (unweighted) energy: twice the largest error of the FFT's
 * wrap-around. Without it a frame whose centre is silent and whose edges are not would see
 * that error as structure, and d' (scale-free) would call it periodic. */
#define D_FLOOR 1e-4
/* and times the energy of the block's convolution input: its FFT round-off (~1e-15), which
 * is all a frame far from any sound would otherwise see */
#define E_FLOOR 1e-12
enum { MAX_REFINE = 3 };

typedef struct {
    float f, b, p; /* frequency (Hz), bin position, probability */
} f0_cand;

typedef struct {
    /* settings derived from the config and tuning */
    int sr, hop, M, w, n_thr;
    int tau_lo, tau_max, tau_hi; /* troughs in [tau_lo, tau_max]; D up to tau_hi */
    int L, R, RE, Lc;            /* frame length, its G radius, energy kernel radius and
                                    energy-convolution length */
    double fmin, fmax, bpo, sig;
    double log_floor, emit_floor, emit_power, vpow, log_jump, sv, vclamp, no_trough;
    double beta_p[N_THR + 1];              /* voicing prior: mass of threshold i/100 */
    double beta_q[N_THR + 1];              /* pitch prior: mass of threshold i/100 */
    double cbp[N_THR + 1], cbq[N_THR + 1]; /* cumulative masses of thresholds <= i */
    double boltz[MAX_TROUGHS + 1];         /* e^(-lambda k) */
    double znorm[MAX_TROUGHS + 1];         /* Boltzmann normaliser for n troughs */
    double lam;
    size_t C, lag; /* ring frames, commit lag */
    /* buffers (ddsp_alloc) */
    double *g;                  /* (L) frame window */
    double *amp;                /* (tau_hi+1) 2 exp(tau^2 / (4 sig^2)) / L */
    double *D, *cmnd;           /* (tau_hi+1) */
    double *log_loc;            /* (2w+1) local transition log-probabilities, d = -w..w */
    double *delta, *delta_new;  /* (M) Viterbi scores */
    double *mass;               /* (M) candidate mass per bin */
    double *pcol;               /* (L/2+1) one frame's power spectrum, doubled */
    fftw_complex *zf, *Zf;      /* (BLOCK/2, L) frame pairs, their spectra */
    fftw_complex *ze, *Ze, *Kh; /* (Lc) energy convolution and kernel spectrum */
    fftw_plan pf_fwd, pf_bwd, pe_fwd, pe_bwd;
    int8_t *bp;     /* (C, M) back-pointer offsets, or JUMP */
    int32_t *jsrc;  /* (C) best bin of the previous frame */
    int32_t *path;  /* (C) traced-back bins */
    f0_cand *cand;  /* (C, MAX_CAND) */
    uint8_t *ncand; /* (C) */
} f0_ctx;

void ddsp_f0_config_default(ddsp_f0_config *c) {
    c->sample_rate = 16000;
    c->hop = 64;
    c->fmin = 30.0;
    c->fmax = 2000.0;
}

int ddsp_f0_config_check(const ddsp_f0_config *c) {
    if (!c) return ddsp_error("f0: no config");
    if (c->sample_rate < 1000 || c->sample_rate > 768000)
        return ddsp_error("f0: sample_rate %d must be in 1000..768000 Hz", c->sample_rate);
    if (c->hop < 1) return ddsp_error("f0: hop %d must be >= 1", c->hop);
    if (!(c->fmin > 0.0) || !isfinite(c->fmin))
        return ddsp_error("f0: fmin %g Hz must be > 0", c->fmin);
    if (c->fmin < c->sample_rate / 16384.0)
        return ddsp_error("f0: fmin %g Hz is below sample_rate/16384 = %g Hz (period too long)",
                          c->fmin, c->sample_rate / 16384.0);
    if (!(c->fmax > c->fmin * 1.05) || !isfinite(c->fmax))
        return ddsp_error("f0: fmax %g Hz must be finite and above fmin %g Hz (by > 5%%)", c->fmax,
                          c->fmin);
    if (c->fmax > c->sample_rate / 4.0)
        return ddsp_error("f0: fmax %g Hz is above sample_rate/4 = %g Hz", c->fmax,
                          c->sample_rate / 4.0);
    return DDSP_OK;
}

void ddsp_f0_tuning_default(ddsp_f0_tuning *t) {
    t->sigma_s = 0.0145;
    t->beta_a = 2.0;
    t->beta_b = 18.0;
    t->pitch_beta_a = 2.0;
    t->pitch_beta_b = 5.0;
    t->boltzmann = 2.0;
    t->no_trough_prob = 0.01;
    t->bins_per_octave = 60;
    t->glide_oct_s = 12.0;
    t->jump_rate = 0.25;
    t->emit_floor = 1e-3;
    t->emit_power = 0.0;
    t->voicing_power = 0.0;
    t->voicing_rate = 2.5;
    t->vp_clamp = 1e-3;
    t->ring_frames = 4096;
    t->lag_frames = 1024;
}

/* Smallest even n >= m of the form 2^a 3^b 5^c (sizes FFTW does fastest). */
static int fft_size(int m) {
    for (int n = m + (m & 1);; n += 2) {
        int k = n;
        while (k % 2 == 0)
            k /= 2;
        while (k % 3 == 0)
            k /= 3;
        while (k % 5 == 0)
            k /= 5;
        if (k == 1) return n;
    }
}

/* pYIN's threshold prior: mass of Beta(a, b) on ((i-1)/100, i/100], by Simpson's rule on
 * each interval (exact enough for a prior; no incomplete-beta function needed). */
static void beta_masses(double *p, double a, double b) {
    double total = 0.0;
    p[0] = 0.0;
    for (int i = 1; i <= N_THR; i++) {
        const int S = 64;
        double acc = 0.0;
        for (int k = 0; k <= S; k++) {
            const double u = ((i - 1) + (double)k / S) / N_THR;
            acc += pow(u, a - 1.0) * pow(1.0 - u, b - 1.0) *
                   (k == 0 || k == S ? 1.0 : (k % 2 ? 4.0 : 2.0));
        }
        p[i] = acc;
        total += acc;
    }
    for (int i = 1; i <= N_THR; i++)
        p[i] /= total;
}

static void ctx_free(f0_ctx *s) {
    ddsp_free(s->g);
    ddsp_free(s->amp);
    ddsp_free(s->D);
    ddsp_free(s->cmnd);
    ddsp_free(s->log_loc);
    ddsp_free(s->delta);
    ddsp_free(s->delta_new);
    ddsp_free(s->mass);
    ddsp_free(s->pcol);
    ddsp_free(s->zf);
    ddsp_free(s->Zf);
    ddsp_free(s->ze);
    ddsp_free(s->Ze);
    ddsp_free(s->Kh);
    ddsp_free(s->bp);
    ddsp_free(s->jsrc);
    ddsp_free(s->path);
    ddsp_free(s->cand);
    ddsp_free(s->ncand);
}

static int ctx_init(f0_ctx *s, const ddsp_f0_config *c, const ddsp_f0_tuning *t, size_t F) {
    memset(s, 0, sizeof *s);
    if (!(t->sigma_s > 0.0) || t->bins_per_octave < 6 || t->bins_per_octave > 1200 ||
        !(t->emit_floor > 0.0) || !(t->vp_clamp > 0.0 && t->vp_clamp < 0.5) ||
        !(t->jump_rate > 0.0) || !(t->voicing_rate > 0.0) || !(t->glide_oct_s >= 0.0) ||
        !(t->beta_a >= 1.0) || !(t->beta_b >= 1.0) || !(t->pitch_beta_a >= 1.0) ||
        !(t->pitch_beta_b >= 1.0) || !(t->boltzmann > 0.0) ||
        (t->ring_frames && t->lag_frames >= t->ring_frames))
        return ddsp_error("f0: bad tuning parameters");
    s->sr = c->sample_rate;
    s->hop = c->hop;
    s->fmin = c->fmin;
    s->fmax = c->fmax;
    s->tau_lo = (int)floor(s->sr / s->fmax);
    s->tau_max = (int)ceil(s->sr / s->fmin);
    s->tau_hi = s->tau_max + 2;
    s->sig = t->sigma_s * s->sr;
    /* Frame length L >= tau_hi + 2R with G(R) = e^-10.6: the pairs the frame misses (midpoint
     * beyond R) and the circular FFT's wrap-around both weigh < 5e-5 of the frame's energy.
     * The energy sums reach every sample of the frame (radius RE), so the pairs the frame
     * misses can only make D larger, never smaller; the wrap-around error, of either sign,
     * is covered by the floor D_FLOOR. */
    s->R = (int)ceil(4.6 * s->sig / sqrt(2.0));
    s->L = fft_size(s->tau_hi + 2 * s->R);
    s->RE = s->L / 2 + s->tau_hi / 2 + 2;
    const int nE = s->hop * (BLOCK - 1) + 2 * (s->tau_hi / 2) + 6;
    s->Lc = fft_size(nE + 2 * s->RE + 2);
    s->bpo = t->bins_per_octave;
    s->M = (int)floor(s->bpo * log2(s->fmax / s->fmin)) + 1;
    const double fps = (double)s->sr / s->hop;
    s->w = (int)ceil(s->bpo * t->glide_oct_s / fps);
    if (s->w < 1) s->w = 1;
    if (s->w > 100) s->w = 100;
    s->emit_floor = t->emit_floor;
    /* consecutive frames share most of their samples (the weight G spans sig sqrt(pi)
     * samples, ~6 hops by default), so their evidence is not independent: each frame's
     * log-likelihood counts hop / (sig sqrt(pi)) of a full observation */
    const double share = fmin(1.0, s->hop / (s->sig * sqrt(F0_PI)));
    s->emit_power = t->emit_power > 0.0 ? t->emit_power : share;
    s->vpow = t->voicing_power > 0.0 ? t->voicing_power : share;
    s->log_floor = log(t->emit_floor);
    const double pj = 1.0 - exp(-t->jump_rate / fps);
    s->log_jump = log(pj / s->M);
    s->sv = 1.0 - exp(-t->voicing_rate / fps);
    s->vclamp = t->vp_clamp;
    s->no_trough = t->no_trough_prob;
    s->lam = t->boltzmann;
    beta_masses(s->beta_p, t->beta_a, t->beta_b);
    beta_masses(s->beta_q, t->pitch_beta_a, t->pitch_beta_b);
    s->n_thr = N_THR;
    while (s->n_thr > 1 && s->beta_p[s->n_thr] < 1e-12 && s->beta_q[s->n_thr] < 1e-12)
        s->n_thr--;
    for (int k = 0; k <= MAX_TROUGHS; k++)
        s->boltz[k] = exp(-s->lam * k);
    for (int k = 1; k <= MAX_TROUGHS; k++)
        s->znorm[k] = (1.0 - s->boltz[1]) / (1.0 - s->boltz[k]);
    s->cbp[0] = s->cbq[0] = 0.0;
    for (int i = 1; i <= N_THR; i++) {
        s->cbp[i] = s->cbp[i - 1] + (i <= s->n_thr ? s->beta_p[i] : 0.0);
        s->cbq[i] = s->cbq[i - 1] + (i <= s->n_thr ? s->beta_q[i] : 0.0);
    }
    s->C = t->ring_frames ? t->ring_frames : F;
    if (s->C > F) s->C = F;
    s->lag = t->lag_frames;

    const size_t L = (size_t)s->L, Lc = (size_t)s->Lc, M = (size_t)s->M, th = (size_t)s->tau_hi + 1;
    s->g = ddsp_alloc(sizeof(double) * L);
    s->amp = ddsp_alloc(sizeof(double) * th);
    s->D = ddsp_alloc(sizeof(double) * th);
    s->cmnd = ddsp_alloc(sizeof(double) * th);
    s->log_loc = ddsp_alloc(sizeof(double) * (size_t)(2 * s->w + 1));
    s->delta = ddsp_alloc(sizeof(double) * M);
    s->delta_new = ddsp_alloc(sizeof(double) * M);
    s->mass = ddsp_alloc(sizeof(double) * M);
    s->pcol = ddsp_alloc(sizeof(double) * (L / 2 + 1));
    s->zf = ddsp_alloc(sizeof(fftw_complex) * L * (BLOCK / 2));
    s->Zf = ddsp_alloc(sizeof(fftw_complex) * L * (BLOCK / 2));
    s->ze = ddsp_alloc(sizeof(fftw_complex) * Lc);
    s->Ze = ddsp_alloc(sizeof(fftw_complex) * Lc);
    s->Kh = ddsp_alloc(sizeof(fftw_complex) * Lc);
    s->bp = ddsp_alloc(s->C * M);
    s->jsrc = ddsp_alloc(sizeof(int32_t) * s->C);
    s->path = ddsp_alloc(sizeof(int32_t) * s->C);
    s->cand = ddsp_alloc(sizeof(f0_cand) * s->C * MAX_CAND);
    s->ncand = ddsp_alloc(s->C);
    if (!s->g || !s->amp || !s->D || !s->cmnd || !s->log_loc || !s->delta || !s->delta_new ||
        !s->mass || !s->pcol || !s->zf || !s->Zf || !s->ze || !s->Ze || !s->Kh || !s->bp ||
        !s->jsrc || !s->path || !s->cand || !s->ncand)
        return ddsp_error("f0: out of memory (%zu frames, %d pitch bins)", F, s->M);

    for (int j = 0; j < s->L; j++) {
        double p = j - s->L / 2;
        s->g[j] = exp(-p * p / (2.0 * s->sig * s->sig));
    }
    for (int tau = 0; tau <= s->tau_hi; tau++) /* with the 2 of D and the 1/L of the FFT */
        s->amp[tau] = 2.0 / s->L * exp((double)tau * tau / (4.0 * s->sig * s->sig));
    double tri = 0.0;
    for (int d = -s->w; d <= s->w; d++)
        tri += s->w + 1 - abs(d);
    for (int d = -s->w; d <= s->w; d++)
        s->log_loc[d + s->w] = log((1.0 - pj) * (s->w + 1 - abs(d)) / tri);

    /* kernel of the energy convolution: real part G(e) (integer grid), imaginary part
     * G(e + 1/2) (half-sample grid); both real in time, so one complex product and one
     * inverse transform give both smoothed energies. 1/Lc folded in. */
    memset(s->ze, 0, sizeof(fftw_complex) * Lc);
    for (int e = -s->RE; e <= s->RE; e++) {
        size_t j = (size_t)((e + s->Lc) % s->Lc);
        s->ze[j][0] = exp(-(double)e * e / (s->sig * s->sig));
        s->ze[j][1] = exp(-(e + 0.5) * (e + 0.5) / (s->sig * s->sig));
    }
    s->pf_fwd = ddsp_fft_plan_c2c_f64(s->L, BLOCK / 2, FFTW_FORWARD);
    s->pf_bwd = ddsp_fft_plan_c2c_f64(s->L, BLOCK / 2, FFTW_BACKWARD);
    s->pe_fwd = ddsp_fft_plan_c2c_f64(s->Lc, 1, FFTW_FORWARD);
    s->pe_bwd = ddsp_fft_plan_c2c_f64(s->Lc, 1, FFTW_BACKWARD);
    fftw_execute_dft(s->pe_fwd, s->ze, s->Kh);
    for (size_t k = 0; k < Lc; k++) {
        s->Kh[k][0] /= s->Lc;
        s->Kh[k][1] /= s->Lc;
    }
    return DDSP_OK;
}

/* Smoothed energies for the block of frames starting at t0: afterwards
 * E(n) = Ze[n - e_lo][0] and E(n + 1/2) = Ze[n - e_lo][1] for the n the block needs. */
static int64_t block_energy(f0_ctx *s, const float *x, size_t N, size_t t0, double *total) {
    const int64_t lo = (int64_t)s->hop * (int64_t)t0 - s->tau_hi / 2 - 2;
    const int64_t start = lo - s->RE; /* sample in ze[0] */
    double sum = 0.0;
    for (int j = 0; j < s->Lc; j++) {
        int64_t i = start + j;
        double v = (i >= 0 && (size_t)i < N) ? x[i] : 0.0;
        s->ze[j][0] = v * v;
        s->ze[j][1] = 0.0;
        sum += v * v;
    }
    *total = sum;
    fftw_execute_dft(s->pe_fwd, s->ze, s->Ze);
    for (int k = 0; k < s->Lc; k++) {
        double a = s->Ze[k][0], b = s->Ze[k][1], c = s->Kh[k][0], d = s->Kh[k][1];
        s->ze[k][0] = a * c - b * d;
        s->ze[k][1] = a * d + b * c;
    }
    fftw_execute_dft(s->pe_bwd, s->ze, s->Ze);
    return lo - s->RE; /* Ze index of sample n is n - lo + RE */
}

/* The frame being analysed: its power spectrum P_k = P[k][h] (k < L) and the smoothed
 * energies around its centre c, E(c + n) = Ec[n][0], E(c + n + 1/2) = Ec[n][1]. */
typedef struct {
    const fftw_complex *P;
    int h;
    const fftw_complex *Ec;
} f0_frame;

/* G-smoothed energy at c + u (u real) with its first two derivatives: a parabola through the
 * three nearest half-sample grid points (E varies on the scale of sig, so this is exact to
 * ~1e-8 relative). */
static void energy_at(const f0_frame *fr, double u, double *e) {
    const double g = 2.0 * u;
    const int j = (int)lround(g);
    double v[3];
    for (int i = -1; i <= 1; i++) {
        const int q = j + i, n = q >= 0 ? q / 2 : -((1 - q) / 2); /* floor(q / 2) */
        v[i + 1] = fr->Ec[n][q - 2 * n];
    }
    const double a = 0.5 * (v[2] - v[0]), b = 0.5 * (v[2] - 2.0 * v[1] + v[0]), x = g - j;
    e[0] = v[1] + x * (a + x * b);
    e[1] = 2.0 * (a + 2.0 * b * x);
    e[2] = 8.0 * b;
}

/* One Newton step on D at a fractional lag, from the parabola's estimate tau. Parabolic
 * interpolation of D at integer lags is biased when harmonics turn by a large angle per lag
 * sample (4.6 cents for a 1760 Hz tone with 1/k harmonics at 16 kHz); D is evaluated here
 * exactly: r_g and its derivatives from the frame's power spectrum (the band-limited
 * interpolation of the autocorrelation), the energy terms from their smooth interpolation. */
static double newton_refine(const f0_ctx *s, const f0_frame *fr, const double *pc, double tau) {
    /* sums over bins k < L/2 of pc_k (cos, k sin, k^2 cos)(k phi), pc_k = 2 P_k, as eight
     * interleaved rotations so that the loop vectorises; then the k = 0 and L/2 corrections */
    enum { V = 8 };
    const int L = s->L, H = L / 2;
    const double phi = 2.0 * F0_PI * tau / L;
    double c[V], sn[V], a0[V], a1[V], a2[V], kk[V];
    c[0] = 1.0, sn[0] = 0.0;
    const double cp = cos(phi), sp = sin(phi);
    for (int j = 1; j < V; j++) {
        c[j] = c[j - 1] * cp - sn[j - 1] * sp;
        sn[j] = sn[j - 1] * cp + c[j - 1] * sp;
    }
    const double cV = c[V - 1] * cp - sn[V - 1] * sp, sV = sn[V - 1] * cp + c[V - 1] * sp;
    for (int j = 0; j < V; j++)
        a0[j] = a1[j] = a2[j] = 0.0, kk[j] = j;
    int k0 = 0;
    for (; k0 + V <= H; k0 += V) {
        for (int j = 0; j < V; j++) {
            const double p = pc[k0 + j], pk = p * kk[j];
            a0[j] += p * c[j];
            a1[j] += pk * sn[j];
            a2[j] += pk * kk[j] * c[j];
            const double cn = c[j] * cV - sn[j] * sV;
            sn[j] = sn[j] * cV + c[j] * sV;
            c[j] = cn;
            kk[j] += V;
        }
    }
    double A0 = 0.0, A1 = 0.0, A2 = 0.0;
    for (int j = 0; j < V; j++)
        A0 += a0[j], A1 += a1[j], A2 += a2[j];
    for (int k = k0; k < H; k++) { /* remainder (H not a multiple of V) */
        const double ck = cos(k * phi), sk = sin(k * phi);
        A0 += pc[k] * ck;
        A1 += pc[k] * k * sk;
        A2 += pc[k] * (double)k * k * ck;
    }
    const double pny = 0.5 * pc[H], cn = cos(H * phi), sny = sin(H * phi);
    A0 += pny * cn - 0.5 * pc[0];
    A1 += pny * H * sny;
    A2 += pny * (double)H * H * cn;

    const double w = 2.0 * F0_PI / L, r = A0 / L, r1 = -w * A1 / L, r2 = -w * w * A2 / L;
    const double s2 = s->sig * s->sig, amp = exp(tau * tau / (4.0 * s2));
    const double am1 = amp * tau / (2.0 * s2);
    const double am2 = amp * (1.0 / (2.0 * s2) + tau * tau / (4.0 * s2 * s2));
    double em[3], ep[3];
    energy_at(fr, -0.5 * tau, em);
    energy_at(fr, 0.5 * tau, ep);
    const double d1 = 0.5 * (ep[1] - em[1]) - 2.0 * (am1 * r + amp * r1);
    const double d2 = 0.25 * (ep[2] + em[2]) - 2.0 * (am2 * r + 2.0 * am1 * r1 + amp * r2);
    if (!(d2 > 0.0)) return tau;
    const double step = -d1 / d2;
    return fabs(step) < 0.5 ? tau + step : tau;
}

/* Candidates of one frame from D (filled in s->D): returns the voiced probability and fills
 * cand (up to MAX_CAND) and *nc. */
static double frame_candidates(f0_ctx *s, const f0_frame *fr, f0_cand *cand, int *nc) {
    const double *D = s->D;
    double *cm = s->cmnd;
    double cum = 0.0;
    cm[0] = 1.0;
    for (int tau = 1; tau <= s->tau_hi; tau++) {
        cum += D[tau];
        cm[tau] = cum > 1e-300 ? D[tau] * tau / cum : 1.0;
    }
    *nc = 0;
    /* troughs (interior local minima) of d', shortest period first */
    int tr[MAX_TROUGHS];
    double prob[MAX_TROUGHS], pv[MAX_TROUGHS];
    int n = 0, gmin = -1;
    for (int tau = s->tau_lo; tau <= s->tau_max && n < MAX_TROUGHS; tau++) {
        if (cm[tau] < cm[tau - 1] && cm[tau] <= cm[tau + 1]) {
            if (gmin < 0 || cm[tau] < cm[tr[gmin]]) gmin = n;
            prob[n] = pv[n] = 0.0;
            tr[n++] = tau;
        }
    }
    if (n == 0) return 0.0;
    /* pYIN: at threshold i/100 (prior mass beta_p[i]) the troughs below it share the mass by
     * a Boltzmann distribution over their order (librosa.pyin); none below: the global
     * minimum gets no_trough_prob of it. Trough j is below thresholds i >= ti[j]; between
     * consecutive distinct ti the set is fixed, so whole runs of thresholds are added at once
     * from the cumulative masses. */
    int ti[MAX_TROUGHS];
    for (int j = 0; j < n; j++) {
        const double v = cm[tr[j]] * N_THR;
        ti[j] = v >= s->n_thr ? s->n_thr + 1 : (int)floor(v) + 1;
    }
    int cur = ti[gmin];
    prob[gmin] += s->no_trough * s->cbq[cur - 1];
    pv[gmin] += s->no_trough * s->cbp[cur - 1];
    while (cur <= s->n_thr) {
        int next = s->n_thr + 1, nb = 0;
        for (int j = 0; j < n; j++) {
            if (ti[j] <= cur)
                nb++;
            else if (ti[j] < next)
                next = ti[j];
        }
        const double z = s->znorm[nb];
        const double mq = z * (s->cbq[next - 1] - s->cbq[cur - 1]);
        const double mp = z * (s->cbp[next - 1] - s->cbp[cur - 1]);
        for (int j = 0, k = 0; j < n; j++)
            if (ti[j] <= cur) {
                prob[j] += mq * s->boltz[k];
                pv[j] += mp * s->boltz[k++];
            }
        cur = next;
    }
    double vp = 0.0;
    for (int j = 0; j < n; j++)
        vp += pv[j];
    /* keep the MAX_CAND most probable (the earlier trough on ties) */
    for (int m = 0; m < MAX_CAND; m++) {
        int best = -1;
        for (int j = 0; j < n; j++)
            if (prob[j] > 1e-6 && (best < 0 || prob[j] > prob[best])) best = j;
        if (best < 0) break;
        /* refine on D: walk to its local minimum next to the d' trough, then fit a parabola */
        int t = tr[best];
        for (int step = 0; step < 2; step++) {
            if (t > 1 && D[t - 1] < D[t])
                t--;
            else if (t + 1 < s->tau_hi && D[t + 1] < D[t])
                t++;
        }
        double a = D[t - 1], b = D[t], cc = D[t + 1], den = a - 2.0 * b + cc, dt = 0.0;
        if (den > 0.0) dt = 0.5 * (a - cc) / den;
        if (dt > 1.0) dt = 1.0;
        if (dt < -1.0) dt = -1.0;
        double tr_hat = t + dt;
        if (m < MAX_REFINE && prob[best] >= REFINE_MIN_PROB) {
            if (m == 0) /* the frame's power spectrum, doubled, contiguous */
                for (int k = 0; k <= s->L / 2; k++)
                    s->pcol[k] = 2.0 * fr->P[k][fr->h];
            tr_hat = newton_refine(s, fr, s->pcol, tr_hat);
        }
        double f = s->sr / tr_hat;
        if (f < s->fmin) f = s->fmin;
        if (f > s->fmax) f = s->fmax;
        double bpos = s->bpo * log2(f / s->fmin);
        if (bpos > s->M - 1) bpos = s->M - 1;
        cand[*nc] = (f0_cand){(float)f, (float)bpos, (float)prob[best]};
        (*nc)++;
        prob[best] = 0.0;
    }
    return vp > 1.0 ? 1.0 : vp;
}

/* One Viterbi step into frame t (ring slot t % C). */
static void viterbi_step(f0_ctx *s, size_t t, const f0_cand *cand, int nc) {
    const int M = s->M, w = s->w;
    double *prev = s->delta, *cur = s->delta_new;
    /* emissions: log(floor + mass); only bins that hold candidate mass differ from the floor */
    int touched[2 * MAX_CAND];
    int nt = 0;
    for (int j = 0; j < nc; j++) {
        int m0 = (int)cand[j].b;
        double fr = cand[j].b - m0;
        if (m0 >= M - 1) m0 = M - 1, fr = 0.0;
        s->mass[m0] += cand[j].p * (1.0 - fr);
        touched[nt++] = m0;
        if (fr > 0.0) {
            s->mass[m0 + 1] += cand[j].p * fr;
            touched[nt++] = m0 + 1;
        }
    }
    if (t == 0) {
        for (int m = 0; m < M; m++)
            cur[m] = s->log_floor;
    } else {
        int8_t *bp = s->bp + (t % s->C) * (size_t)M;
        int best = 0;
        for (int m = 1; m < M; m++)
            if (prev[m] > prev[best]) best = m;
        s->jsrc[t % s->C] = best;
        const double vjump = prev[best] + s->log_jump;
        const double *loc = s->log_loc + w; /* loc[d], d = -w..w */
        for (int m = 0; m < M; m++) {
            double v = vjump;
            int code = JUMP;
            const int dlo = m - (M - 1) > -w ? m - (M - 1) : -w, dhi = m < w ? m : w;
            const double *pm = prev + m;
            for (int d = dlo; d <= dhi; d++) { /* from bin m - d */
                const double u = pm[-d] + loc[d];
                if (u > v) v = u, code = d;
            }
            cur[m] = v + s->log_floor;
            bp[m] = (int8_t)code;
        }
    }
    for (int i = 0; i < nt; i++) {
        int m = touched[i];
        if (s->mass[m] > 0.0) {
            cur[m] += s->emit_power * (log(s->emit_floor + s->mass[m]) - s->log_floor);
            s->mass[m] = 0.0;
        }
    }
    double mx = cur[0];
    for (int m = 1; m < M; m++)
        mx = cur[m] > mx ? cur[m] : mx;
    for (int m = 0; m < M; m++)
        cur[m] -= mx;
    s->delta = cur;
    s->delta_new = prev;
}

/* Trace back from the best bin at frame t_end to t_start and write f0 for frames
 * [t_start, t_commit). */
static void commit(f0_ctx *s, size_t t_start, size_t t_end, size_t t_commit, float *f0_hz) {
    int m = 0;
    for (int k = 1; k < s->M; k++)
        if (s->delta[k] > s->delta[m]) m = k;
    for (size_t t = t_end;; t--) {
        s->path[t % s->C] = m;
        if (t == t_start) break;
        int code = s->bp[(t % s->C) * (size_t)s->M + m];
        m = code == JUMP ? s->jsrc[t % s->C] : m - code;
    }
    for (size_t t = t_start; t < t_commit; t++) {
        const f0_cand *cd = s->cand + (t % s->C) * MAX_CAND;
        const int nc = s->ncand[t % s->C], pm = s->path[t % s->C];
        int best = -1;
        for (int j = 0; j < nc; j++)
            if (fabsf(cd[j].b - (float)pm) <= 1.5f && (best < 0 || cd[j].p > cd[best].p)) best = j;
        f0_hz[t] = best >= 0 ? cd[best].f : (float)(s->fmin * exp2(pm / s->bpo));
    }
}

int ddsp_f0_track_tuned(const ddsp_f0_config *c, const ddsp_f0_tuning *tn, const float *x, size_t N,
                        float *f0_hz, float *conf, float *voiced_prob) {
    if (ddsp_f0_config_check(c)) return DDSP_ERR;
    if (N == 0) return DDSP_OK;
    if (!x || !f0_hz || !conf) return ddsp_error("f0: NULL buffer for %zu samples", N);
    const size_t F = ddsp_feature_frames(N, c->hop);
    f0_ctx s;
    int rc = ctx_init(&s, c, tn, F);
    if (rc) goto cleanup;

    size_t done = 0; /* frames whose f0 is final */
    double alpha = 0.5;
    for (size_t t0 = 0; t0 < F; t0 += BLOCK) {
        double eblock;
        const int64_t eoff = block_energy(&s, x, N, t0, &eblock);
        /* frame pairs (t0 + 2p real, t0 + 2p + 1 imaginary), windowed by g */
        double efloor[BLOCK];
        for (int p = 0; p < BLOCK / 2; p++) {
            fftw_complex *z = s.zf + (size_t)p * s.L;
            for (int h = 0; h < 2; h++) {
                const size_t t = t0 + 2 * (size_t)p + (size_t)h;
                const int64_t start = (int64_t)s.hop * (int64_t)t - s.L / 2;
                int64_t jlo = -start, jhi = (int64_t)N - start;
                jlo = jlo < 0 ? 0 : jlo > s.L ? s.L : jlo;
                jhi = jhi < jlo ? jlo : jhi > s.L ? s.L : jhi;
                if (t >= F) jlo = jhi = 0;
                double e = 0.0;
                for (int64_t j = 0; j < jlo; j++)
                    z[j][h] = 0.0;
                for (int64_t j = jlo; j < jhi; j++) {
                    const double v = x[start + j];
                    z[j][h] = v * s.g[j];
                    e += v * v;
                }
                for (int64_t j = jhi; j < s.L; j++)
                    z[j][h] = 0.0;
                efloor[2 * p + h] = D_FLOOR * e + E_FLOOR * eblock;
            }
        }
        fftw_execute_dft(s.pf_fwd, s.zf, s.Zf);
        /* power spectra of the two real frames, packed again as real + i imag */
        for (int p = 0; p < BLOCK / 2; p++) {
            const fftw_complex *Z = s.Zf + (size_t)p * s.L;
            fftw_complex *P = s.zf + (size_t)p * s.L;
            for (int k = 0; k < s.L; k++) {
                const int km = k ? s.L - k : 0;
                const double ar = Z[k][0], ai = Z[k][1], br = Z[km][0], bi = Z[km][1];
                const double n2 = ar * ar + ai * ai + br * br + bi * bi;
                const double re = 2.0 * (ar * br - ai * bi); /* 2 Re(Z_k Z_{L-k}) */
                P[k][0] = 0.25 * (n2 + re);
                P[k][1] = 0.25 * (n2 - re);
            }
        }
        fftw_execute_dft(s.pf_bwd, s.zf, s.Zf);

        for (int q = 0; q < BLOCK && t0 + (size_t)q < F; q++) {
            const size_t t = t0 + (size_t)q;
            const fftw_complex *r = s.Zf + (size_t)(q / 2) * s.L;
            const int h = q & 1;
            const int64_t cidx = (int64_t)s.hop * (int64_t)t - eoff;
            const fftw_complex *Ec = s.Ze + cidx;
            const double fl = efloor[q];
            for (int tau = 0; tau <= s.tau_hi; tau += 2) {
                const double d = Ec[-tau / 2][0] + Ec[tau / 2][0] - s.amp[tau] * r[tau][h];
                s.D[tau] = (d > 0.0 ? d : 0.0) + fl;
            }
            for (int tau = 1; tau <= s.tau_hi; tau += 2) { /* odd lags: E at half samples */
                const double d =
                    Ec[-(tau + 1) / 2][1] + Ec[(tau - 1) / 2][1] - s.amp[tau] * r[tau][h];
                s.D[tau] = (d > 0.0 ? d : 0.0) + fl;
            }
            const size_t slot = t % s.C;
            int nc;
            const f0_frame fr = {s.zf + (size_t)(q / 2) * s.L, h, Ec};
            double vp = frame_candidates(&s, &fr, s.cand + slot * MAX_CAND, &nc);
            s.ncand[slot] = (uint8_t)nc;
            if (voiced_prob) voiced_prob[t] = (float)vp;
            viterbi_step(&s, t, s.cand + slot * MAX_CAND, nc);
            /* voicing: forward filter, P(voiced | frames <= t) kept in conf[t] */
            double ev = vp < s.vclamp ? s.vclamp : vp > 1.0 - s.vclamp ? 1.0 - s.vclamp : vp;
            double pi = t == 0 ? 0.5 : alpha * (1.0 - s.sv) + (1.0 - alpha) * s.sv;
            const double lv = pow(ev, s.vpow), lu = pow(1.0 - ev, s.vpow);
            alpha = pi * lv / (pi * lv + (1.0 - pi) * lu);
            conf[t] = (float)alpha;
            if (t + 1 - done == s.C && t + 1 < F) {
                commit(&s, done, t, t + 1 - s.lag, f0_hz);
                done = t + 1 - s.lag;
            }
        }
    }
    commit(&s, done, F - 1, F, f0_hz);

    /* voicing: backward pass (two-state smoother on the filtered probabilities) */
    for (size_t t = F - 1; t-- > 0;) {
        const double a = conf[t], g1 = conf[t + 1];
        const double pi = a * (1.0 - s.sv) + (1.0 - a) * s.sv;
        double gam = a * ((1.0 - s.sv) * g1 / pi + s.sv * (1.0 - g1) / (1.0 - pi));
        conf[t] = (float)(gam < 0.0 ? 0.0 : gam > 1.0 ? 1.0 : gam);
    }
    /* unvoiced frames: f0 of the nearest voiced frame */
    size_t last_v = SIZE_MAX;
    for (size_t t = 0; t <= F; t++) {
        if (t < F && conf[t] < 0.5f) continue;
        const size_t a = last_v == SIZE_MAX ? 0 : last_v + 1;
        for (size_t u = a; u < t; u++) {
            size_t src;
            if (last_v == SIZE_MAX)
                src = t;
            else if (t == F)
                src = last_v;
            else
                src = (u - last_v <= t - u) ? last_v : t;
            f0_hz[u] = src < F ? f0_hz[src] : (float)sqrt(s.fmin * s.fmax);
        }
        last_v = t;
    }

cleanup:
    ctx_free(&s);
    return rc;
}

int ddsp_f0_track(const ddsp_f0_config *c, const float *x, size_t N, float *f0_hz, float *conf) {
    ddsp_f0_tuning t;
    ddsp_f0_tuning_default(&t);
    return ddsp_f0_track_tuned(c, &t, x, N, f0_hz, conf, NULL);
}
