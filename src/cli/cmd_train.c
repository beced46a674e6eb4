/* `ddsp train`: train the solo_instrument model on a prepared dataset (or on audio files,
 * prepared first), as one process or data-parallel under mpirun/srun: each rank computes
 * its share of the global batch, gradients are summed with one MPI_Allreduce and every rank
 * applies the same Adam update. */
#include "cli/cli.h"
#include "ddsp/audio.h"
#include "ddsp/ckpt.h"
#include "ddsp/data.h"
#include "ddsp/dist.h"
#include "ddsp/dsp.h"
#include "ddsp/optim.h"
#include "ddsp/train.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp train [--data DATASET.h5 | AUDIO...] [options]\n"
    "\n"
    "Train the DDSP solo_instrument model (RnnFcDecoder + harmonic/noise synth, MSS loss,\n"
    "Adam). With no --data and no AUDIO it prepares the bundled data/ folder; AUDIO files or\n"
    "folders are prepared the same way (the dataset is cached as RUN_DIR/dataset.h5).\n"
    "Under mpirun/srun the ranks share the global batch and sum gradients with MPI.\n"
    "\n"
    "options:\n"
    "  --data FILE.h5        dataset made by `ddsp prepare`\n"
    "  --out RUN_DIR         where checkpoint.h5, train.csv, resynth.wav go (default runs/default)\n"
    "  --steps N             optimiser steps (default 300; magenta trains ~30000)\n"
    "  --batch B             GLOBAL batch, split over ranks (default 4)\n"
    "  --lr X                Adam learning rate (default 3e-4)\n"
    "  --lr-decay X          multiply the rate by X every 10000 steps (default 1: off; magenta 0.98)\n"
    "  --clip X              global gradient-norm clip (default 3, 0 = off)\n"
    "  --model full|small    full = 512-wide, GRU 512, 3 layers (magenta); small = 64/64/2\n"
    "  --reverb              add the trainable 48000-tap reverb\n"
    "  --loss l1log|l1|l2    spectral loss (default l1log, as magenta)\n"
    "  --ld-range DB         loudness scaling range (default 120, ddsp<2.0; magenta HEAD 80)\n"
    "  --seed S              seed for weights, data order and noise (default 1)\n"
    "  --valid-every K       validation loss every K steps (default 100; 0 = only at the end)\n"
    "  --log-every SECS      progress line interval (default 5)\n"
    "threads: OMP_NUM_THREADS per process. exit status: 0 ok, 1 failure, 2 usage error.\n";

typedef struct {
    const char *data, *out, *model, *loss;
    size_t steps, batch, valid_every;
    double lr, lr_decay, clip, ld_range, log_every;
    uint64_t seed;
    int reverb;
    const char **audio;
    int n_audio;
} train_args;

static int parse(int argc, char **argv, train_args *a) {
    memset(a, 0, sizeof *a);
    a->out = "runs/default", a->model = "full", a->loss = "l1log";
    a->steps = 300, a->batch = 4, a->valid_every = 100;
    a->lr = 3e-4, a->lr_decay = 1.0, a->clip = 3.0, a->ld_range = 120.0, a->log_every = 5.0;
    a->seed = 1;
    a->audio = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->audio) return -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v;
        int r;
        size_t z;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(HELP, stdout);
            return 1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
#define NEED                                                                                   \
    if (r < 0) return -1
        if (OPT("--data")) {
            NEED;
            a->data = v;
        } else if (OPT("--out")) {
            NEED;
            a->out = v;
        } else if (OPT("--model")) {
            NEED;
            a->model = v;
        } else if (OPT("--loss")) {
            NEED;
            a->loss = v;
        } else if (OPT("--steps")) {
            NEED;
            if (cli_parse_size(o, v, &a->steps)) return -1;
        } else if (OPT("--batch")) {
            NEED;
            if (cli_parse_size(o, v, &a->batch)) return -1;
        } else if (OPT("--valid-every")) {
            NEED;
            if (cli_parse_size(o, v, &a->valid_every)) return -1;
        } else if (OPT("--seed")) {
            NEED;
            if (cli_parse_size(o, v, &z)) return -1;
            a->seed = z;
        } else if (OPT("--lr")) {
            NEED;
            if (cli_parse_double(o, v, &a->lr)) return -1;
        } else if (OPT("--lr-decay")) {
            NEED;
            if (cli_parse_double(o, v, &a->lr_decay)) return -1;
        } else if (OPT("--clip")) {
            NEED;
            if (cli_parse_double(o, v, &a->clip)) return -1;
        } else if (OPT("--ld-range")) {
            NEED;
            if (cli_parse_double(o, v, &a->ld_range)) return -1;
        } else if (OPT("--log-every")) {
            NEED;
            if (cli_parse_double(o, v, &a->log_every)) return -1;
        } else if (!strcmp(o, "--reverb")) {
            a->reverb = 1;
        } else if (o[0] == '-' && o[1] == '-') {
            fprintf(stderr, "ddsp train: unknown option '%s' (see ddsp train --help)\n", o);
            return -1;
        } else {
            a->audio[a->n_audio++] = o;
        }
#undef OPT
#undef NEED
    }
    if (a->data && a->n_audio) {
        fprintf(stderr, "ddsp train: give either --data or AUDIO files, not both\n");
        return -1;
    }
    if (a->batch < 1 || a->batch > 4096) {
        fprintf(stderr, "ddsp train: --batch %zu not in 1..4096\n", a->batch);
        return -1;
    }
    return 0;
}

static int mkdir_p(const char *dir) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return ddsp_error("%s: cannot create folder (%s)", p, strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return ddsp_error("%s: cannot create folder (%s)", p, strerror(errno));
    return DDSP_OK;
}

/* The bundled data/ folder: ./data, else next to the executable's build folder. */
static const char *bundled_data(char *buf, size_t cap) {
    struct stat st;
    if (stat("data", &st) == 0 && S_ISDIR(st.st_mode)) return "data";
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if ((size_t)snprintf(buf, cap, "%.*s/../data", (int)(cap - 16), exe) >= cap) return NULL;
        if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
    }
    return NULL;
}

/* Seeded permutation of the training examples for one epoch; the same on every rank. */
static void epoch_order(int64_t *order, const int64_t *train, int64_t n, uint64_t seed,
                        uint64_t epoch) {
    memcpy(order, train, sizeof(int64_t) * (size_t)n);
    const uint64_t key = ddsp_rng_key(seed, 0xE90C, epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(ddsp_rng_u64(key, (uint64_t)i) % (uint64_t)(i + 1));
        const int64_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

typedef struct {
    float *f0, *ld, *audio; /* (b, F), (b, F), (b, N) */
    int64_t *ids;
} batch_buf;

static int load(const ddsp_dataset *ds, batch_buf *bb, const int64_t *idx, size_t n) {
    for (size_t k = 0; k < n; k++) {
        bb->ids[k] = idx[k];
        if (ddsp_dataset_read(ds, idx[k], bb->audio + k * (size_t)ds->T, bb->f0 + k * (size_t)ds->F,
                              bb->ld + k * (size_t)ds->F))
            return DDSP_ERR;
    }
    return DDSP_OK;
}

/* Mean validation loss over the whole validation split, examples spread over ranks, noise
 * keyed by a fixed step so every evaluation hears the same noise. */
static double validate(ddsp_trainer *tr, const ddsp_dataset *ds, batch_buf *bb, size_t bmax,
                       const ddsp_dist *d, uint64_t seed, int *failed) {
    double sum = 0.0;
    int64_t cnt = 0;
    int64_t *idx = malloc(sizeof(int64_t) * bmax);
    size_t k = 0;
    for (int64_t i = d->rank; i < ds->n_valid && !*failed; i += d->size) {
        idx[k++] = ds->valid[i];
        if (k == bmax || i + d->size >= ds->n_valid) {
            if (load(ds, bb, idx, k)) {
                *failed = 1;
                break;
            }
            sum += ddsp_trainer_step(tr, NULL, bb->f0, bb->ld, bb->audio, bb->ids, k, seed,
                                     UINT64_MAX, 0, 1.0f) * (double)k;
            cnt += (int64_t)k;
            k = 0;
        }
    }
    free(idx);
    double in[2] = {sum, (double)cnt}, out[2] = {sum, (double)cnt};
    if (d->size > 1) MPI_Allreduce(in, out, 2, MPI_DOUBLE, MPI_SUM, d->comm);
    return out[1] > 0 ? out[0] / out[1] : NAN;
}

static void fmt_secs(char *buf, size_t cap, double s) {
    if (!(s >= 0.0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

int cmd_train(int argc, char **argv) {
    train_args a;
    int pr = parse(argc, argv, &a);
    if (pr != 0) {
        free(a.audio);
        return pr > 0 ? EXIT_OK : EXIT_USAGE;
    }
    ddsp_model_config mc;
    ddsp_mss_config lc;
    ddsp_adam_config ac;
    ddsp_mss_config_default(&lc);
    ddsp_adam_config_default(&ac);
    ac.lr = a.lr, ac.decay_rate = a.lr_decay, ac.clip_norm = a.clip;
    if (ddsp_model_config_preset(&mc, a.model) || ddsp_mss_parse_type(&lc, a.loss) ||
        ddsp_adam_config_check(&ac)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_USAGE;
    }
    mc.ld_range = a.ld_range;
    mc.synth.reverb = a.reverb;
    if (ddsp_model_config_check(&mc)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_USAGE;
    }

    ddsp_dist d;
    if (ddsp_dist_init(&d, &argc, &argv)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_FAIL;
    }
    ddsp_h5_quiet();
    int rc = EXIT_FAIL, failed = 0, setup_ok = 0;
    ddsp_dataset ds = {.file = -1};
    ddsp_model m = {0};
    ddsp_adam opt = {0};
    ddsp_trainer *tr = NULL;
    batch_buf bb = {0};
    int64_t *order = NULL;
    FILE *csv = NULL;
    char path[PATH_MAX], dsbuf[PATH_MAX], databuf[PATH_MAX];
    size_t B = 0, bmax = 0, F = 0, N = 0;
    const char *data = NULL;

    if (mkdir_p(a.out)) goto setup_check;
    data = a.data;
    if (!data) {
        /* prepare AUDIO (or the bundled data/) into RUN_DIR/dataset.h5, once */
        snprintf(dsbuf, sizeof dsbuf, "%s/dataset.h5", a.out);
        data = dsbuf;
        if (access(dsbuf, F_OK) == 0) {
            LOG0("using the prepared dataset %s (delete it to prepare again)", dsbuf);
        } else {
            const char *bundled = NULL;
            if (a.n_audio == 0) {
                bundled = bundled_data(databuf, sizeof databuf);
                if (!bundled) {
                    ddsp_error("no --data given and no bundled data/ folder found (run from the "
                               "repository root, or pass --data DATASET.h5)");
                    goto setup_check;
                }
                a.audio[a.n_audio++] = bundled;
            }
            ddsp_prepare_config pc;
            ddsp_prepare_config_default(&pc);
            ddsp_prepare_stats st;
            LOG0("preparing %s%s -> %s", a.audio[0], a.n_audio > 1 ? " ..." : "", dsbuf);
            if (ddsp_prepare(&pc, a.audio, a.n_audio, dsbuf, d.comm, &st)) goto setup_check;
        }
    }
    if (ddsp_dataset_open(data, &ds)) goto setup_check;
    if (ds.sample_rate != mc.synth.sample_rate || ds.hop != mc.synth.hop) {
        ddsp_error("%s: dataset is %d Hz with hop %d; the model runs at %d Hz, hop %d", data,
                   ds.sample_rate, ds.hop, mc.synth.sample_rate, mc.synth.hop);
        goto setup_check;
    }
    if (ds.n_train < 1) {
        ddsp_error("%s: no training examples", data);
        goto setup_check;
    }
    /* this rank's share of the global batch: examples r, r + size, ... of each batch */
    B = a.batch, bmax = (B + (size_t)d.size - 1) / (size_t)d.size;
    if ((size_t)d.size > B) {
        ddsp_error("--batch %zu is smaller than the %d ranks: every rank needs an example", B,
                   d.size);
        goto setup_check;
    }
    F = (size_t)ds.F, N = (size_t)ds.T;
    if (ddsp_model_init(&m, &mc) || ddsp_adam_init(&opt, &ac, m.n_params)) goto setup_check;
    ddsp_model_init_weights(&m, a.seed);
    tr = ddsp_trainer_init(&m, &lc, bmax, F);
    bb.f0 = ddsp_alloc(sizeof(float) * bmax * F);
    bb.ld = ddsp_alloc(sizeof(float) * bmax * F);
    bb.audio = ddsp_alloc(sizeof(float) * bmax * N);
    bb.ids = malloc(sizeof(int64_t) * bmax);
    order = malloc(sizeof(int64_t) * (size_t)ds.n_train);
    if (!tr || !bb.f0 || !bb.ld || !bb.audio || !bb.ids || !order) {
        if (!ddsp_last_error()[0]) ddsp_error("out of memory");
        goto setup_check;
    }
    if (d.rank == 0) {
        snprintf(path, sizeof path, "%s/train.csv", a.out);
        csv = fopen(path, "w");
        if (!csv) {
            ddsp_error("%s: cannot write (%s)", path, strerror(errno));
            goto setup_check;
        }
        fprintf(csv, "step,train_loss,valid_loss,grad_norm,lr,audio_s_per_s,elapsed_s\n");
    }
    setup_ok = 1;
setup_check:
    if (ddsp_dist_any(&d, !setup_ok)) {
        if (setup_ok) ddsp_error("another rank failed to set up");
        goto fail;
    }
    LOG0("train: %s model (%zu parameters), %lld train / %lld validation examples of %.2f s, "
         "global batch %zu on %d rank(s) x %d thread(s), %zu steps, loss %s, out %s",
         a.model, m.n_weights, (long long)ds.n_train, (long long)ds.n_valid,
         (double)N / ds.sample_rate, B, d.size, omp_get_max_threads(), a.steps,
         ddsp_mss_type_name(lc.type), a.out);

    const double t0 = ddsp_now();
    double last_log = t0, loss_acc = 0.0, first_loss = NAN, last_valid = NAN;
    size_t loss_n = 0;
    ddsp_mss_value v_last = {0};
    int64_t pos = ds.n_train; /* position in the epoch order: start a new epoch */
    uint64_t epoch = 0;
    int64_t *gidx = malloc(sizeof(int64_t) * B), *mine = malloc(sizeof(int64_t) * bmax);
    if (!gidx || !mine) {
        free(gidx), free(mine);
        ddsp_error("out of memory");
        goto fail;
    }
    if (ds.n_valid > 0) {
        last_valid = validate(tr, &ds, &bb, bmax, &d, a.seed, &failed);
        if (ddsp_dist_any(&d, failed)) goto fail_batch;
        LOG0("step 0: validation loss %.4f", last_valid);
        if (csv) fprintf(csv, "0,,%.6f,,,,0\n", last_valid);
    }
    for (size_t step = 0; step < a.steps; step++) {
        for (size_t k = 0; k < B; k++) {
            if (pos >= ds.n_train) {
                epoch_order(order, ds.train, ds.n_train, a.seed, epoch++);
                pos = 0;
            }
            gidx[k] = order[pos++];
        }
        size_t nb = 0;
        for (size_t k = (size_t)d.rank; k < B; k += (size_t)d.size) mine[nb++] = gidx[k];
        failed = load(&ds, &bb, mine, nb);
        if (ddsp_dist_any(&d, failed)) goto fail_batch;
        ddsp_model_zero_grad(&m);
        ddsp_mss_value val;
        ddsp_trainer_step(tr, &val, bb.f0, bb.ld, bb.audio, bb.ids, nb, a.seed, step, 1,
                          (float)nb / (float)B);
        /* global loss: sum of the ranks' batch means weighted by their share */
        double lv[1 + DDSP_MSS_MAX_SCALES];
        lv[0] = val.total * (double)nb / (double)B;
        for (int s = 0; s < lc.n_scales; s++) lv[1 + s] = val.per_scale[s] * (double)nb / (double)B;
        if (d.size > 1) {
            if (MPI_Allreduce(MPI_IN_PLACE, m.grads, (int)m.n_params, MPI_FLOAT, MPI_SUM, d.comm) !=
                    MPI_SUCCESS ||
                MPI_Allreduce(MPI_IN_PLACE, lv, 1 + lc.n_scales, MPI_DOUBLE, MPI_SUM, d.comm) !=
                    MPI_SUCCESS) {
                ddsp_error("MPI_Allreduce of the gradients failed");
                goto fail_batch;
            }
        }
        const double gnorm = ddsp_grad_norm(m.grads, m.n_params);
        if (!isfinite(lv[0]) || !isfinite(gnorm)) {
            ddsp_error("step %zu: non-finite loss (%g) or gradient norm (%g); stopping before "
                       "the update", step + 1, lv[0], gnorm);
            goto fail_batch;
        }
        ddsp_clip_grads(m.grads, m.n_params, gnorm, ac.clip_norm);
        const double lr = ddsp_adam_lr(&ac, opt.step);
        ddsp_adam_update(&opt, m.params, m.grads);
        if (isnan(first_loss)) first_loss = lv[0];
        loss_acc += lv[0], loss_n++;
        v_last.total = lv[0];
        for (int s = 0; s < lc.n_scales; s++) v_last.per_scale[s] = lv[1 + s];

        const int last = step + 1 == a.steps;
        const int do_valid = ds.n_valid > 0 && (last || (a.valid_every && (step + 1) % a.valid_every == 0));
        double vloss = NAN;
        if (do_valid) {
            vloss = validate(tr, &ds, &bb, bmax, &d, a.seed, &failed);
            if (ddsp_dist_any(&d, failed)) goto fail_batch;
            last_valid = vloss;
        }
        const double now = ddsp_now(), el = now - t0;
        const double aps = (double)(step + 1) * (double)B * (double)N / ds.sample_rate / el;
        if (csv) {
            char vs[32] = "";
            if (do_valid) snprintf(vs, sizeof vs, "%.6f", vloss);
            fprintf(csv, "%zu,%.6f,%s,%.5f,%.3g,%.3f,%.2f\n", step + 1, lv[0], vs, gnorm, lr,
                    aps, el);
        }
        if (d.rank == 0 && (now - last_log >= a.log_every || last || do_valid || step == 0)) {
            char eta[32], per[256] = "";
            fmt_secs(eta, sizeof eta, el / (double)(step + 1) * (double)(a.steps - step - 1));
            size_t o = 0;
            for (int s = 0; s < lc.n_scales && o < sizeof per; s++)
                o += (size_t)snprintf(per + o, sizeof per - o, "%s%.2f", s ? " " : "",
                                      v_last.per_scale[s]);
            ddsp_log("step %zu/%zu  loss %.4f (mean %.4f since last line)  [%s]  |g| %.3g  "
                     "lr %.2g  %.2f audio-s/s  eta %s%s",
                     step + 1, a.steps, lv[0], loss_acc / (double)loss_n, per, gnorm, lr, aps,
                     eta, "");
            if (do_valid) ddsp_log("step %zu: validation loss %.4f", step + 1, vloss);
            loss_acc = 0.0, loss_n = 0;
            last_log = now;
        }
    }
    free(gidx), free(mine);
    gidx = mine = NULL;

    /* checkpoint and a resynthesis of the first validation (else training) example */
    if (d.rank == 0) {
        snprintf(path, sizeof path, "%s/checkpoint.h5", a.out);
        char steps_s[32];
        snprintf(steps_s, sizeof steps_s, "%zu", a.steps);
        const char *keys[3] = {"dataset", "model_preset", "run_dir"};
        const char *vals[3] = {data, a.model, a.out};
        ddsp_ckpt_info info = {.step = (int64_t)a.steps, .seed = a.seed, .keys = keys,
                               .values = vals, .n_extra = 3};
        if (ddsp_ckpt_write(path, &m, &opt, &lc, &info)) failed = 1;
        else ddsp_log("wrote %s", path);
        const int64_t ex = ds.n_valid > 0 ? ds.valid[0] : ds.train[0];
        if (!failed && load(&ds, &bb, &ex, 1) == DDSP_OK) {
            float *y = ddsp_alloc(sizeof(float) * N);
            ddsp_trainer_synthesize(tr, y, bb.f0, bb.ld, bb.ids, 1, a.seed, UINT64_MAX, 0);
            snprintf(path, sizeof path, "%s/resynth.wav", a.out);
            char tpath[PATH_MAX];
            snprintf(tpath, sizeof tpath, "%s/target.wav", a.out);
            if (!y || ddsp_audio_write(path, y, N, ds.sample_rate) ||
                ddsp_audio_write(tpath, bb.audio, N, ds.sample_rate))
                failed = 1;
            else
                ddsp_log("wrote %s (%s example %lld) and %s (its original)", path,
                         ds.n_valid > 0 ? "validation" : "training", (long long)ex, tpath);
            ddsp_free(y);
        } else {
            failed = 1;
        }
        printf("trained %zu steps in %.1f s: loss %.4f -> %.4f (last batch), validation %.4f; "
               "run folder %s\n",
               a.steps, ddsp_now() - t0, first_loss, v_last.total, last_valid, a.out);
    }
    if (ddsp_dist_any(&d, failed)) goto fail;
    rc = EXIT_OK;
    goto done;
fail_batch:
    free(gidx), free(mine);
fail:
    if (ddsp_last_error()[0] && strncmp(ddsp_last_error(), "another rank", 12))
        cli_fail("train", "%s", ddsp_last_error());
    rc = EXIT_FAIL;
done:
    if (csv) fclose(csv);
    ddsp_trainer_free(tr);
    ddsp_adam_free(&opt);
    ddsp_model_free(&m);
    ddsp_dataset_close(&ds);
    ddsp_free(bb.f0), ddsp_free(bb.ld), ddsp_free(bb.audio);
    free(bb.ids), free(order), free(a.audio);
    ddsp_fft_cleanup();
    ddsp_dist_finalize();
    return rc;
}
