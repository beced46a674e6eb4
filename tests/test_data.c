/* `ddsp prepare` + dataset reader: shapes, counts and the split rule on the bundled audio,
 * rows equal to the source audio and to whole-file features, bad inputs, atomic output.
 * (1-rank vs 2-rank equality runs through mpirun in tests/CMakeLists.txt.) */
#include "ddsp/audio.h"
#include "ddsp/data.h"
#include "ddsp/dist.h"
#include "ddsp/features.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/ddsp_test_data_XXXXXX";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

int main(int argc, char **argv) {
    const char *data = argc > 2 ? argv[2] : "data";
    ddsp_dist dg; /* a group of one through MPI, as `ddsp prepare` runs without mpirun */
    if (ddsp_dist_init(&dg, &argc, &argv)) return 1;
    ddsp_h5_quiet();
    if (!mkdtemp(tmpdir)) return 1;
    char out[512], p[1024], bad[1024], shortf[1024], dir[512];
    snprintf(out, sizeof out, "%s/ds.h5", tmpdir);

    /* a folder with the two bundled recordings, a non-audio .wav, a too-short file and a
     * text file (ignored: not an audio extension) */
    snprintf(dir, sizeof dir, "%s/in", tmpdir);
    mkdir(dir, 0755);
    const char *names[2] = {"violin.wav", "flute.wav"};
    ddsp_audio src[2];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", data, names[i]);
        CHECK(ddsp_audio_read(p, &src[i]) == DDSP_OK, "%s", ddsp_last_error());
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        CHECK(ddsp_audio_write(p, src[i].x, src[i].n, 16000) == DDSP_OK, "copy %s", names[i]);
    }
    snprintf(bad, sizeof bad, "%s/broken.wav", dir);
    write_file(bad, "RIFF this is not a wave file");
    snprintf(shortf, sizeof shortf, "%s/short.wav", dir);
    CHECK(ddsp_audio_write(shortf, src[0].x, 16000, 16000) == DDSP_OK, "short file");
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_file(p, "hello");

    ddsp_prepare_config c;
    ddsp_prepare_config_default(&c);
    ddsp_prepare_stats st;
    const char *in[1] = {dir};

    /* --strict stops at the first bad input (sorted: broken.wav) and writes nothing */
    c.strict = 1;
    CHECK(ddsp_prepare(&c, in, 1, out, &dg, &st) == DDSP_ERR &&
              strstr(ddsp_last_error(), "broken.wav"),
          "strict: %s", ddsp_last_error());
    CHECK(access(out, F_OK) != 0, "strict failure left an output file");
    c.strict = 0;

    CHECK(ddsp_prepare(&c, in, 1, out, &dg, &st) == DDSP_OK, "%s", ddsp_last_error());
    CHECK(st.files_ok == 2 && st.files_bad == 1 && st.files_short == 1, "file counts %lld %lld %lld",
          (long long)st.files_ok, (long long)st.files_bad, (long long)st.files_short);
    /* flute 30 s: 27 windows, 3 valid (start 24..26 s), train ends by 24 s: starts 0..20.
     * violin 60 s: 57 windows, 6 valid (51..56 s), train starts 0..47. */
    CHECK(st.n_train == 21 + 48 && st.n_valid == 3 + 6 && st.n_dropped == 6,
          "split counts train %lld valid %lld dropped %lld", (long long)st.n_train,
          (long long)st.n_valid, (long long)st.n_dropped);

    /* existing output is kept without force */
    struct stat s0, s1;
    stat(out, &s0);
    CHECK(ddsp_prepare(&c, in, 1, out, &dg, &st) == DDSP_ERR &&
              strstr(ddsp_last_error(), "--force"),
          "overwrite refused: %s", ddsp_last_error());
    stat(out, &s1);
    CHECK(s0.st_mtime == s1.st_mtime && s0.st_size == s1.st_size, "output untouched");

    ddsp_dataset ds;
    CHECK(ddsp_dataset_open(out, &ds) == DDSP_OK, "%s", ddsp_last_error());
    CHECK(ds.n_examples == 78 && ds.T == 64000 && ds.F == 1000 && ds.hop == 64 &&
              ds.sample_rate == 16000 && ds.n_train == 69 && ds.n_valid == 9,
          "dataset shape E=%lld T=%lld F=%lld", (long long)ds.n_examples, (long long)ds.T,
          (long long)ds.F);
    /* tables: file order is sorted (broken, flute, short, violin); check the split rule */
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t *off = calloc(80, sizeof(int64_t));
    int32_t *sf = calloc(80, sizeof(int32_t));
    int8_t *split = calloc(80, 1);
    hid_t d;
    d = H5Dopen2(f, "source_offset", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off);
    H5Dclose(d);
    d = H5Dopen2(f, "source_file", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, sf);
    H5Dclose(d);
    d = H5Dopen2(f, "split", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, split);
    H5Dclose(d);
    int64_t train_end[4] = {0}, valid_start[4] = {1LL << 40, 1LL << 40, 1LL << 40, 1LL << 40};
    for (int i = 0; i < 78; i++) {
        CHECK(sf[i] == 1 || sf[i] == 3, "example %d from file %d", i, sf[i]);
        if (sf[i] < 0 || sf[i] > 3) continue;
        if (split[i] == 0 && off[i] + 64000 > train_end[sf[i]]) train_end[sf[i]] = off[i] + 64000;
        if (split[i] == 1 && off[i] < valid_start[sf[i]]) valid_start[sf[i]] = off[i];
    }
    CHECK(train_end[1] <= valid_start[1] && train_end[3] <= valid_start[3],
          "train audio overlaps validation audio");
    H5Fclose(f);

    /* rows equal the source audio and whole-file features cut at the example's frames */
    float *audio = ddsp_alloc(sizeof(float) * 64000), *f0 = ddsp_alloc(4000), *ld = ddsp_alloc(4000);
    ddsp_loudness_config lc;
    ddsp_loudness_config_default(&lc);
    float *ld_all = ddsp_alloc(sizeof(float) * ddsp_feature_frames(src[0].n, 64));
    CHECK(ddsp_loudness(&lc, src[0].x, src[0].n, ld_all) == DDSP_OK, "loudness");
    for (int i = 0; i < 78; i += 7) {
        CHECK(ddsp_dataset_read(&ds, i, audio, f0, ld) == DDSP_OK, "%s", ddsp_last_error());
        const ddsp_audio *a = sf[i] == 1 ? &src[1] : &src[0];
        CHECK(!memcmp(audio, a->x + off[i], sizeof(float) * 64000), "example %d audio", i);
        if (sf[i] == 3)
            CHECK(!memcmp(ld, ld_all + off[i] / 64, sizeof(float) * 1000), "example %d loudness", i);
        int f0_ok = 1;
        for (int k = 0; k < 1000; k++) f0_ok &= f0[k] >= 20.0f && f0[k] <= 2100.0f;
        CHECK(f0_ok, "example %d f0 outside the search range", i);
    }
    CHECK(ddsp_dataset_read(&ds, 78, audio, NULL, NULL) == DDSP_ERR, "row out of range");
    ddsp_dataset_close(&ds);

    /* reader errors name the file and the problem */
    CHECK(ddsp_dataset_open(bad, &ds) == DDSP_ERR && strstr(ddsp_last_error(), "not an HDF5"),
          "non-HDF5: %s", ddsp_last_error());
    snprintf(p, sizeof p, "%s/other.h5", tmpdir);
    hid_t g = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ddsp_h5_attr_str(g, "format", "ddsp-dataset");
    ddsp_h5_attr_i64(g, "format_version", 99);
    H5Fclose(g);
    CHECK(ddsp_dataset_open(p, &ds) == DDSP_ERR && strstr(ddsp_last_error(), "version 99"),
          "version: %s", ddsp_last_error());

    /* no usable input at all */
    const char *only_bad[1] = {bad};
    snprintf(p, sizeof p, "%s/none.h5", tmpdir);
    CHECK(ddsp_prepare(&c, only_bad, 1, p, &dg, &st) == DDSP_ERR &&
              strstr(ddsp_last_error(), "no examples") && access(p, F_OK) != 0,
          "no examples: %s", ddsp_last_error());

    ddsp_free(audio), ddsp_free(f0), ddsp_free(ld), ddsp_free(ld_all);
    free(off), free(sf), free(split);
    ddsp_audio_free(&src[0]);
    ddsp_audio_free(&src[1]);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) printf("could not remove %s\n", tmpdir);
    int rc = tu_finish("test_data");
    ddsp_dist_finalize();
    return rc;
}
