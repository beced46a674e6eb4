/* ddsp/dsp.h — STFT building blocks and the FFTW single-precision plan cache.
 *
 * Framing follows tf.signal.frame(pad_end=True), as magenta's compute_mag:
 *   F = ceil(N / hop) frames; frame f = x[f*hop : f*hop + n], x zero-padded at the END
 *   (no centering: frame 0 starts at sample 0). Window: periodic Hann.
 *
 * Plans are created once (first request, from ONE thread, usually at init) and reused;
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

/* The same framing into double precision (the estimate's spectrum in the MSS loss). */
void ddsp_stft_frames_f64(double *frames, const float *x, size_t N, int n, int hop, size_t f0,
                          size_t nf, const double *w);
void ddsp_hann_periodic_f64(double *w, int n);

/* Adjoint of ddsp_stft_frames: y[(f0 + j) * hop + m] += frames[j][m] * w[m] for indices < N. */
void ddsp_stft_overlap_add(float *y, size_t N, const float *frames, int n, int hop, size_t f0,
                           size_t nf, const float *w);

/* |STFT| of one signal x (N): S (F, n/2+1), F = ddsp_stft_nframes(N, hop). Convenience
 * for output and inspection (allocates its own buffers; not for the training loop).
 * DDSP_OK or DDSP_ERR. */
int ddsp_stft_mag(float *S, const float *x, size_t N, int n, int hop);

/* Planning rigor for plans made from now on: FFTW_ESTIMATE, FFTW_MEASURE (default),
 * FFTW_PATIENT. Overridden by the environment variable DDSP_FFTW_PLANNER
 * (estimate|measure|patient) when set. */
void ddsp_fft_set_rigor(unsigned flags);
unsigned ddsp_fft_rigor(void);

/* Cached plan for `howmany` contiguous real transforms of size n (n even):
 *   r2c: in (howmany, n) float -> out (howmany, n/2+1) complex
 *   c2r: in (howmany, n/2+1) complex -> out (howmany, n) float, unnormalised, destroys in.
 * Never NULL (planning failure is a bug: DDSP_ASSERT). Call from one thread. */
fftwf_plan ddsp_fft_plan_r2c(int n, int howmany);
fftwf_plan ddsp_fft_plan_c2r(int n, int howmany);
/* Double-precision r2c with the same layout (FFTW's double library). */
fftw_plan ddsp_fft_plan_r2c_f64(int n, int howmany);

/* Destroy all cached plans (and FFTW's own state). Safe to call more than once. */
void ddsp_fft_cleanup(void);

#endif
