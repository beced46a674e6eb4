/* `ddsp resynth`: any audio through a trained model (timbre transfer): f0 and loudness of
 * the input, optional shifts / magenta's auto-adjust, then decoder + synthesizer in chunks
 * (ddsp/infer.h), written at the input's sample rate and length. */
#include "cli/cli.h"
#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/infer.h"
#include "ddsp/util.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp resynth --ckpt CKPT.h5|RUN_DIR --in AUDIO --out OUT.wav [options]\n"
    "\n"
    "Resynthesise any audio (any length, sample rate and channel count; speech or another\n"
    "instrument) with a trained model: f0 and loudness are extracted from the input (at the\n"
    "model's rate), optionally adjusted, and fed to the decoder and synthesizer. The output\n"
    "is a 32-bit float WAV with the input's sample rate and number of samples (resampled\n"
    "back from the model's rate; --model-rate keeps the model's rate).\n"
    "\n"
    "options:\n"
    "  --ckpt PATH            checkpoint file, or a run folder (its newest checkpoint)\n"
    "  --in AUDIO             input audio (any format libsndfile reads; stereo is averaged)\n"
    "  --out OUT.wav          output file (written under a temporary name, then renamed)\n"
    "  --pitch-shift ST       shift f0 by ST semitones (after --auto-adjust; default 0)\n"
    "  --loudness-shift DB    add DB to the loudness (after --auto-adjust; default 0)\n"
    "  --auto-adjust          magenta's timbre-transfer adjustment toward the training data:\n"
    "                         whole octaves toward its mean pitch, note-on loudness matched to\n"
    "                         its mean and spread, note-off frames turned down by up to\n"
    "                         --quiet dB, harmonic part muted where confidence < threshold\n"
    "  --conf-threshold X     mute the harmonic part on frames whose f0 confidence is below X\n"
    "                         (default 0.85 with --auto-adjust, otherwise off; 0 = off)\n"
    "  --quiet DB             note-off attenuation of --auto-adjust (default 20)\n"
    "  --harmonic-only        write only the harmonic part (reverb, if trained, applies)\n"
    "  --noise-only           write only the filtered-noise part\n"
    "  --seed S               noise seed (default: the run's seed)\n"
    "  --chunk-secs X         decoder/synth chunk length (default 2; memory is O(chunk), the\n"
    "                         output does not depend on it)\n"
    "  --model-rate           write at the model's sample rate instead of the input's\n"
    "Features are computed over the whole input (the f0 tracker's voicing is smoothed over the\n"
    "file); the input, its features and the output are held in memory (about 12 bytes per\n"
    "sample at the model's rate plus the file itself), the model's work is per chunk.\n"
    "threads: OMP_NUM_THREADS. exit status: 0 done, 1 bad input, 2 usage error.\n";

typedef struct {
    const char *ckpt, *in, *out;
    ddsp_adjust_config adj;
    int set_threshold, model_rate, set_seed;
    ddsp_parts parts;
    uint64_t seed;
    double chunk_secs;
} resynth_args;

static int parse(int argc, char **argv, resynth_args *a) {
    memset(a, 0, sizeof *a);
    ddsp_adjust_config_default(&a->adj);
    a->chunk_secs = 2.0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v;
        int r;
        size_t z;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(HELP, stdout);
            return 1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
#define NEED                                                                                       \
    if (r < 0) return -1
        if (OPT("--ckpt")) {
            NEED;
            a->ckpt = v;
        } else if (OPT("--in")) {
            NEED;
            a->in = v;
        } else if (OPT("--out")) {
            NEED;
            a->out = v;
        } else if (OPT("--pitch-shift")) {
            NEED;
            if (cli_parse_double(o, v, &a->adj.pitch_shift, -96.0, 96.0)) return -1;
        } else if (OPT("--loudness-shift")) {
            NEED;
            if (cli_parse_double(o, v, &a->adj.loudness_shift, -120.0, 120.0)) return -1;
        } else if (OPT("--conf-threshold")) {
            NEED;
            if (cli_parse_double(o, v, &a->adj.conf_threshold, 0.0, 1.0)) return -1;
            a->set_threshold = 1;
        } else if (OPT("--quiet")) {
            NEED;
            if (cli_parse_double(o, v, &a->adj.quiet_db, 0.0, 120.0)) return -1;
        } else if (OPT("--seed")) {
            NEED;
            if (cli_parse_size(o, v, &z, 0, SIZE_MAX)) return -1;
            a->seed = z, a->set_seed = 1;
        } else if (OPT("--chunk-secs")) {
            NEED;
            if (cli_parse_double(o, v, &a->chunk_secs, 1e-3, 3600.0)) return -1;
        } else if (!strcmp(o, "--auto-adjust")) {
            a->adj.auto_adjust = 1;
        } else if (!strcmp(o, "--harmonic-only") || !strcmp(o, "--noise-only")) {
            const ddsp_parts p = o[2] == 'h' ? DDSP_PARTS_HARMONIC : DDSP_PARTS_NOISE;
            if (a->parts != DDSP_PARTS_ALL && a->parts != p) {
                cli_fail("resynth", "--harmonic-only and --noise-only exclude each other");
                return -1;
            }
            a->parts = p;
        } else if (!strcmp(o, "--model-rate")) {
            a->model_rate = 1;
        } else if (o[0] == '-' && o[1] == '-') {
            cli_fail("resynth", "unknown option '%s' (see ddsp resynth --help)", o);
            return -1;
        } else {
            cli_fail("resynth", "unexpected argument '%s' (use --in AUDIO)", o);
            return -1;
        }
#undef OPT
#undef NEED
    }
    if (!a->ckpt || !a->in || !a->out) {
        cli_fail("resynth", "--ckpt, --in and --out are required (see ddsp resynth --help)");
        return -1;
    }
    if (!isfinite(a->adj.pitch_shift) || fabs(a->adj.pitch_shift) > 48.0) {
        cli_fail("resynth", "--pitch-shift %g not in -48..48 semitones", a->adj.pitch_shift);
        return -1;
    }
    if (!isfinite(a->adj.loudness_shift) || fabs(a->adj.loudness_shift) > 120.0) {
        cli_fail("resynth", "--loudness-shift %g not in -120..120 dB", a->adj.loudness_shift);
        return -1;
    }
    if (!(a->adj.conf_threshold >= 0.0 && a->adj.conf_threshold <= 1.0)) {
        cli_fail("resynth", "--conf-threshold %g not in 0..1", a->adj.conf_threshold);
        return -1;
    }
    if (!(a->adj.quiet_db >= 0.0 && a->adj.quiet_db <= 120.0)) {
        cli_fail("resynth", "--quiet %g not in 0..120 dB", a->adj.quiet_db);
        return -1;
    }
    if (!(a->chunk_secs > 0.0 && a->chunk_secs <= 3600.0)) {
        cli_fail("resynth", "--chunk-secs %g not in (0, 3600]", a->chunk_secs);
        return -1;
    }
    if (a->adj.auto_adjust && !a->set_threshold) a->adj.conf_threshold = 0.85;
    return 0;
}

/* Fail early (before minutes of work) when the output's folder is missing or read-only. */
static int check_out_dir(const char *out) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK) != 0) return ddsp_error("%s: cannot write to folder %s", out, dir);
    return DDSP_OK;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median f0 of the frames with confidence >= 0.5 (NaN if none) and their share. */
static double median_f0(const ddsp_infer_features *ft, double *conf_share) {
    size_t n = 0;
    float *v = malloc(sizeof(float) * ft->F);
    *conf_share = 0.0;
    if (!v) return NAN;
    for (size_t i = 0; i < ft->F; i++)
        if (ft->conf[i] >= 0.5f) v[n++] = ft->f0_hz[i];
    *conf_share = (double)n / (double)ft->F;
    qsort(v, n, sizeof *v, cmp_float);
    const double med = n ? v[n / 2] : NAN;
    free(v);
    return med;
}

int cmd_resynth(int argc, char **argv) {
    resynth_args a;
    const int pr = parse(argc, argv, &a);
    if (pr) return pr > 0 ? EXIT_OK : EXIT_USAGE;

    int rc = EXIT_FAIL;
    ddsp_infer_model im;
    ddsp_audio in = {0}, outa = {0};
    ddsp_infer_features ft = {0};
    ddsp_resynth *rs = NULL;
    float *gain = NULL;
    memset(&im, 0, sizeof im);

    if (check_out_dir(a.out) || ddsp_infer_load(&im, a.ckpt)) goto fail;
    const ddsp_synth_config *sc = &im.m.cfg.synth;
    const int msr = sc->sample_rate, hop = sc->hop;
    if (a.adj.auto_adjust && !im.has_stats) {
        ddsp_error("%s: --auto-adjust needs the training data statistics (/dataset_stats), which "
                   "this checkpoint lacks (written by an older ddsp train?)",
                   im.path);
        goto fail;
    }
    a.adj.min_db = -im.m.cfg.ld_range;
    printf("checkpoint %s (step %lld, hidden %d, GRU %d, %d Hz, hop %d, reverb %s)\n", im.path,
           (long long)im.step, im.m.cfg.hidden, im.m.cfg.gru_units, msr, hop,
           sc->reverb ? "on" : "off");

    const double t0 = ddsp_now();
    if (ddsp_audio_read(a.in, &in)) goto fail;
    const size_t n_in = in.n;
    const int sr_in = in.sample_rate, ch_in = in.channels;
    if (ddsp_audio_resample(&in, msr, a.in)) goto fail;
    if (in.n == 0) {
        ddsp_error("%s: too short (%zu samples at %d Hz is less than one sample at %d Hz)", a.in,
                   n_in, sr_in, msr);
        goto fail;
    }
    const size_t N = in.n;
    if (ddsp_infer_features_compute(&ft, in.x, N, msr, hop)) {
        char why[512];
        snprintf(why, sizeof why, "%s", ddsp_last_error());
        ddsp_error("%s: %s", a.in, why);
        goto fail;
    }
    const double t_feat = ddsp_now() - t0;
    double voiced = 0.0, lmean = 0.0;
    const double f0_med = median_f0(&ft, &voiced);
    for (size_t i = 0; i < ft.F; i++)
        lmean += ft.loudness_db[i];
    lmean /= (double)ft.F;
    printf("input      %s: %d Hz, %d channel(s), %.3f s (%zu samples) -> %zu samples at %d Hz, "
           "%zu frames\n",
           a.in, sr_in, ch_in, (double)n_in / sr_in, n_in, N, msr, ft.F);
    if (isfinite(f0_med))
        printf("features   f0 median %.1f Hz on the %.0f%% of frames with confidence >= 0.5, "
               "loudness mean %.1f dB (%.2f s)\n",
               f0_med, 100.0 * voiced, lmean, t_feat);
    else
        printf("features   no voiced frame (no f0 confidence >= 0.5: silence or noise?), "
               "loudness mean %.1f dB (%.2f s)\n",
               lmean, t_feat);

    if (!(gain = malloc(sizeof(float) * ft.F))) {
        ddsp_error("out of memory");
        goto fail;
    }
    ddsp_adjust_report rep;
    if (ddsp_infer_adjust(&a.adj, im.has_stats ? &im.stats : NULL, &ft, gain, &rep)) goto fail;
    if (a.adj.auto_adjust) {
        if (rep.no_voiced_stats)
            ddsp_log("warning: %s was trained on data without voiced frames (voiced fraction "
                     "%g): --auto-adjust has no pitch to move toward; pitch and note-on loudness "
                     "left as they are", im.path, im.stats.voiced_fraction);
        else if (rep.n_on == 0)
            printf("adjust     auto: no notes detected, pitch and loudness left as they are\n");
        else
            printf("adjust     auto: %zu note-on frames; pitch %+.0f octave(s) (input mean MIDI "
                   "%.1f, training %.1f); note-on loudness %.1f +- %.1f dB -> %.1f +- %.1f dB\n",
                   rep.n_on, rep.octaves, rep.in_pitch_mean, im.stats.f0_midi_mean, rep.in_ld_mean,
                   rep.in_ld_std, im.stats.loudness_db_mean_voiced, rep.ld_gain * rep.in_ld_std);
    }
    if (a.adj.pitch_shift != 0.0 || a.adj.loudness_shift != 0.0)
        printf("adjust     pitch %+g semitones, loudness %+g dB\n", a.adj.pitch_shift,
               a.adj.loudness_shift);
    if (a.adj.conf_threshold > 0.0)
        printf("adjust     harmonic part muted on %zu of %zu frames (f0 confidence < %g)\n",
               rep.n_muted, ft.F, a.adj.conf_threshold);

    const uint64_t seed = a.set_seed ? a.seed : im.seed;
    const size_t chunk = (size_t)fmax(1.0, round(a.chunk_secs * msr / hop));
    ddsp_resynth_config rcfg = {.chunk_frames = chunk < ft.F ? chunk : ft.F,
                                .parts = a.parts,
                                .noise_key = ddsp_rng_key(seed, 0x5E57, 0)};
    if (!(rs = ddsp_resynth_init(&im.m, &rcfg))) goto fail;
    size_t ctx_after, ctx_before = ddsp_resynth_context(rs, &ctx_after);
    if (!(outa.x = ddsp_alloc(sizeof(float) * N))) {
        ddsp_error("out of memory for %zu output samples", N);
        goto fail;
    }
    outa.n = N, outa.sample_rate = msr, outa.channels = 1;
    const double t1 = ddsp_now();
    ddsp_resynth_run(rs, outa.x, N, ft.f0_hz, ft.loudness_db,
                     a.adj.conf_threshold > 0 ? gain : NULL);
    const double t_syn = ddsp_now() - t1;
    static const char *const part_names[3] = {"harmonic + noise", "harmonic only", "noise only"};
    printf("synth      %s, chunks of %zu frames (%.2f s; +%zu/%zu context frames), noise seed "
           "%llu, %.2f s (%.0fx real time, %d threads)\n",
           part_names[a.parts], rcfg.chunk_frames, (double)rcfg.chunk_frames * hop / msr,
           ctx_before, ctx_after, (unsigned long long)seed, t_syn,
           (double)N / msr / fmax(t_syn, 1e-9), omp_get_max_threads());

    /* back to the input's rate and exact length */
    if (!a.model_rate && sr_in != msr) {
        if (ddsp_audio_resample(&outa, sr_in, a.out)) goto fail;
        if (outa.n != n_in) {
            float *y = ddsp_alloc(sizeof(float) * n_in);
            if (!y) {
                ddsp_error("out of memory");
                goto fail;
            }
            memcpy(y, outa.x, sizeof(float) * (outa.n < n_in ? outa.n : n_in));
            ddsp_free(outa.x);
            outa.x = y, outa.n = n_in;
        }
    }
    double pk = 0.0;
    for (size_t i = 0; i < outa.n; i++)
        pk = fmax(pk, fabs(outa.x[i]));
    if (ddsp_audio_write(a.out, outa.x, outa.n, outa.sample_rate)) goto fail; /* atomic */
    printf("wrote      %s: %zu samples at %d Hz (%.3f s), peak %.3f%s\n", a.out, outa.n,
           outa.sample_rate, (double)outa.n / outa.sample_rate, pk,
           pk > 1.0 ? " (above full scale: lower with --loudness-shift)" : "");
    rc = EXIT_OK;
    goto cleanup;
fail:
    cli_fail("resynth", "%s", ddsp_last_error());
cleanup:
    free(gain);
    ddsp_resynth_free(rs);
    ddsp_infer_features_free(&ft);
    ddsp_audio_free(&in);
    ddsp_audio_free(&outa);
    ddsp_infer_free(&im);
    ddsp_fft_cleanup();
    return rc;
}
