/* `ddsp loss TARGET ESTIMATE`: MSS loss between two audio files, optionally writing the
 * gradient and both magnitude spectrograms at every scale to HDF5. */
#include "cli/cli.h"
#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp loss TARGET ESTIMATE [options]\n"
    "\n"
    "Multi-scale spectral loss between two audio files (any format libsndfile reads;\n"
    "stereo is downmixed; both must have the same sample rate). Prints the total and the\n"
    "loss at every scale.\n"
    "\n"
    "options:\n"
    "  --loss l1log|l1|l2      loss type (default l1log: L1 on |S| + L1 on log|S|, as magenta;\n"
    "                          l2: 0.5 * sum (S_e - S_t)^2, the DDSP paper's form)\n"
    "  --loss TERM[=W],...     a spectral distance from weighted terms (weight 1 if not given):\n"
    "                          per scale: mag, logmag, delta_time, delta_freq, cumsum_freq\n"
    "                          (magenta's SpectralLoss terms), sc (spectral convergence),\n"
    "                          mel, logmel (mel-filtered magnitudes); on the whole signal:\n"
    "                          loudness (magenta's A-weighted loudness term), scat1, scat2\n"
    "                          (first/second-order time scattering; settings scat_j=12:\n"
    "                          averaging over 2^12 samples, scat_q=8 wavelets per octave),\n"
    "                          mfcc (torchaudio's MFCC: n_fft 2048, hop 512, 128 mels, 40\n"
    "                          coefficients), jtfs (joint time-frequency scattering as\n"
    "                          kymatio's TimeFrequencyScattering, format \"time\"; settings\n"
    "                          jtfs_j=12, jtfs_q1=8, jtfs_q2=2, jtfs_jfr=3, jtfs_qfr=2; needs\n"
    "                          >= 2^jtfs_j samples; ~1 s per call on 4 s at one thread);\n"
    "                          TERM.bands=u0:u1:.. weighs a term's bands;\n"
    "                          e.g. --loss mag,logmag,delta_freq=0.5. Computed in double\n"
    "                          (jtfs's second order in single precision, sums in double).\n"
    "  --loss perceptual       the preset fitted to human timbre dissimilarity (ddsp timbre)\n"
    "  --dist l1|l2|cos        the terms' distance: mean |r| (default), mean r^2, or the\n"
    "                          cosine distance of the terms' representations (not jtfs)\n"
    "  --log-mode add|magenta  log(S + 1e-5) (default) or magenta's safe_log\n"
    "  --scales LIST           FFT sizes, default 2048,1024,512,256,128,64\n"
    "  --overlap X             frame overlap, default 0.75 (hop = n * (1 - X) must be an integer)\n"
    "  --length N              use the first N samples of each file (needed when lengths differ)\n"
    "  --grad-out FILE.h5      write dL/d(estimate) and the target/estimate magnitude\n"
    "                          spectrograms at every scale to FILE.h5\n"
    "  --json                  print the result as one JSON object\n"
    "threads: OMP_NUM_THREADS.\n";

/* what was computed, for the output file and the printout */
typedef struct {
    const char *loss_type, *log_mode;
    double total, per_scale[DDSP_MSS_MAX_SCALES];
} result_t;

int cmd_loss(int argc, char **argv) {
    ddsp_mss_config cfg;
    ddsp_mss_config_default(&cfg);
    ddsp_loss_config lc; /* --loss: an MSS type or a term list */
    ddsp_loss_config_default(&lc);
    ddsp_phi_config phc;
    int dist = 0; /* --dist: 1, 2 or cos; 0 = as the term list says (default l1) */
    const char *pos[2] = {NULL, NULL}, *grad_out = NULL;
    size_t npos = 0, length = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if ((r = cli_opt(argc, argv, &i, "--loss", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (ddsp_loss_parse(&lc, v)) goto usage_err;
            cfg.type = lc.mss.type;
        } else if ((r = cli_opt(argc, argv, &i, "--dist", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (strcmp(v, "l1") && strcmp(v, "l2") && strcmp(v, "cos")) {
                cli_fail("loss", "unknown distance '%s' (expected l1, l2 or cos)", v);
                return EXIT_USAGE;
            }
            dist = !strcmp(v, "cos") ? DDSP_PHI_DIST_COS : v[1] - '0';
        } else if ((r = cli_opt(argc, argv, &i, "--log-mode", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (ddsp_mss_parse_log_mode(&cfg, v)) goto usage_err;
        } else if ((r = cli_opt(argc, argv, &i, "--scales", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (ddsp_mss_parse_scales(&cfg, v)) goto usage_err;
        } else if ((r = cli_opt(argc, argv, &i, "--overlap", &v))) {
            if (r < 0 || cli_parse_double("--overlap", v, &cfg.overlap, 0.0, 0.999)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--length", &v))) {
            if (r < 0 || cli_parse_size("--length", v, &length, 1, (size_t)1 << 34))
                return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--grad-out", &v))) {
            if (r < 0) return EXIT_USAGE;
            grad_out = v;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_fail("loss", "unknown option '%s' (see ddsp loss --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            if (npos == 2) {
                cli_fail("loss", "expected two audio files, got a third: '%s'", argv[i]);
                return EXIT_USAGE;
            }
            pos[npos++] = argv[i];
        }
    }
    if (npos != 2) {
        cli_fail("loss", "expected TARGET and ESTIMATE audio files (see ddsp loss --help)");
        return EXIT_USAGE;
    }
    if (ddsp_mss_config_check(&cfg)) goto usage_err;
    const int use_phi = lc.kind == DDSP_LOSS_TERMS;
    lc.mss = cfg;
    ddsp_loss_phi_config(&lc, &phc);
    if (use_phi) {
        if (dist) phc.dist = dist;
        if (ddsp_phi_config_check(&phc) || ddsp_phi_eval_check(&phc)) goto usage_err;
    }

    int rc = EXIT_FAIL;
    ddsp_audio ta = {0}, ea = {0};
    ddsp_mss *m = NULL;
    ddsp_phi *ph = NULL;
    float *grad = NULL;
    char desc[1024] = "";
    result_t val = {ddsp_mss_type_name(cfg.type), ddsp_mss_log_mode_name(cfg.log_mode), 0, {0}};
    double per_term[DDSP_PHI_NTERMS] = {0};
    if (use_phi) val.loss_type = ddsp_phi_describe(&phc, desc, sizeof desc), val.log_mode = "add";
    if (ddsp_audio_read(pos[0], &ta) || ddsp_audio_read(pos[1], &ea)) {
        cli_fail("loss", "%s", ddsp_last_error());
        goto cleanup;
    }
    if (ta.sample_rate != ea.sample_rate) {
        cli_fail("loss", "sample rates differ: %s is %d Hz, %s is %d Hz (resample one first)",
                 pos[0], ta.sample_rate, pos[1], ea.sample_rate);
        goto cleanup;
    }
    size_t N = ta.n;
    if (length) {
        if (ta.n < length || ea.n < length) {
            cli_fail("loss", "--length %zu is longer than %s (%zu samples)", length,
                     ta.n < length ? pos[0] : pos[1], ta.n < length ? ta.n : ea.n);
            goto cleanup;
        }
        N = length;
    } else if (ta.n != ea.n) {
        cli_fail("loss", "lengths differ: %s has %zu samples, %s has %zu (use --length N)",
                 pos[0], ta.n, pos[1], ea.n);
        goto cleanup;
    }
    phc.sample_rate = ta.sample_rate; /* mel and loudness terms */
    if (use_phi ? !(ph = ddsp_phi_init(&phc, 1, N)) : !(m = ddsp_mss_init(&cfg, 1, N))) {
        cli_fail("loss", "%s", ddsp_last_error());
        goto cleanup;
    }
    if (grad_out && !(grad = ddsp_alloc(sizeof(float) * N))) {
        cli_fail("loss", "out of memory");
        goto cleanup;
    }
    if (grad) memset(grad, 0, sizeof(float) * N); /* the gradient is added to it */
    double t0 = ddsp_now();
    if (use_phi) {
        ddsp_phi_value pv;
        ddsp_phi_eval(ph, &pv, grad, ta.x, ea.x, 1);
        val.total = pv.total;
        memcpy(val.per_scale, pv.per_scale, sizeof val.per_scale);
        memcpy(per_term, pv.per_term, sizeof per_term);
    } else {
        ddsp_mss_value mv;
        if (grad) ddsp_mss_backward(m, grad, &mv, NULL, ta.x, ea.x, 1, 1.0f);
        else ddsp_mss_forward(m, &mv, NULL, ta.x, ea.x, 1);
        val.total = mv.total;
        memcpy(val.per_scale, mv.per_scale, sizeof val.per_scale);
    }
    double dt = ddsp_now() - t0;
    if (!isfinite(val.total)) { /* never print inf/nan (not JSON), never exit 0 with it */
        cli_fail("loss", "%s vs %s: the loss is not finite (%g)", pos[0], pos[1], val.total);
        goto cleanup;
    }
    if (json) {
        printf("{\"loss\": %.9g, \"loss_type\": \"%s\", \"log_mode\": \"%s\", \"n_samples\": %zu, "
               "\"sample_rate\": %d, \"per_scale\": {",
               val.total, val.loss_type, val.log_mode, N, ta.sample_rate);
        for (int s = 0; s < cfg.n_scales; s++)
            printf("%s\"%d\": %.9g", s ? ", " : "", cfg.scales[s], val.per_scale[s]);
        printf("}");
        if (use_phi) {
            printf(", \"per_term\": {");
            for (int t = 0, first = 1; t < DDSP_PHI_NTERMS; t++)
                if (phc.weight[t] > 0.0)
                    printf("%s\"%s\": %.9g", first ? "" : ", ", ddsp_phi_term_name(t),
                           per_term[t]),
                        first = 0;
            printf("}");
        }
        printf("}\n");
    } else {
        printf("target    %s\nestimate  %s\n", pos[0], pos[1]);
        printf("samples   %zu at %d Hz (%.3f s), loss %s, log mode %s, overlap %g, %d threads\n",
               N, ta.sample_rate, (double)N / ta.sample_rate, val.loss_type, val.log_mode,
               cfg.overlap, omp_get_max_threads());
        printf("%8s %6s %8s %16s\n", "n_fft", "hop", "frames", "loss");
        for (int s = 0; s < cfg.n_scales; s++)
            printf("%8d %6d %8zu %16.9g\n", cfg.scales[s], ddsp_mss_hop(&cfg, cfg.scales[s]),
                   ddsp_stft_nframes(N, ddsp_mss_hop(&cfg, cfg.scales[s])), val.per_scale[s]);
        for (int t = 0; use_phi && t < DDSP_PHI_NTERMS; t++)
            if (phc.weight[t] > 0.0)
                printf("term %-12s (weight %g) %16.9g\n", ddsp_phi_term_name(t), phc.weight[t],
                       per_term[t]);
        printf("total loss %.9g   (%s in %.1f ms)\n", val.total,
               grad_out ? "loss + gradient" : "loss", 1e3 * dt);
    }
    if (grad_out) {
        if (ddsp_loss_file_write(grad_out, &cfg, val.loss_type, val.log_mode, val.total, val.per_scale, grad, ta.x, ea.x, N, ta.sample_rate, pos[0],
                            pos[1])) {
            cli_fail("loss", "%s", ddsp_last_error());
            goto cleanup;
        }
        if (!json) printf("wrote gradient and spectrograms to %s\n", grad_out);
    }
    rc = EXIT_OK;
cleanup:
    ddsp_free(grad);
    ddsp_mss_free(m);
    ddsp_phi_free(ph);
    ddsp_audio_free(&ta);
    ddsp_audio_free(&ea);
    ddsp_fft_cleanup();
    return rc;
usage_err:
    cli_fail("loss", "%s", ddsp_last_error());
    return EXIT_USAGE;
}
