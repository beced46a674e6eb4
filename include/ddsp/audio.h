/* ddsp/audio.h — reading and writing audio files (libsndfile).
 *
 * Any format libsndfile reads (WAV, FLAC, AIFF, OGG, ...) is read as mono float: integer
 * PCM is scaled by 1/2^(bits-1) (int16 is x/32768 exactly), multi-channel files are
 * downmixed by averaging channels. Non-finite samples are rejected.
 */
#ifndef DDSP_AUDIO_H
#define DDSP_AUDIO_H

#include <stddef.h>

typedef struct {
    float *x;        /* (N) mono samples, owned; free with ddsp_audio_free */
    size_t n;        /* N, number of samples */
    int sample_rate; /* Hz, as stored in the file */
    int channels;    /* channels in the file before the downmix */
} ddsp_audio;

/* Read `path` into *out. Returns DDSP_OK, or DDSP_ERR with a one-line message naming the
 * file (missing, not audio, empty, non-finite samples). *out is zeroed on failure. */
int ddsp_audio_read(const char *path, ddsp_audio *out);
void ddsp_audio_free(ddsp_audio *a);

/* Resample a->x in place of a (libsoxr, "very high quality" linear-phase filter) to
 * `sample_rate`; a no-op when the rates match. a->n becomes round(n * new / old). DDSP_OK
 * or DDSP_ERR (message names `what`, e.g. the file). */
int ddsp_audio_resample(ddsp_audio *a, int sample_rate, const char *what);

/* ddsp_audio_read + ddsp_audio_resample to `sample_rate` (0 keeps the file's rate). */
int ddsp_audio_load(const char *path, int sample_rate, ddsp_audio *out);

/* Write N mono float samples as a 32-bit IEEE-float WAV with the standard header (fmt with
 * cbSize, fact chunk). DDSP_OK or DDSP_ERR naming the file and the reason. */
int ddsp_audio_write(const char *path, const float *x, size_t n, int sample_rate);

#endif
