/* ddsp/analysis.h — looking at a spectral distance Φ the way gradient descent sees it.
 *
 * Loss landscapes: a parametric test sound x(θ) is compared with a target x(θ*) by one or
 * more distances (the MSS types or the spectral terms of ddsp/loss.h) over a 1-D or 2-D
 * grid of θ, together with the surface's gradient (central differences on the grid) and
 * where steepest descent on the grid ends. After Vahidi et al. 2023 ("Mesostructures:
 * beyond spectrogram loss in differentiable time-frequency analysis"): a sound heard as the
 * same can sit far from its target in MSS distance (a time shift, another noise draw).
 *
 * Test sounds (N samples at sample_rate, t_c = (i - shift) / sample_rate - T / 2 the time
 * from the middle of the signal, g(t) = exp(-t^2 / (2 (T/6)^2)) a Gaussian envelope):
 *   chirp     AM/FM chirplet: g(t_c) * (1 - cos(2 pi am t_c)) / 2
 *                             * sin(2 pi fc (2^(fm t_c) - 1) / (fm ln 2))
 *             am: amplitude-modulation rate in Hz (default 8; Vahidi et al. use 4-16),
 *             fm: chirp rate in octaves per second (default 2; 0.5-4), fc: 500 Hz at t_c = 0.
 *   harmonic  g(t_c) * sum_k sin(2 pi k f t_c) / k over the harmonics below 0.45 sample_rate
 *             (at most 20), f = f0 2^(detune / 1200); f0 220 Hz, detune in cents.
 *   noise     g(t_c) * (uniform noise from the counter RNG with key `seed`, through a
 *             two-pole resonator at 1 kHz, bandwidth 300 Hz).
 * Every sound is scaled to a peak of 0.5; `shift` (samples, any real) delays it.
 */
#ifndef DDSP_ANALYSIS_H
#define DDSP_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/loss.h"
#include "ddsp/synth.h"

typedef enum { DDSP_SOUND_CHIRP = 0, DDSP_SOUND_HARMONIC, DDSP_SOUND_NOISE } ddsp_sound_kind;

/* Parameter indices (not every sound uses every parameter). */
enum {
    DDSP_SP_AM = 0,  /* Hz */
    DDSP_SP_FM,      /* octaves per second */
    DDSP_SP_FC,      /* Hz */
    DDSP_SP_F0,      /* Hz */
    DDSP_SP_DETUNE,  /* cents */
    DDSP_SP_SHIFT,   /* samples */
    DDSP_SP_SEED,    /* integer-valued */
    DDSP_SP_N
};

typedef struct {
    ddsp_sound_kind kind;
    double p[DDSP_SP_N];
    size_t N;
    int sample_rate;
} ddsp_sound;

/* Defaults for a kind: am 8, fm 2, fc 500, f0 220, detune 0, shift 0, seed 0; N 32768
 * at 16 kHz. */
void ddsp_sound_default(ddsp_sound *s, ddsp_sound_kind kind);
/* "chirp" | "harmonic" | "noise" -> kind; DDSP_ERR with a message when unknown. */
int ddsp_sound_parse_kind(const char *name, ddsp_sound_kind *kind);
const char *ddsp_sound_kind_name(ddsp_sound_kind kind);
/* Index of parameter `name` that sound `kind` uses, or DDSP_ERR naming the ones it has. */
int ddsp_sound_param_index(ddsp_sound_kind kind, const char *name);
const char *ddsp_sound_param_name(int index);
/* Default grid range of a parameter for landscapes. */
void ddsp_sound_param_range(ddsp_sound_kind kind, int index, double *lo, double *hi);
/* x (s->N) <- the sound. */
void ddsp_sound_render(float *x, const ddsp_sound *s);

/* ---------------------------------------------------------------- landscapes */
#define DDSP_LANDSCAPE_MAX_PHI 8

typedef struct {
    ddsp_sound target;  /* x(θ*) */
    ddsp_sound base;    /* the sound varied: the target's parameters except those varied */
    int n_vary;         /* 1 or 2 */
    int vary[2];        /* parameter indices */
    double lo[2], hi[2];
    int grid;           /* points per axis (>= 3) */
    int n_phi;
    const char *phi[DDSP_LANDSCAPE_MAX_PHI]; /* "l1log", "l2", or a term list */
} ddsp_landscape_config;

typedef struct {
    int n_phi, n_vary, grid;
    double *axis[2];   /* (grid) parameter values */
    double *loss;      /* (n_phi, grid[, grid]) row-major; axis 0 is the first varied param */
    double *grad;      /* (n_phi, n_vary, grid[, grid]) d loss / d param (grid differences) */
    double *silence;   /* (n_phi) distance of the target to silence (the size of Φ(x)) */
    double *basin;     /* (n_phi) share of grid points whose steepest descent on the grid
                          ends at the point nearest θ* */
    int *argmin;       /* (n_phi) flat index of the grid minimum */
} ddsp_landscape;

/* Compute the landscape (allocates `out`; free with ddsp_landscape_free). Progress lines go
 * to stderr when `verbose`. DDSP_OK or DDSP_ERR (bad Φ, bad range, memory). */
int ddsp_landscape_compute(const ddsp_landscape_config *c, ddsp_landscape *out, int verbose);
void ddsp_landscape_free(ddsp_landscape *l);
/* Write to HDF5 (format "ddsp-landscape", version 1): attributes describe the sound, the
 * target and the Φs; datasets grid/<param>, loss_<k>, grad_<k> (n_vary, ...), and the
 * per-Φ silence/basin/argmin values. Written to PATH.tmp.<pid> and renamed. */
int ddsp_landscape_write(const char *path, const ddsp_landscape_config *c,
                         const ddsp_landscape *l);
/* What plot reads back from a landscape file (format/version checked): the grid axes, one
 * distance array per Φ (grid[0] x grid[1], row-major) with its name, distance to silence and
 * basin share (NaN when absent). Free with ddsp_landscape_file_free. DDSP_OK or DDSP_ERR. */
typedef struct {
    char sound[32], vary[64], names[2][32];
    int n_vary, grid[2]; /* grid[1] = 1 for a 1-D landscape */
    double *axis[2];
    int n_phi;
    double *loss[DDSP_LANDSCAPE_MAX_PHI];
    char phi[DDSP_LANDSCAPE_MAX_PHI][128];
    double silence[DDSP_LANDSCAPE_MAX_PHI], basin[DDSP_LANDSCAPE_MAX_PHI];
} ddsp_landscape_file;
int ddsp_landscape_read(const char *path, ddsp_landscape_file *out);
void ddsp_landscape_file_free(ddsp_landscape_file *f);

/* ---------------------------------------------------------------- the Jacobian of Φ∘g
 * The spectral loss 1/2 ||Φ(g(θ)) - Φ(x)||^2 trains the controls θ only through the
 * Jacobian J = ∇Φ(x̃) ∇g(θ) (x̃ = g(θ), Φ = the magnitudes |STFT| of every MSS scale,
 * concatenated). Its right singular vectors with zero singular value are the control
 * changes Φ cannot see; the large ones are what Φ can ask for.
 *
 * Here g is the synthesizer (ddsp/synth.h) on one example, θ its raw controls (C per frame)
 * in frames [f_begin, f_end). Both factors are exact: ∇g row by row from the synth's
 * hand-written backward (one vector-Jacobian product per audio sample the frames reach),
 * ∇Φ by forward mode (δS = Re(conj(X) δX) / |X|, δX the FFT of the windowed tangent; 0 where
 * |X| = 0). J^T J (n_in x n_in, n_in = C (f_end - f_begin)) is accumulated frame by frame
 * and decomposed with LAPACK (dsyevd), so every singular value is computed, not only the
 * top K; the cost grows with n_in^2 times the spectrum bins the frames reach. The
 * randomized method computes only the top K, matrix-free (see ddsp_jacobian_randomized),
 * for more controls than J^T J can hold. */
typedef enum { DDSP_JACOBIAN_DENSE = 0, DDSP_JACOBIAN_RANDOMIZED } ddsp_jacobian_method;

typedef struct {
    size_t n_in;        /* controls varied */
    size_t n_out;       /* rows of J: the spectrum bins (all scales) of frames the region meets */
    size_t region[2];   /* audio samples [a, b) the varied controls change */
    size_t n_sigma;     /* singular values computed: n_in (dense) or k (randomized) */
    double *sigma;      /* (n_sigma) singular values, descending */
    size_t k;           /* right singular vectors kept */
    double *V;          /* (k, n_in) the top-k right singular vectors, one per row */
    size_t n_controls;  /* C */
    double *null_share; /* (C) mean over the frames of the share of control c's unit direction
                           lying in the near-null space (sigma < 1e-3 sigma_max): 1 = unseen;
                           NULL for the randomized method */
    size_t rank_1e3;    /* singular values above 1e-3 sigma_max (dense only; else 0) */
    double entropy_rank;/* exp(entropy of sigma / sum sigma) (Roy & Vetterli; dense only,
                           else NaN) */
} ddsp_jacobian;

/* J^T J of Φ∘g where g's Jacobian is given explicitly: Jg (n_region, n_in) row-major, rows
 * for audio samples [r0, r0 + n_region) of x (N samples; x = g(θ)). Φ: MSS scales/overlap of
 * `mss`. G (n_in, n_in) overwritten (full symmetric); *n_out gets the rows of J. DDSP_OK or
 * DDSP_ERR (memory). */
int ddsp_jacobian_gram(double *G, size_t *n_out, const double *Jg, size_t r0, size_t n_region,
                       size_t n_in, const float *x, size_t N, const int *scales, int n_scales,
                       double overlap);
/* Eigen-decompose G (n_in x n_in, destroyed) into j (sigma, top-k V, ranks); n_controls C
 * and the frame layout (n_in = C * frames) give null_share. DDSP_OK or DDSP_ERR. */
int ddsp_jacobian_decompose(ddsp_jacobian *j, double *G, size_t n_in, size_t n_controls,
                            size_t k);
/* Top-k singular values and right singular vectors of J (same inputs as
 * ddsp_jacobian_gram) without forming J^T J: a randomized range finder (Halko, Martinsson &
 * Tropp 2011, algorithm 4.4: Gaussian test matrix with 2k + 10 columns from `seed`, `power`
 * power iterations, re-orthonormalised) on matrix-free products J v (forward mode through
 * the STFT) and J^T u (its adjoint), then LAPACK dgesvd of the small (k + 10) x n_in matrix.
 * j gets sigma (k), V (k, n_in); null_share NULL. DDSP_OK or DDSP_ERR (memory, LAPACK). */
int ddsp_jacobian_randomized(ddsp_jacobian *j, const double *Jg, size_t r0, size_t n_region,
                             size_t n_in, size_t n_controls, const float *x, size_t N,
                             const int *scales, int n_scales, double overlap, size_t k,
                             int power, uint64_t seed);
/* The whole chain for the synthesizer: raw (F, C), f0_hz (F), noise (F * hop), frames
 * [f_begin, f_end), top k vectors kept; dense (every singular value, n_in <= 20000) or
 * randomized (top k, 8 power iterations, n_in <= 200000). DDSP_OK or DDSP_ERR (bad frames,
 * memory). */
int ddsp_jacobian_synth(ddsp_jacobian *j, const ddsp_synth_config *sc, const float *raw,
                        const float *f0_hz, const float *noise, size_t F, size_t f_begin,
                        size_t f_end, const int *scales, int n_scales, double overlap, size_t k,
                        ddsp_jacobian_method method);
void ddsp_jacobian_free(ddsp_jacobian *j);

/* Write j (format "ddsp-jacobian") for the controls of frames [fb, fe); `source` says where
 * they came from. Atomic (a temporary renamed). DDSP_OK or DDSP_ERR. */
int ddsp_jacobian_write(const char *path, const ddsp_jacobian *j, size_t fb, size_t fe,
                        const char *source);
/* What plot reads back (format/version checked): sigma (n_sigma), the frame range, ranks.
 * Free with ddsp_jacobian_file_free. DDSP_OK or DDSP_ERR. */
typedef struct {
    double *sigma;
    size_t n_sigma;
    int64_t frame_begin, frame_end, rank_1e3, n_in;
    double entropy_rank;
} ddsp_jacobian_file;
int ddsp_jacobian_read(const char *path, ddsp_jacobian_file *out);
void ddsp_jacobian_file_free(ddsp_jacobian_file *f);
/* A controls file for `ddsp jacobian --controls`: datasets raw_controls (F, C) and f0_hz (F),
 * optional noise_uniform (F * hop). *raw, *f0, *noise (NULL when absent) are the caller's
 * (ddsp_free). DDSP_ERR naming the file and the dataset when shapes or values are wrong. */
int ddsp_jacobian_read_controls(const char *path, float **raw, float **f0, float **noise, size_t *F,
                                size_t C, size_t hop);
/* ---------------------------------------------------------------- timbre dissimilarity
 * Does a Φ hear like people do? A collection of timbre-dissimilarity studies (the layout of
 * the timbre-metrics collection, github.com/tiianhk/timbremetrics): ROOT/sounds/<study>/ holds
 * a study's sounds (audio files, taken in byte order of their names), ROOT/true_dissim/
 * <study>_dissimilarity_matrix.txt the listeners' N x N dissimilarities (whitespace separated,
 * upper triangle used). Every pair of a study is padded with zeros to the longer sound (and
 * to the Φ's minimum length) and compared at the sounds' own sample rate; then the
 * collection's metrics (timbremetrics/metrics.py, torchmetrics' definitions):
 *   P, H = the predicted and human matrices' upper triangles (diagonal and lower triangle 0),
 *          each min-max normalised over all N x N entries, then symmetrised (M + M^T), and
 *          each anchor's row taken without the diagonal (N - 1 values)
 *   spearman  per anchor: Pearson correlation of the average ranks (ties share their mean
 *             rank), cov / (std_P std_H + 1e-6), clamped to [-1, 1]
 *   kendall   per anchor: tau-b, (C - D) / sqrt((n0 - T_P)(n0 - T_H)) (0 where undefined)
 *   triplet   per anchor: of the pairs (j, k) with |H_j - H_k| > 0.1, the share with
 *             (P_j - P_k)(H_j - H_k) > 0 (0 when there is none)
 *   ndcg      per anchor: retrieving similar sounds: scores 1 - P (those <= 0 rank last),
 *             gains 1 - H, DCG with discount 1 / log2(rank + 1) over all N - 1 and ties in
 *             the scores averaged, divided by the ideal DCG (0 when that is 0)
 *   mae       sum of |P - H| over all N x N entries
 * Rank metrics are summed over the anchors of all studies and divided by their number; mae
 * by the number of pairs. */
typedef struct {
    char name[256];
    int n;            /* sounds */
    int sample_rate;  /* Hz, the same for every sound of the study */
    char **files;     /* (n) paths */
    float **audio;    /* (n) mono samples of each sound */
    size_t *len;      /* (n) their lengths */
    double *human;    /* (n, n) the matrix as read */
} ddsp_timbre_study;

typedef struct {
    int n_studies;
    ddsp_timbre_study *study;
} ddsp_timbre_set;

/* Read every study of ROOT (sorted by name), or only those named in `only` (comma
 * separated; NULL: all). DDSP_ERR with one line naming the file and the problem (ROOT is
 * not a collection, a matrix is missing or not N x N for the study's N sounds, a sound
 * cannot be read or has another sample rate). *set is empty on failure. */
int ddsp_timbre_load(ddsp_timbre_set *set, const char *root, const char *only);
void ddsp_timbre_free(ddsp_timbre_set *set);

/* Sums of the metrics of one study: rank metrics over its anchors, mae over all entries. */
typedef struct {
    double spearman, kendall, triplet, ndcg, mae;
    long anchors, pairs;
} ddsp_timbre_sums;
/* s <- the metrics of predicted distances pred (n, n) against human (n, n) (upper triangles
 * used, as described above); n >= 2. */
void ddsp_timbre_metrics(ddsp_timbre_sums *s, const double *pred, const double *human, int n);
/* a += b */
void ddsp_timbre_sums_add(ddsp_timbre_sums *a, const ddsp_timbre_sums *b);
/* Spearman of one study only, from the pairs' distances d (n (n - 1) / 2, pairs (i, j), i < j
 * in row-major order): the same as ddsp_timbre_metrics' spearman sum (distances are >= 0),
 * without the other metrics. */
double ddsp_timbre_spearman_sum(const double *d, const double *human, int n);

/* What is compared: the Φ (its terms, settings and dist; sample_rate is set per study) or,
 * to check the protocol against the collection's published features, a reference feature:
 *   mss       the collection's MSS: |STFT| and log(max(|STFT|, 1e-5)) for n_fft 4096 .. 128,
 *             hop n/4, rectangular window, centred with reflect padding, all concatenated;
 *             pairs padded to the longer sound
 *   mss_avg   the same averaged over frames, each sound at its own length
 *   mfcc_avg  the mfcc term's coefficients averaged over frames, each at its own length
 * Reference features take dist l1, l2 or cos of the whole vector; they are no Φ term. */
typedef enum {
    DDSP_TIMBRE_PHI = 0,
    DDSP_TIMBRE_REF_MSS,
    DDSP_TIMBRE_REF_MSS_AVG,
    DDSP_TIMBRE_REF_MFCC_AVG
} ddsp_timbre_feature;
/* "mss" | "mss_avg" | "mfcc_avg" -> feature; DDSP_ERR naming the choices. */
int ddsp_timbre_parse_ref(const char *name, ddsp_timbre_feature *f);

/* The cells (ddsp_phi_compare) of every pair of every study: cells[s] (pairs, n_cells,
 * DDSP_CELL_N), pairs (i, j), i < j, row-major. Reference features have one cell per pair
 * (layout: one block, one band, under the term slot 0). */
typedef struct {
    int n_studies;
    ddsp_timbre_feature feature;
    ddsp_phi_config phi;  /* as given (its sample rate is the last study's) */
    ddsp_phi_layout lay;
    double **cells;       /* (n_studies) */
    size_t *n_pairs;      /* (n_studies) n (n - 1) / 2 */
    double seconds;       /* wall time of the computation */
} ddsp_timbre_cells;
/* Compute the cells (OpenMP over the pairs of each padded length). Progress lines on stderr
 * every few seconds when `verbose`. DDSP_OK or DDSP_ERR (a Φ that cannot be made, memory). */
int ddsp_timbre_compute(ddsp_timbre_cells *out, const ddsp_timbre_set *set,
                        ddsp_timbre_feature feature, const ddsp_phi_config *phi, int verbose);
void ddsp_timbre_cells_free(ddsp_timbre_cells *c);
/* Cache: write the cells to PATH (HDF5, format "ddsp-timbre-cells" version 1, written to
 * a temporary and published, ddsp_tmp_*); read back the cells of the studies of `set` and
 * the terms of `phi` when the file holds them (the same studies by name with the same sounds'
 * lengths and rate, a superset of the terms with the same settings, or the same reference
 * feature): 1 when loaded, 0 when the file is missing or holds other cells (nothing
 * loaded), DDSP_ERR on a broken file. Weights, band weights and dist need no new cells. */
int ddsp_timbre_cells_write(const char *path, const ddsp_timbre_cells *c,
                            const ddsp_timbre_set *set);
int ddsp_timbre_cells_read(const char *path, ddsp_timbre_cells *c, const ddsp_timbre_set *set,
                           ddsp_timbre_feature feature, const ddsp_phi_config *phi);

/* d (pairs of study s) <- the distances under `phi` (ddsp_phi_cells_distance; its terms
 * must be on in c's layout: c->phi itself, or a fitted subset of it, any dist). */
void ddsp_timbre_distances(double *d, const ddsp_timbre_cells *c, int s,
                           const ddsp_phi_config *phi);

/* The metrics of distances d[s] (pairs) of every study: per_study (n_studies) and overall. */
void ddsp_timbre_evaluate(ddsp_timbre_sums *per_study, ddsp_timbre_sums *overall,
                          const ddsp_timbre_set *set, double *const *d);

/* ---------------------------------------------------------------- fitting Φ to listeners
 * Non-negative weights over features of the candidate terms in c's layout: each whole term
 * and, under dist cos or l1, each band of a term alone, chosen to maximise the Spearman
 * metric (anchors of the studies fitted). Greedy forward selection on the metric itself:
 * start from the best single feature, then repeatedly add a feature (or rescale one already
 * in) with a weight from a grid of multiples of the current ones, while that raises the
 * training score by more than `tol`, up to `max_features`. Features are scaled to mean 1 over
 * the studies fitted first. A term is used either whole or by bands (as a term list can
 * say). The result is a term list (ddsp_phi_parse_terms), weights rounded to 3 digits. */
typedef struct {
    int max_features;  /* default 6 */
    double tol;        /* default 0.002 */
    int bands;         /* use band features (default 1) */
} ddsp_timbre_fit_config;
void ddsp_timbre_fit_config_default(ddsp_timbre_fit_config *f);

typedef struct {
    char terms[1024];            /* the fitted term list (with dist) */
    double train_spearman;       /* on the studies fitted */
    double *cv_spearman;         /* (n_studies) leave-one-study-out: each study's score with
                                    the weights fitted on the others; NULL when not asked */
    double cv_overall;           /* their anchors' mean */
    char (*cv_terms)[1024];      /* (n_studies) the term list of each fold */
} ddsp_timbre_fit;
/* Fit on all studies of c and, when `cv`, leave each study out in turn. Progress on stderr
 * when verbose. DDSP_OK or DDSP_ERR (no candidate feature, memory). */
int ddsp_timbre_fit_run(ddsp_timbre_fit *out, const ddsp_timbre_cells *c,
                        const ddsp_timbre_set *set, const ddsp_timbre_fit_config *fc, int cv,
                        int verbose);
void ddsp_timbre_fit_free(ddsp_timbre_fit *f);

/* Pairs of set whose longer sound is shorter than min_len (padded beyond it). */
long ddsp_timbre_padded_pairs(const ddsp_timbre_set *set, size_t min_len);
/* Write the metrics (a row per study, then "all"; phi names the Φ) as CSV, or a term list
 * and a newline, to path (a temporary published when written). DDSP_OK or DDSP_ERR. */
int ddsp_timbre_write_csv(const char *path, const ddsp_timbre_set *set,
                          const ddsp_timbre_sums *per, const ddsp_timbre_sums *all,
                          const char *phi);
int ddsp_timbre_write_terms(const char *path, const char *terms);

#endif
