/* Audio I/O: int16 WAV read as x/32768 exactly (checked against the reference file's
 * samples), float WAV round trip, stereo downmix, and clear errors for bad files. */
#include "ddsp/audio.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    /* the header is the standard one for float (sox warned on libsndfile's): fmt of 18
     * bytes, format 3, cbSize 0, then a fact chunk with the sample count, then data */
    {
        unsigned char h[58];
        FILE *hf = fopen(p, "rb");
        CHECK(hf && fread(h, 1, sizeof h, hf) == sizeof h, "read back the header");
        if (hf) fclose(hf);
#define U16(o) ((unsigned)h[o] | (unsigned)h[(o) + 1] << 8)
#define U32(o) (U16(o) | (unsigned)U16((o) + 2) << 16)
        CHECK(!memcmp(h, "RIFF", 4) && U32(4) == 50 + 4000 && !memcmp(h + 8, "WAVEfmt ", 8) &&
                  U32(16) == 18 && U16(20) == 3 && U16(22) == 1 && U32(24) == 16000 &&
                  U32(28) == 64000 && U16(32) == 4 && U16(34) == 32 && U16(36) == 0 &&
                  !memcmp(h + 38, "fact", 4) && U32(42) == 4 && U32(46) == 1000 &&
                  !memcmp(h + 50, "data", 4) && U32(54) == 4000,
              "float WAV header is not the standard 18-byte fmt + fact layout");
#undef U32
#undef U16
    }
    /* paths longer than libsndfile's 1 KB name buffer: write and read */
    {
        char deep[2600];
        size_t len = (size_t)snprintf(deep, sizeof deep, "%s", tmpdir);
        for (int k = 0; k < 10; k++) {
            len += (size_t)snprintf(deep + len, sizeof deep - len, "/%0200d", k);
            mkdir(deep, 0755);
        }
        snprintf(deep + len, sizeof deep - len, "/long.wav");
        CHECK(ddsp_audio_write(deep, a.x, 500, 16000) == DDSP_OK, "long path write: %s",
              ddsp_last_error());
        CHECK(ddsp_audio_read(deep, &b) == DDSP_OK && b.n == 500 && !memcmp(b.x, a.x, 2000),
              "long path (%zu chars) read: %s", strlen(deep), ddsp_last_error());
        ddsp_audio_free(&b);
        snprintf(deep + len, sizeof deep - len, "/missing.wav");
        CHECK(ddsp_audio_read(deep, &b) == DDSP_ERR && strstr(ddsp_last_error(), "missing.wav: no such file"),
              "long path error keeps its reason: '%.60s...'", ddsp_last_error());
    }
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
