/* Figures as PNG through cairo (see ddsp/plot.h): spectrogram panels resampled to the pixel
 * grid by hand (area mean when shrinking, linear when enlarging, so long recordings and
 * short examples both look right), a colour bar, a line chart with ticks, grid and legend.
 * Text uses cairo's toy API with fontconfig's sans-serif (DejaVu Sans on Debian). */
#include "ddsp/plot.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<cairo.h>)
#define DDSP_PLOT_CAIRO 1
#include <cairo.h>
#endif
#endif

int ddsp_plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step) {
    *step = 0.0;
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || max_ticks < 2) return 0;
    /* the smallest spacing 1, 2, 2.5 or 5 x 10^k that gives at most max_ticks ticks */
    static const double mult[] = {1.0, 2.0, 2.5, 5.0};
    double p = pow(10.0, floor(log10((hi - lo) / max_ticks))), s = 0.0;
    for (int it = 0; it < 8 && s == 0.0; it++, p *= 10.0)
        for (int i = 0; i < 4; i++) {
            const double c = mult[i] * p;
            if (floor(hi / c + 1e-9) - ceil(lo / c - 1e-9) + 1 <= max_ticks) {
                s = c;
                break;
            }
        }
    if (s == 0.0) return 0;
    int n = 0;
    for (double k = ceil(lo / s - 1e-9); k * s <= hi + 1e-9 * s && n < max_ticks; k += 1.0)
        ticks[n++] = k == 0.0 ? 0.0 : k * s;
    *step = s;
    return n;
}

int ddsp_plot_png_size(const char *path, int *width, int *height) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char h[24];
    FILE *f = fopen(path, "rb");
    if (!f) return ddsp_error("%s: cannot open (%s)", path, strerror(errno));
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got < sizeof h || memcmp(h, sig, 8) != 0 || memcmp(h + 12, "IHDR", 4) != 0)
        return ddsp_error("%s: not a PNG file", path);
    *width = (int)((uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19]);
    *height = (int)((uint32_t)h[20] << 24 | (uint32_t)h[21] << 16 | (uint32_t)h[22] << 8 | h[23]);
    return DDSP_OK;
}

#ifndef DDSP_PLOT_CAIRO
int ddsp_plot_available(void) {
    return 0;
}

int ddsp_plot_write_png(const char *path, const ddsp_plot_figure *fig) {
    (void)fig;
    return ddsp_error("%s: this ddsp was built without cairo, so it cannot draw (install "
                      "libcairo2-dev and rebuild)",
                      path);
}
#else
int ddsp_plot_available(void) {
    return 1;
}

/* matplotlib's magma (BIDS colormaps, CC0), 256 entries as 8-bit RGB */
/* clang-format off */
static const unsigned char MAGMA[256][3] = {
    {0,0,4}, {1,0,5}, {1,1,6}, {1,1,8}, {2,1,9}, {2,2,11},
    {2,2,13}, {3,3,15}, {3,3,18}, {4,4,20}, {5,4,22}, {6,5,24},
    {6,5,26}, {7,6,28}, {8,7,30}, {9,7,32}, {10,8,34}, {11,9,36},
    {12,9,38}, {13,10,41}, {14,11,43}, {16,11,45}, {17,12,47}, {18,13,49},
    {19,13,52}, {20,14,54}, {21,14,56}, {22,15,59}, {24,15,61}, {25,16,63},
    {26,16,66}, {28,16,68}, {29,17,71}, {30,17,73}, {32,17,75}, {33,17,78},
    {34,17,80}, {36,18,83}, {37,18,85}, {39,18,88}, {41,17,90}, {42,17,92},
    {44,17,95}, {45,17,97}, {47,17,99}, {49,17,101}, {51,16,103}, {52,16,105},
    {54,16,107}, {56,16,108}, {57,15,110}, {59,15,112}, {61,15,113}, {63,15,114},
    {64,15,116}, {66,15,117}, {68,15,118}, {69,16,119}, {71,16,120}, {73,16,120},
    {74,16,121}, {76,17,122}, {78,17,123}, {79,18,123}, {81,18,124}, {82,19,124},
    {84,19,125}, {86,20,125}, {87,21,126}, {89,21,126}, {90,22,126}, {92,22,127},
    {93,23,127}, {95,24,127}, {96,24,128}, {98,25,128}, {100,26,128}, {101,26,128},
    {103,27,128}, {104,28,129}, {106,28,129}, {107,29,129}, {109,29,129}, {110,30,129},
    {112,31,129}, {114,31,129}, {115,32,129}, {117,33,129}, {118,33,129}, {120,34,129},
    {121,34,130}, {123,35,130}, {124,35,130}, {126,36,130}, {128,37,130}, {129,37,129},
    {131,38,129}, {132,38,129}, {134,39,129}, {136,39,129}, {137,40,129}, {139,41,129},
    {140,41,129}, {142,42,129}, {144,42,129}, {145,43,129}, {147,43,128}, {148,44,128},
    {150,44,128}, {152,45,128}, {153,45,128}, {155,46,127}, {156,46,127}, {158,47,127},
    {160,47,127}, {161,48,126}, {163,48,126}, {165,49,126}, {166,49,125}, {168,50,125},
    {170,51,125}, {171,51,124}, {173,52,124}, {174,52,123}, {176,53,123}, {178,53,123},
    {179,54,122}, {181,54,122}, {183,55,121}, {184,55,121}, {186,56,120}, {188,57,120},
    {189,57,119}, {191,58,119}, {192,58,118}, {194,59,117}, {196,60,117}, {197,60,116},
    {199,61,115}, {200,62,115}, {202,62,114}, {204,63,113}, {205,64,113}, {207,64,112},
    {208,65,111}, {210,66,111}, {211,67,110}, {213,68,109}, {214,69,108}, {216,69,108},
    {217,70,107}, {219,71,106}, {220,72,105}, {222,73,104}, {223,74,104}, {224,76,103},
    {226,77,102}, {227,78,101}, {228,79,100}, {229,80,100}, {231,82,99}, {232,83,98},
    {233,84,98}, {234,86,97}, {235,87,96}, {236,88,96}, {237,90,95}, {238,91,94},
    {239,93,94}, {240,95,94}, {241,96,93}, {242,98,93}, {242,100,92}, {243,101,92},
    {244,103,92}, {244,105,92}, {245,107,92}, {246,108,92}, {246,110,92}, {247,112,92},
    {247,114,92}, {248,116,92}, {248,118,92}, {249,120,93}, {249,121,93}, {249,123,93},
    {250,125,94}, {250,127,94}, {250,129,95}, {251,131,95}, {251,133,96}, {251,135,97},
    {252,137,97}, {252,138,98}, {252,140,99}, {252,142,100}, {252,144,101}, {253,146,102},
    {253,148,103}, {253,150,104}, {253,152,105}, {253,154,106}, {253,155,107}, {254,157,108},
    {254,159,109}, {254,161,110}, {254,163,111}, {254,165,113}, {254,167,114}, {254,169,115},
    {254,170,116}, {254,172,118}, {254,174,119}, {254,176,120}, {254,178,122}, {254,180,123},
    {254,182,124}, {254,183,126}, {254,185,127}, {254,187,129}, {254,189,130}, {254,191,132},
    {254,193,133}, {254,194,135}, {254,196,136}, {254,198,138}, {254,200,140}, {254,202,141},
    {254,204,143}, {254,205,144}, {254,207,146}, {254,209,148}, {254,211,149}, {254,213,151},
    {254,215,153}, {254,216,154}, {253,218,156}, {253,220,158}, {253,222,160}, {253,224,161},
    {253,226,163}, {253,227,165}, {253,229,167}, {253,231,169}, {253,233,170}, {253,235,172},
    {252,236,174}, {252,238,176}, {252,240,178}, {252,242,180}, {252,244,182}, {252,246,184},
    {252,247,185}, {252,249,187}, {252,251,189}, {252,253,191},
};
/* clang-format on */

#define PI 3.14159265358979323846

typedef struct {
    double x, y, w, h;
} rect;

typedef struct {
    cairo_t *cr;
    double u; /* pixels per layout unit: every size scales with the page */
} page;

static const uint32_t INK = 0x222222, GREY = 0x666666, LIGHT = 0xe4e4e4, FRAME = 0x444444;

static void set_rgb(cairo_t *cr, uint32_t rgb) {
    cairo_set_source_rgb(cr, (rgb >> 16 & 255) / 255.0, (rgb >> 8 & 255) / 255.0,
                         (rgb & 255) / 255.0);
}

static void font(const page *pg, double size, int bold) {
    cairo_select_font_face(pg->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(pg->cr, size * pg->u);
}

static double text_width(const page *pg, const char *s, double size, int bold) {
    cairo_text_extents_t te;
    font(pg, size, bold);
    cairo_text_extents(pg->cr, s, &te);
    return te.x_advance;
}

/* Text anchored at (x, y): ax 0 / 0.5 / 1 puts x at the left / centre / right end, ay 0 /
 * 0.5 / 1 puts y at the top / middle / baseline of the capitals; rotated by angle (radians,
 * about the anchor; -pi/2 reads bottom to top). */
static void text(const page *pg, double x, double y, const char *s, double size, int bold,
                 double ax, double ay, double angle, uint32_t rgb) {
    cairo_t *cr = pg->cr;
    cairo_save(cr);
    font(pg, size, bold);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * te.x_advance, (1.0 - ay) * 0.73 * size * pg->u);
    set_rgb(cr, rgb);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

static void line(cairo_t *cr, double x0, double y0, double x1, double y1, double w, uint32_t rgb) {
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_set_line_width(cr, w);
    set_rgb(cr, rgb);
    cairo_stroke(cr);
}

/* Tick label with as many decimals as the spacing needs. */
static void tick_label(char *buf, size_t cap, double v, double step) {
    if (fabs(v) >= 1e5 || (v != 0.0 && fabs(v) < 1e-4)) {
        snprintf(buf, cap, "%.3g", v);
        return;
    }
    int dec = 0;
    while (dec < 6 && fabs(step * pow(10.0, dec) - round(step * pow(10.0, dec))) >
                          1e-6 * step * pow(10.0, dec))
        dec++;
    snprintf(buf, cap, "%.*f", dec, v);
    if (!strcmp(buf, "-0")) snprintf(buf, cap, "0");
}

/* Ticks for a log axis over [lo, hi] (lo > 0): decades (with 2 and 5 when few decades), or
 * nice linear ticks when the range is less than about a decade. */
static int log_ticks(double lo, double hi, int max_ticks, double *t, double *step) {
    const int d0 = (int)floor(log10(lo)), d1 = (int)ceil(log10(hi));
    for (int pass = 0; pass < 2; pass++) {
        static const double m2[] = {1.0, 2.0, 5.0};
        const int nm = pass == 0 ? 3 : 1;
        int n = 0;
        for (int d = d0; d <= d1 && n < 64; d++)
            for (int k = 0; k < nm; k++) {
                double v = m2[k] * pow(10.0, d);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) && n < 64) t[n++] = v;
            }
        if (n >= 3 && n <= max_ticks) {
            *step = 0.0;
            return n;
        }
        if (pass == 1 && n >= 2 && n <= max_ticks) {
            *step = 0.0;
            return n;
        }
    }
    return ddsp_plot_nice_ticks(lo, hi, max_ticks, t, step);
}

/* out[i * os], i < n_out, from in[j * is], j < n_in: the mean over the source cells each
 * output cell covers when shrinking, linear interpolation at its centre when enlarging. */
static void resample_1d(float *out, size_t os, size_t n_out, const float *in, size_t is,
                        size_t n_in) {
    const double s = (double)n_in / (double)n_out;
    for (size_t i = 0; i < n_out; i++) {
        double v;
        if (s > 1.0) {
            const double a = i * s, b = a + s;
            size_t j0 = (size_t)a, j1 = (size_t)ceil(b);
            if (j1 > n_in) j1 = n_in;
            double sum = 0.0, wsum = 0.0;
            for (size_t j = j0; j < j1; j++) {
                double w = fmin(b, j + 1.0) - fmax(a, (double)j);
                sum += w * in[j * is], wsum += w;
            }
            v = wsum > 0 ? sum / wsum : in[j0 < n_in ? j0 * is : (n_in - 1) * is];
        } else {
            double c = (i + 0.5) * s - 0.5;
            if (c < 0) c = 0;
            size_t j = (size_t)c;
            if (j >= n_in - 1) {
                v = in[(n_in - 1) * is];
            } else {
                double fr = c - j;
                v = (1 - fr) * in[j * is] + fr * in[(j + 1) * is];
            }
        }
        out[i * os] = (float)v;
    }
}

static uint32_t magma(double t) {
    if (!(t > 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    const unsigned char *c = MAGMA[(int)(t * 255.0 + 0.5)];
    return 0xff000000u | (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
}

/* dBFS of a stored log-magnitude at FFT size n: 20 log10(|X| / (n / 4)) */
static double db_scale(void) {
    return 20.0 / log(10.0);
}
static double db_offset(int n_fft) {
    return -20.0 * log10(n_fft / 4.0);
}

static int paint_spec(cairo_t *cr, rect r, const ddsp_plot_spec *s, double vmin, double vmax,
                      int heat) {
    const int w = (int)r.w, h = (int)r.h;
    float *tmp = malloc(sizeof(float) * (size_t)w * s->K);      /* (w, K) */
    float *img = malloc(sizeof(float) * (size_t)w * (size_t)h); /* (h, w), row 0 = lowest bin */
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    int rc = DDSP_OK;
    if (!tmp || !img || cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        rc = ddsp_error("out of memory drawing a %d x %d spectrogram", w, h);
        goto done;
    }
    for (size_t k = 0; k < s->K; k++)
        resample_1d(tmp + k, s->K, (size_t)w, s->logmag + k, s->K, s->F);
    for (int x = 0; x < w; x++)
        resample_1d(img + x, (size_t)w, (size_t)h, tmp + (size_t)x * s->K, 1, s->K);
    cairo_surface_flush(surf);
    unsigned char *data = cairo_image_surface_get_data(surf);
    const int stride = cairo_image_surface_get_stride(surf);
    const double sc = heat ? 1.0 : db_scale(), off = heat ? 0.0 : db_offset(s->n_fft);
    const double span = vmax > vmin ? vmax - vmin : 1.0;
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(data + (size_t)y * (size_t)stride);
        const float *src = img + (size_t)(h - 1 - y) * (size_t)w;
        for (int x = 0; x < w; x++)
            row[x] = magma((src[x] * sc + off - vmin) / span);
    }
    cairo_surface_mark_dirty(surf);
    cairo_set_source_surface(cr, surf, r.x, r.y);
    cairo_rectangle(cr, r.x, r.y, w, h);
    cairo_fill(cr);
done:
    cairo_surface_destroy(surf);
    free(tmp);
    free(img);
    return rc;
}

/* One spectrogram panel: image, frame, time and frequency axes, title. */
/* Ticks and labels of a heatmap's axes (x: x0..x1 left to right, y: y0..y1 upwards). */
static void heat_axes(const page *pg, rect r, const ddsp_plot_spec *s, int x_label, int y_label) {
    cairo_t *cr = pg->cr;
    const double u = pg->u;
    double t[64], step;
    char buf[32];
    int n = ddsp_plot_nice_ticks(s->x0, s->x1, (int)fmax(2, r.w / (70 * u)), t, &step);
    for (int i = 0; i < n; i++) {
        double x = r.x + (t[i] - s->x0) / (s->x1 - s->x0) * r.w;
        line(cr, x, r.y + r.h, x, r.y + r.h + 5 * u, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, x, r.y + r.h + 9 * u, buf, 13, 0, 0.5, 0, 0, INK);
    }
    if (x_label && s->x_label)
        text(pg, r.x + r.w / 2, r.y + r.h + 31 * u, s->x_label, 14, 0, 0.5, 0, 0, INK);
    if (!(s->y1 > s->y0)) return;
    n = ddsp_plot_nice_ticks(s->y0, s->y1, (int)fmax(2, r.h / (42 * u)), t, &step);
    for (int i = 0; i < n; i++) {
        double y = r.y + r.h - (t[i] - s->y0) / (s->y1 - s->y0) * r.h;
        line(cr, r.x - 5 * u, y, r.x, y, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, r.x - 8 * u, y, buf, 13, 0, 1, 0.5, 0, INK);
    }
    if (y_label && s->y_label)
        text(pg, r.x - 44 * u, r.y + r.h / 2, s->y_label, 14, 0, 0.5, 0.5, -PI / 2, INK);
}

static int draw_spec(const page *pg, rect r, const ddsp_plot_spec *s, double vmin, double vmax,
                     int x_label, int y_label, int heat) {
    cairo_t *cr = pg->cr;
    const double u = pg->u;
    if (paint_spec(cr, r, s, vmin, vmax, heat)) return DDSP_ERR;
    if (heat) {
        cairo_rectangle(cr, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
        cairo_set_line_width(cr, 1);
        set_rgb(cr, FRAME);
        cairo_stroke(cr);
        heat_axes(pg, r, s, x_label, y_label);
        if (s->title) text(pg, r.x, r.y - 9 * u, s->title, 15, 1, 0, 1, 0, INK);
        return DDSP_OK;
    }
    cairo_rectangle(cr, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
    cairo_set_line_width(cr, 1);
    set_rgb(cr, FRAME);
    cairo_stroke(cr);

    double t[64], step;
    char buf[32];
    const double tmax = (double)s->F * s->hop / s->sample_rate;
    int n = ddsp_plot_nice_ticks(0, tmax, (int)fmax(2, r.w / (60 * u)), t, &step);
    for (int i = 0; i < n; i++) {
        double x = r.x + t[i] / tmax * r.w;
        line(cr, x, r.y + r.h, x, r.y + r.h + 5 * u, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, x, r.y + r.h + 9 * u, buf, 13, 0, 0.5, 0, 0, INK);
    }
    if (x_label) text(pg, r.x + r.w / 2, r.y + r.h + 31 * u, "time (s)", 14, 0, 0.5, 0, 0, INK);

    const double fmax_hz = (double)(s->K - 1) * s->sample_rate / s->n_fft;
    const int khz = fmax_hz >= 2000;
    const double fmax_u = khz ? fmax_hz / 1000 : fmax_hz;
    n = ddsp_plot_nice_ticks(0, fmax_u, (int)fmax(2, r.h / (42 * u)), t, &step);
    for (int i = 0; i < n; i++) {
        double y = r.y + r.h - t[i] / fmax_u * r.h;
        line(cr, r.x - 5 * u, y, r.x, y, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, r.x - 8 * u, y, buf, 13, 0, 1, 0.5, 0, INK);
    }
    if (y_label)
        text(pg, r.x - 44 * u, r.y + r.h / 2, khz ? "frequency (kHz)" : "frequency (Hz)", 14, 0,
             0.5, 0.5, -PI / 2, INK);
    if (s->title) text(pg, r.x, r.y - 9 * u, s->title, 15, 1, 0, 1, 0, INK);
    return DDSP_OK;
}

static void draw_colorbar(const page *pg, rect r, double vmin, double vmax, const char *label) {
    cairo_t *cr = pg->cr;
    const double u = pg->u;
    const int w = (int)r.w, h = (int)r.h;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(surf) == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(surf);
        unsigned char *data = cairo_image_surface_get_data(surf);
        const int stride = cairo_image_surface_get_stride(surf);
        for (int y = 0; y < h; y++) {
            uint32_t c = magma(1.0 - (y + 0.5) / h),
                     *row = (uint32_t *)(data + (size_t)y * (size_t)stride);
            for (int x = 0; x < w; x++)
                row[x] = c;
        }
        cairo_surface_mark_dirty(surf);
        cairo_set_source_surface(cr, surf, r.x, r.y);
        cairo_rectangle(cr, r.x, r.y, w, h);
        cairo_fill(cr);
    }
    cairo_surface_destroy(surf);
    cairo_rectangle(cr, r.x + 0.5, r.y + 0.5, w - 1, h - 1);
    cairo_set_line_width(cr, 1);
    set_rgb(cr, FRAME);
    cairo_stroke(cr);
    double t[64], step;
    char buf[32];
    int n = ddsp_plot_nice_ticks(vmin, vmax, (int)fmax(2, fmin(12, r.h / (40 * u))), t, &step);
    double lw = 0;
    for (int i = 0; i < n; i++) {
        double y = r.y + r.h - (t[i] - vmin) / (vmax - vmin) * r.h;
        line(cr, r.x + r.w, y, r.x + r.w + 5 * u, y, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, r.x + r.w + 8 * u, y, buf, 13, 0, 0, 0.5, 0, INK);
        lw = fmax(lw, text_width(pg, buf, 13, 0));
    }
    text(pg, r.x + r.w + 16 * u + lw, r.y + r.h / 2, label, 14, 0, 0.5, 0, -PI / 2, INK);
}

typedef struct {
    double lo, hi;
    int log;
} axis;

static double axis_frac(const axis *a, double v) {
    return a->log ? (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo))
                  : (v - a->lo) / (a->hi - a->lo);
}

static int usable(const axis *a, double x, double y) {
    return isfinite(x) && isfinite(y) && (!a->log || y > 0);
}

/* On a log axis a finite y <= 0 (a loss of exactly 0 at the target) has no place: it is drawn
 * at the bottom edge and counted, never dropped silently. */
static int at_floor(const axis *a, double x, double y) {
    return a->log && isfinite(x) && isfinite(y) && y <= 0;
}

static void draw_chart(const page *pg, rect outer, const ddsp_plot_figure *fig) {
    cairo_t *cr = pg->cr;
    const double u = pg->u;
    const rect p = {floor(outer.x + 84 * u), floor(outer.y + 34 * u), floor(outer.w - 100 * u),
                    floor(outer.h - 34 * u - 62 * u)};
    axis ax = {INFINITY, -INFINITY, 0}, ay = {INFINITY, -INFINITY, fig->log_y};
    size_t n_floor = 0;
    for (int k = 0; k < fig->n_series; k++) {
        const ddsp_plot_series *s = &fig->series[k];
        for (size_t i = 0; i < s->n; i++) {
            if (at_floor(&ay, s->x[i], s->y[i])) n_floor++;
            if (!usable(&ay, s->x[i], s->y[i])) continue;
            ax.lo = fmin(ax.lo, s->x[i]), ax.hi = fmax(ax.hi, s->x[i]);
            ay.lo = fmin(ay.lo, s->y[i]), ay.hi = fmax(ay.hi, s->y[i]);
        }
    }
    if (fig->chart_title) text(pg, p.x, p.y - 12 * u, fig->chart_title, 17, 1, 0, 1, 0, INK);
    cairo_rectangle(cr, p.x + 0.5, p.y + 0.5, p.w - 1, p.h - 1);
    cairo_set_line_width(cr, 1);
    set_rgb(cr, FRAME);
    cairo_stroke(cr);
    if (!(ax.hi >= ax.lo)) {
        text(pg, p.x + p.w / 2, p.y + p.h / 2,
             n_floor ? "every value is <= 0: nothing to show on a log axis" : "no data", 16, 0,
             0.5, 0.5, 0, GREY);
        return;
    }
    if (ax.hi == ax.lo) ax.lo -= 0.5, ax.hi += 0.5;
    const double xpad = 0.015 * (ax.hi - ax.lo); /* keeps end markers inside the frame */
    ax.lo -= xpad, ax.hi += xpad;
    if (ay.log) {
        double pad = ay.hi > ay.lo ? pow(ay.hi / ay.lo, 0.06) : 1.5;
        ay.lo /= pad, ay.hi *= pad;
    } else {
        double pad = ay.hi > ay.lo ? 0.06 * (ay.hi - ay.lo) : fmax(0.5, 0.1 * fabs(ay.hi));
        ay.lo -= pad, ay.hi += pad;
    }

    double t[64], step;
    char buf[32];
    int n = ay.log ? log_ticks(ay.lo, ay.hi, (int)fmax(2, p.h / (48 * u)), t, &step)
                   : ddsp_plot_nice_ticks(ay.lo, ay.hi, (int)fmax(2, p.h / (48 * u)), t, &step);
    double lw = 0;
    for (int i = 0; i < n; i++) {
        double y = floor(p.y + p.h - axis_frac(&ay, t[i]) * p.h) + 0.5;
        line(cr, p.x + 1, y, p.x + p.w - 1, y, 1, LIGHT);
        line(cr, p.x - 5 * u, y, p.x, y, 1, FRAME);
        if (step > 0)
            tick_label(buf, sizeof buf, t[i], step);
        else
            snprintf(buf, sizeof buf, "%g", t[i]);
        text(pg, p.x - 8 * u, y, buf, 13, 0, 1, 0.5, 0, INK);
        lw = fmax(lw, text_width(pg, buf, 13, 0));
    }
    n = ddsp_plot_nice_ticks(ax.lo, ax.hi, (int)fmax(2, p.w / (90 * u)), t, &step);
    for (int i = 0; i < n; i++) {
        double x = floor(p.x + axis_frac(&ax, t[i]) * p.w) + 0.5;
        line(cr, x, p.y + 1, x, p.y + p.h - 1, 1, LIGHT);
        line(cr, x, p.y + p.h, x, p.y + p.h + 5 * u, 1, FRAME);
        tick_label(buf, sizeof buf, t[i], step);
        text(pg, x, p.y + p.h + 9 * u, buf, 13, 0, 0.5, 0, 0, INK);
    }
    if (fig->x_label)
        text(pg, p.x + p.w / 2, p.y + p.h + 33 * u, fig->x_label, 14, 0, 0.5, 0, 0, INK);
    if (fig->y_label)
        text(pg, p.x - 16 * u - lw, p.y + p.h / 2, fig->y_label, 14, 0, 0.5, 1, -PI / 2, INK);

    cairo_save(cr);
    cairo_rectangle(cr, p.x + 1, p.y + 1, p.w - 2, p.h - 2);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int k = 0; k < fig->n_series; k++) {
        const ddsp_plot_series *s = &fig->series[k];
        const double lwid = (s->width > 0 ? s->width : 2.0) * u;
        int down = 0;
        for (size_t i = 0; i < s->n; i++) {
            const int floor_pt = at_floor(&ay, s->x[i], s->y[i]);
            if (!floor_pt && !usable(&ay, s->x[i], s->y[i])) {
                down = 0;
                continue;
            }
            double x = p.x + axis_frac(&ax, s->x[i]) * p.w,
                   y = floor_pt ? p.y + p.h - 1 : p.y + p.h - axis_frac(&ay, s->y[i]) * p.h;
            if (down)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            down = 1;
        }
        cairo_set_line_width(cr, lwid);
        set_rgb(cr, s->rgb);
        cairo_stroke(cr);
        if (!s->markers) continue;
        for (size_t i = 0; i < s->n; i++) {
            if (!usable(&ay, s->x[i], s->y[i])) continue;
            double x = p.x + axis_frac(&ax, s->x[i]) * p.w,
                   y = p.y + p.h - axis_frac(&ay, s->y[i]) * p.h;
            cairo_new_sub_path(cr);
            cairo_arc(cr, x, y, 3.2 * u + lwid / 2, 0, 2 * PI);
        }
        set_rgb(cr, s->rgb);
        cairo_fill_preserve(cr);
        cairo_set_line_width(cr, 1.2 * u);
        set_rgb(cr, 0xffffff);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    if (n_floor) {
        char note[96];
        snprintf(note, sizeof note, "%zu value%s <= 0 drawn on the bottom edge", n_floor,
                 n_floor == 1 ? "" : "s");
        text(pg, p.x + p.w, p.y + p.h + 48 * u, note, 12, 0, 1, 0, 0, GREY);
    }

    /* legend: in the corner of the axes that hides the fewest points (top right on ties) */
    int nl = 0;
    double tw = 0;
    for (int k = 0; k < fig->n_series; k++)
        if (fig->series[k].label) nl++, tw = fmax(tw, text_width(pg, fig->series[k].label, 14, 0));
    if (!nl) return;
    const double eh = 24 * u, bw = tw + 62 * u, bh = nl * eh + 12 * u;
    double bx = 0, by = 0;
    size_t best = SIZE_MAX;
    for (int corner = 0; corner < 4; corner++) {
        const double cx = corner % 2 == 0 ? p.x + p.w - bw - 10 * u : p.x + 10 * u;
        const double cy = corner < 2 ? p.y + 10 * u : p.y + p.h - bh - 10 * u;
        size_t hidden = 0;
        for (int k = 0; k < fig->n_series; k++) {
            const ddsp_plot_series *s = &fig->series[k];
            for (size_t i = 0; i < s->n; i++) {
                if (!usable(&ay, s->x[i], s->y[i])) continue;
                double x = p.x + axis_frac(&ax, s->x[i]) * p.w,
                       y = p.y + p.h - axis_frac(&ay, s->y[i]) * p.h;
                hidden += x >= cx - 6 * u && x <= cx + bw + 6 * u && y >= cy - 6 * u &&
                          y <= cy + bh + 6 * u;
            }
        }
        if (hidden < best) best = hidden, bx = cx, by = cy;
    }
    cairo_rectangle(cr, bx + 0.5, by + 0.5, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_line_width(cr, 1);
    set_rgb(cr, 0xbbbbbb);
    cairo_stroke(cr);
    int row = 0;
    for (int k = 0; k < fig->n_series; k++) {
        const ddsp_plot_series *s = &fig->series[k];
        if (!s->label) continue;
        const double y = by + 6 * u + (row + 0.5) * eh, x0 = bx + 10 * u, x1 = x0 + 32 * u;
        line(cr, x0, y, x1, y, (s->width > 0 ? s->width : 2.0) * u, s->rgb);
        if (s->markers) {
            cairo_arc(cr, (x0 + x1) / 2, y, 4 * u, 0, 2 * PI);
            set_rgb(cr, s->rgb);
            cairo_fill(cr);
        }
        text(pg, x1 + 10 * u, y, s->label, 14, 0, 0, 0.5, 0, INK);
        row++;
    }
}

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                        : CAIRO_STATUS_WRITE_ERROR;
}

static int check_figure(const ddsp_plot_figure *fig, int W, int H) {
    if (W < 320 || H < 200 || W > 16384 || H > 16384)
        return ddsp_error("figure size %d x %d is outside 320 x 200 .. 16384 x 16384", W, H);
    if (fig->n_specs < 0 || fig->n_series < 0 || (fig->n_specs && !fig->specs) ||
        (fig->n_series && !fig->series))
        return ddsp_error("figure: bad spectrogram or series list");
    if (!fig->n_specs && !fig->n_series) return ddsp_error("figure: nothing to draw");
    for (int i = 0; i < fig->n_specs; i++) {
        const ddsp_plot_spec *s = &fig->specs[i];
        if (fig->heatmap) {
            if (!s->logmag || s->F < 2 || s->K < 2 || !(s->x1 > s->x0) || !(s->y1 > s->y0))
                return ddsp_error("figure: heatmap %d is empty or has an empty axis range", i);
            continue;
        }
        if (!s->logmag || s->F == 0 || s->K < 2 || s->n_fft < 2 || s->hop < 1 ||
            !(s->sample_rate > 0))
            return ddsp_error("figure: spectrogram %d is empty or lacks n_fft, hop or sample rate",
                              i);
    }
    for (int i = 0; i < fig->n_series; i++)
        if (fig->series[i].n && (!fig->series[i].x || !fig->series[i].y))
            return ddsp_error("figure: series %d has no data pointers", i);
    return DDSP_OK;
}

int ddsp_plot_write_png(const char *path, const ddsp_plot_figure *fig) {
    const int W = fig->width ? fig->width : 1600, H = fig->height ? fig->height : 900;
    if (check_figure(fig, W, H)) return DDSP_ERR;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return ddsp_error("%s: cannot make a %d x %d image (out of memory)", path, W, H);
    }
    cairo_t *cr = cairo_create(surf);
    page pg = {cr, fig->scale > 0 ? fmin(fig->scale, 8.0)
                                  : fmax(0.6, fmin(3.0, fmin(W / 1600.0, H / 900.0)))};
    const double u = pg.u;
    int rc = DDSP_ERR;
    FILE *fp = NULL;
    char tmp[PATH_MAX];
    tmp[0] = '\0';

    set_rgb(cr, 0xffffff);
    cairo_paint(cr);
    double top = 16 * u;
    if (fig->title) text(&pg, 28 * u, 22 * u, fig->title, 24, 1, 0, 0, 0, INK), top = 66 * u;
    if (fig->subtitle) text(&pg, 28 * u, 58 * u, fig->subtitle, 15, 0, 0, 0, 0, GREY), top = 96 * u;
    const double bottom = H - 10 * u;

    const double split = fig->n_specs == 0 ? 0 : fig->n_series ? floor(W * 0.6) : W;
    if (fig->n_specs) {
        const int cols =
            fig->spec_cols > 0 && fig->spec_cols < fig->n_specs ? fig->spec_cols : fig->n_specs;
        const int rows = (fig->n_specs + cols - 1) / cols;
        const double cbw = 100 * u, gx = 10 * u, gw = split - cbw - gx;
        /* axis labels on the left column and the bottom row only; tick labels everywhere */
        const double ml0 = 72 * u, ml = 44 * u, mr = 14 * u, mt = 30 * u, mb0 = 52 * u, mb = 34 * u;
        const double iw = (gw - ml0 - ml * (cols - 1) - mr * cols) / cols;
        const double ih = (bottom - top - mb0 - mb * (rows - 1) - mt * rows) / rows;
        double vmax = -INFINITY, vmin = INFINITY;
        for (int i = 0; i < fig->n_specs; i++) {
            const ddsp_plot_spec *s = &fig->specs[i];
            const double sc = fig->heatmap ? 1.0 : db_scale();
            const double off = fig->heatmap ? 0.0 : db_offset(s->n_fft);
            for (size_t j = 0; j < s->F * s->K; j++)
                if (isfinite(s->logmag[j])) {
                    vmax = fmax(vmax, s->logmag[j] * sc + off);
                    vmin = fmin(vmin, s->logmag[j] * sc + off);
                }
        }
        if (!isfinite(vmax)) vmax = 0, vmin = -1;
        if (!fig->heatmap) {
            /* the scale spans db_range below the loudest value, but never ends below the level
             * digital silence maps to (log(0 + 1e-5)) plus the range: silence is dark, not
             * the top colour of a scale fitted to nothing but silence */
            const double range = fig->db_range > 0 ? fig->db_range : 80.0;
            double vsil = -INFINITY;
            for (int i = 0; i < fig->n_specs; i++)
                vsil = fmax(vsil, log(1e-5) * db_scale() + db_offset(fig->specs[i].n_fft));
            vmax = fmax(10.0 * ceil(vmax / 10.0 - 1e-9), vsil + range);
            vmin = vmax - range;
        } else if (!(vmax > vmin)) {
            vmax = vmin + 1.0;
        }
        rect first = {0, 0, 0, 0}, last = first;
        for (int i = 0; i < fig->n_specs; i++) {
            const int r = i / cols, c = i % cols;
            rect img = {floor(gx + ml0 + c * (iw + mr + ml)), floor(top + mt + r * (ih + mb + mt)),
                        floor(iw), floor(ih)};
            if (iw < 8 || ih < 8) {
                ddsp_error("%s: %d spectrograms do not fit in %d x %d pixels", path, fig->n_specs,
                           W, H);
                goto cleanup;
            }
            const int bottom_row = r == rows - 1 || i + cols >= fig->n_specs;
            if (draw_spec(&pg, img, &fig->specs[i], vmin, vmax, bottom_row, c == 0, fig->heatmap))
                goto cleanup;
            if (i == 0) first = img;
            last = img;
        }
        rect cb = {floor(split - cbw + 12 * u), first.y, floor(18 * u), last.y + last.h - first.y};
        draw_colorbar(&pg, cb, vmin, vmax,
                      fig->heatmap ? (fig->colorbar_label ? fig->colorbar_label : "value")
                                   : "level (dBFS)");
    }
    if (fig->n_series) {
        rect outer = {split + 10 * u, top - 6 * u, W - split - 18 * u, bottom - top + 6 * u};
        draw_chart(&pg, outer, fig);
    }
    cairo_surface_flush(surf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        ddsp_error("%s: drawing failed (%s)", path, cairo_status_to_string(cairo_status(cr)));
        goto cleanup;
    }

    if (ddsp_tmp_name(tmp, sizeof tmp, path)) {
        tmp[0] = '\0';
        goto cleanup;
    }
    if (!(fp = fopen(tmp, "wb"))) {
        ddsp_error("%s: cannot create (%s)", path, strerror(errno));
        tmp[0] = '\0';
        goto cleanup;
    }
    ddsp_tmp_track(tmp);
    cairo_status_t st = cairo_surface_write_to_png_stream(surf, write_cb, fp);
    int cerr = fclose(fp);
    fp = NULL;
    if (st != CAIRO_STATUS_SUCCESS || cerr != 0) {
        ddsp_error("%s: write error (%s)", path,
                   st != CAIRO_STATUS_SUCCESS ? cairo_status_to_string(st) : strerror(errno));
        goto cleanup;
    }
    rc = ddsp_tmp_publish(tmp, path, 1);
    tmp[0] = '\0';
cleanup:
    if (fp) fclose(fp);
    if (tmp[0]) {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return rc;
}
#endif
