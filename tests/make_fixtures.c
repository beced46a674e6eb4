/* Writes the small audio files the CLI tests need into the directory argv[1]: a 16 kHz
 * and an 8 kHz tone, a shorter 16 kHz tone, a stereo file, an empty WAV, a text file
 * named .wav, and a truncated WAV; a small file of synth controls; and synthetic timbre
 * collections for `ddsp timbre` (a good one, one without a matrix, one with a matrix of the
 * wrong size, one with a file that is not audio). */
#include "ddsp/audio.h"
#include "ddsp/util.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int tone(const char *dir, const char *name, size_t n, int sr, double f) {
    char p[1024];
    float x[20000];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.3 * sin(2 * 3.141592653589793 * f * i / sr));
    return ddsp_audio_write(p, x, n, sr);
}

/* controls48.h5: raw synth controls (48 frames, 126 controls, deterministic) and f0 for
 * `ddsp jacobian --controls` */
static int controls(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/controls48.h5", dir);
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create", p);
    enum { F = 48, C = 126 };
    static float raw[F * C], f0[F];
    for (int i = 0; i < F * C; i++) raw[i] = (float)(2.0 * ddsp_rng_uniform01(7, (uint64_t)i) - 1.0);
    for (int i = 0; i < F; i++) f0[i] = 300.0f;
    uint64_t d2[2] = {F, C}, d1[1] = {F};
    int rc = ddsp_h5_write_f32(f, "raw_controls", raw, 2, d2) |
             ddsp_h5_write_f32(f, "f0_hz", f0, 1, d1);
    return (H5Fclose(f) < 0) | rc;
}

/* ROOT/sounds/<study>/s0i.wav: the same noise at six gains (log10 gains lg, 0.25 s at
 * 16 kHz); ROOT/true_dissim/<study>_dissimilarity_matrix.txt: |lg_i - lg_j|, which the
 * loudness term's l1 distance ranks exactly (n_rows: rows written, to make it wrong). */
static int gains_study(const char *root, const char *study, const double *lg, uint64_t seed,
                       int n_rows) {
    char p[1024];
    enum { N = 6, LEN = 4000 };
    static float x[LEN];
    snprintf(p, sizeof p, "%s/sounds", root);
    mkdir(root, 0755), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/true_dissim", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sounds/%s", root, study);
    mkdir(p, 0755);
    int rc = 0;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < LEN; k++)
            x[k] = (float)(0.5 * pow(10.0, lg[i]) * (2.0 * ddsp_rng_uniform01(seed, (uint64_t)k) - 1.0));
        snprintf(p, sizeof p, "%s/sounds/%s/s%02d.wav", root, study, i);
        rc |= ddsp_audio_write(p, x, LEN, 16000);
    }
    if (n_rows < 0) return rc; /* no matrix */
    snprintf(p, sizeof p, "%s/true_dissim/%s_dissimilarity_matrix.txt", root, study);
    FILE *f = fopen(p, "w");
    if (!f) return 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < n_rows; j++)
            fprintf(f, "%.6f%s", fabs(lg[i] - lg[j]), j + 1 < n_rows ? " " : "\n");
    return fclose(f) != 0 || rc;
}

static int timbre_collections(const char *d) {
    static const double g1[6] = {0, -0.13, -0.31, -0.52, -0.80, -1.17};
    static const double g2[6] = {-0.05, -0.22, -0.37, -0.61, -0.96, -1.4};
    char r[1024], p[1100];
    snprintf(r, sizeof r, "%s/timbre", d);
    int rc = gains_study(r, "gains", g1, 11, 6) | gains_study(r, "gains2", g2, 12, 6);
    snprintf(r, sizeof r, "%s/timbre_missing", d);
    rc |= gains_study(r, "gains", g1, 11, -1);
    snprintf(r, sizeof r, "%s/timbre_mismatch", d);
    rc |= gains_study(r, "gains", g1, 11, 5);
    snprintf(r, sizeof r, "%s/timbre_badaudio", d);
    rc |= gains_study(r, "gains", g1, 11, 6);
    snprintf(p, sizeof p, "%s/sounds/gains/s03.wav", r);
    FILE *f = fopen(p, "w");
    if (!f) return 1;
    fputs("not audio\n", f);
    return fclose(f) != 0 || rc;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *d = argv[1];
    char p[1024];
    int rc = tone(d, "tone16k.wav", 8000, 16000, 440) | tone(d, "tone16k_b.wav", 8000, 16000, 660) |
             tone(d, "tone8k.wav", 8000, 8000, 440) | tone(d, "short16k.wav", 5000, 16000, 440) |
             tone(d, "empty.wav", 0, 16000, 440) | controls(d) | timbre_collections(d);
    snprintf(p, sizeof p, "%s/notaudio.wav", d);
    FILE *f = fopen(p, "w");
    if (!f) return 1;
    fputs("RIFF? no, this is a text file\n", f);
    fclose(f);
    /* truncated: the header of a valid file and half of its data */
    snprintf(p, sizeof p, "%s/tone16k.wav", d);
    FILE *in = fopen(p, "rb");
    snprintf(p, sizeof p, "%s/truncated.wav", d);
    FILE *out = fopen(p, "wb");
    if (!in || !out) return 1;
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, got > 100 ? 100 : got, out);
    fclose(in);
    fclose(out);
    if (rc) fprintf(stderr, "make_fixtures: %s\n", ddsp_last_error());
    return rc ? 1 : 0;
}
