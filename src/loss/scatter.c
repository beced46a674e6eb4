/* Time scattering (Andén & Mallat 2014, "Deep scattering spectrum") and its exact adjoint.
 *
 * Definition. Frequencies are in cycles per sample. x (N samples) is zero-padded to P, the
 * smallest 2^a 3^b 5^c >= N + 2^J (even); every convolution is circular over P. Filters are
 * defined on the bins j of P (bin j = frequency j/P) and are real in frequency:
 *   ψ_λ: analytic Morlet, ψ(f) = g(f - ξ) - κ g(f) for f > 0 and 0 for f <= 0, with
 *        g(f) = exp(-f^2 / 2σ^2), κ = g(ξ) (so ψ(0) = 0), truncated to |f - ξ| <= 5σ.
 *        First order: ξ_l = ξ_max 2^(-l/Q), l = 0 .. J*Q - 1, ξ_max = max(1/(1 + 2^(3/Q)),
 *        0.35) (kymatio's choice), σ = ξ (1 - 2^(-1/Q)) / (2 sqrt(ln 2)): neighbours cross
 *        at sqrt(1/2) of their peak. Second order: the same with Q = 1, l = 0 .. J - 1.
 *   φ_J: Gaussian low-pass g with σ_φ = 0.1 / 2^J, truncated to |f| <= 5σ_φ.
 *   U1[l1] = |x ⋆ ψ_l1|,  S1[l1] = U1[l1] ⋆ φ_J,
 *   U2[l1,l2] = |U1[l1] ⋆ ψ_l2|,  S2[l1,l2] = U2[l1,l2] ⋆ φ_J,
 * with the second-order paths kept where ξ_l2 <= 4 σ_l1 (the envelope |x ⋆ ψ_l1| has no
 * energy above that). S1 and S2 are sampled at MJ points over P (MJ: the smallest power of
 * two that holds φ_J's band), so each row is MJ numbers.
 *
 * Computation. A filtered signal whose spectrum sits in nb bins is computed on only M >= nb
 * points: bin j goes to slot j mod M of an M-point inverse DFT, which gives the filtered
 * signal exactly at times m P / M (bins that are distinct mod M do not alias). Modulus
 * envelopes are then sampled on M points, with M >= 2 nb so that the envelope's own
 * spectrum (twice as wide) fits. Envelope spectra come from r2c transforms of size M; their
 * bin j is again frequency j/P. Scalings (1/P, 1/M) make every array the true samples of
 * the continuous-over-P quantity, whatever M is.
 *
 * Gradient: the adjoint of each step in reverse order (c2r <-> r2c with interior bins
 * weighted 2 or 1/2, c2c forward <-> backward, |z| -> z/|z| (0 at z = 0)). Each task
 * (item, l1) recomputes both forward paths, takes the loss, and runs the backward for its
 * l1 only; its gradient lands in l1's own band of dL/dX, and bands are summed in a fixed
 * order, so the thread count does not change a bit. */
#include "loss/phi_terms.h"

#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double xi, sigma;
    int lo, nb;  /* support: bins lo .. lo + nb - 1 */
    int M;       /* points the filtered signal is computed on */
    double *psi; /* (nb) filter values */
} filt_t;

typedef struct {
    fftw_complex *in, *out; /* (Mmax) c2c input / output scratch */
    fftw_complex *z;        /* (Mmax) first-order filtered signal of the current row */
    fftw_complex *z2;       /* (z2len) its second-order filtered signals */
    fftw_complex *uh;       /* (Mmax/2+1) first-order envelope spectrum */
    fftw_complex *guh;      /* (Mmax/2+1) gradient w.r.t. uh */
    fftw_complex *vh, *ch;  /* (Mmax/2+1) scratch spectra */
    double *u, *r;          /* (Mmax) envelope / c2r output scratch */
    double *s1t, *s1e, *g1; /* (MJ) */
    double *s2t, *s2e;      /* (n2, MJ) */
    double *xp;             /* (P) padded signal / its gradient */
    fftw_complex *X;        /* (P/2+1) scratch spectrum */
} work_t;

struct scat {
    size_t N, max_batch;
    int P, J, Q, MJ, jphi;
    double *phi; /* (jphi + 1) low-pass at bins 0 .. jphi */
    int n1, n2, npath, Mmax, z2len;
    filt_t *f1, *f2; /* (n1), (n2) */
    int *first2;     /* (n1) first second-order filter of each first-order row (n2: none) */
    int *path_off;   /* (n1) row of S2 where l1's paths start */
    int *z2_off;     /* (n2) offset of each second-order signal in work z2 */
    size_t *band_off, band_len; /* (n1) offsets of the first-order bands in a band buffer */
    fftw_complex *Xt, *Xe;      /* (max_batch, P/2+1) spectra of the padded signals */
    fftw_complex *gband;        /* (max_batch, band_len) dL/dX, per first-order band */
    double *part;               /* (max_batch, n1, 2) loss sums per task */
    /* dist cos and ddsp_phi_compare: both signals' coefficients, S1 (max_batch, 2, n1, MJ)
     * and S2 (max_batch, 2, npath, MJ) (target first), their gradients dS1 (max_batch, n1,
     * MJ), dS2 (max_batch, npath, MJ); the band of every S1 row and S2 path */
    double *rows1, *rows2, *dS1, *dS2;
    unsigned char *band1, *band2;
    int nthreads;
    work_t *work;
    /* plans made at init, looked up by size here (not in the shared cache: that takes a
     * lock per lookup, and a row runs dozens of transforms) */
    fftw_plan r2c_P, c2r_P;
    struct {
        fftw_plan fwd, bwd, r2c, c2r;
    } pl[32]; /* by log2 of the size, powers of two 4 .. Mmax */
};

static int log2i(int M) {
    int k = 0;
    while ((1 << k) < M) k++;
    return k;
}

/* smallest even 2^a 3^b 5^c >= m */
static int nice_size(size_t m) {
    for (size_t n = m + (m & 1);; n += 2) {
        size_t r = n;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1) return (int)n;
    }
}

static int pow2_at_least(int m) {
    int n = 4;
    while (n < m) n *= 2;
    return n;
}

/* Morlet filter with centre xi, width sigma on the bins of P (analytic: bins 1 .. P/2). */
static int filt_make(filt_t *f, double xi, double sigma, int P) {
    f->xi = xi, f->sigma = sigma;
    int lo = (int)floor((xi - 5.0 * sigma) * P), hi = (int)ceil((xi + 5.0 * sigma) * P);
    if (lo < 1) lo = 1;
    if (hi > P / 2) hi = P / 2;
    f->lo = lo, f->nb = hi - lo + 1;
    f->psi = ddsp_alloc(sizeof(double) * (size_t)f->nb);
    if (!f->psi) return DDSP_ERR;
    const double kappa = exp(-xi * xi / (2.0 * sigma * sigma));
    for (int i = 0; i < f->nb; i++) {
        const double fr = (double)(lo + i) / P, d = fr - xi;
        f->psi[i] = exp(-d * d / (2.0 * sigma * sigma)) - kappa * exp(-fr * fr / (2.0 * sigma * sigma));
    }
    return DDSP_OK;
}

static double xi_max(int Q) {
    const double x = 1.0 / (1.0 + pow(2.0, 3.0 / Q));
    return x > 0.35 ? x : 0.35;
}

static double sigma_of(double xi, int Q) {
    return xi * (1.0 - pow(2.0, -1.0 / Q)) / (2.0 * sqrt(log(2.0)));
}

void scat_free(scat_t *s) {
    if (!s) return;
    for (int l = 0; s->f1 && l < s->n1; l++) ddsp_free(s->f1[l].psi);
    for (int l = 0; s->f2 && l < s->n2; l++) ddsp_free(s->f2[l].psi);
    free(s->f1), free(s->f2), free(s->first2), free(s->path_off), free(s->z2_off);
    free(s->band_off);
    ddsp_free(s->phi), ddsp_free(s->Xt), ddsp_free(s->Xe), ddsp_free(s->gband);
    ddsp_free(s->part);
    ddsp_free(s->rows1), ddsp_free(s->rows2), ddsp_free(s->dS1), ddsp_free(s->dS2);
    free(s->band1), free(s->band2);
    for (int t = 0; s->work && t < s->nthreads; t++) {
        work_t *w = &s->work[t];
        ddsp_free(w->in), ddsp_free(w->out), ddsp_free(w->z), ddsp_free(w->z2);
        ddsp_free(w->uh), ddsp_free(w->guh), ddsp_free(w->vh), ddsp_free(w->ch);
        ddsp_free(w->u), ddsp_free(w->r), ddsp_free(w->s1t), ddsp_free(w->s1e);
        ddsp_free(w->g1), ddsp_free(w->s2t), ddsp_free(w->s2e);
        ddsp_free(w->xp), ddsp_free(w->X);
    }
    free(s->work);
    free(s);
}

/* All plans for size M (made here, from one thread; executed later from any). */
static void plan_size(scat_t *s, int M) {
    const int k = log2i(M);
    s->pl[k].fwd = ddsp_fft_plan_c2c_f64(M, 1, FFTW_FORWARD);
    s->pl[k].bwd = ddsp_fft_plan_c2c_f64(M, 1, FFTW_BACKWARD);
    s->pl[k].r2c = ddsp_fft_plan_r2c_f64(M, 1);
    s->pl[k].c2r = ddsp_fft_plan_c2r_f64(M, 1);
}

scat_t *scat_init(size_t N, int J, int Q, size_t max_batch) {
    if (J < 2 || J > 16) return ddsp_error("scattering: scat_j=%d out of range 2..16", J), NULL;
    if (Q < 1 || Q > 32) return ddsp_error("scattering: scat_q=%d out of range 1..32", Q), NULL;
    const int P = nice_size(N + ((size_t)1 << J));
    /* the lowest second-order filter needs a few bins of P */
    if (xi_max(1) * pow(2.0, 1 - J) * P < 4.0) {
        const int jmax = (int)floor(log2(xi_max(1) * 2.0 * (double)N / 4.0));
        if (jmax < 2)
            return ddsp_error("scattering: the %zu-sample signal is too short for time "
                              "scattering (scat_j=2, the smallest, needs about %d samples)",
                              N, (int)ceil(8.0 / xi_max(1))),
                   NULL;
        return ddsp_error("scattering: scat_j=%d averages over more than the %zu-sample "
                          "signal (use scat_j <= %d)", J, N, jmax),
               NULL;
    }
    scat_t *s = calloc(1, sizeof *s);
    if (!s) return ddsp_error("scattering: out of memory"), NULL;
    s->N = N, s->max_batch = max_batch, s->P = P, s->J = J, s->Q = Q;
    const double sphi = 0.1 / (double)(1 << J);
    s->jphi = (int)ceil(5.0 * sphi * P);
    s->MJ = pow2_at_least(2 * s->jphi + 2);
    s->phi = ddsp_alloc(sizeof(double) * (size_t)(s->jphi + 1));
    s->n1 = J * Q, s->n2 = J;
    s->f1 = calloc((size_t)s->n1, sizeof *s->f1);
    s->f2 = calloc((size_t)s->n2, sizeof *s->f2);
    s->first2 = calloc((size_t)s->n1, sizeof(int));
    s->path_off = calloc((size_t)s->n1, sizeof(int));
    s->z2_off = calloc((size_t)s->n2, sizeof(int));
    s->band_off = calloc((size_t)s->n1, sizeof(size_t));
    if (!s->phi || !s->f1 || !s->f2 || !s->first2 || !s->path_off || !s->z2_off || !s->band_off)
        goto oom;
    for (int j = 0; j <= s->jphi; j++) {
        const double f = (double)j / P;
        s->phi[j] = exp(-f * f / (2.0 * sphi * sphi));
    }
    s->Mmax = s->MJ;
    for (int l = 0; l < s->n2; l++) {
        filt_t *f = &s->f2[l];
        const double xi = xi_max(1) * pow(2.0, -l);
        if (filt_make(f, xi, sigma_of(xi, 1), P)) goto oom;
        f->M = pow2_at_least(2 * f->nb > s->MJ ? 2 * f->nb : s->MJ);
        s->z2_off[l] = s->z2len;
        s->z2len += f->M;
    }
    for (int l = 0; l < s->n1; l++) {
        filt_t *f = &s->f1[l];
        const double xi = xi_max(Q) * pow(2.0, -(double)l / Q);
        if (filt_make(f, xi, sigma_of(xi, Q), P)) goto oom;
        f->M = pow2_at_least(2 * f->nb > s->MJ ? 2 * f->nb : s->MJ);
        if (f->M > s->Mmax) s->Mmax = f->M;
        int l2 = 0; /* xi_l2 decreases with l2, so the kept paths are a tail l2 >= first2 */
        while (l2 < s->n2 && (s->f2[l2].xi > 4.0 * f->sigma ||
                              s->f2[l2].lo + s->f2[l2].nb - 1 >= f->M / 2))
            l2++;
        s->first2[l] = l2;
        s->path_off[l] = s->npath;
        s->npath += s->n2 - l2;
        s->band_off[l] = s->band_len;
        s->band_len += (size_t)f->nb;
    }
    const size_t K = (size_t)P / 2 + 1;
    s->Xt = ddsp_alloc(sizeof(fftw_complex) * max_batch * K);
    s->Xe = ddsp_alloc(sizeof(fftw_complex) * max_batch * K);
    s->gband = ddsp_alloc(sizeof(fftw_complex) * max_batch * s->band_len);
    s->part = ddsp_alloc(sizeof(double) * max_batch * (size_t)s->n1 * 2);
    if (!s->Xt || !s->Xe || !s->gband || !s->part) goto oom;
    const size_t MJs = (size_t)s->MJ, np = (size_t)(s->npath ? s->npath : 1);
    s->rows1 = ddsp_alloc(sizeof(double) * max_batch * 2 * (size_t)s->n1 * MJs);
    s->rows2 = ddsp_alloc(sizeof(double) * max_batch * 2 * np * MJs);
    s->dS1 = ddsp_alloc(sizeof(double) * max_batch * (size_t)s->n1 * MJs);
    s->dS2 = ddsp_alloc(sizeof(double) * max_batch * np * MJs);
    s->band1 = malloc((size_t)s->n1);
    s->band2 = malloc(np);
    if (!s->rows1 || !s->rows2 || !s->dS1 || !s->dS2 || !s->band1 || !s->band2) goto oom;
    for (int l = 0; l < s->n1; l++) {
        s->band1[l] = (unsigned char)(l / Q); /* octave of the first-order wavelet */
        for (int l2 = s->first2[l]; l2 < s->n2; l2++) /* octave of the second-order one */
            s->band2[s->path_off[l] + l2 - s->first2[l]] = (unsigned char)l2;
    }
    s->nthreads = omp_get_max_threads();
    s->work = calloc((size_t)s->nthreads, sizeof *s->work);
    if (!s->work) goto oom;
    const size_t Mm = (size_t)s->Mmax, Mh = Mm / 2 + 1, MJ = (size_t)s->MJ;
    for (int t = 0; t < s->nthreads; t++) {
        work_t *w = &s->work[t];
        w->in = ddsp_alloc(sizeof(fftw_complex) * Mm);
        w->out = ddsp_alloc(sizeof(fftw_complex) * Mm);
        w->z = ddsp_alloc(sizeof(fftw_complex) * Mm);
        w->z2 = ddsp_alloc(sizeof(fftw_complex) * (size_t)s->z2len);
        w->uh = ddsp_alloc(sizeof(fftw_complex) * Mh);
        w->guh = ddsp_alloc(sizeof(fftw_complex) * Mh);
        w->vh = ddsp_alloc(sizeof(fftw_complex) * Mh);
        w->ch = ddsp_alloc(sizeof(fftw_complex) * Mh);
        w->u = ddsp_alloc(sizeof(double) * Mm);
        w->r = ddsp_alloc(sizeof(double) * Mm);
        w->s1t = ddsp_alloc(sizeof(double) * MJ);
        w->s1e = ddsp_alloc(sizeof(double) * MJ);
        w->g1 = ddsp_alloc(sizeof(double) * MJ);
        w->s2t = ddsp_alloc(sizeof(double) * MJ * (size_t)s->n2);
        w->s2e = ddsp_alloc(sizeof(double) * MJ * (size_t)s->n2);
        w->xp = ddsp_alloc(sizeof(double) * (size_t)P);
        w->X = ddsp_alloc(sizeof(fftw_complex) * K);
        if (!w->in || !w->out || !w->z || !w->z2 || !w->uh || !w->guh || !w->vh || !w->ch ||
            !w->u || !w->r || !w->s1t || !w->s1e || !w->g1 || !w->s2t || !w->s2e || !w->xp ||
            !w->X)
            goto oom;
    }
    /* Estimate plans: measured ones take ~20 s to make for these sizes and ran no faster
     * (47 vs 40 ms for scat1,scat2 on 4 s); DDSP_FFTW_PLANNER still overrides. */
    const unsigned rigor = ddsp_fft_rigor();
    ddsp_fft_set_rigor(FFTW_ESTIMATE);
    s->r2c_P = ddsp_fft_plan_r2c_f64(P, 1);
    s->c2r_P = ddsp_fft_plan_c2r_f64(P, 1);
    for (int M = 4; M <= s->Mmax; M *= 2) plan_size(s, M);
    ddsp_fft_set_rigor(rigor);
    return s;
oom:
    scat_free(s);
    ddsp_error("scattering: out of memory (%zu samples, scat_j=%d, scat_q=%d)", N, J, Q);
    return NULL;
}

void scat_shape(const scat_t *s, int *n1, int *n2, int *MJ) {
    *n1 = s->n1, *n2 = s->npath, *MJ = s->MJ;
}

void scat_filter(const scat_t *s, int order, int l, double *xi, double *sigma) {
    const filt_t *f = order == 1 ? &s->f1[l] : &s->f2[l];
    *xi = f->xi, *sigma = f->sigma;
}

int scat_path(const scat_t *s, int l1, int l2) {
    return l2 >= s->first2[l1] && l2 < s->n2 ? s->path_off[l1] + l2 - s->first2[l1] : -1;
}

int scat_padded_length(const scat_t *s) {
    return s->P;
}

/* ------------------------------------------------------------------ forward pieces */
/* X (P/2+1) = spectrum of x zero-padded to P. */
static void spectrum(const scat_t *s, work_t *w, const float *x, fftw_complex *X) {
    for (size_t i = 0; i < s->N; i++) w->xp[i] = x[i];
    memset(w->xp + s->N, 0, sizeof(double) * ((size_t)s->P - s->N));
    fftw_execute_dft_r2c(s->r2c_P, w->xp, X);
}

/* z (f->M) = (signal ⋆ ψ) at times m P / M, from the signal's spectrum Y on the bins of P
 * (`scale` makes the inverse DFT a true sample: 1/P for x, 1/M for an M-point envelope). */
static void filt_apply(const scat_t *s, const filt_t *f, const fftw_complex *Y, double scale,
                       work_t *w, fftw_complex *z) {
    const int M = f->M;
    memset(w->in, 0, sizeof(fftw_complex) * (size_t)M);
    for (int i = 0; i < f->nb; i++) {
        const int j = f->lo + i, m = j % M;
        w->in[m][0] = Y[j][0] * f->psi[i] * scale;
        w->in[m][1] = Y[j][1] * f->psi[i] * scale;
    }
    fftw_execute_dft(s->pl[log2i(M)].bwd, w->in, z);
}

/* uh (M/2+1) = spectrum of the envelope |z| (M points) */
static void envelope(const scat_t *s, int M, const fftw_complex *z, work_t *w, fftw_complex *uh) {
    for (int m = 0; m < M; m++) w->u[m] = hypot(z[m][0], z[m][1]);
    fftw_execute_dft_r2c(s->pl[log2i(M)].r2c, w->u, uh);
}

/* S (MJ) = (envelope ⋆ φ_J) on MJ points, from the envelope's M-point spectrum uh */
static void lowpass(const scat_t *s, int M, const fftw_complex *uh, work_t *w, double *S) {
    const int MJ = s->MJ;
    memset(w->ch, 0, sizeof(fftw_complex) * (size_t)(MJ / 2 + 1));
    for (int j = 0; j <= s->jphi; j++) {
        w->ch[j][0] = uh[j][0] * s->phi[j] / M;
        w->ch[j][1] = j ? uh[j][1] * s->phi[j] / M : 0.0;
    }
    fftw_execute_dft_c2r(s->pl[log2i(MJ)].c2r, w->ch, S);
}

/* Row l of a spectrum X: S1 (MJ) and, when S2 is not NULL, S2 (paths of l, MJ). Leaves z1
 * in w->z, its envelope spectrum in w->uh and the second-order signals in w->z2 (the
 * backward reads them). */
static void forward_row(const scat_t *s, int l, const fftw_complex *X, work_t *w, double *S1,
                        double *S2) {
    const filt_t *f = &s->f1[l];
    filt_apply(s, f, X, 1.0 / s->P, w, w->z);
    envelope(s, f->M, w->z, w, w->uh);
    lowpass(s, f->M, w->uh, w, S1);
    for (int l2 = s->first2[l]; S2 && l2 < s->n2; l2++) {
        const filt_t *g = &s->f2[l2];
        fftw_complex *z2 = w->z2 + s->z2_off[l2];
        filt_apply(s, g, w->uh, 1.0 / f->M, w, z2);
        envelope(s, g->M, z2, w, w->vh);
        lowpass(s, g->M, w->vh, w, S2 + (size_t)(l2 - s->first2[l]) * (size_t)s->MJ);
    }
}

/* ------------------------------------------------------------------ adjoints */
/* guh[j] += gradient w.r.t. the M-point envelope spectrum uh (bins 0..jphi) of
 * S = lowpass(uh), given G = dL/dS (MJ; destroyed). c2r counts interior bins twice. */
static void lowpass_adj(const scat_t *s, int M, double *G, work_t *w, fftw_complex *guh) {
    fftw_execute_dft_r2c(s->pl[log2i(s->MJ)].r2c, G, w->ch);
    for (int j = 0; j <= s->jphi; j++) {
        const double c = (j == 0 ? 1.0 : 2.0) * s->phi[j] / M;
        guh[j][0] += c * w->ch[j][0];
        guh[j][1] += j ? c * w->ch[j][1] : 0.0;
    }
}

/* From guh = dL/d(spectrum of |z|) (M/2+1; destroyed) to gout = dL/dz packed as
 * (dL/dRe, dL/dIm), then through the inverse DFT: w->out (M) = dL/d(c2c input). */
static void envelope_adj(const scat_t *s, int M, fftw_complex *guh, const fftw_complex *z,
                         work_t *w) {
    for (int j = 1; j < M / 2; j++) guh[j][0] *= 0.5, guh[j][1] *= 0.5; /* adjoint of r2c */
    fftw_execute_dft_c2r(s->pl[log2i(M)].c2r, guh, w->r);
    for (int m = 0; m < M; m++) {
        const double a = hypot(z[m][0], z[m][1]), r = a > 0.0 ? w->r[m] / a : 0.0;
        w->in[m][0] = z[m][0] * r;
        w->in[m][1] = z[m][1] * r;
    }
    fftw_execute_dft(s->pl[log2i(M)].fwd, w->in, w->out);
}

/* Backward of row l, given G1 (MJ) and G2 (paths, MJ; NULL: no second order) (both
 * destroyed): writes dL/dX on the band of filter l into gb (nb). Needs what forward_row(l)
 * of the estimate left in w. */
static void backward_row(const scat_t *s, int l, double *G1, double *G2, work_t *w,
                         fftw_complex *gb) {
    const filt_t *f = &s->f1[l];
    const size_t Mh = (size_t)f->M / 2 + 1;
    memset(w->guh, 0, sizeof(fftw_complex) * Mh);
    for (int l2 = s->first2[l]; G2 && l2 < s->n2; l2++) {
        const filt_t *g = &s->f2[l2];
        memset(w->vh, 0, sizeof(fftw_complex) * ((size_t)g->M / 2 + 1));
        lowpass_adj(s, g->M, G2 + (size_t)(l2 - s->first2[l]) * (size_t)s->MJ, w, w->vh);
        envelope_adj(s, g->M, w->vh, w->z2 + s->z2_off[l2], w);
        for (int i = 0; i < g->nb; i++) { /* adjoint of filt_apply(g, uh, 1/M1) */
            const int j = g->lo + i, m = j % g->M;
            const double c = g->psi[i] / f->M;
            w->guh[j][0] += w->out[m][0] * c;
            w->guh[j][1] += w->out[m][1] * c;
        }
    }
    lowpass_adj(s, f->M, G1, w, w->guh);
    envelope_adj(s, f->M, w->guh, w->z, w);
    for (int i = 0; i < f->nb; i++) {
        const int m = (f->lo + i) % f->M;
        const double c = f->psi[i] / s->P;
        gb[i][0] = w->out[m][0] * c;
        gb[i][1] = w->out[m][1] * c;
    }
}

/* ------------------------------------------------------------------ evaluation */
static inline double dval(int dist, double r) {
    return dist == 1 ? fabs(r) : r * r;
}
static inline double dder(int dist, double r) {
    return dist == 1 ? (double)((r > 0.0) - (r < 0.0)) : 2.0 * r;
}

/* Sums of D(e - t) over len entries; G = nrm * D'(e - t) when G is not NULL. */
static double dist_sum(int dist, const double *e, const double *t, size_t len, double nrm,
                       double *G) {
    double sum = 0.0;
    for (size_t i = 0; i < len; i++) {
        const double r = e[i] - t[i];
        sum += dval(dist, r);
        if (G) G[i] = nrm * dder(dist, r);
    }
    return sum;
}

static void eval_cos(scat_t *s, double w1, double w2, const double *u1, const double *u2,
                     const float *target, const float *est, size_t B, double val[2],
                     float *grad);
static void reduce_grad(scat_t *s, work_t *w, size_t b, float *grad);

/* Sum of D over the rows of one task's second order (paths of l1), each row weighted by
 * its band's u2 (gradients nrm * u2 * D' into G). */
static double dist_sum_bands(const scat_t *s, int dist, int l1, const double *e,
                             const double *t, const double *u2, double nrm, double *G) {
    const size_t MJ = (size_t)s->MJ;
    double sum = 0.0;
    for (int l2 = s->first2[l1]; l2 < s->n2; l2++) {
        const size_t o = (size_t)(l2 - s->first2[l1]) * MJ;
        sum += u2[l2] * dist_sum(dist, e + o, t + o, MJ, nrm * u2[l2], G ? G + o : NULL);
    }
    return sum;
}

void scat_eval(scat_t *s, int dist, double w1, double w2, const double *u1, const double *u2,
               const float *target, const float *est, size_t B, double val[2], float *grad) {
    DDSP_ASSERT(B >= 1 && B <= s->max_batch, "scattering batch %zu not in 1..%zu", B,
                s->max_batch);
    if (dist == DDSP_PHI_DIST_COS) {
        eval_cos(s, w1, w2, u1, u2, target, est, B, val, grad);
        return;
    }
    const size_t K = (size_t)s->P / 2 + 1, N = s->N, MJ = (size_t)s->MJ, n1 = (size_t)s->n1;
    const double nrm1 = w1 / ((double)B * (double)n1 * (double)MJ);
    const double nrm2 = s->npath ? w2 / ((double)B * (double)s->npath * (double)MJ) : 0.0;
    const int nt = omp_get_max_threads() < s->nthreads ? omp_get_max_threads() : s->nthreads;
#pragma omp parallel num_threads(nt)
    {
        work_t *w = &s->work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < 2 * B; t++)
            spectrum(s, w, (t & 1 ? est : target) + (t / 2) * N,
                     (t & 1 ? s->Xe : s->Xt) + (t / 2) * K);
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * n1; task++) {
            const size_t b = task / n1;
            const int l = (int)(task % n1);
            const size_t np = (size_t)(s->n2 - s->first2[l]);
            const int two = w2 > 0.0; /* second order only when its term is on */
            forward_row(s, l, s->Xt + b * K, w, w->s1t, two ? w->s2t : NULL);
            forward_row(s, l, s->Xe + b * K, w, w->s1e, two ? w->s2e : NULL);
            double *part = s->part + task * 2;
            double *G2 = two ? w->s2t : NULL; /* the target's rows are not needed after the sums */
            const double b1 = u1 ? u1[s->band1[l]] : 1.0; /* band weight of row l */
            part[0] = w1 > 0.0 ? b1 * dist_sum(dist, w->s1e, w->s1t, MJ, nrm1 * b1,
                                                 grad ? w->g1 : NULL)
                               : 0.0;
            part[1] = !two ? 0.0
                      : u2 ? dist_sum_bands(s, dist, l, w->s2e, w->s2t, u2, nrm2, grad ? G2 : NULL)
                           : dist_sum(dist, w->s2e, w->s2t, np * MJ, nrm2, grad ? G2 : NULL);
            if (grad) {
                if (w1 <= 0.0) memset(w->g1, 0, sizeof(double) * MJ);
                backward_row(s, l, w->g1, G2, w, s->gband + b * s->band_len + s->band_off[l]);
            }
        }
        if (grad) {
#pragma omp for schedule(dynamic, 1)
            for (size_t b = 0; b < B; b++) reduce_grad(s, w, b, grad);
        }
    }
    double a0 = 0.0, a1 = 0.0;
    for (size_t task = 0; task < B * n1; task++)
        a0 += s->part[2 * task], a1 += s->part[2 * task + 1];
    val[0] = w1 * a0 / ((double)B * (double)n1 * (double)MJ);
    val[1] = s->npath ? w2 * a1 / ((double)B * (double)s->npath * (double)MJ) : 0.0;
}

/* grad (item b, N) <- the inverse transform of the item's first-order bands of dL/dX,
 * summed in a fixed order (same bits at any thread count). */
static void reduce_grad(scat_t *s, work_t *w, size_t b, float *grad) {
    const size_t K = (size_t)s->P / 2 + 1, N = s->N;
    fftw_complex *gX = w->X;
    memset(gX, 0, sizeof(fftw_complex) * K);
    for (int l = 0; l < s->n1; l++) {
        const filt_t *f = &s->f1[l];
        const fftw_complex *gb = s->gband + b * s->band_len + s->band_off[l];
        for (int i = 0; i < f->nb; i++) {
            gX[f->lo + i][0] += gb[i][0];
            gX[f->lo + i][1] += gb[i][1];
        }
    }
    /* adjoint of r2c: c2r counts interior bins twice (P is even) */
    for (size_t j = 1; j + 1 < K; j++) gX[j][0] *= 0.5, gX[j][1] *= 0.5;
    fftw_execute_dft_c2r(s->c2r_P, gX, w->xp);
    for (size_t i = 0; i < N; i++) grad[b * N + i] = (float)w->xp[i];
}

/* Row l of item b's S1 (which 0: target a, 1: estimate b) and its paths' S2 in the
 * rows buffers. */
static double *row1(const scat_t *s, size_t b, int which, int l) {
    return s->rows1 + ((b * 2 + (size_t)which) * (size_t)s->n1 + (size_t)l) * (size_t)s->MJ;
}
static double *row2(const scat_t *s, size_t b, int which, int l) {
    return s->rows2 +
           ((b * 2 + (size_t)which) * (size_t)s->npath + (size_t)s->path_off[l]) * (size_t)s->MJ;
}

/* Both signals' coefficients of all B items into rows1, rows2 (second order when `two`). */
static void all_rows(scat_t *s, const float *a, const float *b, size_t B, int two) {
    const size_t K = (size_t)s->P / 2 + 1, N = s->N, n1 = (size_t)s->n1;
    const int nt = omp_get_max_threads() < s->nthreads ? omp_get_max_threads() : s->nthreads;
#pragma omp parallel num_threads(nt)
    {
        work_t *w = &s->work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < 2 * B; t++)
            spectrum(s, w, (t & 1 ? b : a) + (t / 2) * N, (t & 1 ? s->Xe : s->Xt) + (t / 2) * K);
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * n1; task++) {
            const size_t i = task / n1;
            const int l = (int)(task % n1);
            forward_row(s, l, s->Xt + i * K, w, row1(s, i, 0, l), two ? row2(s, i, 0, l) : NULL);
            forward_row(s, l, s->Xe + i * K, w, row1(s, i, 1, l), two ? row2(s, i, 1, l) : NULL);
        }
    }
}

/* dist cos: the whole coefficient sets, so in two passes: every row of both signals, the
 * cosine distances and their gradients dS1, dS2, then per (item, l1) the estimate's row
 * again and its backward. */
static void eval_cos(scat_t *s, double w1, double w2, const double *u1, const double *u2,
                     const float *target, const float *est, size_t B, double val[2],
                     float *grad) {
    const size_t K = (size_t)s->P / 2 + 1, MJ = (size_t)s->MJ, n1 = (size_t)s->n1,
                 np = (size_t)s->npath;
    const int two = w2 > 0.0 && s->npath > 0;
    all_rows(s, target, est, B, two);
    const phi_bands bd1 = {s->band1, MJ, n1, s->J}, bd2 = {s->band2, MJ, np, s->J};
    double v1 = 0.0, v2 = 0.0;
    for (size_t b = 0; b < B; b++) {
        if (w1 > 0.0)
            v1 += phi_rep_dist(DDSP_PHI_DIST_COS, row1(s, b, 1, 0), row1(s, b, 0, 0), n1 * MJ,
                               &bd1, u1, w1 / (double)B, grad ? s->dS1 + b * n1 * MJ : NULL);
        else if (grad)
            memset(s->dS1 + b * n1 * MJ, 0, sizeof(double) * n1 * MJ);
        if (two)
            v2 += phi_rep_dist(DDSP_PHI_DIST_COS, row2(s, b, 1, 0), row2(s, b, 0, 0), np * MJ,
                               &bd2, u2, w2 / (double)B, grad ? s->dS2 + b * np * MJ : NULL);
    }
    val[0] = w1 * v1 / (double)B;
    val[1] = two ? w2 * v2 / (double)B : 0.0;
    if (!grad) return;
    const int nt = omp_get_max_threads() < s->nthreads ? omp_get_max_threads() : s->nthreads;
#pragma omp parallel num_threads(nt)
    {
        work_t *w = &s->work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * n1; task++) {
            const size_t b = task / n1;
            const int l = (int)(task % n1);
            const size_t rows = (size_t)(s->n2 - s->first2[l]);
            forward_row(s, l, s->Xe + b * K, w, w->s1e, two ? w->s2e : NULL);
            memcpy(w->g1, s->dS1 + (b * n1 + (size_t)l) * MJ, sizeof(double) * MJ);
            if (two)
                memcpy(w->s2t, s->dS2 + (b * np + (size_t)s->path_off[l]) * MJ,
                       sizeof(double) * rows * MJ);
            backward_row(s, l, w->g1, two ? w->s2t : NULL, w,
                         s->gband + b * s->band_len + s->band_off[l]);
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < B; b++) reduce_grad(s, w, b, grad);
    }
}

void scat_compare(scat_t *s, const float *a, const float *b, size_t B, double *cells1,
                  double *cells2, size_t stride) {
    DDSP_ASSERT(B >= 1 && B <= s->max_batch, "scattering batch %zu not in 1..%zu", B,
                s->max_batch);
    const size_t MJ = (size_t)s->MJ, n1 = (size_t)s->n1, np = (size_t)s->npath;
    const int two = cells2 != NULL && s->npath > 0;
    all_rows(s, a, b, B, two);
    const phi_bands bd1 = {s->band1, MJ, n1, s->J}, bd2 = {s->band2, MJ, np, s->J};
    for (size_t i = 0; i < B; i++) {
        if (cells1)
            phi_rep_cells(cells1 + i * stride, row1(s, i, 0, 0), row1(s, i, 1, 0), n1 * MJ, &bd1);
        if (two)
            phi_rep_cells(cells2 + i * stride, row2(s, i, 0, 0), row2(s, i, 1, 0), np * MJ, &bd2);
    }
}

size_t scat_min_length(int J) {
    /* scat_init's condition xi_max(1) 2^(1-J) P >= 4 with P = nice_size(N + 2^J), which
     * grows with N: bisect */
    size_t lo = 1, hi = 1;
    while (xi_max(1) * pow(2.0, 1 - J) * nice_size(hi + ((size_t)1 << J)) < 4.0) hi *= 2;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (xi_max(1) * pow(2.0, 1 - J) * nice_size(mid + ((size_t)1 << J)) >= 4.0) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

void scat_coeffs(scat_t *s, const float *x, double *S1, double *S2) {
    work_t *w = &s->work[0];
    spectrum(s, w, x, s->Xt);
    for (int l = 0; l < s->n1; l++)
        forward_row(s, l, s->Xt, w, S1 + (size_t)l * (size_t)s->MJ,
                    S2 + (size_t)s->path_off[l] * (size_t)s->MJ);
}
