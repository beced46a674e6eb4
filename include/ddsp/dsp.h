/* ddsp/dsp.h — STFT building blocks and the FFTW single-precision plan cache.
 *
 * Framing follows tf.signal.frame(pad_end=True), as magenta's compute_mag:
 *   F = ceil(N / hop) frames; frame f = x[f*hop : f*hop + n], x zero-padded at the END
 *   (no centering: frame 0 starts at sample 0). Window: periodic Hann.
 *
 * Plans are created once (first request, usually at init; any thread may ask) and reused;
 * executing them from OpenMP threads uses FFTW's new-array functions on buffers from
 * ddsp_alloc (64-byte aligned, like the planning buffers).
 */
#ifndef DDSP_DSP_H
#define DDSP_DSP_H

#include <fftw3.h>
#include <stddef.h>

/* Number of STFT frames for N samples and hop: ceil(N / hop). */
size_t ddsp_stft_nframes(size_t n_samples, int hop);

/* Periodic Hann window of length n: w[m] = 0.5 - 0.5 cos(2 pi m / n) (computed in double). */
void ddsp_hann_periodic(float *w, int n);

/* frames (nf, n) = x[(f0 + j) * hop + m] * w[m], j < nf; samples at index >= N read 0. */
void ddsp_stft_frames(float *frames, const float *x, size_t N, int n, int hop, size_t f0,
                      size_t nf, const float *w);

/* Periodic Hann in double (the exact-precision MSS spectra). */
void ddsp_hann_periodic_f64(double *w, int n);

/* Adjoint of ddsp_stft_frames: y[(f0 + j) * hop + m] += frames[j][m] * w[m] for indices < N. */
void ddsp_stft_overlap_add(float *y, size_t N, const float *frames, int n, int hop, size_t f0,
                           size_t nf, const float *w);

/* Two real frames per complex FFT. FFTW's complex transform is markedly faster than its
 * real-input one on this hardware, and one complex FFT of a + i b yields the spectra of
 * both real frames a and b. Frame pairs: pair p holds frames f0 + 2p (real part) and
 * f0 + 2p + 1 (imaginary part; zero when 2p + 1 >= nf). np = (nf + 1) / 2.
 *
 * z (np, n) <- windowed frame pairs of x (framing as ddsp_stft_frames). */
void ddsp_stft_frame_pairs(fftwf_complex *z, const float *x, size_t N, int n, int hop, size_t f0,
                           size_t nf, const float *w);
void ddsp_stft_frame_pairs_f64(fftw_complex *z, const float *x, size_t N, int n, int hop,
                               size_t f0, size_t nf, const double *w);
/* X (nf, n/2+1) <- the real-input spectra of the nf frames, from Z (np, n) = forward c2c
 * of the pairs: X_a[k] = (Z[k] + conj Z[n-k]) / 2, X_b[k] = (Z[k] - conj Z[n-k]) / 2i. */
void ddsp_stft_pair_split(fftwf_complex *X, const fftwf_complex *Z, int n, size_t nf);
void ddsp_stft_pair_split_f64(fftw_complex *X, const fftw_complex *Z, int n, size_t nf);
/* Z (np, n) <- Hermitian extensions of U (nf, n/2+1) packed as U_a + i U_b, so that a
 * backward c2c of Z gives c2r(U_a) + i c2r(U_b) (imaginary parts of bins 0 and n/2 are
 * ignored, as c2r does). */
void ddsp_stft_pair_join(fftwf_complex *Z, const fftwf_complex *U, int n, size_t nf);
/* Adjoint of ddsp_stft_frame_pairs: y[(f0 + j) hop + m] += frame_j[m] w[m] (indices < N),
 * frame 2p in the real part of y_pairs[p], frame 2p + 1 in the imaginary part. */
void ddsp_stft_overlap_add_pairs(float *y, size_t N, const fftwf_complex *y_pairs, int n, int hop,
                                 size_t f0, size_t nf, const float *w);

/* |STFT| of one signal x (N): S (F, n/2+1), F = ddsp_stft_nframes(N, hop). Convenience
 * for output and inspection (allocates its own buffers; not for the training loop).
 * DDSP_OK or DDSP_ERR. */
int ddsp_stft_mag(float *S, const float *x, size_t N, int n, int hop);

/* Planning rigor for plans made from now on: FFTW_ESTIMATE (default: deterministic, so
 * every process computes with the same plans; measured as fast as FFTW_MEASURE's here),
 * FFTW_MEASURE, FFTW_PATIENT. Overridden by the environment variable DDSP_FFTW_PLANNER
 * (estimate|measure|patient) when set. */
void ddsp_fft_set_rigor(unsigned flags);
unsigned ddsp_fft_rigor(void);

/* Cached plan for `howmany` contiguous real transforms of size n (n even):
 *   r2c: in (howmany, n) float -> out (howmany, n/2+1) complex
 *   c2r: in (howmany, n/2+1) complex -> out (howmany, n) float, unnormalised, destroys in.
 * Never NULL (planning failure is a bug: DDSP_ASSERT). Thread-safe (planning is serialised). */
fftwf_plan ddsp_fft_plan_r2c(int n, int howmany);
fftwf_plan ddsp_fft_plan_c2r(int n, int howmany);
/* The same in double (spectral distances Φ, see ddsp/loss.h). */
fftw_plan ddsp_fft_plan_r2c_f64(int n, int howmany);
fftw_plan ddsp_fft_plan_c2r_f64(int n, int howmany);
/* Complex transforms, `howmany` contiguous (howmany, n) arrays, unnormalised:
 * sign FFTW_FORWARD or FFTW_BACKWARD. */
fftwf_plan ddsp_fft_plan_c2c(int n, int howmany, int sign);
fftw_plan ddsp_fft_plan_c2c_f64(int n, int howmany, int sign);

/* Destroy all cached plans (and FFTW's own state). Safe to call more than once. */
void ddsp_fft_cleanup(void);

#endif
