/* `ddsp inspect` and `ddsp plot` end to end, and the plot library.
 *
 * usage: test_plot DDSP_EXECUTABLE SCRATCH_DIR
 * Writes a small checkpoint with ddsp_ckpt_write (small model, history, two monitoring
 * examples), then runs the executable on it and on broken and foreign files: inspect's text
 * and JSON (checked by a small JSON parser), its verdict on a damaged checkpoint, plot's PNG
 * (signature, IHDR size, not blank) and its one-line errors. */
#include "ddsp/audio.h"
#include "ddsp/ckpt.h"
#include "ddsp/plot.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<cairo.h>)
#include <cairo.h>
#define HAVE_CAIRO_H 1
#endif
#endif

static const char *EXE, *DIR_;
static char out_buf[1 << 18], err_buf[1 << 14];

static void slurp(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run `ddsp ARGS` (ARGS already quoted as needed); stdout/stderr into out_buf/err_buf. */
static int run(const char *args) {
    char cmd[4096], o[1024], e[1024];
    snprintf(o, sizeof o, "%s/stdout.txt", DIR_);
    snprintf(e, sizeof e, "%s/stderr.txt", DIR_);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", EXE, args, o, e);
    int st = system(cmd);
    slurp(o, out_buf, sizeof out_buf);
    slurp(e, err_buf, sizeof err_buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Expect exit code rc and `want` in stdout+stderr; a failure must be one line on stderr. */
static void expect(const char *args, int rc, const char *want) {
    int got = run(args);
    CHECK(got == rc, "ddsp %s: exit %d, expected %d\nstdout: %.2000s\nstderr: %s", args, got, rc,
          out_buf, err_buf);
    CHECK(strstr(out_buf, want) || strstr(err_buf, want),
          "ddsp %s: output lacks '%s'\nstdout: %.2000s\nstderr: %s", args, want, out_buf, err_buf);
    if (rc != 0)
        CHECK(lines(err_buf) == 1, "ddsp %s: %d lines on stderr, expected 1:\n%s", args,
              lines(err_buf), err_buf);
}

/* ------------------------------------------------------------------ a tiny JSON parser */
static const char *jp;
static int json_value(int depth);
static void ws(void) {
    while (*jp == ' ' || *jp == '\n' || *jp == '\t' || *jp == '\r')
        jp++;
}
static int json_string(void) {
    if (*jp++ != '"') return 0;
    while (*jp && *jp != '"') {
        if ((unsigned char)*jp < 0x20) return 0;
        if (*jp == '\\') {
            jp++;
            if (*jp == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", jp[i]) || !jp[i]) return 0;
                jp += 4;
            } else if (!*jp || !strchr("\"\\/bfnrt", *jp)) {
                return 0;
            }
        }
        jp++;
    }
    return *jp++ == '"';
}
static int json_number(void) {
    const char *s = jp;
    if (*jp == '-') jp++;
    if (*jp == '0')
        jp++;
    else if (*jp >= '1' && *jp <= '9')
        while (*jp >= '0' && *jp <= '9')
            jp++;
    else
        return 0;
    if (*jp == '.') {
        jp++;
        if (!(*jp >= '0' && *jp <= '9')) return 0;
        while (*jp >= '0' && *jp <= '9')
            jp++;
    }
    if (*jp == 'e' || *jp == 'E') {
        jp++;
        if (*jp == '+' || *jp == '-') jp++;
        if (!(*jp >= '0' && *jp <= '9')) return 0;
        while (*jp >= '0' && *jp <= '9')
            jp++;
    }
    return jp > s;
}
static int json_container(int depth, char close) {
    jp++;
    ws();
    if (*jp == close) return jp++, 1;
    for (;;) {
        ws();
        if (close == '}') {
            if (!json_string()) return 0;
            ws();
            if (*jp++ != ':') return 0;
        }
        if (!json_value(depth + 1)) return 0;
        ws();
        if (*jp == ',') {
            jp++;
            continue;
        }
        return *jp++ == close;
    }
}
static int json_value(int depth) {
    if (depth > 64) return 0;
    ws();
    if (*jp == '{') return json_container(depth, '}');
    if (*jp == '[') return json_container(depth, ']');
    if (*jp == '"') return json_string();
    if (!strncmp(jp, "true", 4)) return jp += 4, 1;
    if (!strncmp(jp, "false", 5)) return jp += 5, 1;
    if (!strncmp(jp, "null", 4)) return jp += 4, 1;
    return json_number();
}
/* One JSON object and nothing else. */
static int json_valid(const char *s) {
    jp = s;
    ws();
    if (*jp != '{' || !json_value(0)) return 0;
    ws();
    return *jp == '\0';
}

/* ------------------------------------------------------------------ fixtures */
enum { MON_N = 16000, MON_NFFT = 1024, MON_HOP = 256, MON_K = MON_NFFT / 2 + 1 };
enum { MON_F = (MON_N + MON_HOP - 1) / MON_HOP, STEPS = 120 };

/* A small checkpoint at step STEPS: history, two monitoring examples whose spectrograms are
 * harmonic stacks (log |X|, the target a little louder than the reconstruction). */
static int write_checkpoint(const char *path, int full, int *n_tensors, size_t *n_weights) {
    ddsp_model_config c;
    ddsp_model m;
    ddsp_adam o;
    ddsp_adam_config ac;
    ddsp_loss_config lc;
    ddsp_model_config_preset(&c, "small");
    ddsp_adam_config_default(&ac);
    ddsp_loss_config_default(&lc);
    if (ddsp_model_init(&m, &c) || ddsp_adam_init(&o, &ac, m.n_params)) return DDSP_ERR;
    ddsp_model_init_weights(&m, 5);
    o.step = STEPS;
    *n_tensors = m.n_tensors, *n_weights = m.n_weights;

    ddsp_ckpt_history h = {0};
    for (int s = 1; s <= STEPS; s++) {
        const double loss = 8.0 + 10.0 * exp(-s / 40.0) + 0.4 * sin(s * 1.7);
        ddsp_ckpt_history_add(&h, s, loss, 5.0, 3e-4, 20.0, 0.5 * s);
        if (s % 20 == 0) ddsp_ckpt_history_add_valid(&h, s, loss + 0.5);
    }
    static float audio[2][MON_N], logmag[2][MON_F * MON_K];
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < MON_N; i++)
            audio[e][i] = (float)(0.3 * sin(2 * 3.14159265 * 440 * i / 16000.0));
        for (int f = 0; f < MON_F; f++)
            for (int k = 0; k < MON_K; k++) {
                const double f0 = 220.0 + 60.0 * e + 40.0 * f / MON_F, hz = k * 16000.0 / MON_NFFT;
                const double hn = hz / f0, d = hn - floor(hn + 0.5);
                const double level =
                    60.0 * exp(-d * d * 200.0) * exp(-hz / 3000.0) * (1.0 - 0.1 * e);
                logmag[e][f * MON_K + k] = (float)log(1e-3 + level);
            }
    }
    ddsp_ckpt_monitor mon[2] = {{21, audio[0], audio[1], logmag[0], logmag[1]},
                                {22, audio[1], audio[0], logmag[1], logmag[0]}};
    ddsp_run_settings rs;
    memset(&rs, 0, sizeof rs);
    snprintf(rs.run_id, sizeof rs.run_id, "00000000000000aa");
    snprintf(rs.model, sizeof rs.model, full ? "full" : "small");
    snprintf(rs.loss, sizeof rs.loss, "l1log");
    snprintf(rs.precision, sizeof rs.precision, "fp32");
    snprintf(rs.run_dir, sizeof rs.run_dir, "%s", DIR_);
    rs.batch = 4, rs.seed = 2, rs.lr = 3e-4, rs.lr_decay = 1, rs.clip = 3, rs.ld_range = 120;
    rs.steps = STEPS, rs.keep = 3, rs.log_every = 5;
    const char *stat_names[] = {"f0_midi_mean", "voiced_fraction"};
    const double stat_values[] = {69.5, 0.9};
    ddsp_ckpt_info info = {.state = {STEPS, 2, 7, 1, 1},
                           .history = full ? &h : NULL,
                           .monitor = full ? mon : NULL,
                           .n_monitor = full ? 2 : 0,
                           .monitor_N = MON_N,
                           .monitor_F = MON_F,
                           .monitor_K = MON_K,
                           .monitor_n_fft = MON_NFFT,
                           .monitor_hop = MON_HOP,
                           .settings = &rs,
                           .stat_names = stat_names,
                           .stat_values = stat_values,
                           .n_stats = 2};
    int rc = ddsp_ckpt_write(path, &m, &o, &lc, &info);
    ddsp_ckpt_history_free(&h);
    ddsp_adam_free(&o);
    ddsp_model_free(&m);
    return rc;
}

/* The same checkpoint with one tensor deleted and a NaN written into another. */
static int damage(const char *path) {
    ddsp_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return DDSP_ERR;
    int rc = H5Ldelete(f, "model/decoder/gru/kernel", H5P_DEFAULT) < 0 ? DDSP_ERR : DDSP_OK;
    hid_t ds = H5Dopen2(f, "model/decoder/dense_out/bias", H5P_DEFAULT);
    float v[126];
    if (ds < 0 || H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        rc = DDSP_ERR;
    v[3] = NAN;
    if (ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        rc = DDSP_ERR;
    if (ds >= 0) H5Dclose(ds);
    H5Fclose(f);
    return rc;
}

/* An HDF5 file that is not a checkpoint (what a dataset's root attributes look like). */
static int write_foreign(const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return DDSP_ERR;
    int rc =
        ddsp_h5_attr_str(f, "format", "other-tool") | ddsp_h5_attr_i64(f, "format_version", 1);
    H5Fclose(f);
    return rc;
}

/* PNG at path: right signature and IHDR size, and (with cairo's header) not blank. */
static void check_png(const char *path, int w, int h) {
    int gw = 0, gh = 0;
    int rc = ddsp_plot_png_size(path, &gw, &gh);
    CHECK(rc == DDSP_OK, "%s: %s", path, ddsp_last_error());
    CHECK(gw == w && gh == h, "%s: %d x %d, expected %d x %d", path, gw, gh, w, h);
#ifdef HAVE_CAIRO_H
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s: cairo cannot decode it", path);
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
        const unsigned char *d = cairo_image_surface_get_data(s);
        const int stride = cairo_image_surface_get_stride(s);
        size_t coloured = 0;
        for (int y = 0; y < gh; y++)
            for (int x = 0; x < gw; x++) {
                uint32_t p = *(const uint32_t *)(d + (size_t)y * stride + 4 * (size_t)x) & 0xffffff;
                coloured += p != 0xffffff;
            }
        CHECK(coloured > (size_t)gw * gh / 5, "%s: only %zu of %d pixels are not white", path,
              coloured, gw * gh);
    }
    cairo_surface_destroy(s);
#endif
}

static void test_ticks(void) {
    double t[64], step;
    int n = ddsp_plot_nice_ticks(0, 4, 6, t, &step);
    CHECK(n == 5 && step == 1 && t[0] == 0 && t[4] == 4, "ticks 0..4: %d, step %g", n, step);
    n = ddsp_plot_nice_ticks(-80, 0, 9, t, &step);
    CHECK(n == 9 && step == 10 && t[0] == -80 && t[8] == 0, "ticks -80..0: %d, step %g", n, step);
    n = ddsp_plot_nice_ticks(15.2, 19.4, 6, t, &step);
    CHECK(n == 4 && step == 1 && t[0] == 16 && t[3] == 19, "ticks 15.2..19.4: %d, step %g", n,
          step);
    n = ddsp_plot_nice_ticks(0, 150, 6, t, &step);
    CHECK(n == 4 && step == 50, "ticks 0..150: %d, step %g", n, step);
    CHECK(ddsp_plot_nice_ticks(1, 1, 5, t, &step) == 0, "empty range gives no ticks");
}

/* The library alone: a figure with two spectrograms and two series. */
static void test_library(void) {
    char path[1024];
    static float lm[40 * 129];
    for (int f = 0; f < 40; f++)
        for (int k = 0; k < 129; k++)
            lm[f * 129 + k] = (float)(k % 16 == 0 ? 3.0 : -6.0 + 0.05 * f);
    double x[50], y[50];
    for (int i = 0; i < 50; i++)
        x[i] = i, y[i] = 10.0 / (1 + i);
    ddsp_plot_spec specs[2] = {
        {.logmag = lm, .F = 40, .K = 129, .n_fft = 256, .hop = 64, .sample_rate = 8000, .title = "a"},
        {.logmag = lm, .F = 40, .K = 129, .n_fft = 256, .hop = 64, .sample_rate = 8000, .title = "b"}};
    ddsp_plot_series ser[2] = {{x, y, 50, "falling", 0x1f77b4, 2, 0},
                               {x, x, 50, NULL, 0xe6550d, 1, 1}};
    ddsp_plot_figure fig = {.width = 900,
                            .height = 500,
                            .title = "library",
                            .specs = specs,
                            .n_specs = 2,
                            .series = ser,
                            .n_series = 2,
                            .log_y = 1};
    snprintf(path, sizeof path, "%s/lib.png", DIR_);
    int rc = ddsp_plot_write_png(path, &fig);
    CHECK(rc == DDSP_OK, "ddsp_plot_write_png: %s", ddsp_last_error());
    if (rc == DDSP_OK) check_png(path, 900, 500);

#ifdef HAVE_CAIRO_H
    /* a spectrogram of digital silence (log(0 + 1e-5) everywhere) is dark: the colour scale
     * ended at the data's maximum, so silence was drawn in the top colour */
    {
        static float sil[40 * 129];
        for (int i = 0; i < 40 * 129; i++) sil[i] = logf(1e-5f);
        ddsp_plot_spec ss = specs[0];
        ss.logmag = sil;
        ddsp_plot_figure sf = {.width = 600, .height = 400, .title = "silence", .specs = &ss,
                               .n_specs = 1};
        snprintf(path, sizeof path, "%s/silence.png", DIR_);
        CHECK(ddsp_plot_write_png(path, &sf) == DDSP_OK, "silence: %s", ddsp_last_error());
        cairo_surface_t *im = cairo_image_surface_create_from_png(path);
        if (cairo_surface_status(im) == CAIRO_STATUS_SUCCESS) {
            const unsigned char *d = cairo_image_surface_get_data(im);
            const int stride = cairo_image_surface_get_stride(im);
            /* the middle of the image area */
            const uint32_t px = *(const uint32_t *)(d + (size_t)200 * stride + 4 * 250) & 0xffffff;
            const int lum = (int)((px >> 16) & 255) + (int)((px >> 8) & 255) + (int)(px & 255);
            CHECK(lum < 3 * 40, "silence drawn at luminance %d of 765 (pixel %06x)", lum, px);
        }
        cairo_surface_destroy(im);
    }
    /* a log axis: values of exactly 0 are drawn on the bottom edge and counted, not dropped */
    {
        double y0[50];
        for (int i = 0; i < 50; i++) y0[i] = i == 25 ? 0.0 : 1.0 + (i - 25) * (i - 25);
        ddsp_plot_series s0 = {x, y0, 50, "zero at 25", 0x1f77b4, 2, 1};
        ddsp_plot_figure lf = {.width = 600, .height = 400, .title = "log", .series = &s0,
                               .n_series = 1, .log_y = 1};
        snprintf(path, sizeof path, "%s/logzero.png", DIR_);
        CHECK(ddsp_plot_write_png(path, &lf) == DDSP_OK, "log axis with a zero: %s",
              ddsp_last_error());
    }
#endif
    rc = ddsp_plot_write_png("/nonexistent-dir/x.png", &fig);
    CHECK(rc == DDSP_ERR && strstr(ddsp_last_error(), "/nonexistent-dir/x.png: cannot create"),
          "unwritable path: %s", ddsp_last_error());
    ddsp_plot_figure empty = {.title = "nothing"};
    CHECK(ddsp_plot_write_png(path, &empty) == DDSP_ERR &&
              strstr(ddsp_last_error(), "nothing to draw"),
          "empty figure: %s", ddsp_last_error());
    ddsp_plot_figure tiny = fig;
    tiny.width = 10;
    CHECK(ddsp_plot_write_png(path, &tiny) == DDSP_ERR, "a 10-pixel-wide figure is refused");
    snprintf(path, sizeof path, "%s/stdout.txt", DIR_);
    FILE *f = fopen(path, "w");
    if (f) fputs("not a png\n", f), fclose(f);
    int w, h;
    CHECK(ddsp_plot_png_size(path, &w, &h) == DDSP_ERR && strstr(ddsp_last_error(), "not a PNG"),
          "png_size of a text file: %s", ddsp_last_error());
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_plot DDSP_EXECUTABLE SCRATCH_DIR\n");
        return 2;
    }
    EXE = argv[1], DIR_ = argv[2];
    mkdir(DIR_, 0755);
    ddsp_h5_quiet();
    test_ticks();
    CHECK(ddsp_plot_available(), "the library was built without cairo");
    if (ddsp_plot_available()) test_library();

    char ckpt[1024], run_dir[1024], broken[1024], bare[1024], foreign[1024], text[1024];
    char args[4096];
    int n_tensors = 0;
    size_t n_weights = 0;
    snprintf(run_dir, sizeof run_dir, "%s/run", DIR_);
    mkdir(run_dir, 0755);
    ddsp_ckpt_path(ckpt, sizeof ckpt, run_dir, STEPS);
    snprintf(broken, sizeof broken, "%s/broken.h5", DIR_);
    snprintf(foreign, sizeof foreign, "%s/foreign.h5", DIR_);
    snprintf(text, sizeof text, "%s/text.h5", DIR_);
    snprintf(bare, sizeof bare, "%s/bare.h5", DIR_);
    int rc = write_checkpoint(ckpt, 1, &n_tensors, &n_weights) |
             write_checkpoint(broken, 1, &n_tensors, &n_weights) | damage(broken) |
             write_checkpoint(bare, 0, &n_tensors, &n_weights) | write_foreign(foreign);
    FILE *tf = fopen(text, "w");
    if (tf) fputs("plain text, not HDF5\n", tf), fclose(tf);
    CHECK(rc == DDSP_OK && tf, "cannot write the test files: %s", ddsp_last_error());
    if (rc != DDSP_OK) return 1;

    /* inspect: text */
    char want[256];
    snprintf(args, sizeof args, "inspect '%s'", ckpt);
    expect(args, 0, "step         120 (optimiser updates done)");
    snprintf(want, sizeof want, "tensors      %d tensors, %zu parameters (matches", n_tensors,
             n_weights);
    CHECK(strstr(out_buf, want), "inspect lacks '%s'", want);
    const char *parts[] = {"check        ok",
                           "data order epoch 2, 7 examples into it",
                           "train      first",
                           "best",
                           "validation first",
                           "f0_midi_mean 69.5",
                           "2 monitoring examples, log(|STFT| + 1e-5) at n_fft 1024, hop 256",
                           "dataset row 22",
                           "decoder/gru/kernel",
                           "type l1log",
                           "batch 4"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        CHECK(strstr(out_buf, parts[i]), "inspect lacks '%s'", parts[i]);
    snprintf(args, sizeof args, "inspect '%s'", run_dir); /* a run folder: its newest */
    expect(args, 0, "step         120");

    /* inspect: JSON */
    snprintf(args, sizeof args, "inspect '%s' --json", ckpt);
    expect(args, 0, "\"step\": 120");
    CHECK(json_valid(out_buf), "--json output is not one valid JSON object:\n%.3000s", out_buf);
    snprintf(want, sizeof want, "\"n_tensors\": %d", n_tensors);
    CHECK(strstr(out_buf, want), "--json lacks '%s'", want);
    snprintf(want, sizeof want, "\"n_params\": %zu", n_weights);
    CHECK(strstr(out_buf, want), "--json lacks '%s'", want);
    CHECK(strstr(out_buf, "\"ok\": true"), "--json lacks \"ok\": true");
    CHECK(strstr(out_buf, "\"scales\": [2048, 1024, 512, 256, 128, 64]"),
          "--json lacks the loss scales");

    /* inspect: a damaged checkpoint still shows what it holds, lists the problems, exits 1 */
    snprintf(args, sizeof args, "inspect '%s'", broken);
    expect(args, 1, "problem");
    CHECK(strstr(out_buf, "tensors      29 tensors"), "damaged: tensor count missing:\n%.3000s",
          out_buf);
    CHECK(strstr(out_buf, "non-finite"), "damaged: the NaN is not reported");
    CHECK(strstr(out_buf, "tensor 'decoder/gru/kernel' is missing"),
          "damaged: the missing tensor is not named");
    CHECK(strstr(out_buf, "loss history"), "damaged: the history is not shown");
    snprintf(args, sizeof args, "inspect '%s' --json", broken);
    expect(args, 1, "\"ok\": false");
    CHECK(json_valid(out_buf), "--json of a damaged file is not valid JSON:\n%.3000s", out_buf);

    /* a checkpoint without history or monitoring examples is complete, just bare */
    snprintf(args, sizeof args, "inspect '%s'", bare);
    expect(args, 0, "check        ok");
    CHECK(strstr(out_buf, "recorded   0 steps"), "bare: history line missing:\n%.3000s", out_buf);

    /* inspect: not checkpoints */
    snprintf(args, sizeof args, "inspect '%s'", foreign);
    expect(args, 1, "foreign.h5: not a ddsp checkpoint or dataset (format attribute 'other-tool'");
    CHECK(out_buf[0] == '\0', "nothing on stdout for a file of another format");
    snprintf(args, sizeof args, "inspect '%s'", text);
    expect(args, 1, "text.h5: not an HDF5 file");
    snprintf(args, sizeof args, "inspect '%s/missing.h5'", DIR_);
    expect(args, 1, "missing.h5: no such file");
    expect("inspect", 2, "expected a checkpoint");
    expect("inspect --bogus x.h5", 2, "unknown option '--bogus'");

    if (ddsp_plot_available()) {
        char png[1024];
        snprintf(png, sizeof png, "%s/fig.png", DIR_);
        unlink(png);
        snprintf(args, sizeof args, "plot '%s' --out '%s'", ckpt, png);
        expect(args, 0, "2 monitoring examples, 120 training steps, 6 validation points");
        check_png(png, 1600, 900);
        snprintf(args, sizeof args,
                 "plot '%s' --out '%s' --width 1000 --height 600 --log-y --examples 1", run_dir,
                 png);
        expect(args, 0, "1 monitoring example,");
        check_png(png, 1000, 600);

        /* two audio files of different rates */
        char a[1024], b[1024];
        static float x[24000];
        for (int i = 0; i < 24000; i++)
            x[i] = (float)(0.25 * sin(2 * 3.14159265 * (200 + 0.05 * i) * i / 16000.0));
        snprintf(a, sizeof a, "%s/a16k.wav", DIR_);
        snprintf(b, sizeof b, "%s/b22k.wav", DIR_);
        CHECK(ddsp_audio_write(a, x, 24000, 16000) == DDSP_OK &&
                  ddsp_audio_write(b, x, 20000, 22050) == DDSP_OK,
              "cannot write test audio: %s", ddsp_last_error());
        snprintf(args, sizeof args, "plot --audio '%s' '%s' --out '%s'", a, b, png);
        expect(args, 0, "spectrograms of 2 files");
        check_png(png, 1600, 900);

        /* errors */
        snprintf(args, sizeof args, "plot '%s' --out '%s'", bare, png);
        expect(args, 1, "bare.h5: nothing to plot");
        snprintf(args, sizeof args, "plot '%s'", ckpt);
        expect(args, 2, "--out FIG.png is required");
        snprintf(args, sizeof args, "plot '%s' --out '%s/nodir/x.png'", ckpt, DIR_);
        expect(args, 1, "nodir/x.png: cannot create");
        snprintf(args, sizeof args, "plot '%s' --out '%s'", foreign, png);
        expect(args, 1, "not a ddsp checkpoint");
        snprintf(args, sizeof args, "plot '%s/missing.h5' --out '%s'", DIR_, png);
        expect(args, 1, "missing.h5: no such file");
        snprintf(args, sizeof args, "plot --audio '%s' '%s/missing.wav' --out '%s'", a, DIR_, png);
        expect(args, 1, "missing.wav: no such file");
        snprintf(args, sizeof args, "plot --audio '%s' --out '%s'", text, png);
        expect(args, 1, "text.h5");
        snprintf(args, sizeof args, "plot '%s' '%s' --out '%s'", ckpt, broken, png);
        expect(args, 2, "use --audio");
        check_png(png, 1600, 900); /* failed runs left the last good figure alone */
    }
    printf("%s (%d failure%s)\n", tu_failures ? "FAIL" : "ok", tu_failures,
           tu_failures == 1 ? "" : "s");
    return tu_failures ? 1 : 0;
}
