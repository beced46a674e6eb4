/* `ddsp jacobian`: the singular values and vectors of ∇(Φ∘g) at the controls a model
 * produces for some audio (or at controls read from a file). */
#include "cli/cli.h"
#include "ddsp/analysis.h"
#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/infer.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp jacobian (--ckpt CKPT.h5|RUN_DIR --in AUDIO | --controls FILE.h5) --out J.h5\n"
    "                     [--frames A:B] [--rank K] [--method dense|randomized]\n"
    "                     [--scales LIST] [--seconds S]\n"
    "\n"
    "The spectral loss trains the synthesizer's controls only through the Jacobian\n"
    "J = ∇Φ(x̃)·∇g(θ) of the magnitude spectra Φ (every MSS scale) of the synthesized audio\n"
    "x̃ = g(θ). This computes J^T J exactly for the controls of frames A..B-1 (the synth's\n"
    "hand-written backward for ∇g, forward mode through the STFT for ∇Φ), all its singular\n"
    "values, the top K right singular vectors, the effective rank, and which controls lie in\n"
    "the near-null space (sigma < 1e-3 sigma_max: changes Φ cannot see).\n"
    "\n"
    "inputs:\n"
    "  --ckpt CKPT --in AUDIO  the controls the model decodes from AUDIO's f0 and loudness\n"
    "                          (the first --seconds, default 4; AUDIO at the model's rate)\n"
    "  --controls FILE.h5      datasets raw_controls (F, C) and f0_hz (F), optional\n"
    "                          noise_uniform (F * 64) (the layout of synth_ref.h5)\n"
    "options:\n"
    "  --frames A:B            the frames whose controls vary (default: 4 frames in the middle)\n"
    "  --rank K                right singular vectors to keep (default 8)\n"
    "  --method dense|randomized  dense (default): J^T J and every singular value, ranks and\n"
    "                          the near-null space (up to 20000 controls); randomized: only\n"
    "                          the top K, matrix-free (randomized SVD, 8 power\n"
    "                          iterations; up to 200000 controls, e.g. --frames 400:600)\n"
    "  --scales LIST           Φ's FFT sizes (default 2048,1024,512,256,128,64; overlap 0.75)\n"
    "  --out J.h5              output (required); `ddsp plot J.h5 --out fig.png` draws it\n";

/* "amplitude", "harmonic k", "noise band b" */
static void control_name(char *buf, size_t cap, size_t c, size_t H) {
    if (c == 0) snprintf(buf, cap, "amplitude");
    else if (c <= H) snprintf(buf, cap, "harmonic %zu", c);
    else snprintf(buf, cap, "noise band %zu", c - H - 1);
}

int cmd_jacobian(int argc, char **argv) {
    const char *ckpt = NULL, *in = NULL, *controls = NULL, *out = NULL, *frames = NULL;
    size_t rank = 8;
    double seconds = 4.0;
    ddsp_jacobian_method method = DDSP_JACOBIAN_DENSE;
    ddsp_mss_config mc;
    ddsp_mss_config_default(&mc);
    const cli_str_opt strs[] = {{"--ckpt", &ckpt}, {"--in", &in},         {"--controls", &controls},
                                {"--out", &out},   {"--frames", &frames}, {NULL, NULL}};
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((r = cli_str_opts(argc, argv, &i, strs))) {
            if (r < 0) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--rank", &v))) {
            if (r < 0 || cli_parse_size("--rank", v, &rank, 1, 100000)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--method", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (!strcmp(v, "dense")) method = DDSP_JACOBIAN_DENSE;
            else if (!strcmp(v, "randomized")) method = DDSP_JACOBIAN_RANDOMIZED;
            else {
                cli_fail("jacobian", "--method '%s': expected dense or randomized", v);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--seconds", &v))) {
            if (r < 0 || cli_parse_double("--seconds", v, &seconds, 1e-3, 600.0)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--scales", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (ddsp_mss_parse_scales(&mc, v) || ddsp_mss_config_check(&mc)) {
                cli_fail("jacobian", "%s", ddsp_last_error());
                return EXIT_USAGE;
            }
        } else {
            cli_fail("jacobian", "unknown argument '%s' (see ddsp jacobian --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!out) return cli_fail("jacobian", "--out J.h5 is required"), EXIT_USAGE;
    if (!controls == !(ckpt || in) || (!controls && (!ckpt || !in))) {
        cli_fail("jacobian", "give either --ckpt CKPT --in AUDIO, or --controls FILE.h5");
        return EXIT_USAGE;
    }
    size_t fb = 0, fe = 0;
    if (frames) {
        char tail;
        if (sscanf(frames, "%zu:%zu%c", &fb, &fe, &tail) != 2 || fe <= fb) {
            cli_fail("jacobian", "--frames '%s': expected A:B with A < B", frames);
            return EXIT_USAGE;
        }
    }
    int rc = EXIT_FAIL;
    ddsp_infer_model im = {0};
    ddsp_infer_features ft = {0};
    ddsp_audio au = {0};
    ddsp_model_acts *acts = NULL;
    float *raw = NULL, *f0 = NULL, *noise = NULL;
    ddsp_jacobian j = {0};
    ddsp_synth_config sc;
    ddsp_synth_config_default(&sc);
    size_t F = 0;
    char source[4200];
    if (controls) {
        snprintf(source, sizeof source, "controls %s", controls);
        if (ddsp_jacobian_read_controls(controls, &raw, &f0, &noise, &F, ddsp_synth_n_controls(&sc),
                          (size_t)sc.hop)) {
            cli_fail("jacobian", "%s", ddsp_last_error());
            goto done;
        }
    } else {
        snprintf(source, sizeof source, "checkpoint %s, audio %s", ckpt, in);
        if (ddsp_infer_load(&im, ckpt) || ddsp_audio_read(in, &au)) {
            cli_fail("jacobian", "%s", ddsp_last_error());
            goto done;
        }
        sc = im.m.cfg.synth;
        if (au.sample_rate != sc.sample_rate) {
            cli_fail("jacobian", "%s: %d Hz, the model runs at %d Hz (resample first)", in,
                     au.sample_rate, sc.sample_rate);
            goto done;
        }
        size_t N = au.n, want = (size_t)(seconds * sc.sample_rate);
        if (N > want) N = want;
        N -= N % (size_t)sc.hop;
        if (N < 4 * (size_t)sc.hop) {
            cli_fail("jacobian", "%s: too short (%zu samples)", in, au.n);
            goto done;
        }
        if (ddsp_infer_features_compute(&ft, au.x, N, sc.sample_rate, sc.hop)) {
            cli_fail("jacobian", "%s: %s", in, ddsp_last_error());
            goto done;
        }
        F = N / (size_t)sc.hop;
        const size_t C = ddsp_synth_n_controls(&sc);
        if (!(acts = ddsp_model_acts_init(&im.m, 1, F)) ||
            !(raw = ddsp_alloc(sizeof(float) * F * C)) || !(f0 = ddsp_alloc(sizeof(float) * F))) {
            cli_fail("jacobian", "out of memory for %zu frames", F);
            goto done;
        }
        memcpy(f0, ft.f0_hz, sizeof(float) * F);
        memcpy(raw, ddsp_model_forward(&im.m, acts, ft.f0_hz, ft.loudness_db, 1),
               sizeof(float) * F * C);
    }
    if (!noise) {
        const size_t N = F * (size_t)sc.hop;
        if (!(noise = ddsp_alloc(sizeof(float) * N))) {
            cli_fail("jacobian", "out of memory");
            goto done;
        }
        ddsp_rng_uniform(noise, N, ddsp_rng_key(0, 0, 0), 0, -1.0f, 1.0f);
    }
    if (!frames) fb = F / 2 >= 2 ? F / 2 - 2 : 0, fe = fb + 4 <= F ? fb + 4 : F;
    if (fe > F) {
        cli_fail("jacobian", "--frames %zu:%zu: the input has %zu frames", fb, fe, F);
        rc = EXIT_USAGE;
        goto done;
    }
    ddsp_log("jacobian: %s; frames %zu:%zu of %zu (%zu controls)", source, fb, fe, F,
             (fe - fb) * ddsp_synth_n_controls(&sc));
    const double t0 = ddsp_now();
    if (ddsp_jacobian_synth(&j, &sc, raw, f0, noise, F, fb, fe, mc.scales, mc.n_scales,
                            mc.overlap, rank, method)) {
        cli_fail("jacobian", "%s", ddsp_last_error());
        goto done;
    }
    printf("J: %zu spectrum bins x %zu controls (frames %zu:%zu, audio samples %zu:%zu), "
           "%.1f s\n", j.n_out, j.n_in, fb, fe, j.region[0], j.region[1], ddsp_now() - t0);
    printf("singular values%s:", j.null_share ? "" : " (top K, randomized SVD)");
    for (size_t i = 0; i < j.n_sigma && i < 8; i++) printf(" %.4g", j.sigma[i]);
    if (!j.null_share) { /* no ranks or null space without the whole spectrum */
        printf("%s\n", j.n_sigma > 8 ? " ..." : "");
        goto write;
    }
    printf(" ... %.3g (smallest)\n", j.sigma[j.n_in - 1]);
    printf("effective rank: %zu above 1e-3 sigma_max, %.1f by entropy, of %zu\n", j.rank_1e3,
           j.entropy_rank, j.n_in);
    size_t unseen = 0;
    char line[4096] = "", name[32];
    const size_t H = (size_t)sc.n_harmonics;
    for (size_t c = 0; c < j.n_controls; c++)
        if (j.null_share[c] > 0.9) {
            control_name(name, sizeof name, c, H);
            if (unseen < 12) {
                strcat(line, unseen ? ", " : "");
                strcat(line, name);
            }
            unseen++;
        }
    printf("controls Φ does not see (>90%% in the near-null space): %zu of %zu%s%s%s\n", unseen,
           j.n_controls, unseen ? ": " : "", line, unseen > 12 ? ", ..." : "");
write:
    if (ddsp_jacobian_write(out, &j, fb, fe, source)) {
        cli_fail("jacobian", "%s", ddsp_last_error());
        goto done;
    }
    printf("wrote %s\n", out);
    rc = EXIT_OK;
done:
    ddsp_jacobian_free(&j);
    ddsp_model_acts_free(acts);
    ddsp_infer_features_free(&ft);
    ddsp_infer_free(&im);
    ddsp_audio_free(&au);
    ddsp_free(raw), ddsp_free(f0), ddsp_free(noise);
    ddsp_fft_cleanup();
    return rc;
}
