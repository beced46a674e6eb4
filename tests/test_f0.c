/* f0 tracker: accuracy on the bundled recordings against their MIDI notes (raw pitch
 * accuracy, voicing), time alignment and precision on synthetic signals, edge cases
 * (N = 1, silence, noise, odd lengths), config errors, determinism across calls and threads,
 * and fixed-lag decoding against the exact Viterbi path.
 *
 * usage: test_f0 TESTS_DATA_DIR BUNDLED_DATA_DIR   (violin.mid/flute.mid, violin.wav/flute.wav)
 */
#include "ddsp/audio.h"
#include "ddsp/features.h"
#include "ddsp/util.h"
#include "features/f0_internal.h"
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

static const char *tests_dir, *data_dir;

/* ---------------------------------------------------------------- MIDI ground truth */
typedef struct {
    double on, off; /* seconds (MIDI time) */
    int pitch;
} note;

typedef struct {
    long tick;
    long us_per_quarter;
} tempo_ev;

static unsigned long be(const unsigned char *p, int n) {
    unsigned long v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static long vlq(const unsigned char *p, size_t len, size_t *i) {
    long v = 0;
    for (int k = 0; k < 4 && *i < len; k++) {
        unsigned char b = p[(*i)++];
        v = v << 7 | (b & 0x7f);
        if (!(b & 0x80)) return v;
    }
    return -1;
}

static double tick_to_s(long tick, const tempo_ev *tm, int nt, int tpq) {
    double s = 0.0;
    long t = 0, us = 500000; /* SMF default tempo: 120 bpm */
    for (int k = 0; k < nt && tm[k].tick <= tick; k++) {
        s += (double)(tm[k].tick - t) * us / tpq * 1e-6;
        t = tm[k].tick;
        us = tm[k].us_per_quarter;
    }
    return s + (double)(tick - t) * us / tpq * 1e-6;
}

/* Standard MIDI file (format 0 or 1, ticks per quarter) -> notes sorted by onset. Note on
 * with velocity 0 is a note off; running status, meta and sysex events are handled.
 * Returns the number of notes, -1 on a malformed file. */
static int read_midi(const char *path, note *out, int cap) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    if (len < 14 || memcmp(buf, "MThd", 4) || be(buf + 12, 2) & 0x8000) return -1;
    const int ntracks = (int)be(buf + 10, 2), tpq = (int)be(buf + 12, 2);
    enum { MAXEV = 20000 };
    static long on_tick[MAXEV], off_tick[MAXEV];
    static int pitch[MAXEV];
    static tempo_ev tempo[256];
    int open_idx[128], n = 0, nt = 0;
    size_t pos = 8 + be(buf + 4, 4);
    for (int tr = 0; tr < ntracks; tr++) {
        if (pos + 8 > len || memcmp(buf + pos, "MTrk", 4)) return -1;
        const size_t end = pos + 8 + be(buf + pos + 4, 4);
        if (end > len) return -1;
        size_t i = pos + 8;
        long tick = 0;
        unsigned char status = 0;
        for (int k = 0; k < 128; k++)
            open_idx[k] = -1;
        while (i < end) {
            long dt = vlq(buf, end, &i);
            if (dt < 0 || i >= end) return -1;
            tick += dt;
            unsigned char b = buf[i];
            if (b == 0xff) { /* meta */
                if (i + 2 > end) return -1;
                unsigned char type = buf[i + 1];
                i += 2;
                long ml = vlq(buf, end, &i);
                if (ml < 0 || i + (size_t)ml > end) return -1;
                if (type == 0x51 && ml == 3 && nt < 256)
                    tempo[nt++] = (tempo_ev){tick, (long)be(buf + i, 3)};
                i += (size_t)ml;
                continue;
            }
            if (b == 0xf0 || b == 0xf7) { /* sysex */
                i++;
                long ml = vlq(buf, end, &i);
                if (ml < 0) return -1;
                i += (size_t)ml;
                continue;
            }
            if (b & 0x80) status = b, i++;
            if (!status) return -1;
            const int kind = status & 0xf0, nbytes = (kind == 0xc0 || kind == 0xd0) ? 1 : 2;
            if (i + (size_t)nbytes > end) return -1;
            const int d1 = buf[i], d2 = nbytes > 1 ? buf[i + 1] : 0;
            i += (size_t)nbytes;
            const int is_on = kind == 0x90 && d2 > 0,
                      is_off = kind == 0x80 || (kind == 0x90 && d2 == 0);
            if ((is_on || is_off) && open_idx[d1] >= 0) { /* close the sounding note */
                off_tick[open_idx[d1]] = tick;
                open_idx[d1] = -1;
            }
            if (is_on && n < MAXEV) {
                on_tick[n] = tick;
                off_tick[n] = tick;
                pitch[n] = d1;
                open_idx[d1] = n++;
            }
        }
        pos = end;
    }
    /* tempo events in tick order (insertion sort; a handful) */
    for (int a = 1; a < nt; a++)
        for (int b = a; b > 0 && tempo[b].tick < tempo[b - 1].tick; b--) {
            tempo_ev t = tempo[b];
            tempo[b] = tempo[b - 1];
            tempo[b - 1] = t;
        }
    if (n > cap) return -1;
    for (int k = 0; k < n; k++)
        out[k] = (note){tick_to_s(on_tick[k], tempo, nt, tpq),
                        tick_to_s(off_tick[k], tempo, nt, tpq), pitch[k]};
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && out[b].on < out[b - 1].on; b--) {
            note t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

/* ---------------------------------------------------------------- evaluation */
typedef struct {
    double rpa, recall, false_alarm;
    int lag; /* frames added to the MIDI times */
    size_t n_pitch, n_unvoiced;
} eval_result;

/* Frames t of audio time t/fps against MIDI time t/fps + offset - lag/fps. A frame is scored
 * for pitch and voicing recall when a note sounds and its onset is >= 40 ms earlier;
 * frames where no note sounds score voicing false alarms. Pitch within 50 cents of the
 * note counts as correct, whatever conf says. */
static eval_result eval_at(const note *nt, int nn, const float *f0, const float *conf, size_t F,
                           double fps, double offset, int lag, double conf_thr) {
    eval_result r = {0, 0, 0, lag, 0, 0};
    size_t ok = 0, rec = 0, fa = 0;
    int k = 0;
    for (size_t t = 0; t < F; t++) {
        const double tm = t / fps + offset - lag / fps;
        while (k < nn && nt[k].off <= tm)
            k++;
        const int sounding = k < nn && nt[k].on <= tm && tm < nt[k].off;
        if (!sounding) {
            r.n_unvoiced++;
            fa += conf[t] >= conf_thr;
            continue;
        }
        if (tm - nt[k].on < 0.040) continue;
        const double want = 440.0 * pow(2.0, (nt[k].pitch - 69) / 12.0);
        r.n_pitch++;
        ok += fabs(1200.0 * log2(f0[t] / want)) < 50.0;
        rec += conf[t] >= conf_thr;
    }
    r.rpa = r.n_pitch ? (double)ok / r.n_pitch : 0.0;
    r.recall = r.n_pitch ? (double)rec / r.n_pitch : 0.0;
    r.false_alarm = r.n_unvoiced ? (double)fa / r.n_unvoiced : 0.0;
    return r;
}

/* Best lag within +-80 ms (1-frame steps) by raw pitch accuracy; the smaller |lag| on ties. */
static eval_result evaluate(const note *nt, int nn, const float *f0, const float *conf, size_t F,
                            double fps) {
    eval_result best = {-1, 0, 0, 0, 0, 0};
    const int maxlag = (int)floor(0.080 * fps + 1e-9);
    for (int a = 0; a <= maxlag; a++)
        for (int sgn = 1; sgn >= -1; sgn -= 2) {
            if (a == 0 && sgn < 0) continue;
            eval_result r = eval_at(nt, nn, f0, conf, F, fps, 0.3, sgn * a, 0.5);
            if (r.rpa > best.rpa) best = r;
        }
    return best;
}

static int track(const float *x, size_t N, float **f0, float **conf, size_t *F) {
    ddsp_f0_config c;
    ddsp_f0_config_default(&c);
    *F = ddsp_feature_frames(N, c.hop);
    *f0 = ddsp_alloc(sizeof(float) * *F);
    *conf = ddsp_alloc(sizeof(float) * *F);
    return ddsp_f0_track(&c, x, N, *f0, *conf);
}

static int finite_in_range(const float *f0, const float *conf, size_t F, double fmin, double fmax) {
    for (size_t t = 0; t < F; t++)
        if (!isfinite(f0[t]) || f0[t] < fmin * 0.999 || f0[t] > fmax * 1.001 ||
            !(conf[t] >= 0.0f) || !(conf[t] <= 1.0f))
            return 0;
    return 1;
}

static void check_recording(const char *name, double min_rpa, ddsp_audio *keep) {
    char mid[1024], wav[1024];
    snprintf(mid, sizeof mid, "%s/%s.mid", tests_dir, name);
    snprintf(wav, sizeof wav, "%s/%s.wav", data_dir, name);
    static note notes[4096];
    int nn = read_midi(mid, notes, 4096);
    CHECK(nn > 10, "%s: cannot parse MIDI file", mid);
    ddsp_audio a;
    int rc = ddsp_audio_read(wav, &a);
    CHECK(rc == DDSP_OK, "%s", ddsp_last_error());
    if (nn <= 10 || rc) return;
    CHECK(a.sample_rate == 16000, "%s: %d Hz, expected 16000", wav, a.sample_rate);
    CHECK(fabs(notes[0].on - 0.3) < 1e-9, "%s: first note at %.4f s, expected 0.3 s", mid,
          notes[0].on);
    float *f0, *conf;
    size_t F;
    double t = ddsp_now();
    rc = track(a.x, a.n, &f0, &conf, &F);
    t = ddsp_now() - t;
    CHECK(rc == DDSP_OK, "%s: %s", name, ddsp_last_error());
    const double secs = (double)a.n / a.sample_rate, fps = (double)a.sample_rate / 64;
    CHECK(finite_in_range(f0, conf, F, 30.0, 2000.0), "%s: f0/conf out of range", name);
    eval_result r = evaluate(notes, nn, f0, conf, F, fps);
    printf("%-6s %5.1f s, %d notes: RPA %.2f%% (%zu frames), voicing recall %.2f%%, false alarm "
           "%.2f%% (%zu frames; conf >= 0.5), best lag %+d ms; %.3f s (%.3f s per 60 s)\n",
           name, secs, nn, 100 * r.rpa, r.n_pitch, 100 * r.recall, 100 * r.false_alarm,
           r.n_unvoiced, (int)lround(r.lag * 1000.0 / fps), t, t * 60.0 / secs);
    CHECK(r.rpa >= min_rpa, "%s: raw pitch accuracy %.2f%% < %.1f%%", name, 100 * r.rpa,
          100 * min_rpa);
    CHECK(r.recall >= 0.95, "%s: voicing recall %.2f%% < 95%%", name, 100 * r.recall);
    if (keep)
        *keep = a;
    else
        ddsp_audio_free(&a);
    ddsp_free(f0);
    ddsp_free(conf);
}

/* ---------------------------------------------------------------- synthetic signals */
/* Harmonic tone (nh harmonics, amplitude 1/k, below 0.47 sr) following f_of_t, phase-continuous. */
static void synth(float *x, size_t N, double sr, int nh, double (*f_of)(double, const void *),
                  const void *arg, double amp) {
    double ph = 0.0;
    for (size_t i = 0; i < N; i++) {
        const double f = f_of(i / sr, arg);
        double v = 0.0;
        for (int k = 1; k <= nh && k * f < 0.47 * sr; k++)
            v += sin(k * ph) / k;
        x[i] = (float)(amp * v);
        ph += 2.0 * PI * f / sr;
        if (ph > 2.0 * PI) ph -= 2.0 * PI;
    }
}

static double f_const(double t, const void *a) {
    (void)t;
    return *(const double *)a;
}

typedef struct {
    double f1, f2, at; /* f1 before sample `at`, f2 from it */
} step_arg;

static double f_step(double t, const void *a) {
    const step_arg *st = a;
    return t * 16000.0 < st->at ? st->f1 : st->f2;
}

static double f_vibrato(double t, const void *a) {
    (void)a;
    return 440.0 * pow(2.0, 50.0 / 1200.0 * sin(2.0 * PI * 5.5 * t));
}

static void check_tones(void) {
    const double freqs[] = {55.0, 110.0, 440.0, 1000.0, 1760.0};
    const size_t N = 16000;
    float *x = ddsp_alloc(sizeof(float) * N);
    for (int nh = 1; nh <= 8; nh += 7)
        for (int i = 0; i < 5; i++) {
            double f = freqs[i];
            synth(x, N, 16000.0, nh, f_const, &f, 0.5);
            float *f0, *conf;
            size_t F;
            CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
            double worst = 0.0, minc = 1.0;
            for (size_t t = 25; t + 25 < F; t++) { /* steady: 100 ms from either end */
                worst = fmax(worst, fabs(1200.0 * log2(f0[t] / f)));
                minc = fmin(minc, conf[t]);
            }
            printf("%s %6.0f Hz: worst error %.3f cents, min conf %.3f\n",
                   nh == 1 ? "pure    " : "harmonic", f, worst, minc);
            CHECK(worst < 5.0, "%s tone %.0f Hz: error %.2f cents", nh == 1 ? "pure" : "harmonic",
                  f, worst);
            CHECK(minc > 0.9, "tone %.0f Hz: confidence %.3f", f, minc);
            ddsp_free(f0);
            ddsp_free(conf);
        }
    ddsp_free(x);
}

static void check_step_and_vibrato(void) {
    const size_t N = 64000;
    float *x = ddsp_alloc(sizeof(float) * N), *f0, *conf;
    size_t F;
    /* abrupt steps: the transition (first frame nearer the new pitch, in log frequency) sits on
     * the frame of the step sample (+-1; the frame exactly on it is a tie). Octave steps are
     * the exception: the lower note's period also fits the upper note, so d' keeps a trough
     * there while the lower note still weighs in, and the transition leans towards the lower
     * note by up to 3 frames (12 ms), as in any YIN-type tracker. */
    const step_arg steps[] = {{220, 330, 32000},    {330, 220, 32000}, {440, 466.16, 32000},
                              {466.16, 440, 32000}, {60, 90, 32000},   {1000, 1500, 32000},
                              {220, 330, 32032},    {300, 600, 32000}, {600, 300, 32000}};
    const double tol[] = {1, 1, 1, 1, 1, 1, 1, 3, 3};
    for (int k = 0; k < 9; k++) {
        const step_arg *st = &steps[k];
        const size_t want = (size_t)(st->at / 64.0);
        synth(x, N, 16000.0, 6, f_step, st, 0.5);
        CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
        const double mid = 0.5 * (log2(st->f1) + log2(st->f2));
        size_t first = F, last = 0;
        for (size_t t = 0; t < F; t++) {
            const int is_new = (log2(f0[t]) > mid) == (st->f2 > st->f1);
            if (is_new && first == F) first = t;
            if (!is_new) last = t;
        }
        double steady = 0.0, minc = 1.0;
        for (size_t t = 25; t + 25 < F; t++) {
            if (t + 10 < want || t > want + 10)
                steady = fmax(steady, fabs(1200.0 * log2(f0[t] / (t < want ? st->f1 : st->f2))));
            minc = fmin(minc, conf[t]);
        }
        const double at_frame = st->at / 64.0;
        printf("step %6.1f -> %6.1f Hz at frame %6.2f: new pitch from frame %zu; steady error "
               "%.3f cents; min conf %.3f\n",
               st->f1, st->f2, at_frame, first, steady, minc);
        CHECK(last + 1 == first && fabs(first - at_frame) <= tol[k],
              "step %.1f -> %.1f at frame %.2f: transition at frames %zu..%zu", st->f1, st->f2,
              at_frame, last, first);
        CHECK(steady < 5.0, "step: steady error %.2f cents", steady);
        CHECK(minc > 0.5, "step: confidence drops to %.3f", minc);
        ddsp_free(f0);
        ddsp_free(conf);
    }

    /* a tone in silence, samples [64*300, 64*700): voiced on frames 300..699 (+-1); the
     * silent frames hold its f0 */
    memset(x, 0, sizeof(float) * N);
    const double f440 = 440.0;
    synth(x + 64 * 300, 64 * 400, 16000.0, 6, f_const, &f440, 0.5);
    CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
    size_t on = F, off = 0, nv = 0;
    double worst = 0.0;
    for (size_t t = 0; t < F; t++) {
        if (conf[t] >= 0.5f) {
            on = t < on ? t : on;
            off = t;
            nv++;
        }
        worst = fmax(worst, fabs(1200.0 * log2(f0[t] / f440)));
    }
    printf("tone on frames 300..699: voiced %zu..%zu (%zu frames); worst f0 error %.3f cents\n", on,
           off, nv, worst);
    CHECK(on + 1 >= 300 && on <= 301 && off + 1 >= 699 && off <= 700 && nv == off - on + 1,
          "tone in silence: voiced frames %zu..%zu (%zu)", on, off, nv);
    CHECK(worst < 5.0, "tone in silence: f0 error %.2f cents", worst);
    ddsp_free(f0);
    ddsp_free(conf);

    /* vibrato 5.5 Hz +-50 cents around 440 Hz */
    synth(x, N, 16000.0, 6, f_vibrato, NULL, 0.5);
    CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
    double rms = 0.0;
    size_t n = 0;
    worst = 0.0;
    for (size_t t = 25; t + 25 < F; t++, n++) {
        double e = 1200.0 * log2(f0[t] / f_vibrato(t * 64.0 / 16000.0, NULL));
        worst = fmax(worst, fabs(e));
        rms += e * e;
    }
    printf("vibrato 5.5 Hz +-50 cents: worst error %.2f cents, rms %.2f cents\n", worst,
           sqrt(rms / n));
    CHECK(worst < 10.0, "vibrato: error %.2f cents", worst);
    ddsp_free(f0);
    ddsp_free(conf);
    ddsp_free(x);
}

static void check_unvoiced_and_edges(void) {
    const size_t N = 16000;
    float *x = ddsp_alloc(sizeof(float) * N), *f0, *conf;
    size_t F;
    /* digital silence */
    CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
    float maxc = 0.0f;
    for (size_t t = 0; t < F; t++)
        maxc = fmaxf(maxc, conf[t]);
    printf("silence: max conf %.3g, f0 %.2f Hz\n", maxc, f0[0]);
    CHECK(maxc < 0.1f && finite_in_range(f0, conf, F, 30.0, 2000.0), "silence: conf %.3g", maxc);
    for (size_t t = 1; t < F; t++)
        CHECK(f0[t] == f0[0], "silence: f0 not constant at frame %zu", t);
    ddsp_free(f0);
    ddsp_free(conf);
    /* white noise */
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(0.3 * tu_uniform());
    CHECK(track(x, N, &f0, &conf, &F) == DDSP_OK, "%s", ddsp_last_error());
    size_t nv = 0;
    double mean = 0.0;
    for (size_t t = 0; t < F; t++)
        nv += conf[t] >= 0.5f, mean += conf[t];
    printf("white noise: %zu of %zu frames with conf >= 0.5, mean conf %.3f\n", nv, F, mean / F);
    CHECK(nv <= F / 20 && mean / F < 0.1, "white noise: %zu voiced frames, mean conf %.3f", nv,
          mean / F);
    CHECK(finite_in_range(f0, conf, F, 30.0, 2000.0), "white noise: f0/conf out of range");
    ddsp_free(f0);
    ddsp_free(conf);
    /* lengths that are not a multiple of hop, and tiny ones */
    const size_t lens[] = {1, 2, 63, 65, 1000, 4097};
    for (int k = 0; k < 6; k++) {
        const double f = 440.0;
        synth(x, lens[k], 16000.0, 4, f_const, &f, 0.5);
        CHECK(track(x, lens[k], &f0, &conf, &F) == DDSP_OK, "N=%zu: %s", lens[k],
              ddsp_last_error());
        CHECK(F == (lens[k] + 63) / 64, "N=%zu: %zu frames", lens[k], F);
        CHECK(finite_in_range(f0, conf, F, 30.0, 2000.0), "N=%zu: f0/conf out of range", lens[k]);
        if (lens[k] >= 4000) /* long enough to be voiced in the middle */
            CHECK(fabs(1200.0 * log2(f0[F / 2] / f)) < 5.0 && conf[F / 2] > 0.9,
                  "N=%zu: mid frame %.2f Hz conf %.3f", lens[k], f0[F / 2], conf[F / 2]);
        ddsp_free(f0);
        ddsp_free(conf);
    }
    ddsp_free(x);
}

static void check_config(void) {
    ddsp_f0_config d, c;
    ddsp_f0_config_default(&d);
    CHECK(d.sample_rate == 16000 && d.hop == 64 && d.fmin == 30.0 && d.fmax == 2000.0, "defaults");
    CHECK(ddsp_f0_config_check(&d) == DDSP_OK, "default config rejected: %s", ddsp_last_error());
    struct {
        const char *field;
        int sr, hop;
        double fmin, fmax;
    } bad[] = {{"sample_rate", 0, 64, 30, 2000}, {"hop", 16000, 0, 30, 2000},
               {"fmin", 16000, 64, 0, 2000},     {"fmin", 16000, 64, NAN, 2000},
               {"fmax", 16000, 64, 300, 200},    {"fmax", 16000, 64, 30, 5000},
               {"fmin", 16000, 64, 0.5, 2000},   {"fmax", 16000, 64, 30, INFINITY}};
    float x[64] = {0}, f0[1], conf[1];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        c = (ddsp_f0_config){bad[k].sr, bad[k].hop, bad[k].fmin, bad[k].fmax};
        int rc = ddsp_f0_config_check(&c);
        CHECK(rc == DDSP_ERR && strstr(ddsp_last_error(), bad[k].field),
              "bad %s accepted or message '%s' does not name it", bad[k].field, ddsp_last_error());
        CHECK(ddsp_f0_track(&c, x, 64, f0, conf) == DDSP_ERR, "track accepted bad %s",
              bad[k].field);
    }
    /* other rates and ranges work */
    c = (ddsp_f0_config){44100, 441, 60.0, 1500.0};
    const size_t N = 44100;
    float *y = ddsp_alloc(sizeof(float) * N);
    const double f = 261.63;
    synth(y, N, 44100.0, 5, f_const, &f, 0.5);
    const size_t F = ddsp_feature_frames(N, c.hop);
    float *g = ddsp_alloc(sizeof(float) * F), *cf = ddsp_alloc(sizeof(float) * F);
    CHECK(ddsp_f0_track(&c, y, N, g, cf) == DDSP_OK, "44.1 kHz: %s", ddsp_last_error());
    CHECK(fabs(1200.0 * log2(g[F / 2] / f)) < 5.0 && cf[F / 2] > 0.9, "44.1 kHz: %.2f Hz conf %.3f",
          g[F / 2], cf[F / 2]);
    ddsp_free(y);
    ddsp_free(g);
    ddsp_free(cf);
}

static void check_determinism(const ddsp_audio *v) {
    ddsp_f0_config c;
    ddsp_f0_config_default(&c);
    const size_t F = ddsp_feature_frames(v->n, c.hop);
    float *f[4], *cf[4];
    for (int k = 0; k < 4; k++)
        f[k] = ddsp_alloc(sizeof(float) * F), cf[k] = ddsp_alloc(sizeof(float) * F);
    CHECK(ddsp_f0_track(&c, v->x, v->n, f[0], cf[0]) == DDSP_OK, "%s", ddsp_last_error());
    CHECK(ddsp_f0_track(&c, v->x, v->n, f[1], cf[1]) == DDSP_OK, "%s", ddsp_last_error());
    int rc[2] = {-1, -1};
#pragma omp parallel num_threads(2)
    {
        int k = omp_get_thread_num();
        if (k < 2) rc[k] = ddsp_f0_track(&c, v->x, v->n, f[2 + k], cf[2 + k]);
    }
    CHECK(rc[0] == DDSP_OK && rc[1] == DDSP_OK, "concurrent calls failed");
    for (int k = 1; k < 4; k++)
        CHECK(!memcmp(f[0], f[k], sizeof(float) * F) && !memcmp(cf[0], cf[k], sizeof(float) * F),
              "run %d differs from run 0 (%s)", k, k == 1 ? "sequential" : "concurrent thread");
    /* fixed-lag decoding (default ring) against the exact Viterbi path over the whole file */
    ddsp_f0_tuning t;
    ddsp_f0_tuning_default(&t);
    t.ring_frames = 0;
    CHECK(ddsp_f0_track_tuned(&c, &t, v->x, v->n, f[1], cf[1], NULL) == DDSP_OK, "%s",
          ddsp_last_error());
    size_t diff = 0;
    for (size_t i = 0; i < F; i++)
        diff += f[0][i] != f[1][i];
    printf("fixed-lag (ring %zu, lag %zu frames) vs exact Viterbi over %zu frames: %zu differ\n",
           (size_t)4096, (size_t)1024, F, diff);
    CHECK(diff == 0, "fixed-lag path differs from the exact path in %zu frames", diff);
    /* a short ring still gives a sane track */
    t.ring_frames = 300;
    t.lag_frames = 100;
    CHECK(ddsp_f0_track_tuned(&c, &t, v->x, v->n, f[1], cf[1], NULL) == DDSP_OK, "%s",
          ddsp_last_error());
    diff = 0;
    for (size_t i = 0; i < F; i++)
        diff += fabs(1200.0 * log2(f[0][i] / f[1][i])) > 50.0;
    printf("ring 300, lag 100: %zu frames differ by > 50 cents from the default\n", diff);
    CHECK(diff < F / 200, "short ring: %zu frames differ", diff);
    for (int k = 0; k < 4; k++)
        ddsp_free(f[k]), ddsp_free(cf[k]);
}

int main(int argc, char **argv) {
    tests_dir = argc > 1 ? argv[1] : "tests/data";
    data_dir = argc > 2 ? argv[2] : "data";
    check_config();
    check_tones();
    check_step_and_vibrato();
    check_unvoiced_and_edges();
    ddsp_audio violin = {0};
    check_recording("flute", 0.98, NULL);
    check_recording("violin", 0.98, &violin);
    if (violin.x) check_determinism(&violin);
    ddsp_audio_free(&violin);
    return tu_finish("test_f0");
}
