/* Internal to the loss module: the Φ terms computed on whole signals rather than per MSS
 * scale (see "more choices of Φ" in ddsp/loss.h): time scattering (scat1, scat2; defined in
 * scatter.c) and magenta's loudness term (phi_loudness.c). */
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

#endif
