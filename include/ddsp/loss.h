/* ddsp/loss.h — the multi-scale spectral (MSS) loss and its exact gradient.
 *
 * For each FFT size n (default 2048,1024,512,256,128,64), hop = n (1 - overlap), the
 * magnitudes S[f,k] = |rfft(frame_f * hann_periodic)| (framing: see ddsp/dsp.h). Per scale:
 *   l1log: mean|S_t - S_e| + mean|log(S_t + 1e-5) - log(S_e + 1e-5)|   (magenta default)
 *   l1:    mean|S_t - S_e|
 *   l2:    0.5 * sum (S_e - S_t)^2                                      (the DDSP paper's form)
 * means over frames x bins x batch; the loss is the sum over scales. log mode `magenta`
 * is ddsp.core.safe_log: log(S) for S > 0, log(1e-5) for S == 0 (no epsilon added).
 * Gradients use d|z|/dz = 0 at z = 0 (torch's convention), so they are exact subgradients;
 * a frame of digital silence (all its windowed samples 0) has S = 0 exactly, so a silent frame
 * of the estimate gets no gradient and magenta's log of it is log(1e-5).
 *
 * Work is split into (batch item, scale) tasks run by OpenMP threads; each task works on
 * blocks of frames that fit in cache and writes its own gradient buffer, and the buffers
 * are summed in a fixed order, so results are bitwise identical for any thread count.
 */
#ifndef DDSP_LOSS_H
#define DDSP_LOSS_H

#include <stddef.h>

#define DDSP_MSS_MAX_SCALES 16
#define DDSP_MSS_LOG_EPS 1e-5f

typedef enum { DDSP_MSS_L1LOG = 0, DDSP_MSS_L1, DDSP_MSS_L2 } ddsp_mss_type;
typedef enum { DDSP_LOG_ADD = 0, DDSP_LOG_MAGENTA } ddsp_log_mode;
/* exact: the estimate's spectrum in double (gradient ~1e-7 from a float64 reference);
 * fast: all float32 (~2e-3 relative L2 on real audio, ~25% faster; fine for SGD). */
typedef enum { DDSP_MSS_EXACT = 0, DDSP_MSS_FAST } ddsp_mss_precision;

typedef struct {
    ddsp_mss_type type;
    ddsp_log_mode log_mode;
    int n_scales;
    int scales[DDSP_MSS_MAX_SCALES]; /* FFT sizes, each even */
    double overlap;                  /* hop = n * (1 - overlap) must be a positive integer */
    ddsp_mss_precision precision;
} ddsp_mss_config;

/* l1log, log mode add, scales 2048..64, overlap 0.75, exact precision. */
void ddsp_mss_config_default(ddsp_mss_config *c);
/* Parse "l1log|l1|l2", "add|magenta", "2048,1024,..." into c. DDSP_OK or DDSP_ERR. (A loss
 * given as text, MSS type or term list, is parsed by ddsp_loss_parse below.) */
int ddsp_mss_parse_type(ddsp_mss_config *c, const char *s);
int ddsp_mss_parse_log_mode(ddsp_mss_config *c, const char *s);
int ddsp_mss_parse_scales(ddsp_mss_config *c, const char *list);
int ddsp_mss_parse_precision(ddsp_mss_config *c, const char *s); /* "exact|fast" */
/* Check sizes and hops; DDSP_ERR with a message naming the offending scale. */
int ddsp_mss_config_check(const ddsp_mss_config *c);
const char *ddsp_mss_type_name(ddsp_mss_type t);
const char *ddsp_mss_log_mode_name(ddsp_log_mode m);
/* hop of scale n under c. */
int ddsp_mss_hop(const ddsp_mss_config *c, int n);

/* Plans and work buffers for batches of up to max_batch pairs of N samples each. All memory
 * is allocated here (nothing in forward/backward). NULL + ddsp_error on bad config/memory. */
typedef struct ddsp_mss ddsp_mss;
ddsp_mss *ddsp_mss_init(const ddsp_mss_config *c, size_t max_batch, size_t N);
void ddsp_mss_free(ddsp_mss *m);
size_t ddsp_mss_nframes(const ddsp_mss *m, int s); /* F_s */
size_t ddsp_mss_nbins(const ddsp_mss *m, int s);   /* K_s = n_s / 2 + 1 */
const ddsp_mss_config *ddsp_mss_get_config(const ddsp_mss *m);

/* Target spectra computed once and reused (training computes them per example). Owned by
 * the caller: ddsp_mss_target_init allocates for `batch` items, _free releases. */
typedef struct {
    size_t batch;
    float *mag[DDSP_MSS_MAX_SCALES];    /* (B, F_s, K_s)  S_t */
    float *logmag[DDSP_MSS_MAX_SCALES]; /* (B, F_s, K_s)  log term of S_t for the log mode */
} ddsp_mss_target;
int ddsp_mss_target_init(ddsp_mss_target *t, const ddsp_mss *m, size_t batch);
void ddsp_mss_target_free(ddsp_mss_target *t);
/* t <- spectra of target (B, N), B <= t->batch. */
void ddsp_mss_target_compute(ddsp_mss *m, ddsp_mss_target *t, const float *target, size_t B);

typedef struct {
    double total;
    double per_scale[DDSP_MSS_MAX_SCALES];
} ddsp_mss_value;

/* Loss of B pairs (B <= max_batch). The target is given either as spectra `tgt` (non-NULL)
 * or as audio `target` (B, N) whose spectra are computed on the fly. */
void ddsp_mss_forward(ddsp_mss *m, ddsp_mss_value *out, const ddsp_mss_target *tgt,
                      const float *target, const float *estimate, size_t B);

/* Loss and gradient in one pass (the forward is recomputed block by block; no spectra are
 * stored): d_estimate (B, N) += dloss * dL/d(estimate). `out` may be NULL. */
void ddsp_mss_backward(ddsp_mss *m, float *d_estimate, ddsp_mss_value *out,
                       const ddsp_mss_target *tgt, const float *target, const float *estimate,
                       size_t B, float dloss);

/* Plain reference (one frame at a time, no OpenMP, libm log, everything in double): same
 * contract as ddsp_mss_backward with d_estimate overwritten, for tests of the optimised path.
 * d_estimate may be NULL (loss only). DDSP_OK or DDSP_ERR. */
int ddsp_mss_reference(const ddsp_mss_config *c, ddsp_mss_value *out, float *d_estimate,
                       const float *target, const float *estimate, size_t B, size_t N);

/* ---------------------------------------------------------------- more choices of Φ
 * A spectral distance built from weighted terms on the same magnitudes S as the MSS
 * (framing, periodic Hann, scales, overlap), computed in double. Per scale, with
 * A = a representation of S and D(r) = |r| (dist l1, default) or r^2 (dist l2):
 *   mag          mean D(S_e - S_t)                                    magenta mag_weight
 *   logmag       mean D(log(S_e + 1e-5) - log(S_t + 1e-5))            magenta logmag_weight
 *   delta_time   mean D of the frame-to-frame difference S[f+1] - S[f] magenta delta_time_weight
 *   delta_freq   mean D of the bin-to-bin difference S[k+1] - S[k]     magenta delta_freq_weight
 *   cumsum_freq  mean D of the cumulative sum over bins                magenta cumsum_freq_weight
 *   sc           ||S_e - S_t||_F / sqrt(||S_t||_F^2 + F K 1e-10) per example (spectral
 *                convergence, auraloss; the 1e-5-per-bin floor only matters for a silent
 *                target, where the plain ratio is infinite)
 *   mel          mean D(M S_e - M S_t), M a triangular mel filterbank (HTK mel scale,
 *                0 .. sample_rate/2, peaks 1) with clamp(K/8, 4, 128) bands at each scale
 *   logmel       mean D(log(M S_e + 1e-5) - log(M S_t + 1e-5))
 * and on whole signals (not per scale; they count in the total and per term only):
 *   loudness     mean D(L_e - L_t) of the A-weighted loudness in dB per 64-sample frame,
 *                exactly ddsp_loudness() with n_fft 2048 (magenta loudness_weight)
 *   scat1, scat2 mean D of first / second order time-scattering coefficients
 *                |x * psi1| * phi_J and ||x * psi1| * psi2| * phi_J (Morlet wavelets,
 *                scat_q per octave at first order, 1 at second; averaging over 2^scat_j
 *                samples, default 12 and 8; defined in src/loss/scatter.c)
 *   mfcc         mean D of the MFCCs exactly as torchaudio.transforms.MFCC with n_fft 2048,
 *                hop 512, 128 mel bands (HTK, no norm, 0 .. sample_rate // 2), 40 coefficients:
 *                periodic Hann, centred frames (reflect padding), power spectrum, mel,
 *                10 log10(max(., 1e-10)) clamped at 80 dB below the spectrogram's maximum,
 *                orthonormal DCT-II (defined in src/loss/phi_mfcc.c; >= 1025 samples)
 *   jtfs         mean D of joint time-frequency scattering coefficients, kymatio's
 *                TimeFrequencyScattering(J=jtfs_j, Q=(jtfs_q1, jtfs_q2), J_fr=jtfs_jfr,
 *                Q_fr=jtfs_qfr, format "time"), defaults 12, 8, 2, 3, 2; shortest signal
 *                2^jtfs_j samples; defined in src/loss/jtfs.c
 * Means run over the term's entries and the batch; the sc term is averaged over the batch.
 * The loss is the sum over scales and terms of weight * term. `mag,logmag` with dist l1
 * is exactly the MSS l1log loss (add log mode). Gradients are exact (|r|' = 0 at 0, |z|' = 0
 * at z = 0; the sc term's gradient is 0 where S_e = S_t).
 *
 * dist cos: each term is the cosine distance 1 - <A_e, A_t> / (|A_e| |A_t|) between the
 * term's representations A (S, log S, the differences, the cumulative sums, M S, log M S,
 * loudness, scattering coefficients, MFCCs), per example and averaged over the batch; a
 * per-scale term sums it over the scales. Where A_e = 0 the term is 1 (0 when A_t = 0 too)
 * and its gradient 0. sc is a ratio of norms already and stays as defined above.
 *
 * Bands: every term's entries fall into ddsp_phi_n_bands() bands: 8 mel-spaced frequency
 * bands for the per-scale terms (bin k of scale n: floor(8 mel(k sr / n) / mel(sr / 2));
 * mel band b: floor(8 (b + 1) / (bands + 1))), the coefficient groups 0 | 1-2 | 3-5 | 6-11 |
 * 12-19 | 20-39 for mfcc, the octave of the first-order wavelet (scat1) or of the
 * second-order one (scat2), scat_j bands each; jtfs's zeroth order, its first order per
 * frequential filter and its second order per frequential filter (spin and scale; one band
 * when that is more than DDSP_PHI_MAX_BANDS; only ddsp_phi_compare weighs them); sc and
 * loudness have one. The item
 * `TERM.bands=u0:u1:...` weighs them: dists l1/l2 weigh each entry by its band's u; dist cos
 * sums u_g (1 - cos) over the bands g (and the scales) instead of one cosine per scale. */
enum {
    DDSP_PHI_MAG = 0,
    DDSP_PHI_LOGMAG,
    DDSP_PHI_DELTA_TIME,
    DDSP_PHI_DELTA_FREQ,
    DDSP_PHI_CUMSUM_FREQ,
    DDSP_PHI_SC,
    DDSP_PHI_MEL,
    DDSP_PHI_LOGMEL,
    DDSP_PHI_LOUDNESS, /* the terms from here on are on whole signals */
    DDSP_PHI_SCAT1,
    DDSP_PHI_SCAT2,
    DDSP_PHI_MFCC,
    DDSP_PHI_JTFS,
    DDSP_PHI_NTERMS
};
#define DDSP_PHI_FIRST_GLOBAL DDSP_PHI_LOUDNESS
#define DDSP_PHI_MAX_BANDS 32
#define DDSP_PHI_DIST_COS 3 /* ddsp_phi_config.dist: cosine distance */

typedef struct {
    double weight[DDSP_PHI_NTERMS]; /* 0 = term off */
    int dist;                       /* 1 (|r|), 2 (r^2) or DDSP_PHI_DIST_COS */
    int n_scales;
    int scales[DDSP_MSS_MAX_SCALES];
    double overlap;
    int scat_j, scat_q; /* scattering: averaging 2^scat_j samples, scat_q wavelets/octave */
    int jtfs_j, jtfs_q1, jtfs_q2, jtfs_jfr, jtfs_qfr; /* joint time-frequency scattering */
    int sample_rate;    /* Hz, for mel, loudness and mfcc (16000) */
    int n_band_w[DDSP_PHI_NTERMS]; /* 0: no band weights; else ddsp_phi_n_bands() of them */
    double band_w[DDSP_PHI_NTERMS][DDSP_PHI_MAX_BANDS];
} ddsp_phi_config;

/* Scales and overlap of the MSS default, no term on, dist 1. */
void ddsp_phi_config_default(ddsp_phi_config *c);
/* Parse a term list "mag,logmag,delta_time=0.5" (weight 1 when not given; the items
 * "dist=l1|l2|cos", "scat_j=N", "scat_q=N", "jtfs_j=N", "jtfs_q1=N", "jtfs_q2=N",
 * "jtfs_jfr=N", "jtfs_qfr=N", "TERM.bands=u0:u1:..." set those fields) into c->weight (all
 * others 0). A preset's name (ddsp_phi_preset) stands for its term list.
 * DDSP_ERR naming the bad item. */
int ddsp_phi_parse_terms(ddsp_phi_config *c, const char *list);
const char *ddsp_phi_term_name(int term);
/* The term list of built-in preset `name` ("perceptual": fitted to human timbre
 * dissimilarity, see `ddsp timbre --fit`), or NULL when there is no such preset. */
const char *ddsp_phi_preset(const char *name);
/* Writes the term list back ("mag=1,logmag=1,dist=l1", parseable); returns buf. */
const char *ddsp_phi_describe(const ddsp_phi_config *c, char *buf, size_t cap);
int ddsp_phi_config_check(const ddsp_phi_config *c);
/* Bands of term t under c (see "Bands" above): 8, 6 (mfcc), scat_j (scat1, scat2), jtfs's
 * bands (zeroth order, first and second order per frequential filter) or 1. */
int ddsp_phi_n_bands(const ddsp_phi_config *c, int t);
/* Shortest signal every term that is on accepts (scattering's averaging, mfcc's reflect
 * padding, jtfs's 2^jtfs_j); ddsp_phi_init fails below it. */
size_t ddsp_phi_min_length(const ddsp_phi_config *c);
/* DDSP_OK when ddsp_phi_eval can take c: jtfs as a loss has dist l1 or l2 and no band weights
 * (ddsp_phi_compare takes any). DDSP_ERR saying so otherwise. */
int ddsp_phi_eval_check(const ddsp_phi_config *c);

/* Plans and work buffers for up to max_batch pairs of N samples (all memory here). */
typedef struct ddsp_phi ddsp_phi;
ddsp_phi *ddsp_phi_init(const ddsp_phi_config *c, size_t max_batch, size_t N);
void ddsp_phi_free(ddsp_phi *p);

typedef struct {
    double total;
    double per_scale[DDSP_MSS_MAX_SCALES];
    double per_term[DDSP_PHI_NTERMS]; /* weighted, summed over scales */
} ddsp_phi_value;

/* Loss of B pairs (target, estimate) (B, N); when d_estimate is not NULL, dL/d(estimate)
 * (B, N) is added to it (times scale for _scaled), as every backward here accumulates.
 * OpenMP over (item, scale); any thread count gives the same bits. */
void ddsp_phi_eval(ddsp_phi *p, ddsp_phi_value *out, float *d_estimate, const float *target,
                   const float *estimate, size_t B);
void ddsp_phi_eval_scaled(ddsp_phi *p, ddsp_phi_value *out, float *d_estimate, float scale,
                          const float *target, const float *estimate, size_t B);

/* ---------------------------------------------------------------- the loss
 * One typed configuration for every Φ: an MSS type (mss) or a weighted term list (phi, on
 * mss's scales and overlap). Parsed from and described as the text users give to --loss
 * and checkpoints store ("l1log", "mag=1,logmag=1,delta_time=0.5,dist=l1", ...). */
typedef enum { DDSP_LOSS_MSS = 0, DDSP_LOSS_TERMS } ddsp_loss_kind;
typedef struct {
    ddsp_loss_kind kind;
    ddsp_mss_config mss; /* type (MSS), log mode, precision; scales and overlap for both */
    ddsp_phi_config phi; /* term weights, dist and term settings (TERMS) */
} ddsp_loss_config;
/* MSS l1log, log mode add, scales 2048..64, overlap 0.75, exact. */
void ddsp_loss_config_default(ddsp_loss_config *c);
/* "l1log|l1|l2" or a term list into c (scales, overlap, log mode and precision kept).
 * DDSP_ERR naming the bad item. */
int ddsp_loss_parse(ddsp_loss_config *c, const char *s);
/* The text that parses back to c's kind and terms ("l1log", or the normalised term list). */
const char *ddsp_loss_describe(const ddsp_loss_config *c, char *buf, size_t cap);
/* The term-list Φ configuration with c's scales and overlap (kind TERMS). */
void ddsp_loss_phi_config(const ddsp_loss_config *c, ddsp_phi_config *out);
int ddsp_loss_config_check(const ddsp_loss_config *c);

/* A loss object for up to max_batch pairs of N samples: an MSS or a Φ (all memory here). */
typedef struct ddsp_loss ddsp_loss;
ddsp_loss *ddsp_loss_init(const ddsp_loss_config *c, size_t max_batch, size_t N);
void ddsp_loss_free(ddsp_loss *l);
/* Loss of B pairs into out (may be NULL); when d_estimate is not NULL, scale * dL/d(estimate)
 * (B, N) is added to it. */
void ddsp_loss_eval(ddsp_loss *l, ddsp_mss_value *out, float *d_estimate, float scale,
                    const float *target, const float *estimate, size_t B);

/* Write `ddsp loss --grad-out` (format "ddsp-loss", atomic): loss_type/log_mode names, the
 * total and per-scale losses (c->n_scales), grad (N) = dL/d(estimate), and |STFT| of target t
 * and estimate e (N samples each) at every scale of c; tpath/epath name the inputs.
 * DDSP_OK or DDSP_ERR. */
int ddsp_loss_file_write(const char *path, const ddsp_mss_config *c, const char *loss_type,
                         const char *log_mode, double total, const double *per_scale, const float *grad,
                         const float *t, const float *e, size_t N, int sr, const char *tpath,
                         const char *epath);

/* ---------------------------------------------------------------- comparing two sounds
 * What the timbre evaluation (ddsp/analysis.h) needs of a pair's features, whatever the
 * distance: per term t that is on, block s (the scale for per-scale terms, one block for the
 * others) and band g, one cell of five sums over the entries of the representations A_a, A_b
 * (a plays the target): |A_a - A_b|, (A_a - A_b)^2, A_a A_b, A_a^2, A_b^2 (sc: the sums of
 * (S_a - S_b)^2 and S_a^2 only). Cells are laid out term by term, then block, then band. */
enum { DDSP_CELL_ABS = 0, DDSP_CELL_SQ, DDSP_CELL_AB, DDSP_CELL_AA, DDSP_CELL_BB, DDSP_CELL_N };
typedef struct {
    int n_blocks[DDSP_PHI_NTERMS]; /* 0 where the term is off */
    int n_bands[DDSP_PHI_NTERMS];
    size_t off[DDSP_PHI_NTERMS]; /* cell (t, s, g) is off[t] + s * n_bands[t] + g */
    size_t n_cells;
} ddsp_phi_layout;
/* The layout under c (it does not depend on the signals' length). */
void ddsp_phi_layout_init(ddsp_phi_layout *l, const ddsp_phi_config *c);
/* cells (B, n_cells, DDSP_CELL_N) <- the cells of the B pairs (a, b) (B, N). OpenMP over
 * (pair, scale) and inside the whole-signal terms; any thread count gives the same bits. */
void ddsp_phi_compare(ddsp_phi *p, double *cells, const float *a, const float *b, size_t B);
/* The distance of one pair from its cells: sum over the terms that are on of weight *
 * delta_t, delta_t = sum of |A_a - A_b| (dist l1), sqrt of the sum of (A_a - A_b)^2 (l2; band
 * weights weigh the entries), or the cosine distance as the loss takes it (cos); the sc term
 * as the loss defines it. At B = 1 under dist cos this is the loss ddsp_phi_eval gives;
 * under l1/l2 it is the norm of the whole difference, as the timbre collection compares
 * embeddings (the loss takes means). */
double ddsp_phi_cells_distance(const ddsp_phi_config *c, const ddsp_phi_layout *l,
                               const double *cells);
/* delta_t of term t alone (weight 1) under `dist`: the whole term (band < 0, no band
 * weights) or its band `band` alone. */
double ddsp_phi_cells_term(const ddsp_phi_layout *l, const double *cells, int t, int band,
                           int dist);

#endif
