/* `ddsp timbre ROOT`: how a Φ's distances agree with human timbre dissimilarity on a
 * collection of listening studies, and (--fit) a Φ fitted to them. */
#include "cli/cli.h"
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp timbre ROOT [options]\n"
    "\n"
    "Does a spectral distance hear like people do? Every pair of sounds of each listening\n"
    "study in ROOT (the layout of the timbre-metrics collection: ROOT/sounds/<study>/ with\n"
    "the sounds, ROOT/true_dissim/<study>_dissimilarity_matrix.txt with the listeners' N x N\n"
    "dissimilarities) is compared by a Φ, padded with zeros to the longer sound, at the\n"
    "sounds' own sample rate. Reported per study and over all anchor sounds: Spearman and\n"
    "Kendall (tau-b) rank correlation of each anchor's row, triplet agreement (margin 0.1),\n"
    "NDCG of retrieving similar sounds, and MAE of the min-max normalised matrices, exactly\n"
    "as the collection defines them (see include/ddsp/analysis.h).\n"
    "\n"
    "options:\n"
    "  --loss TERMS            the Φ: a term list as in `ddsp loss` (mag, logmag, delta_time,\n"
    "                          delta_freq, cumsum_freq, sc, mel, logmel, loudness, scat1,\n"
    "                          scat2, mfcc; weights, bands and settings), or the preset\n"
    "                          perceptual (default mfcc)\n"
    "  --dist l1|l2|cos        each term's distance between two sounds: the L1 or L2 norm of\n"
    "                          the difference of its features, or their cosine distance (per\n"
    "                          scale for the per-scale terms); default l2 (cos with --fit),\n"
    "                          or the dist= of the term list or preset\n"
    "  --scales LIST           FFT sizes of the per-scale terms, default 2048,1024,512,256,128,64\n"
    "  --ref mss|mss_avg|mfcc_avg  instead of a Φ, a feature exactly as the collection\n"
    "                          computes it (its MSS; time averages), to check the protocol\n"
    "  --studies A,B,...       only these studies\n"
    "  --json                  print the result as one JSON object\n"
    "  --csv FILE              write the table (one row per study, then `all`) as CSV\n"
    "  --cache FILE.h5         keep the pairs' feature statistics in FILE.h5 and reuse them\n"
    "                          when it was made from the same studies and terms\n"
    "  --fit                   fit non-negative weights over the terms of --loss (default:\n"
    "                          every term but sc, with scat_j=9, as the preset perceptual was\n"
    "                          fitted) and their bands (mel-spaced bands, scattering\n"
    "                          octaves, cepstral groups) to the studies' Spearman metric, and\n"
    "                          report leave-one-study-out cross-validated Spearman (each study\n"
    "                          scored with weights fitted on the others); dist default cos\n"
    "  --fit-max N             at most N features in the fit (default 6)\n"
    "  --fit-tol X             stop when a step gains less than X (default 0.002)\n"
    "  --no-bands              fit whole terms only\n"
    "  --save FILE             write the fitted term list (usable as --loss) to FILE\n"
    "  -q, --quiet             no progress lines on stderr\n"
    "threads: OMP_NUM_THREADS (OpenMP over the pairs and inside each Φ).\n";

/* --fit's default candidates: sc is not symmetric (not fitted); scat_j=9 takes 2405
 * samples, so short sounds are not padded with silence that every other term would see */
static const char *ALL_TERMS =
    "mag,logmag,delta_time,delta_freq,cumsum_freq,mel,logmel,loudness,scat1,scat2,mfcc,scat_j=9";

/* s as a JSON string (quotes, backslashes and control characters escaped) */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_sums_json(const ddsp_timbre_sums *s) {
    printf("{\"spearman\": %.6f, \"kendall\": %.6f, \"triplet\": %.6f, \"ndcg\": %.6f, "
           "\"mae\": %.6f",
           s->spearman / (double)s->anchors, s->kendall / (double)s->anchors,
           s->triplet / (double)s->anchors, s->ndcg / (double)s->anchors,
           s->mae / (double)s->pairs);
}

static void print_row(const char *name, const ddsp_timbre_sums *s) {
    printf("%-24s %6ld %6ld %9.3f %8.3f %8.3f %7.3f %7.3f\n", name, s->anchors, s->pairs,
           s->spearman / (double)s->anchors, s->kendall / (double)s->anchors,
           s->triplet / (double)s->anchors, s->ndcg / (double)s->anchors,
           s->mae / (double)s->pairs);
}

int cmd_timbre(int argc, char **argv) {
    const char *root = NULL, *loss = NULL, *studies = NULL, *csv = NULL, *cache = NULL,
               *save = NULL, *ref = NULL, *dist_s = NULL, *fit_max_s = NULL, *fit_tol_s = NULL,
               *scales = NULL;
    int json = 0, fit = 0, quiet = 0;
    ddsp_timbre_fit_config fc;
    ddsp_timbre_fit_config_default(&fc);
    const cli_str_opt strs[] = {{"--loss", &loss},     {"--studies", &studies}, {"--csv", &csv},
                                {"--cache", &cache},   {"--save", &save},       {"--ref", &ref},
                                {"--dist", &dist_s},   {"--fit-max", &fit_max_s},
                                {"--fit-tol", &fit_tol_s}, {"--scales", &scales},
                                {NULL, NULL}};
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--fit")) {
            fit = 1;
        } else if (!strcmp(argv[i], "--no-bands")) {
            fc.bands = 0;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if ((r = cli_str_opts(argc, argv, &i, strs))) {
            if (r < 0) return EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_fail("timbre", "unknown option '%s' (see ddsp timbre --help)", argv[i]);
            return EXIT_USAGE;
        } else if (root) {
            cli_fail("timbre", "expected one ROOT folder, got a second: '%s'", argv[i]);
            return EXIT_USAGE;
        } else {
            root = argv[i];
        }
    }
    if (!root) {
        cli_fail("timbre", "expected the collection's ROOT folder (see ddsp timbre --help)");
        return EXIT_USAGE;
    }
    /* the Φ */
    ddsp_phi_config phc;
    ddsp_phi_config_default(&phc);
    ddsp_timbre_feature feature = DDSP_TIMBRE_PHI;
    if (ref && (loss || fit)) {
        cli_fail("timbre", "--ref compares a fixed feature: it takes no --loss or --fit");
        return EXIT_USAGE;
    }
    if (ref && ddsp_timbre_parse_ref(ref, &feature)) goto usage_err;
    if (!ref && ddsp_phi_parse_terms(&phc, loss ? loss : fit ? ALL_TERMS : "mfcc")) goto usage_err;
    if (dist_s) {
        if (!strcmp(dist_s, "l1") || !strcmp(dist_s, "l2")) phc.dist = dist_s[1] - '0';
        else if (!strcmp(dist_s, "cos")) phc.dist = DDSP_PHI_DIST_COS;
        else {
            cli_fail("timbre", "unknown distance '%s' (expected l1, l2 or cos)", dist_s);
            return EXIT_USAGE;
        }
    } else if (!(loss && (strstr(loss, "dist=") || ddsp_phi_preset(loss)))) {
        phc.dist = fit ? DDSP_PHI_DIST_COS : 2; /* the collection's L2; cos for a fit */
    }
    if (scales) {
        ddsp_mss_config mc;
        ddsp_mss_config_default(&mc);
        if (ref) {
            cli_fail("timbre", "--ref compares a fixed feature: it takes no --scales");
            return EXIT_USAGE;
        }
        if (ddsp_mss_parse_scales(&mc, scales)) goto usage_err;
        phc.n_scales = mc.n_scales;
        memcpy(phc.scales, mc.scales, sizeof phc.scales);
    }
    if (!ref && ddsp_phi_config_check(&phc)) goto usage_err;
    if (fit_max_s) {
        size_t v;
        if (cli_parse_size("--fit-max", fit_max_s, &v, 1, 64)) return EXIT_USAGE;
        fc.max_features = (int)v;
    }
    if (fit_tol_s && cli_parse_double("--fit-tol", fit_tol_s, &fc.tol, 0.0, 1.0)) return EXIT_USAGE;
    if ((save || fit_max_s || fit_tol_s || !fc.bands) && !fit) {
        cli_fail("timbre", "--save, --fit-max, --fit-tol and --no-bands go with --fit");
        return EXIT_USAGE;
    }

    int rc = EXIT_FAIL;
    ddsp_timbre_set set;
    ddsp_timbre_cells cells;
    ddsp_timbre_fit fr;
    memset(&cells, 0, sizeof cells);
    memset(&fr, 0, sizeof fr);
    ddsp_timbre_sums *per = NULL, all;
    double **d = NULL;
    char desc[1024];
    if (ddsp_timbre_load(&set, root, studies)) {
        cli_fail("timbre", "%s", ddsp_last_error());
        return EXIT_FAIL;
    }
    long n_sounds = 0, n_pairs = 0;
    for (int s = 0; s < set.n_studies; s++)
        n_sounds += set.study[s].n, n_pairs += (long)set.study[s].n * (set.study[s].n - 1) / 2;
    if (ref) snprintf(desc, sizeof desc, "reference %s, dist=%s", ref, phc.dist == 1 ? "l1" : phc.dist == 2 ? "l2" : "cos");
    else ddsp_phi_describe(&phc, desc, sizeof desc);
    for (int k = 0; scales && k < phc.n_scales; k++) { /* not a term list setting: said apart */
        const size_t len = strlen(desc);
        snprintf(desc + len, sizeof desc - len, "%s%d", k ? ":" : " scales=", phc.scales[k]);
    }
    if (!quiet)
        ddsp_log("timbre: %s: %d studies, %ld sounds, %ld pairs; %s", root, set.n_studies,
                 n_sounds, n_pairs, desc);
    /* pairs padded beyond the longer sound: every term of the list sees the padding, so a
     * term scores otherwise here than alone, and a fitted list without the long terms pads
     * less than the cells it was fitted on */
    const size_t min_len = ref ? 0 : ddsp_phi_min_length(&phc);
    const long padded = ddsp_timbre_padded_pairs(&set, min_len);
    if (padded && (!quiet || fit))
        ddsp_log("timbre: %ld of %ld pairs padded to %zu samples, the shortest this Φ takes "
                 "(%s): its other terms see that silence too%s",
                 padded, n_pairs, min_len,
                 phc.weight[DDSP_PHI_JTFS] > 0.0 ? "set by jtfs_j for jtfs"
                 : phc.weight[DDSP_PHI_SCAT1] > 0.0 || phc.weight[DDSP_PHI_SCAT2] > 0.0
                     ? "set by scat_j for scat1, scat2"
                     : "set by mfcc",
                 fit ? "; fit with a smaller scat_j so that a fitted list is scored as it pads"
                     : "");
    int loaded = 0;
    if (cache && (loaded = ddsp_timbre_cells_read(cache, &cells, &set, feature, &phc)) < 0) {
        cli_fail("timbre", "%s", ddsp_last_error());
        goto cleanup;
    }
    if (loaded) {
        if (!quiet) ddsp_log("timbre: features of every pair read from %s", cache);
    } else {
        if (ddsp_timbre_compute(&cells, &set, feature, &phc, !quiet)) {
            cli_fail("timbre", "%s", ddsp_last_error());
            goto cleanup;
        }
        if (cache && ddsp_timbre_cells_write(cache, &cells, &set)) {
            cli_fail("timbre", "%s", ddsp_last_error());
            goto cleanup;
        }
    }
    per = calloc((size_t)set.n_studies, sizeof *per);
    d = calloc((size_t)set.n_studies, sizeof *d);
    for (int s = 0; d && s < set.n_studies; s++)
        if (!(d[s] = malloc(sizeof(double) * cells.n_pairs[s]))) {
            free(d[s]);
            for (int q = 0; q < s; q++) free(d[q]);
            free(d);
            d = NULL;
        }
    if (!per || !d) {
        cli_fail("timbre", "out of memory");
        goto cleanup;
    }
    for (int s = 0; s < set.n_studies; s++) ddsp_timbre_distances(d[s], &cells, s, &cells.phi);
    ddsp_timbre_evaluate(per, &all, &set, d);
    if (fit && ddsp_timbre_fit_run(&fr, &cells, &set, &fc, 1, !quiet)) {
        cli_fail("timbre", "%s", ddsp_last_error());
        goto cleanup;
    }
    if (csv && ddsp_timbre_write_csv(csv, &set, per, &all, desc)) {
        cli_fail("timbre", "%s", ddsp_last_error());
        goto cleanup;
    }
    if (save) {
        if (ddsp_timbre_write_terms(save, fr.terms)) {
            cli_fail("timbre", "%s", ddsp_last_error());
            goto cleanup;
        }
    }
    if (json) {
        print_sums_json(&all);
        printf(", \"per_study\": {");
        for (int s = 0; s < set.n_studies; s++) {
            printf("%s", s ? ", " : "");
            json_str(set.study[s].name);
            printf(": ");
            print_sums_json(&per[s]);
            printf(", \"sounds\": %d, \"pairs\": %ld}", set.study[s].n, per[s].pairs);
        }
        printf("}, \"phi\": ");
        json_str(desc);
        printf(", \"sounds\": %ld, \"pairs\": %ld, \"seconds\": %.3f", n_sounds, n_pairs,
               cells.seconds);
        if (fit) {
            printf(", \"fit\": {\"terms\": \"%s\", \"train_spearman\": %.6f, \"cv_spearman\": "
                   "%.6f, \"cv_per_study\": {",
                   fr.terms, fr.train_spearman, fr.cv_overall);
            for (int s = 0; s < set.n_studies; s++) {
                printf("%s", s ? ", " : "");
                json_str(set.study[s].name);
                printf(": {\"spearman\": %.6f, \"terms\": \"%s\"}", fr.cv_spearman[s],
                       fr.cv_terms[s]);
            }
            printf("}}");
        }
        printf("}\n");
    } else {
        printf("timbre   %s: %d studies, %ld sounds, %ld pairs\n", root, set.n_studies, n_sounds,
               n_pairs);
        printf("phi      %s\n", desc);
        if (loaded) printf("time     features read from %s\n", cache);
        else
            printf("time     %.2f s for the features of every pair (%.2f ms per pair, %d threads)\n",
                   cells.seconds, 1e3 * cells.seconds / (double)n_pairs, omp_get_max_threads());
        printf("%-24s %6s %6s %9s %8s %8s %7s %7s\n", "study", "sounds", "pairs", "spearman",
               "kendall", "triplet", "ndcg", "mae");
        for (int s = 0; s < set.n_studies; s++) print_row(set.study[s].name, &per[s]);
        print_row("all (mean over anchors)", &all);
        if (fit) {
            printf("\nfit      %s over the features of %s\n",
                   phc.dist == 1 ? "l1" : phc.dist == 2 ? "l2" : "cos", desc);
            printf("%-24s %9s  %s\n", "held out", "spearman", "(term list fitted on the other studies)");
            for (int s = 0; s < set.n_studies; s++)
                printf("%-24s %9.3f  %s\n", set.study[s].name, fr.cv_spearman[s], fr.cv_terms[s]);
            printf("%-24s %9.3f  (mean over the held-out anchors)\n", "cross-validated",
                   fr.cv_overall);
            printf("%-24s %9.3f  %s\n", "fitted on all", fr.train_spearman, fr.terms);
            if (save) printf("wrote the fitted term list to %s\n", save);
        }
        if (csv) printf("wrote %s\n", csv);
    }
    rc = EXIT_OK;
cleanup:
    for (int s = 0; d && s < set.n_studies; s++) free(d[s]);
    free(d), free(per);
    ddsp_timbre_fit_free(&fr);
    ddsp_timbre_cells_free(&cells);
    ddsp_timbre_free(&set);
    ddsp_fft_cleanup();
    return rc;
usage_err:
    cli_fail("timbre", "%s", ddsp_last_error());
    return EXIT_USAGE;
}
