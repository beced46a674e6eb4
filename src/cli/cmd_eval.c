/* `ddsp eval`: the metrics magenta reports for a trained model on a dataset — MSS loss (the
 * checkpoint's loss settings), loudness L1, f0 L1 in cents and raw pitch accuracy — per
 * example and averaged, as a table, JSON or CSV. */
#include "cli/cli.h"
#include "ddsp/ckpt.h"
#include "ddsp/data.h"
#include "ddsp/dsp.h"
#include "ddsp/infer.h"
#include "ddsp/train.h"
#include "ddsp/util.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp eval --ckpt CKPT.h5|RUN_DIR --data DATASET.h5 [options]\n"
    "\n"
    "Resynthesise every example of a split from its dataset features (f0, loudness) and\n"
    "report, per example and averaged over examples:\n"
    "  mss          the loss the model was trained with (MSS or Φ terms; another with --loss;\n"
    "               the noise is the one training's validation uses, so on the validation\n"
    "               split the mean equals the validation loss training recorded at that step)\n"
    "  ld_l1_db     mean |loudness(resynthesis) - loudness(dataset)| over all frames, dB\n"
    "  f0_l1_cents  mean |f0(resynthesis) - f0(dataset)| in cents, f0 re-extracted with our\n"
    "               tracker, on frames where the dataset's f0 confidence >= the threshold\n"
    "  rpa          raw pitch accuracy: share of those frames within 50 cents\n"
    "Examples without a confident frame have no f0 metrics (\"-\", null) and are left out of\n"
    "those means.\n"
    "\n"
    "options:\n"
    "  --ckpt PATH           checkpoint file, or a run folder (its newest checkpoint)\n"
    "  --data FILE.h5        dataset made by `ddsp prepare` (the model's sample rate and hop)\n"
    "  --split valid|train|all   examples to evaluate (default valid)\n"
    "  --conf-threshold X    f0 confidence threshold (default 0.85, magenta's)\n"
    "  --batch B             examples per decoder/synth batch (default 4)\n"
    "  --loss L              the distance of the mss column: l1log|l1|l2 or a term list\n"
    "                        such as perceptual (the checkpoint's scales and overlap)\n"
    "  --json                print one JSON object on stdout instead of the table\n"
    "  --csv FILE            also write the per-example rows (and the mean) to FILE\n"
    "threads: OMP_NUM_THREADS. exit status: 0 done, 1 bad input, 2 usage error.\n";

typedef struct {
    const char *ckpt, *data, *split, *csv, *loss;
    double conf_threshold;
    size_t batch;
    int json;
} eval_args;

static int parse(int argc, char **argv, eval_args *a) {
    memset(a, 0, sizeof *a);
    a->split = "valid", a->conf_threshold = DDSP_EVAL_CONF_THRESHOLD, a->batch = 4;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v;
        int r;
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
        } else if (OPT("--data")) {
            NEED;
            a->data = v;
        } else if (OPT("--split")) {
            NEED;
            a->split = v;
        } else if (OPT("--csv")) {
            NEED;
            a->csv = v;
        } else if (OPT("--conf-threshold")) {
            NEED;
            if (cli_parse_double(o, v, &a->conf_threshold, 0.0, 1.0)) return -1;
        } else if (OPT("--batch")) {
            NEED;
            if (cli_parse_size(o, v, &a->batch, 1, 256)) return -1;
        } else if (OPT("--loss")) {
            NEED;
            a->loss = v;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (o[0] == '-' && o[1] == '-') {
            cli_fail("eval", "unknown option '%s' (see ddsp eval --help)", o);
            return -1;
        } else {
            cli_fail("eval", "unexpected argument '%s' (use --ckpt and --data)", o);
            return -1;
        }
#undef OPT
#undef NEED
    }
    if (!a->ckpt || !a->data) {
        cli_fail("eval", "--ckpt and --data are required (see ddsp eval --help)");
        return -1;
    }
    if (strcmp(a->split, "valid") && strcmp(a->split, "train") && strcmp(a->split, "all")) {
        cli_fail("eval", "unknown split '%s' (valid|train|all)", a->split);
        return -1;
    }
    return 0;
}

typedef struct {
    int64_t example;
    int valid; /* split of the example */
    double mss;
    ddsp_eval_metrics m;
} row_t;

static void fmt_num(char *buf, size_t cap, const char *fmt, double v) {
    if (isfinite(v))
        snprintf(buf, cap, fmt, v);
    else
        snprintf(buf, cap, "-");
}

int cmd_eval(int argc, char **argv) {
    eval_args a;
    const int pr = parse(argc, argv, &a);
    if (pr) return pr > 0 ? EXIT_OK : EXIT_USAGE;

    int rc = EXIT_FAIL, ds_open = 0;
    ddsp_infer_model im;
    ddsp_dataset ds;
    ddsp_trainer *tr = NULL;
    ddsp_loss *mss = NULL;
    char lname[1024] = "";
    float *y = NULL, *audio = NULL, *f0 = NULL, *ld = NULL, *conf = NULL;
    int64_t *ids = NULL, *sel = NULL;
    row_t *rows = NULL;
    ddsp_ckpt_history hist;
    memset(&im, 0, sizeof im);
    memset(&ds, 0, sizeof ds);
    memset(&hist, 0, sizeof hist);
    FILE *csv = NULL;
    char csv_tmp[PATH_MAX] = "";

    if (ddsp_infer_load(&im, a.ckpt)) goto fail;
    if (ddsp_dataset_open(a.data, &ds)) goto fail;
    ds_open = 1;
    if (ds.sample_rate != im.m.cfg.synth.sample_rate || ds.hop != im.m.cfg.synth.hop) {
        ddsp_error("%s: dataset is %d Hz with hop %d; the model (%s) runs at %d Hz, hop %d", a.data,
                   ds.sample_rate, ds.hop, im.path, im.m.cfg.synth.sample_rate, im.m.cfg.synth.hop);
        goto fail;
    }
    /* the examples: validation and/or training split, in dataset order */
    size_t n = 0;
    if (ddsp_dataset_select(&ds, a.split, &sel, &n)) goto fail;
    if (n == 0) {
        ddsp_error("%s: no %s examples (it has %lld train and %lld validation; try --split %s)",
                   a.data, !strcmp(a.split, "valid") ? "validation" : a.split,
                   (long long)ds.n_train, (long long)ds.n_valid,
                   !strcmp(a.split, "valid") ? "train" : "all");
        goto fail;
    }
    /* the CSV goes to a temporary beside it, published when complete */
    if (a.csv && (ddsp_tmp_name(csv_tmp, sizeof csv_tmp, a.csv) || !(csv = fopen(csv_tmp, "w")))) {
        if (csv_tmp[0]) ddsp_error("%s: cannot write (%s)", a.csv, strerror(errno));
        csv_tmp[0] = '\0';
        goto fail;
    }
    if (csv) ddsp_tmp_track(csv_tmp);
    const size_t B = a.batch < n ? a.batch : n, T = (size_t)ds.T, F = (size_t)ds.F;
    tr = ddsp_trainer_init(&im.m, &im.loss, B, F);
    ddsp_loss_config lcfg = im.loss; /* the model's loss, or --loss on its scales */
    if (tr && a.loss && ddsp_loss_parse(&lcfg, a.loss)) goto fail;
    lcfg.phi.sample_rate = ds.sample_rate;
    ddsp_loss_describe(&lcfg, lname, sizeof lname);
    mss = tr ? ddsp_loss_init(&lcfg, 1, T) : NULL;
    audio = ddsp_alloc(sizeof(float) * B * T), y = ddsp_alloc(sizeof(float) * B * T);
    f0 = ddsp_alloc(sizeof(float) * B * F), ld = ddsp_alloc(sizeof(float) * B * F);
    conf = ddsp_alloc(sizeof(float) * F);
    ids = malloc(sizeof(int64_t) * B);
    rows = calloc(n, sizeof *rows);
    if (!tr || !mss || !audio || !y || !f0 || !ld || !conf || !ids || !rows) {
        if (!ddsp_last_error()[0]) ddsp_error("out of memory");
        goto fail;
    }
    ddsp_f0_config fc;
    ddsp_loudness_config lc;
    ddsp_dataset_feature_config(&ds, &fc, &lc);
    if (ddsp_f0_config_check(&fc) || ddsp_loudness_config_check(&lc)) goto fail;

    const double t0 = ddsp_now();
    for (size_t k0 = 0; k0 < n; k0 += B) {
        const size_t nb = k0 + B <= n ? B : n - k0;
        for (size_t b = 0; b < nb; b++) {
            ids[b] = sel[k0 + b];
            if (ddsp_dataset_read(&ds, ids[b], audio + b * T, f0 + b * F, ld + b * F)) goto fail;
        }
        /* the batch through decoder + synth with training's validation noise (seed, step
         * UINT64_MAX, example id), then each example's loss and feature metrics */
        ddsp_trainer_synthesize(tr, y, f0, ld, ids, nb, im.seed, UINT64_MAX, 0);
        for (size_t b = 0; b < nb; b++) {
            row_t *r = &rows[k0 + b];
            ddsp_mss_value v;
            ddsp_loss_eval(mss, &v, NULL, 1.0f, audio + b * T, y + b * T, 1);
            r->mss = v.total;
            r->example = ids[b];
            for (int64_t j = 0; j < ds.n_valid; j++)
                r->valid |= ds.valid[j] == ids[b];
            if (ddsp_dataset_read_confidence(&ds, ids[b], conf) ||
                ddsp_eval_features(&r->m, y + b * T, T, f0 + b * F, conf, ld + b * F, F, &fc, &lc,
                                   a.conf_threshold))
                goto fail;
        }
    }
    const double dt = ddsp_now() - t0;

    /* means over examples (f0 metrics over examples that have confident frames) */
    double mean[4] = {0, 0, 0, 0};
    size_t nf0 = 0;
    for (size_t k = 0; k < n; k++) {
        mean[0] += rows[k].mss, mean[1] += rows[k].m.loudness_l1_db;
        if (rows[k].m.n_conf) mean[2] += rows[k].m.f0_l1_cents, mean[3] += rows[k].m.rpa, nf0++;
    }
    mean[0] /= (double)n, mean[1] /= (double)n;
    mean[2] = nf0 ? mean[2] / (double)nf0 : NAN, mean[3] = nf0 ? mean[3] / (double)nf0 : NAN;

    /* what training recorded at this step, for comparison (validation split only) */
    double recorded = NAN;
    if (!strcmp(a.split, "valid")) {
        ddsp_model tmpm;
        if (ddsp_ckpt_read(im.path, &tmpm, NULL, NULL, &hist, NULL, 0) == DDSP_OK) {
            for (int64_t j = 0; j < hist.nv; j++)
                if (hist.valid_step[j] == im.step) recorded = hist.valid_loss[j];
            ddsp_model_free(&tmpm);
        }
    }

    if (a.json) {
        printf("{\"checkpoint\": ");
        cli_json_str(stdout, im.path);
        printf(", \"step\": %lld, \"dataset\": ", (long long)im.step);
        cli_json_str(stdout, a.data);
        printf(", \"split\": \"%s\", \"n_examples\": %zu, \"loss_type\": \"%s\", "
               "\"conf_threshold\": %g, \"rpa_tolerance_cents\": 50, ",
               a.split, n, lname, a.conf_threshold);
        if (isfinite(recorded)) cli_json_num(stdout, "recorded_valid_loss", recorded, ", ");
        printf("\"mean\": {");
        cli_json_num(stdout, "mss", mean[0], ", ");
        cli_json_num(stdout, "loudness_l1_db", mean[1], ", ");
        cli_json_num(stdout, "f0_l1_cents", mean[2], ", ");
        cli_json_num(stdout, "rpa", mean[3], "");
        printf("}, \"examples\": [");
        for (size_t k = 0; k < n; k++) {
            printf("%s{\"example\": %lld, \"split\": \"%s\", ", k ? ", " : "",
                   (long long)rows[k].example, rows[k].valid ? "valid" : "train");
            cli_json_num(stdout, "mss", rows[k].mss, ", ");
            cli_json_num(stdout, "loudness_l1_db", rows[k].m.loudness_l1_db, ", ");
            cli_json_num(stdout, "f0_l1_cents", rows[k].m.f0_l1_cents, ", ");
            cli_json_num(stdout, "rpa", rows[k].m.rpa, ", ");
            printf("\"conf_frames\": %zu, \"frames\": %zu}", rows[k].m.n_conf, rows[k].m.n_frames);
        }
        printf("]}\n");
    } else {
        printf("checkpoint %s (step %lld, hidden %d, GRU %d)\n", im.path, (long long)im.step,
               im.m.cfg.hidden, im.m.cfg.gru_units);
        printf("dataset    %s: %zu %s example(s) of %.2f s\n", a.data, n,
               !strcmp(a.split, "valid")   ? "validation"
               : !strcmp(a.split, "train") ? "training"
                                           : "train + validation",
               (double)T / ds.sample_rate);
        printf("metrics    mss: %s, %d scales; ld_l1_db: all frames; f0_l1_cents, rpa "
               "(50 cents): frames with dataset f0 confidence >= %g\n",
               lname, im.loss.mss.n_scales, a.conf_threshold);
        printf("%8s %6s %10s %9s %12s %7s %12s\n", "example", "split", "mss", "ld_l1_db",
               "f0_l1_cents", "rpa", "conf_frames");
        char c1[32], c2[32];
        for (size_t k = 0; k < n; k++) {
            fmt_num(c1, sizeof c1, "%.2f", rows[k].m.f0_l1_cents);
            fmt_num(c2, sizeof c2, "%.3f", rows[k].m.rpa);
            printf("%8lld %6s %10.4f %9.3f %12s %7s %12zu\n", (long long)rows[k].example,
                   rows[k].valid ? "valid" : "train", rows[k].mss, rows[k].m.loudness_l1_db, c1, c2,
                   rows[k].m.n_conf);
        }
        fmt_num(c1, sizeof c1, "%.2f", mean[2]);
        fmt_num(c2, sizeof c2, "%.3f", mean[3]);
        printf("%8s %6s %10.4f %9.3f %12s %7s\n", "mean", "", mean[0], mean[1], c1, c2);
        if (isfinite(recorded))
            printf("training recorded validation loss %.4f at step %lld\n", recorded,
                   (long long)im.step);
        printf("(%zu examples in %.2f s, %d threads)\n", n, dt, omp_get_max_threads());
    }
    if (csv) {
        fprintf(csv, "example,split,mss,loudness_l1_db,f0_l1_cents,rpa,conf_frames,frames\n");
        /* a metric with no value (no confident frame) is an empty field, as the table's "-" */
        char v[4][32];
#define CSV_NUM(i, x) (isfinite(x) ? snprintf(v[i], sizeof v[i], "%.9g", (x)) : (v[i][0] = 0, 0))
        for (size_t k = 0; k < n; k++) {
            CSV_NUM(0, rows[k].mss), CSV_NUM(1, rows[k].m.loudness_l1_db);
            CSV_NUM(2, rows[k].m.f0_l1_cents), CSV_NUM(3, rows[k].m.rpa);
            fprintf(csv, "%lld,%s,%s,%s,%s,%s,%zu,%zu\n", (long long)rows[k].example,
                    rows[k].valid ? "valid" : "train", v[0], v[1], v[2], v[3], rows[k].m.n_conf,
                    rows[k].m.n_frames);
        }
        CSV_NUM(0, mean[0]), CSV_NUM(1, mean[1]), CSV_NUM(2, mean[2]), CSV_NUM(3, mean[3]);
#undef CSV_NUM
        fprintf(csv, "mean,%s,%s,%s,%s,%s,,\n", a.split, v[0], v[1], v[2], v[3]);
        const int bad = ferror(csv);
        if (fclose(csv) != 0 || bad) {
            csv = NULL;
            ddsp_error("%s: error writing (%s)", a.csv, strerror(errno));
            goto fail;
        }
        csv = NULL;
        if (ddsp_tmp_publish(csv_tmp, a.csv, 1)) {
            csv_tmp[0] = '\0';
            goto fail;
        }
        csv_tmp[0] = '\0';
        if (!a.json) printf("wrote %s\n", a.csv);
    }
    rc = EXIT_OK;
    goto cleanup;
fail:
    if (a.json) { /* scripts still get one JSON object */
        printf("{\"ok\": false, \"error\": ");
        cli_json_str(stdout, ddsp_last_error());
        printf("}\n");
    }
    cli_fail("eval", "%s", ddsp_last_error());
cleanup:
    if (csv) fclose(csv);
    if (csv_tmp[0]) {
        unlink(csv_tmp);
        ddsp_tmp_forget(csv_tmp);
    }
    ddsp_ckpt_history_free(&hist);
    free(rows), free(ids), free(sel);
    ddsp_free(y), ddsp_free(audio), ddsp_free(f0), ddsp_free(ld), ddsp_free(conf);
    ddsp_loss_free(mss);
    ddsp_trainer_free(tr);
    if (ds_open) ddsp_dataset_close(&ds);
    ddsp_infer_free(&im);
    ddsp_fft_cleanup();
    return rc;
}
