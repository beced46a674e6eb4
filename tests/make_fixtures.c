/* Writes the small audio files the CLI tests need into the directory argv[1]: a 16 kHz
 * and an 8 kHz tone, a shorter 16 kHz tone, a stereo file, an empty WAV, a text file
 * named .wav, and a truncated WAV; and a small file of synth controls. */
#include "ddsp/audio.h"
#include "ddsp/util.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *d = argv[1];
    char p[1024];
    int rc = tone(d, "tone16k.wav", 8000, 16000, 440) | tone(d, "tone16k_b.wav", 8000, 16000, 660) |
             tone(d, "tone8k.wav", 8000, 8000, 440) | tone(d, "short16k.wav", 5000, 16000, 440) |
             tone(d, "empty.wav", 0, 16000, 440) | controls(d);
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
