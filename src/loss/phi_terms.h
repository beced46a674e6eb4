/* Internal to the loss module: the Φ terms computed on whole signals rather than per MSS
 * scale (see "more choices of Φ" in ddsp/loss.h): time scattering (scat1, scat2; defined in
 * scatter.c), magenta's loudness term (phi_loudness.c) and MFCCs (phi_mfcc.c); and the
 * distances every term shares for dist cos, band weights and the cells of a pair
 * (phi_rep.c). */
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

#endif
