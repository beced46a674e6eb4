/* `ddsp report` end to end, and the page checked by parsing it.
 *
 * usage: test_report DDSP_EXECUTABLE FLUTE.wav SCRATCH_DIR
 *        test_report --screenshot PNG     (for report_browser.sh: a browser's rendering of
 *                                          the page is not blank and shows the spectrograms)
 * A small run (small model, 1 s examples of flute.wav, 4 steps, checkpoints at 2 and 4) with
 * the report refreshed by `ddsp train`, then `ddsp report`: the page exists, is well-formed
 * (every element closed in order, attributes quoted, no stray '<' or '&'; and xmllint agrees
 * when installed), every src it references exists (relative to the page), one player per
 * checkpoint and example, every image a PNG that is not blank; --out DIR stands alone
 * (moved elsewhere, its srcs still resolve); train.csv has the phase columns; --no-report
 * writes no page; bad input: no folder, not a run folder, no checkpoint yet, samples deleted. */
#include "ddsp/plot.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <cairo.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *EXE, *DIR_;
static char out_buf[1 << 16], err_buf[1 << 16];

static size_t slurp(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static int run(const char *args) {
    char cmd[8192], o[1024], e[1024];
    snprintf(o, sizeof o, "%s/stdout.txt", DIR_);
    snprintf(e, sizeof e, "%s/stderr.txt", DIR_);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", EXE, args, o, e);
    const int st = system(cmd);
    slurp(o, out_buf, sizeof out_buf);
    slurp(e, err_buf, sizeof err_buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect(const char *args, int rc, const char *want) {
    const int got = run(args);
    CHECK(got == rc, "ddsp %s: exit %d, expected %d\nstdout: %s\nstderr: %s", args, got, rc,
          out_buf, err_buf);
    CHECK(strstr(out_buf, want) || strstr(err_buf, want), "ddsp %s: output lacks '%s'\n%s%s",
          args, want, out_buf, err_buf);
}

/* ------------------------------------------------------------------ the page */
typedef struct {
    int ok;
    int audio_recon, audio_target, images;
    char srcs[256][256];
    int n_srcs;
    char err[512];
} page_scan;

static int is_void(const char *tag) {
    static const char *const V[] = {"meta", "img", "input", "br", "hr", "link", "source", NULL};
    for (int k = 0; V[k]; k++)
        if (!strcmp(tag, V[k])) return 1;
    return 0;
}

/* A strict well-formedness check (what an XML parser requires of the page) that also
 * collects src attributes and counts players and images. */
static void scan(const char *s, page_scan *p) {
    char stack[64][32];
    int depth = 0;
    memset(p, 0, sizeof *p);
    if (strncmp(s, "<!DOCTYPE html>", 15)) {
        snprintf(p->err, sizeof p->err, "no <!DOCTYPE html> first");
        return;
    }
    s += 15;
    int seen_root = 0;
    while (*s) {
        if (*s == '&') {
            const char *e = s + 1;
            if (*e == '#') e++;
            while (isalnum((unsigned char)*e)) e++;
            if (*e != ';' || e == s + 1) {
                snprintf(p->err, sizeof p->err, "bare '&' at ...%.40s", s);
                return;
            }
            s = e + 1;
            continue;
        }
        if (*s == '>') {
            snprintf(p->err, sizeof p->err, "stray '>' at ...%.40s", s);
            return;
        }
        if (*s != '<') {
            if (!depth && !isspace((unsigned char)*s)) {
                snprintf(p->err, sizeof p->err, "text outside <html>: %.40s", s);
                return;
            }
            s++;
            continue;
        }
        s++;
        const int closing = *s == '/';
        if (closing) s++;
        char tag[32];
        int n = 0;
        while ((isalnum((unsigned char)*s)) && n < 31) tag[n++] = (char)tolower((unsigned char)*s++);
        tag[n] = '\0';
        if (!n) {
            snprintf(p->err, sizeof p->err, "'<' without a tag name at ...%.40s", s - 1);
            return;
        }
        if (closing) {
            while (isspace((unsigned char)*s)) s++;
            if (*s++ != '>') {
                snprintf(p->err, sizeof p->err, "bad closing tag </%s", tag);
                return;
            }
            if (!depth || strcmp(stack[depth - 1], tag)) {
                snprintf(p->err, sizeof p->err, "</%s> closes <%s>", tag, depth ? stack[depth - 1] : "(nothing)");
                return;
            }
            depth--;
            continue;
        }
        if (!depth && (seen_root++ || strcmp(tag, "html"))) {
            snprintf(p->err, sizeof p->err, "<%s> outside the one <html>", tag);
            return;
        }
        /* attributes: name="value" */
        char cls[64] = "";
        int self_close = 0;
        for (;;) {
            while (isspace((unsigned char)*s)) s++;
            if (*s == '>') {
                s++;
                break;
            }
            if (s[0] == '/' && s[1] == '>') {
                s += 2, self_close = 1;
                break;
            }
            char name[64];
            int m = 0;
            while ((isalnum((unsigned char)*s) || *s == '-' || *s == ':') && m < 63) name[m++] = *s++;
            name[m] = '\0';
            if (!m || *s != '=' || s[1] != '"') {
                snprintf(p->err, sizeof p->err, "<%s>: attribute not name=\"value\" at ...%.40s", tag, s);
                return;
            }
            s += 2;
            const char *v = s;
            while (*s && *s != '"' && *s != '<') s++;
            if (*s != '"') {
                snprintf(p->err, sizeof p->err, "<%s %s=: unterminated value", tag, name);
                return;
            }
            const size_t len = (size_t)(s - v);
            s++;
            if (!strcmp(name, "src") && p->n_srcs < 256 && len < 256)
                memcpy(p->srcs[p->n_srcs], v, len), p->srcs[p->n_srcs++][len] = '\0';
            if (!strcmp(name, "class") && len < sizeof cls) memcpy(cls, v, len), cls[len] = '\0';
        }
        if (!strcmp(tag, "audio")) {
            p->audio_recon += !strcmp(cls, "recon");
            p->audio_target += !strcmp(cls, "target");
        }
        p->images += !strcmp(tag, "img");
        if (is_void(tag)) {
            if (!self_close) {
                snprintf(p->err, sizeof p->err, "<%s> not closed with />", tag);
                return;
            }
            continue;
        }
        if (self_close) continue;
        if (depth == 64) {
            snprintf(p->err, sizeof p->err, "nesting deeper than 64");
            return;
        }
        snprintf(stack[depth++], sizeof stack[0], "%s", tag);
        if (!strcmp(tag, "style") || !strcmp(tag, "title")) { /* raw text up to the end tag */
            char end[40];
            snprintf(end, sizeof end, "</%s>", tag);
            const char *e = strstr(s, end);
            if (!e || memchr(s, '<', (size_t)(e - s))) {
                snprintf(p->err, sizeof p->err, "<%s> without a clean </%s>", tag, tag);
                return;
            }
            s = e;
        }
    }
    if (depth) {
        snprintf(p->err, sizeof p->err, "<%s> never closed", stack[depth - 1]);
        return;
    }
    p->ok = seen_root == 1;
}

static char html[1 << 22];

/* The page at dir/index.html: well-formed, every src present, players, images. */
static void check_page(const char *dir, int want_players, int want_images, const char *label) {
    char path[8300], cmd[8400];
    snprintf(path, sizeof path, "%s/index.html", dir);
    CHECK(slurp(path, html, sizeof html) > 0, "%s: %s missing or empty", label, path);
    page_scan p;
    scan(html, &p);
    CHECK(p.ok, "%s: %s is not well-formed: %s", label, path, p.err);
    snprintf(cmd, sizeof cmd, "command -v xmllint >/dev/null 2>&1");
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
        CHECK(system(cmd) == 0, "%s: xmllint rejects %s", label, path);
    }
    for (int k = 0; k < p.n_srcs; k++) {
        char f[8600];
        snprintf(f, sizeof f, "%s/%s", dir, p.srcs[k]);
        CHECK(access(f, R_OK) == 0, "%s: src %s does not exist (%s)", label, p.srcs[k], f);
        CHECK(!strstr(p.srcs[k], "://") && p.srcs[k][0] != '/', "%s: src %s is not relative", label, p.srcs[k]);
        const size_t n = strlen(f);
        if (n > 4 && !strcmp(f + n - 4, ".png")) {
            cairo_surface_t *s = cairo_image_surface_create_from_png(f);
            CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s: %s does not decode", label, f);
            if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
                const unsigned char *d = cairo_image_surface_get_data(s);
                const int st = cairo_image_surface_get_stride(s), h = cairo_image_surface_get_height(s);
                size_t ink = 0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < cairo_image_surface_get_width(s); x++)
                        ink += *(const uint32_t *)(d + (size_t)y * st + 4 * (size_t)x) % 0x1000000 != 0xffffff;
                CHECK(ink > 1000, "%s: %s is blank (%zu non-white pixels)", label, f, ink);
            }
            cairo_surface_destroy(s);
        }
    }
    CHECK(p.audio_recon == want_players && p.audio_target == want_players,
          "%s: %d reconstruction and %d target players, expected %d each", label, p.audio_recon,
          p.audio_target, want_players);
    CHECK(p.images == want_images, "%s: %d images, expected %d", label, p.images, want_images);
    CHECK(strstr(html, "http:") == NULL || strstr(html, "http://www.w3.org/2000/svg"),
          "%s: the page reaches for the network", label);
}

/* A browser's screenshot: not blank, and the spectrograms' dark pixels are there. */
static int screenshot(const char *path) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        printf("FAIL %s: not a PNG\n", path);
        return 1;
    }
    const unsigned char *d = cairo_image_surface_get_data(s);
    const int st = cairo_image_surface_get_stride(s), w = cairo_image_surface_get_width(s),
              h = cairo_image_surface_get_height(s);
    size_t ink = 0, dark = 0, colour = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint32_t v = *(const uint32_t *)(d + (size_t)y * st + 4 * (size_t)x);
            const int r = (v >> 16) & 255, g = (v >> 8) & 255, b = v & 255;
            ink += (r & g & b) < 250;
            dark += r < 60 && g < 40 && b < 90;
            colour += abs(r - g) > 60 || abs(g - b) > 60;
        }
    cairo_surface_destroy(s);
    const double n = (double)w * h;
    printf("%s: %d x %d, %.1f%% not white, %.1f%% dark (spectrograms), %.1f%% coloured\n", path, w,
           h, 100 * ink / n, 100 * dark / n, 100 * colour / n);
    int bad = 0;
    if (ink < 0.05 * n) printf("FAIL %s: blank (under 5%% of the pixels not white)\n", path), bad = 1;
    if (dark < 0.01 * n) printf("FAIL %s: no spectrogram shown (under 1%% dark pixels)\n", path), bad = 1;
    if (colour < 0.005 * n) printf("FAIL %s: no coloured curves or bars\n", path), bad = 1;
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--screenshot")) return screenshot(argv[2]);
    if (argc != 4) {
        fprintf(stderr, "usage: test_report DDSP FLUTE.wav SCRATCH | --screenshot PNG\n");
        return 2;
    }
    EXE = argv[1], DIR_ = argv[3];
    const char *flute = argv[2];
    char args[8192], path[8192], run_dir[2048], buf[4096];
    snprintf(args, sizeof args, "rm -rf '%s' && mkdir -p '%s'", DIR_, DIR_);
    if (system(args) != 0) return 1;
    snprintf(run_dir, sizeof run_dir, "%s/run", DIR_);
    /* the run: two checkpoints, the report refreshed by ddsp train at each */
    snprintf(args, sizeof args, "prepare '%s' --out '%s/ds.h5' --example-secs 1", flute, DIR_);
    expect(args, 0, "wrote");
    snprintf(args, sizeof args, "train --data '%s/ds.h5' --model small --steps 4 --ckpt-every 2 "
             "--valid-every 2 --batch 2 --log-every 0 --out '%s'", DIR_, run_dir);
    expect(args, 0, "step 4: report");
    CHECK(strstr(err_buf, "s/step: data") != NULL, "no time split in the progress lines:\n%s", err_buf);
    snprintf(path, sizeof path, "%s/train.csv", run_dir);
    slurp(path, buf, sizeof buf);
    static const char *HEAD = "step,train_loss,valid_loss,grad_norm,lr,audio_s_per_s,elapsed_s,loss_2048,";
    CHECK(!strncmp(buf, HEAD, strlen(HEAD)),
          "train.csv header: %.200s", buf);
    CHECK(strstr(buf, ",data_s,forward_s,synth_s,loss_s,backward_s,reduce_s,optim_s,valid_s,ckpt_s,") &&
          strstr(buf, ",reduce_s_max,") && strstr(buf, ",optim_s_min\n"),
          "train.csv lacks the phase columns: %.600s", buf);
    snprintf(path, sizeof path, "%s/report", run_dir);
    check_page(path, 4, 8, "train's refresh");
    /* samples: 2 checkpoints x 2 examples + 2 targets */
    snprintf(args, sizeof args, "ls '%s/samples' | grep -c '\\.wav$' > '%s/n.txt'", run_dir, DIR_);
    CHECK(system(args) == 0, "no samples folder");
    snprintf(path, sizeof path, "%s/n.txt", DIR_);
    slurp(path, buf, sizeof buf);
    CHECK(atoi(buf) == 6, "samples/ holds %d wav files, expected 6", atoi(buf));

    snprintf(args, sizeof args, "report '%s'", run_dir);
    expect(args, 0, "2 checkpoint(s), 8 audio player(s), 8 image(s) (6 drawn)");
    snprintf(path, sizeof path, "%s/report", run_dir);
    check_page(path, 4, 8, "ddsp report");
    /* --out elsewhere stands alone, also when moved */
    snprintf(args, sizeof args, "report '%s' --out '%s/page'", run_dir, DIR_);
    expect(args, 0, "2 checkpoint(s), 8 audio player(s)");
    snprintf(args, sizeof args, "mv '%s/page' '%s/moved'", DIR_, DIR_);
    CHECK(system(args) == 0, "mv");
    snprintf(path, sizeof path, "%s/moved", DIR_);
    check_page(path, 4, 8, "--out, moved");
    /* a copy of the run folder: the page plays from the copy */
    snprintf(args, sizeof args, "cp -r '%s' '%s/copy'", run_dir, DIR_);
    CHECK(system(args) == 0, "cp");
    snprintf(path, sizeof path, "%s/copy/report", DIR_);
    check_page(path, 4, 8, "copy of the run folder");

    /* --no-report: no page */
    snprintf(args, sizeof args, "train --data '%s/ds.h5' --model small --steps 2 --ckpt-every 2 "
             "--batch 2 --out '%s/quiet' --no-report", DIR_, DIR_);
    expect(args, 0, "trained to step 2");
    snprintf(path, sizeof path, "%s/quiet/report/index.html", DIR_);
    CHECK(access(path, F_OK) != 0, "--no-report wrote %s", path);

    /* bad input */
    snprintf(args, sizeof args, "report '%s/nope'", DIR_);
    expect(args, 1, "nope: no such folder");
    snprintf(args, sizeof args, "report '%s'", DIR_); /* holds ds.h5 and folders, no run */
    expect(args, 1, "not a run folder");
    snprintf(args, sizeof args, "report '%s/ds.h5'", DIR_);
    expect(args, 1, "not a folder");
    expect("report", 2, "expected RUN_DIR");
    expect("report a b", 2, "one RUN_DIR expected");
    /* samples deleted: spectrograms from the checkpoints, the page says the audio is gone */
    snprintf(args, sizeof args, "rm -rf '%s/copy/samples'", DIR_);
    CHECK(system(args) == 0, "rm");
    snprintf(args, sizeof args, "report '%s/copy'", DIR_);
    expect(args, 0, "0 audio player(s), 8 image(s)");
    snprintf(path, sizeof path, "%s/copy/report", DIR_);
    check_page(path, 0, 8, "samples deleted");
    CHECK(strstr(html, "samples is missing") != NULL, "the page does not say the samples are missing");
    /* no checkpoint yet: settings and curves, and the page says when the first comes */
    snprintf(args, sizeof args, "rm -f '%s/copy/'ckpt-*.h5 && rm -rf '%s/copy/report'", DIR_, DIR_);
    CHECK(system(args) == 0, "rm");
    snprintf(args, sizeof args, "report '%s/copy'", DIR_);
    expect(args, 0, "0 checkpoint(s)");
    check_page(path, 0, 6, "no checkpoint");
    CHECK(strstr(html, "no checkpoint yet: the first is written at step 2") != NULL,
          "the page does not say there is no checkpoint yet");
    /* a train.csv that is garbage: the page says so, no crash */
    snprintf(args, sizeof args, "head -c 3000 /dev/urandom > '%s/copy/train.csv'", DIR_);
    CHECK(system(args) == 0, "garbage");
    snprintf(args, sizeof args, "report '%s/copy'", DIR_);
    expect(args, 0, "missing part");
    check_page(path, 0, 0, "garbage train.csv");
    return tu_finish("report");
}
