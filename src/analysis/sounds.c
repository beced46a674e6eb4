/* Parametric test sounds for loss landscapes (see ddsp/analysis.h). */
#include "ddsp/analysis.h"
#include "ddsp/util.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[] = {"chirp", "harmonic", "noise"};
static const char *const param_names[DDSP_SP_N] = {"am", "fm", "fc", "f0",
                                                   "detune", "shift", "seed"};
/* which parameters each sound uses */
static const int uses[3][DDSP_SP_N] = {
    {1, 1, 1, 0, 0, 1, 0}, /* chirp */
    {0, 0, 0, 1, 1, 1, 0}, /* harmonic */
    {0, 0, 0, 0, 0, 1, 1}, /* noise */
};

void ddsp_sound_default(ddsp_sound *s, ddsp_sound_kind kind) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->p[DDSP_SP_AM] = 8.0;
    s->p[DDSP_SP_FM] = 2.0;
    s->p[DDSP_SP_FC] = 500.0;
    s->p[DDSP_SP_F0] = 220.0;
    s->N = 32768;
    s->sample_rate = 16000;
}

int ddsp_sound_parse_kind(const char *name, ddsp_sound_kind *kind) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) {
            *kind = (ddsp_sound_kind)k;
            return DDSP_OK;
        }
    return ddsp_error("unknown sound '%s' (expected chirp, harmonic or noise)", name);
}

const char *ddsp_sound_kind_name(ddsp_sound_kind kind) {
    return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

int ddsp_sound_param_index(ddsp_sound_kind kind, const char *name) {
    for (int i = 0; i < DDSP_SP_N; i++)
        if (!strcmp(name, param_names[i]) && uses[kind][i]) return i;
    char list[128] = "";
    for (int i = 0; i < DDSP_SP_N; i++)
        if (uses[kind][i]) {
            strcat(list, *list ? ", " : "");
            strcat(list, param_names[i]);
        }
    return ddsp_error("sound %s has no parameter '%s' (it has %s)", kind_names[kind], name, list);
}

const char *ddsp_sound_param_name(int index) {
    return index >= 0 && index < DDSP_SP_N ? param_names[index] : "?";
}

void ddsp_sound_param_range(ddsp_sound_kind kind, int index, double *lo, double *hi) {
    (void)kind;
    static const double r[DDSP_SP_N][2] = {
        {4.0, 16.0}, {0.5, 4.0}, {250.0, 1000.0}, {110.0, 440.0},
        {-100.0, 100.0}, {-2048.0, 2048.0}, {0.0, 20.0}};
    *lo = r[index][0];
    *hi = r[index][1];
}

void ddsp_sound_render(float *x, const ddsp_sound *s) {
    const size_t N = s->N;
    const double sr = s->sample_rate, T = (double)N / sr, sigma = T / 6.0;
    const double pi = 3.14159265358979323846, shift = s->p[DDSP_SP_SHIFT];
    double peak = 0.0;
    /* noise: resonator y[i] = u[i] + a1 y[i-1] + a2 y[i-2], run over the unshifted index so
     * a shift moves the same waveform */
    double y1 = 0.0, y2 = 0.0;
    const double rad = exp(-pi * 300.0 / sr), th = 2.0 * pi * 1000.0 / sr;
    const double a1 = 2.0 * rad * cos(th), a2 = -rad * rad;
    const uint64_t key = ddsp_rng_key((uint64_t)llround(s->p[DDSP_SP_SEED]), 0x6e6f697365ull, 0);
    const long ishift = lround(shift);
    for (size_t i = 0; i < N; i++) {
        const double t = ((double)i - shift) / sr - T / 2.0;
        const double g = exp(-t * t / (2.0 * sigma * sigma));
        double v = 0.0;
        if (s->kind == DDSP_SOUND_CHIRP) {
            const double am = s->p[DDSP_SP_AM], fm = s->p[DDSP_SP_FM], fc = s->p[DDSP_SP_FC];
            const double phase = fabs(fm) > 1e-9
                                     ? 2.0 * pi * fc * (exp2(fm * t) - 1.0) / (fm * log(2.0))
                                     : 2.0 * pi * fc * t;
            v = g * 0.5 * (1.0 - cos(2.0 * pi * am * t)) * sin(phase);
        } else if (s->kind == DDSP_SOUND_HARMONIC) {
            const double f = s->p[DDSP_SP_F0] * exp2(s->p[DDSP_SP_DETUNE] / 1200.0);
            for (int k = 1; k <= 20 && k * f < 0.45 * sr; k++) v += sin(2.0 * pi * k * f * t) / k;
            v *= g;
        } else {
            /* the filtered noise sample at unshifted index i - shift (integer part) */
            const long j = (long)i - ishift;
            double y = 0.0;
            if (j >= 0) {
                /* recompute the recursion lazily: it only ever advances by one here */
                const double u = 2.0 * ddsp_rng_uniform01(key, (uint64_t)j) - 1.0;
                y = u + a1 * y1 + a2 * y2;
                y2 = y1, y1 = y;
            }
            v = g * y;
        }
        x[i] = (float)v;
        if (fabs(v) > peak) peak = fabs(v);
    }
    if (peak > 0.0)
        for (size_t i = 0; i < N; i++) x[i] = (float)(x[i] * (0.5 / peak));
}
