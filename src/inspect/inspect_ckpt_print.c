/* A checkpoint's summary for people (aligned text) and scripts (one JSON object). */
#include "inspect/inspect_ckpt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ history statistics */
typedef struct {
    size_t n;
    double first, last, best, first_step, last_step, best_step;
} curve;

static curve curve_of(const insp_vec *step, const insp_vec *y) {
    curve c = {0, NAN, NAN, NAN, NAN, NAN, NAN};
    const size_t n = step->n < y->n ? step->n : y->n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y->v[i])) continue;
        if (c.n == 0)
            c.first = y->v[i], c.first_step = step->v[i], c.best = y->v[i],
            c.best_step = step->v[i];
        if (y->v[i] < c.best) c.best = y->v[i], c.best_step = step->v[i];
        c.last = y->v[i], c.last_step = step->v[i];
        c.n++;
    }
    return c;
}

static double last_finite(const insp_vec *v) {
    for (size_t i = v->n; i-- > 0;)
        if (isfinite(v->v[i])) return v->v[i];
    return NAN;
}

/* Config sections by key prefix; "run" takes the rest (free-form settings of the trainer). */
static const struct {
    const char *prefix, *title;
} SECTIONS[] = {{"model_", "model"},
                {"synth_", "synth"},
                {"loss_", "loss"},
                {"adam_", "optimiser"},
                {"", "run"}};

static int in_section(const char *key, int sec) {
    if (!strcmp(key, "ddsp_version")) return 0; /* shown at the top */
    if (SECTIONS[sec].prefix[0])
        return !strncmp(key, SECTIONS[sec].prefix, strlen(SECTIONS[sec].prefix));
    for (int i = 0; i < 4; i++)
        if (!strncmp(key, SECTIONS[i].prefix, strlen(SECTIONS[i].prefix))) return 0;
    return 1;
}

/* ------------------------------------------------------------------ text */
static void fmt_secs(char *buf, size_t cap, double s) {
    if (!isfinite(s))
        snprintf(buf, cap, "?");
    else if (s < 120)
        snprintf(buf, cap, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "%.1f min", s / 60);
    else
        snprintf(buf, cap, "%.1f h", s / 3600);
}

static void fmt_shape(char *buf, size_t cap, const insp_tensor *t) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->rank && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", i ? " x " : "",
                              (unsigned long long)t->dims[i]);
    if (t->rank == 0) snprintf(buf, cap, "scalar");
}

void insp_ckpt_print_text(FILE *o, const insp_ckpt *s) {
    fprintf(o, "checkpoint   %s\n", s->path);
    fprintf(o, "format       %s, version %lld, written by ddsp %s\n", s->format,
            s->has_format_version ? (long long)s->format_version : -1LL,
            s->version[0] ? s->version : "?");
    if (s->has_step)
        fprintf(o, "step         %lld (optimiser updates done)\n", (long long)s->step);
    else
        fprintf(o, "step         ? (no step attribute)\n");

    fprintf(o, "\nconfig\n");
    if (!s->has_config)
        fprintf(o, "  (missing)\n");
    else
        for (int sec = 0; sec < 5; sec++)
            insp_print_wrapped(o, SECTIONS[sec].title, &s->config, in_section, sec,
                               SECTIONS[sec].prefix);

    fprintf(o, "\nstate\n");
    if (!s->has_state) {
        fprintf(o, "  (missing)\n");
    } else {
        const double ep = insp_attr_num(&s->state, "epoch"),
                     pos = insp_attr_num(&s->state, "epoch_position");
        const double seed = insp_attr_num(&s->state, "seed"),
                     nr = insp_attr_num(&s->state, "n_ranks");
        fprintf(o,
                "  data order epoch %.0f, %.0f examples into it; order and noise from seed %.0f "
                "(counter-based RNG)\n",
                ep, pos, seed);
        fprintf(o, "  ranks      %.0f (global batch split across them)\n", nr);
        if (s->wisdom_f >= 0 || s->wisdom_d >= 0)
            fprintf(o, "  FFT plans  FFTW wisdom stored: %lld bytes float, %lld bytes double\n",
                    s->wisdom_f, s->wisdom_d);
        else
            fprintf(o, "  FFT plans  no FFTW wisdom stored\n");
    }
    if (s->has_opt)
        fprintf(o, "  optimiser  Adam at step %s%lld, moments m and v for %d and %d tensors\n",
                s->has_opt_step ? "" : "? ", s->has_opt_step ? (long long)s->opt_step : 0LL,
                s->opt_m, s->opt_v);
    else
        fprintf(o, "  optimiser  no /optimizer (model only: resuming restarts Adam)\n");

    fprintf(o, "\ntensors      %d tensors", s->nt);
    if (s->expected && s->expected != s->nt) fprintf(o, " (the config has %d)", s->expected);
    fprintf(o, ", %zu parameters", s->n_params);
    const double nw = insp_attr_num(&s->config, "model_n_weights");
    if (isfinite(nw))
        fprintf(o, " (%s /config model_n_weights)",
                (size_t)nw == s->n_params ? "matches" : "DIFFERS FROM");
    fprintf(o, "\n");
    int w = 4;
    for (int i = 0; i < s->nt; i++)
        if ((int)strlen(s->t[i].name) > w) w = (int)strlen(s->t[i].name);
    if (s->nt) fprintf(o, "  %-*s  %-12s %10s %12s\n", w, "name", "shape", "values", "L2 norm");
    for (int i = 0; i < s->nt; i++) {
        const insp_tensor *t = &s->t[i];
        char shape[64];
        fmt_shape(shape, sizeof shape, t);
        if (!t->readable)
            fprintf(o, "  %-*s  (unreadable)\n", w, t->name);
        else if (t->nonfinite)
            fprintf(o, "  %-*s  %-12s %10zu %12s  (%zu NaN/Inf)\n", w, t->name, shape, t->n,
                    "non-finite", t->nonfinite);
        else
            fprintf(o, "  %-*s  %-12s %10zu %12.6g\n", w, t->name, shape, t->n, t->l2);
    }

    fprintf(o, "\nloss history\n");
    if (!s->has_hist) {
        fprintf(o, "  (none)\n");
    } else {
        const curve tr = curve_of(&s->h_step, &s->h_loss), va = curve_of(&s->v_step, &s->v_loss);
        fprintf(o, "  recorded   %zu steps", s->h_step.n);
        if (s->h_step.n)
            fprintf(o, " (%.0f .. %.0f)", s->h_step.v[0], s->h_step.v[s->h_step.n - 1]);
        fprintf(o, ", %zu validations\n", s->v_step.n);
        if (tr.n)
            fprintf(o,
                    "  train      first %.6g (step %.0f), last %.6g (step %.0f), best %.6g (step "
                    "%.0f)\n",
                    tr.first, tr.first_step, tr.last, tr.last_step, tr.best, tr.best_step);
        if (va.n)
            fprintf(o,
                    "  validation first %.6g (step %.0f), last %.6g (step %.0f), best %.6g (step "
                    "%.0f)\n",
                    va.first, va.first_step, va.last, va.last_step, va.best, va.best_step);
        char el[32];
        fmt_secs(el, sizeof el, last_finite(&s->h_elapsed));
        if (s->h_step.n)
            fprintf(o,
                    "  speed      %.4g audio-s/s (mean since the run last started), elapsed %s, "
                    "last |grad| %.4g, "
                    "lr %.4g\n",
                    last_finite(&s->h_aps), el, last_finite(&s->h_gnorm), last_finite(&s->h_lr));
    }

    fprintf(o, "\ndataset_stats (training data, for timbre transfer)\n");
    if (!s->has_stats)
        fprintf(o, "  (none)\n");
    else
        insp_print_wrapped(o, "", &s->stats, NULL, 0, NULL);

    fprintf(o, "\nspectrograms ");
    if (!s->has_spec) {
        fprintf(o, "(none)\n");
    } else {
        const double sr = insp_attr_num(&s->config, "synth_sample_rate");
        fprintf(o, "%d monitoring example%s, log(|STFT| + 1e-5) at n_fft %lld, hop %lld",
                s->n_ex + s->more_ex, s->n_ex + s->more_ex == 1 ? "" : "s", (long long)s->spec_nfft,
                (long long)s->spec_hop);
        if (sr > 0 && s->spec_nfft > 0)
            fprintf(o, " (%.0f / %.0f ms)", 1e3 * s->spec_nfft / sr, 1e3 * s->spec_hop / sr);
        fprintf(o, "\n");
        for (int i = 0; i < s->n_ex; i++) {
            const insp_example *e = &s->ex[i];
            fprintf(o, "  %-10s dataset row %lld, ", e->name, (long long)e->row);
            if (!e->ok) {
                fprintf(o, "(unreadable)\n");
                continue;
            }
            fprintf(o, "%llu frames x %llu bins", (unsigned long long)e->F,
                    (unsigned long long)e->K);
            if (e->N && sr > 0) fprintf(o, ", %.2f s of audio", e->N / sr);
            fprintf(o, ", mean |target - recon| %.4g\n", e->dist);
        }
    }

    fprintf(o, "\ncheck        ");
    if (s->pr.n == 0) {
        fprintf(o, "ok: complete; loads as training would (%s, all finite)\n", s->load_msg);
    } else {
        fprintf(o, "%d problem%s\n", s->pr.n, s->pr.n == 1 ? "" : "s");
        for (int i = 0; i < s->pr.n; i++)
            fprintf(o, "  - %s\n", s->pr.v[i]);
    }
}

/* ------------------------------------------------------------------ JSON */
static void jcurve(insp_json *j, const char *key, const curve *c) {
    insp_jopen(j, key, '{');
    insp_jint(j, "n", (long long)c->n);
    insp_jnum(j, "first", c->first), insp_jnum(j, "first_step", c->first_step);
    insp_jnum(j, "last", c->last), insp_jnum(j, "last_step", c->last_step);
    insp_jnum(j, "best", c->best), insp_jnum(j, "best_step", c->best_step);
    insp_jclose(j, '}');
}

void insp_ckpt_print_json(FILE *o, const insp_ckpt *s) {
    insp_json j;
    insp_json_begin(&j, o);
    insp_jstr(&j, "file", s->path);
    insp_jstr(&j, "format", s->format);
    if (s->has_format_version)
        insp_jint(&j, "format_version", (long long)s->format_version);
    else
        insp_jnum(&j, "format_version", NAN);
    insp_jstr(&j, "ddsp_version", s->version);
    if (s->has_step)
        insp_jint(&j, "step", (long long)s->step);
    else
        insp_jnum(&j, "step", NAN);

    insp_jopen(&j, "config", '{');
    if (s->has_config)
        for (int sec = 0; sec < 5; sec++) {
            insp_jopen(&j, SECTIONS[sec].title, '{');
            for (int i = 0; i < s->config.n; i++) {
                if (!in_section(s->config.a[i].name, sec)) continue;
                insp_jattr(&j, s->config.a[i].name + strlen(SECTIONS[sec].prefix), &s->config.a[i]);
            }
            insp_jclose(&j, '}');
        }
    insp_jclose(&j, '}');

    insp_jopen(&j, "state", '{');
    for (int i = 0; i < s->state.n; i++)
        insp_jattr(&j, s->state.a[i].name, &s->state.a[i]);
    if (s->wisdom_f >= 0) insp_jint(&j, "fftw_wisdom_float_bytes", s->wisdom_f);
    if (s->wisdom_d >= 0) insp_jint(&j, "fftw_wisdom_double_bytes", s->wisdom_d);
    insp_jclose(&j, '}');

    insp_jopen(&j, "optimizer", '{');
    insp_jbool(&j, "present", s->has_opt);
    if (s->has_opt) {
        if (s->has_opt_step) insp_jint(&j, "step", (long long)s->opt_step);
        insp_jint(&j, "m_tensors", s->opt_m), insp_jint(&j, "v_tensors", s->opt_v);
    }
    insp_jclose(&j, '}');

    insp_jint(&j, "n_tensors", s->nt);
    if (s->expected) insp_jint(&j, "n_tensors_expected", s->expected);
    insp_jint(&j, "n_params", (long long)s->n_params);
    insp_jopen(&j, "tensors", '[');
    j.inline_from = j.depth + 1;
    for (int i = 0; i < s->nt; i++) {
        const insp_tensor *t = &s->t[i];
        insp_jopen(&j, NULL, '{');
        insp_jstr(&j, "name", t->name);
        insp_jopen(&j, "shape", '[');
        for (int d = 0; d < t->rank; d++)
            insp_jint(&j, NULL, (long long)t->dims[d]);
        insp_jclose(&j, ']');
        insp_jint(&j, "size", (long long)t->n);
        insp_jnum(&j, "l2", t->readable && !t->nonfinite ? t->l2 : NAN);
        insp_jint(&j, "nonfinite", (long long)t->nonfinite);
        insp_jclose(&j, '}');
    }
    j.inline_from = 99;
    insp_jclose(&j, ']');

    insp_jopen(&j, "history", '{');
    if (s->has_hist) {
        const curve tr = curve_of(&s->h_step, &s->h_loss), va = curve_of(&s->v_step, &s->v_loss);
        insp_jint(&j, "steps_recorded", (long long)s->h_step.n);
        jcurve(&j, "train_loss", &tr);
        jcurve(&j, "valid_loss", &va);
        insp_jnum(&j, "audio_s_per_s", last_finite(&s->h_aps));
        insp_jnum(&j, "elapsed_s", last_finite(&s->h_elapsed));
        insp_jnum(&j, "grad_norm_last", last_finite(&s->h_gnorm));
        insp_jnum(&j, "lr_last", last_finite(&s->h_lr));
    }
    insp_jclose(&j, '}');

    insp_jopen(&j, "dataset_stats", '{');
    for (int i = 0; i < s->stats.n; i++)
        insp_jattr(&j, s->stats.a[i].name, &s->stats.a[i]);
    insp_jclose(&j, '}');

    insp_jopen(&j, "spectrograms", '{');
    if (s->has_spec) {
        insp_jint(&j, "n_fft", (long long)s->spec_nfft);
        insp_jint(&j, "hop", (long long)s->spec_hop);
        insp_jint(&j, "n_examples", s->n_ex + s->more_ex);
        insp_jopen(&j, "examples", '[');
        j.inline_from = j.depth + 1;
        for (int i = 0; i < s->n_ex; i++) {
            const insp_example *e = &s->ex[i];
            insp_jopen(&j, NULL, '{');
            insp_jstr(&j, "name", e->name);
            insp_jint(&j, "row", (long long)e->row);
            insp_jint(&j, "frames", (long long)e->F), insp_jint(&j, "bins", (long long)e->K);
            insp_jint(&j, "samples", (long long)e->N);
            insp_jnum(&j, "mean_abs_logmag_diff", e->dist);
            insp_jclose(&j, '}');
        }
        j.inline_from = 99;
        insp_jclose(&j, ']');
    }
    insp_jclose(&j, '}');

    insp_jproblems(&j, &s->pr);
    insp_json_end(&j);
}
