/* Audio I/O: int16 WAV read as x/32768 exactly (checked against the reference file's
 * samples), float WAV round trip, stereo downmix, and clear errors for bad files. */
#include "ddsp/audio.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/ddsp_test_audio_XXXXXX";

static void path_in(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", tmpdir, name);
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "tests/data";
    char p[1024];
    ddsp_h5_quiet();
    if (!mkdtemp(tmpdir)) return 1;

    /* violin.wav (int16) must equal the reference's float32 samples exactly */
    snprintf(p, sizeof p, "%s/../../data/violin.wav", data);
    ddsp_audio a;
    CHECK(ddsp_audio_read(p, &a) == DDSP_OK, "%s", ddsp_last_error());
    CHECK(a.sample_rate == 16000 && a.channels == 1 && a.n == 960000,
          "violin.wav: %d Hz, %d ch, %zu samples", a.sample_rate, a.channels, a.n);
    snprintf(p, sizeof p, "%s/ref_l1.h5", data);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    float *ref = NULL;
    uint64_t d[8];
    int r;
    CHECK(f >= 0 && ddsp_h5_read_f32(f, p, "target", &ref, d, &r) == DDSP_OK, "read ref target");
    if (f >= 0) H5Fclose(f);
    if (ref && a.x) CHECK(!memcmp(ref, a.x, sizeof(float) * 64000), "int16 not read as x/32768");
    ddsp_free(ref);

    /* float WAV round trip */
    path_in(p, sizeof p, "rt.wav");
    CHECK(ddsp_audio_write(p, a.x, 1000, 16000) == DDSP_OK, "%s", ddsp_last_error());
    ddsp_audio b;
    CHECK(ddsp_audio_read(p, &b) == DDSP_OK && b.n == 1000 && !memcmp(b.x, a.x, 4000),
          "float WAV round trip");
    ddsp_audio_free(&b);
    ddsp_audio_free(&a);

    /* stereo int16: downmix is the mean of the channels */
    path_in(p, sizeof p, "stereo.wav");
    SF_INFO info = {.samplerate = 8000, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
    short st[8] = {1000, 3000, -2000, 0, 16384, 16384, -32768, 0};
    sf_writef_short(sf, st, 4);
    sf_close(sf);
    CHECK(ddsp_audio_read(p, &b) == DDSP_OK && b.n == 4 && b.channels == 2 &&
              b.sample_rate == 8000,
          "stereo read");
    const float want[4] = {2000.f / 32768, -1000.f / 32768, 0.5f, -0.5f};
    for (int i = 0; i < 4 && b.x; i++)
        CHECK(b.x[i] == want[i], "downmix sample %d: %g vs %g", i, b.x[i], want[i]);
    ddsp_audio_free(&b);

    /* errors: missing, not audio, empty, NaN samples */
    path_in(p, sizeof p, "missing.wav");
    CHECK(ddsp_audio_read(p, &b) == DDSP_ERR && strstr(ddsp_last_error(), "no such file"),
          "missing file: '%s'", ddsp_last_error());
    path_in(p, sizeof p, "text.wav");
    FILE *t = fopen(p, "w");
    fputs("this is not audio\n", t);
    fclose(t);
    CHECK(ddsp_audio_read(p, &b) == DDSP_ERR && strstr(ddsp_last_error(), "not a readable audio"),
          "non-audio file: '%s'", ddsp_last_error());
    path_in(p, sizeof p, "empty.wav");
    CHECK(ddsp_audio_write(p, NULL, 0, 16000) == DDSP_OK, "write empty");
    CHECK(ddsp_audio_read(p, &b) == DDSP_ERR && strstr(ddsp_last_error(), "no audio samples"),
          "empty file: '%s'", ddsp_last_error());
    path_in(p, sizeof p, "nan.wav");
    float bad[3] = {0.1f, NAN, 0.2f};
    ddsp_audio_write(p, bad, 3, 16000);
    CHECK(ddsp_audio_read(p, &b) == DDSP_ERR && strstr(ddsp_last_error(), "non-finite"),
          "NaN samples: '%s'", ddsp_last_error());
    CHECK(ddsp_audio_read(tmpdir, &b) == DDSP_ERR && strstr(ddsp_last_error(), "directory"),
          "directory: '%s'", ddsp_last_error());

    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    return tu_finish("test_audio");
}
