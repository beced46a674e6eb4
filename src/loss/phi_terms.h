/* Internal to the loss module: the Φ terms computed on whole signals rather than per MSS
 * scale (see "more choices of Φ" in ddsp/loss.h): time scattering (scat1, scat2; defined in
 * scatter.c), magenta's loudness term (phi_loudness.c), MFCCs (phi_mfcc.c) and joint
 * time-frequency scattering (jtfs; jtfs.c, jtfs_bank.c); and the distances every term shares
 * for dist cos, band weights and the cells of a pair (phi_rep.c). */
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
 * (target, est) (B, N), D = |r| (dist 1) or r^2 (dist 2), or the cosine distances (dist
 * cos, averaged over the batch); val[0], val[1] get them. u1, u2: band weights (J each;
 * NULL: none; see phi_rep_dist). When grad is not NULL it is overwritten with the gradient
 * w.r.t. est (B, N). OpenMP over (item, first-order filter); any thread count gives the
 * same bits. */
void scat_eval(scat_t *s, int dist, double w1, double w2, const double *u1, const double *u2,
               const float *target, const float *est, size_t B, double val[2], float *grad);
/* Cells (phi_rep_cells) of B pairs (a, b): scat1's J bands at cells1 + b * stride and
 * scat2's at cells2 + b * stride (stride in doubles; either may be NULL). OpenMP. */
void scat_compare(scat_t *s, const float *a, const float *b, size_t B, double *cells1,
                  double *cells2, size_t stride);
/* Shortest signal scat_init accepts for averaging scale 2^J. */
size_t scat_min_length(int J);

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
/* Cells of B pairs (a, b): one band at cells + b * stride (stride in doubles). OpenMP. */
void loud_compare(loud_t *l, const float *a, const float *b, size_t B, double *cells,
                  size_t stride);

/* ---------------------------------------------------------------- mfcc term
 * torchaudio.transforms.MFCC(sample_rate, n_mfcc=40, melkwargs={n_fft: 2048, hop_length:
 * 512}) (see ddsp/loss.h), in double, with its adjoint. Coefficients are stored frame-major:
 * C (T, 40), T = 1 + N / 512 frames. */
enum { MFCC_NFFT = 2048, MFCC_HOP = 512, MFCC_NMELS = 128, MFCC_NCOEF = 40, MFCC_NBANDS = 6 };
typedef struct mfcc mfcc_t;
/* Filterbank, DCT, plans and work buffers for up to max_batch signals of N samples. NULL
 * with ddsp_error() when N < MFCC_NFFT / 2 + 1 (the reflect padding needs it) or memory
 * runs out. */
mfcc_t *mfcc_init(size_t N, int sample_rate, size_t max_batch);
void mfcc_free(mfcc_t *m);
size_t mfcc_frames(const mfcc_t *m);
/* weight * the term over B pairs (target, est) (B, N): mean D over the batch's
 * coefficients (dist 1, 2) or the cosine distance averaged over the batch (cos); band
 * weights u (MFCC_NBANDS; NULL: none). grad (B, N) overwritten when not NULL. OpenMP over
 * items; any thread count gives the same bits. */
double mfcc_eval(mfcc_t *m, int dist, double weight, const double *u, const float *target,
                 const float *est, size_t B, float *grad);
/* Cells of B pairs (a, b): MFCC_NBANDS bands at cells + b * stride. OpenMP. */
void mfcc_compare(mfcc_t *m, const float *a, const float *b, size_t B, double *cells,
                  size_t stride);
/* C (T, 40) <- the MFCCs of one signal x (N) (thread 0's buffers: not from OpenMP). */
void mfcc_coeffs(mfcc_t *m, const float *x, double *C);
/* Band (coefficient group) of coefficient c. */
int mfcc_band(int c);

/* ---------------------------------------------------------------- shared distances
 * A band map: entry i of a representation is in band map[(i / inner) % period]; map NULL:
 * every entry is in band 0. n: the number of bands. */
typedef struct {
    const unsigned char *map;
    size_t inner, period;
    int n;
} phi_bands;

/* The distance of representations Ae and At (n entries each):
 *   dist 1, 2: sum_i u[band(i)] D(Ae_i - At_i), D = |r| or r^2 (u NULL: weight 1)
 *   cos:       u NULL: 1 - cos(Ae, At); else sum_g u_g (1 - cos(Ae_g, At_g)) over the bands
 * (1 where one vector is 0, 0 where both are, with gradient 0 there). When dA is not NULL it
 * is overwritten with scale * d(distance)/d(Ae). */
double phi_rep_dist(int dist, const double *Ae, const double *At, size_t n,
                    const phi_bands *bd, const double *u, double scale, double *dA);
/* cells (bd->n, DDSP_CELL_N) += the five sums of each band (a in the role of the target). */
void phi_rep_cells(double *cells, const double *Aa, const double *Ab, size_t n,
                   const phi_bands *bd);

/* One scale of a per-scale term: F frames of K bins; the mel filterbank (band b: bins
 * mel_lo[b] .. + mel_nb[b] - 1, weights from mel_w + mel_off[b]); the band of each bin and of
 * each mel band. */
typedef struct {
    size_t F, K;
    int nmel;
    const int *mel_lo, *mel_nb, *mel_off;
    const double *mel_w;
    const unsigned char *kband, *mband;
} phi_grid;
/* Entries of per-scale term t's representation A on g (0 when it has none). */
size_t phi_rep_len(int t, const phi_grid *g);
/* A <- term t's representation of magnitudes S (F, K); *bd <- its band map. */
void phi_rep_forward(int t, const phi_grid *g, const double *S, double *A, phi_bands *bd);
/* G (F, K) += the adjoint of phi_rep_forward at S applied to dA. */
void phi_rep_adjoint(int t, const phi_grid *g, const double *S, const double *dA, double *G);
/* weight * term t of one (item, scale) task under dist cos or band weights u (NULL: none),
 * normalised as the loss is (mean over B * entries for dist 1, 2; over B for cos); G += its
 * gradient w.r.t. S_e. At, Ae, dA: scratch of phi_rep_len entries. */
double phi_rep_term(int t, const phi_grid *g, const double *St, const double *Se, int dist,
                    const double *u, double wt, size_t B, double *At, double *Ae, double *dA,
                    double *G);

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
/* jtfs_nbands of any transform with these frequential settings (it depends on no other). */
int jtfs_count_bands(int Jfr, int Qfr);
/* Cells of B pairs (a, b): jtfs_nbands bands (nb == 1: all in one) at cells + b * stride. */
void jtfs_compare(jtfs_t *s, const float *a, const float *b, size_t B, int nb, double *cells,
                  size_t stride);
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
