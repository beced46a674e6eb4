/* Internal to the loss module: the Φ terms computed on whole signals rather than per MSS
 * scale (see "more choices of Φ" in ddsp/loss.h): time scattering (scat1, scat2; defined in
 * scatter.c), magenta's loudness term (phi_loudness.c) and joint time-frequency scattering
 * (jtfs; jtfs.c, jtfs_bank.c). */
#ifndef DDSP_LOSS_PHI_TERMS_H
#define DDSP_LOSS_PHI_TERMS_H

#include <stddef.h>

typedef struct scat scat_t;

/* Filter bank, plans and work buffers for up to max_batch signals of N samples, with
 * averaging scale 2^J samples and Q first-order wavelets per octave. NULL with ddsp_error()
 * when J or Q is out of range for N or memory runs out. Plans are made here (one thread). */
scat_t *scat_init(size_t N, int J, int Q, size_t max_batch);
void scat_free(scat_t *s);

/* Coefficient counts: n1 first-order rows, n2 second-order rows (paths), each MJ samples. */
void scat_shape(const scat_t *s, int *n1, int *n2, int *MJ);

/* Weighted terms w1 * mean D(S1_e - S1_t) and w2 * mean D(S2_e - S2_t) over B pairs
 * (target, est) (B, N), D = |r| (dist 1) or r^2 (dist 2); val[0], val[1] get them. When
 * grad is not NULL it is overwritten with the gradient w.r.t. est (B, N). OpenMP over
 * (item, first-order filter); any thread count gives the same bits. */
void scat_eval(scat_t *s, int dist, double w1, double w2, const float *target, const float *est,
               size_t B, double val[2], float *grad);

/* The coefficients of one signal x (N): S1 (n1, MJ), S2 (n2, MJ). */
void scat_coeffs(scat_t *s, const float *x, double *S1, double *S2);

/* Centre frequency (cycles per sample) and width sigma of filter l of order 1 or 2. */
void scat_filter(const scat_t *s, int order, int l, double *xi, double *sigma);
/* Row of S2 that holds path (l1, l2), or -1 when that path is not computed. */
int scat_path(const scat_t *s, int l1, int l2);
/* Length P the signals are zero-padded to (coefficient q is at time q P / MJ). */
int scat_padded_length(const scat_t *s);

/* ---------------------------------------------------------------- loudness term
 * A-weighted loudness per frame exactly as ddsp_loudness() (features) with n_fft 2048, hop
 * 64, range 120 dB, ref 0 dB (magenta SpectralLoss: compute_loudness(audio, n_fft=2048)). */
typedef struct loud loud_t;
loud_t *loud_init(size_t N, int sample_rate, size_t max_batch);
void loud_free(loud_t *l);
/* weight * mean over frames and batch of D(L_e - L_t) (dB), D = |r| or r^2; the gradient
 * w.r.t. est (B, N) overwrites grad when not NULL. OpenMP over items. */
double loud_eval(loud_t *l, int dist, double weight, const float *target, const float *est,
                 size_t B, float *grad);

/* ---------------------------------------------------------------- joint time-frequency scattering
 * kymatio's TimeFrequencyScattering(J, shape=N, Q=(Q1, Q2), J_fr, Q_fr) with T = 2^J,
 * F = 2^J_fr, format "time" (definitions and deviations: the header comment of jtfs.c).
 * Its output is an array S (npath, ntime): path 0 the zeroth order, then first-order paths
 * (frequential filter f >= 0 spin, n1 row), then second-order paths (n2, f, n1 row), in
 * kymatio's order; ntime = the samples at stride 2^J that cover the unpadded signal. */
typedef struct jtfs jtfs_t;

/* Shortest signal a transform with averaging scale 2^J accepts (kymatio: T <= N). */
size_t jtfs_min_length(int J);

/* Filters, plans and buffers for up to max_batch signals of N samples (all memory and every
 * plan here, from one thread). NULL with ddsp_error() naming the problem when a setting is out
 * of range (J 2..16, Q1 1..32, Q2 1..8, J_fr 1..6, Q_fr 1..8), N < jtfs_min_length(J), or
 * memory runs out. Takes ~0.1-0.5 s at N = 64000 (every filter is normalised over P bins). */
jtfs_t *jtfs_init(size_t N, int J, int Q1, int Q2, int Jfr, int Qfr, size_t max_batch);
/* The plain reference: the same transform on kymatio's own grids (U1 on P / 2^min(j1, J)
 * points, U2 on P / 2^j2), leaving out only filter values and rows below 1e-15 of the
 * largest; it reproduces kymatio's numbers to rounding (orders 0 and 1 to 1e-14, order 2,
 * computed in single precision, to 3e-8; tests/test_loss_jtfs.c) and is several times
 * slower. */
jtfs_t *jtfs_init_reference(size_t N, int J, int Q1, int Q2, int Jfr, int Qfr,
                            size_t max_batch);
void jtfs_free(jtfs_t *s); /* NULL: no-op */

/* Coefficient array shape: npath paths of ntime samples. */
void jtfs_shape(const jtfs_t *s, int *npath, int *ntime);

/* weight * mean over the B pairs (target, est) (B, N) and all coefficients of D(S_e - S_t),
 * D = |r| (dist 1) or r^2 (dist 2). When grad is not NULL it is overwritten with the
 * gradient w.r.t. est (B, N). When bands is not NULL, bands[b] (jtfs_nbands) gets the mean
 * over band b's coefficients and the batch of D (unweighted). OpenMP over (item, first-order
 * filter) and (item, second-order filter); any thread count gives the same bits. */
double jtfs_eval(jtfs_t *s, int dist, double weight, const float *target, const float *est,
                 size_t B, float *grad, double *bands);

/* Bands for fitting weights ("which Φ hears like people"): 0 the zeroth order, then the
 * first order per frequential filter (low-pass, then upward spins from the finest scale),
 * then the second order per frequential filter (low-pass, upward spins, downward spins).
 * jtfs_band_distances(s, dist, t, e, B, out) = jtfs_eval(s, dist, 1, t, e, B, NULL, out). */
int jtfs_nbands(const jtfs_t *s);
/* Band b: its order (0, 1, 2), spin (+1 up, -1 down, 0 low-pass) and frequential centre
 * xi_fr (cycles per first-order filter, 0 for the low-pass). */
void jtfs_band(const jtfs_t *s, int b, int *order, int *spin, double *xi_fr);
/* Band of path p (0 .. npath-1). */
int jtfs_path_band(const jtfs_t *s, int p);
void jtfs_band_distances(jtfs_t *s, int dist, const float *target, const float *est, size_t B,
                         double *out);

/* The coefficients S (npath, ntime) of one signal x (N). */
void jtfs_coeffs(jtfs_t *s, const float *x, double *S);

/* Padded length P and the time filters (order 1 or 2, index l): centre (cycles per sample),
 * width sigma and kymatio's j. The number of filters: jtfs_nfilters(s, order). */
int jtfs_padded_length(const jtfs_t *s);
int jtfs_nfilters(const jtfs_t *s, int order);
void jtfs_filter(const jtfs_t *s, int order, int l, double *xi, double *sigma, int *j);
/* The value of time filter (order, l) at frequency bin k of P (0 outside its support). */
double jtfs_filter_value(const jtfs_t *s, int order, int l, int k);
/* Path index of (order 1: filter f, row r) or (order 2: n2, f, row r); -1 if not kept. Row r
 * is the first-order row n1 = r 2^jtfs_jfr. */
int jtfs_path(const jtfs_t *s, int order, int n2, int f, int r);
/* Frequential filters f = 0 .. jtfs_nfreq(s) - 1 (0 the low-pass, then up, then down
 * spins): centre xi (cycles per row), subsampling 2^k of its output rows, spin; its row
 * response at circular offset d (the kernel of the convolution over n1); and phi_F's kernel
 * over rows at stride 2^k (the frequential averaging of filter f's output, to stride 2^Jfr). */
int jtfs_nfreq(const jtfs_t *s);
void jtfs_freq_filter(const jtfs_t *s, int f, double *xi, int *k, int *spin);
void jtfs_freq_kernel(const jtfs_t *s, int f, int d, double *re, double *im);
double jtfs_freq_avg_kernel(const jtfs_t *s, int k, int d);
/* Rows of the padded frequential axis (Nfr). */
int jtfs_freq_rows(const jtfs_t *s);

#endif
