/* The training loop of a run: batches, the update (ddsp_train_update), validation, progress
 * lines, train.csv and the history, monitoring examples, checkpoints, stops on signals (see
 * ddsp/run.h). */
#include "train/run_internal.h"

#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/nn.h"
#include "ddsp/util.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const STAT_NAMES[RUN_N_STATS] = {
    "f0_midi_mean", "f0_midi_std", "loudness_db_mean_voiced", "loudness_db_std_voiced",
    "loudness_db_mean", "loudness_db_max", "voiced_fraction"};

/* f0 (MIDI) and loudness statistics of the training split; "voiced" = confidence >= 0.5.
 * magenta's timbre transfer shifts a new input toward these (ddsp resynth --auto-adjust). */
int run_data_stats(ddsp_run *r) {
    const ddsp_dataset *ds = &r->ds;
    float *f0 = ddsp_alloc(sizeof(float) * r->F), *ld = ddsp_alloc(sizeof(float) * r->F);
    float *cf = ddsp_alloc(sizeof(float) * r->F);
    double s[6] = {0}, ldmax = -1e30;
    int64_t nv = 0, n = 0;
    int rc = f0 && ld && cf ? DDSP_OK : ddsp_error("out of memory");
    for (int64_t i = 0; rc == DDSP_OK && i < ds->n_train; i++) {
        if (ddsp_dataset_read(ds, ds->train[i], NULL, f0, ld) ||
            ddsp_dataset_read_confidence(ds, ds->train[i], cf)) {
            rc = DDSP_ERR;
            break;
        }
        for (size_t k = 0; k < r->F; k++, n++) {
            s[4] += ld[k];
            if (ld[k] > ldmax) ldmax = ld[k];
            if (cf[k] < 0.5f || f0[k] <= 0.0f) continue;
            const double midi = 69.0 + 12.0 * log2(f0[k] / 440.0);
            s[0] += midi, s[1] += midi * midi, s[2] += ld[k], s[3] += (double)ld[k] * ld[k];
            nv++;
        }
    }
    if (rc == DDSP_OK) {
        const double v = nv ? (double)nv : 1.0;
        r->stats[0] = s[0] / v;
        r->stats[1] = sqrt(fmax(s[1] / v - r->stats[0] * r->stats[0], 0.0));
        r->stats[2] = s[2] / v;
        r->stats[3] = sqrt(fmax(s[3] / v - r->stats[2] * r->stats[2], 0.0));
        /* no voiced frame: there is no pitch or voiced loudness to describe (NaN, shown as
         * n/a; --auto-adjust then leaves the pitch alone), not a mean of nothing that reads 0 */
        if (!nv) r->stats[0] = r->stats[1] = r->stats[2] = r->stats[3] = NAN;
        r->stats[4] = s[4] / (double)(n ? n : 1);
        r->stats[5] = ldmax;
        r->stats[6] = n ? (double)nv / (double)n : 0.0;
    }
    ddsp_free(f0), ddsp_free(ld), ddsp_free(cf);
    return rc;
}

/* log(|STFT| + 1e-5) at the monitoring scale */
static int log_spec(float *out, const float *x, size_t N) {
    if (ddsp_stft_mag(out, x, N, RUN_MON_NFFT, RUN_MON_HOP)) return DDSP_ERR;
    const size_t n = ddsp_stft_nframes(N, RUN_MON_HOP) * (RUN_MON_NFFT / 2 + 1);
    for (size_t i = 0; i < n; i++) out[i] = logf(out[i] + 1e-5f);
    return DDSP_OK;
}

int run_monitor_init(ddsp_run *r) {
    const ddsp_dataset *ds = &r->ds;
    r->n_mon = (int)(ds->n_valid > 0 ? (ds->n_valid < RUN_MAX_MONITOR ? ds->n_valid : RUN_MAX_MONITOR)
                                     : (ds->n_train < RUN_MAX_MONITOR ? ds->n_train : RUN_MAX_MONITOR));
    r->mon_F = ddsp_stft_nframes(r->N, RUN_MON_HOP), r->mon_K = RUN_MON_NFFT / 2 + 1;
    for (int k = 0; k < r->n_mon; k++) {
        r->mon_ex[k] = ds->n_valid > 0 ? ds->valid[k] : ds->train[k];
        r->mon_target[k] = ddsp_alloc(sizeof(float) * r->N);
        r->mon_recon[k] = ddsp_alloc(sizeof(float) * r->N);
        r->mon_tlog[k] = ddsp_alloc(sizeof(float) * r->mon_F * r->mon_K);
        r->mon_rlog[k] = ddsp_alloc(sizeof(float) * r->mon_F * r->mon_K);
        if (!r->mon_target[k] || !r->mon_recon[k] || !r->mon_tlog[k] || !r->mon_rlog[k])
            return ddsp_error("out of memory for monitoring examples");
        if (ddsp_dataset_read(ds, r->mon_ex[k], r->mon_target[k], NULL, NULL) ||
            log_spec(r->mon_tlog[k], r->mon_target[k], r->N))
            return DDSP_ERR;
    }
    return DDSP_OK;
}

/* Reconstruct the monitoring examples with fixed noise (rank 0 alone: two forwards). */
static int monitor_update(ddsp_run *r) {
    ddsp_batcher *b = &r->bt;
    for (int k = 0; k < r->n_mon; k++) {
        if (ddsp_batcher_load(b, &r->mon_ex[k], 1)) return DDSP_ERR;
        ddsp_trainer_synthesize(r->tr, r->mon_recon[k], b->f0, b->ld, b->ids, 1,
                                (uint64_t)r->s.seed, UINT64_MAX, 0);
        if (log_spec(r->mon_rlog[k], r->mon_recon[k], r->N)) return DDSP_ERR;
    }
    return DDSP_OK;
}

/* RUN_DIR/samples/: the reconstructions of this checkpoint, the targets once (ddsp/run.h). */
static int write_samples(ddsp_run *r) {
    char path[PATH_MAX];
    if (run_path(r, "samples", path, sizeof path)) return DDSP_ERR;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return ddsp_error("%s: cannot create folder (%s)", path, strerror(errno));
    for (int k = 0; k < r->n_mon; k++) {
        if (ddsp_run_sample_path(path, sizeof path, r->s.run_dir, -1, r->mon_ex[k])) return DDSP_ERR;
        if (access(path, F_OK) != 0 &&
            ddsp_audio_write(path, r->mon_target[k], r->N, r->ds.sample_rate))
            return DDSP_ERR;
        if (ddsp_run_sample_path(path, sizeof path, r->s.run_dir, r->step, r->mon_ex[k]) ||
            ddsp_audio_write(path, r->mon_recon[k], r->N, r->ds.sample_rate))
            return DDSP_ERR;
    }
    return DDSP_OK;
}

int run_write_checkpoint(ddsp_run *r) {
    char path[PATH_MAX];
    ddsp_ckpt_path(path, sizeof path, r->s.run_dir, r->step);
    if (monitor_update(r)) return DDSP_ERR;
    ddsp_ckpt_monitor mon[RUN_MAX_MONITOR];
    for (int k = 0; k < r->n_mon; k++)
        mon[k] = (ddsp_ckpt_monitor){r->mon_ex[k], r->mon_target[k], r->mon_recon[k],
                                     r->mon_tlog[k], r->mon_rlog[k]};
    ddsp_ckpt_info info = {
        .state = {.step = r->step, .epoch = r->bt.epoch, .epoch_position = r->bt.pos,
                  .seed = (uint64_t)r->s.seed, .n_ranks = r->d.size},
        .history = &r->hist, .monitor = mon, .n_monitor = r->n_mon, .monitor_N = r->N,
        .monitor_F = r->mon_F, .monitor_K = r->mon_K, .monitor_n_fft = RUN_MON_NFFT,
        .monitor_hop = RUN_MON_HOP, .settings = &r->s,
        .stat_names = STAT_NAMES, .stat_values = r->stats, .n_stats = RUN_N_STATS};
    const double t0 = ddsp_now();
    if (ddsp_ckpt_write(path, &r->m, &r->opt, &r->lc, &info)) {
        /* say what the user still has: the newest checkpoint of this run that opens */
        char *why = strdup(ddsp_last_error()), prev[PATH_MAX];
        if (ddsp_ckpt_latest(r->s.run_dir, r->s.run_id, prev, sizeof prev) == DDSP_OK)
            ddsp_error("%s; the previous checkpoint %s is intact", why ? why : "?", prev);
        else
            ddsp_error("%s; %s holds no earlier checkpoint of this run", why ? why : "?",
                       r->s.run_dir);
        free(why);
        return DDSP_ERR;
    }
    ddsp_ckpt_prune(r->s.run_dir, r->s.run_id, (int)r->s.keep);
    ddsp_log("wrote checkpoint %s (step %lld, %.2f s)", path, (long long)r->step, ddsp_now() - t0);
    /* something to listen to for every checkpoint, kept when the checkpoint is pruned; a
     * failure here costs the run nothing but the sample: a warning */
    if (write_samples(r))
        ddsp_log("warning: step %lld: no samples: %s", (long long)r->step, ddsp_last_error());
    return DDSP_OK;
}

/* Mean validation loss over the whole validation split, examples spread over ranks, noise
 * keyed by a fixed step so every evaluation hears the same noise. */
static int validate(ddsp_run *r, double *loss) {
    const ddsp_dataset *ds = &r->ds;
    ddsp_batcher *b = &r->bt;
    double acc[2] = {0.0, 0.0};
    int64_t idx[64];
    const size_t cap = b->bmax < 64 ? b->bmax : 64;
    size_t k = 0;
    int failed = 0;
    for (int64_t i = r->d.rank; i < ds->n_valid && !failed; i += r->d.size) {
        idx[k++] = ds->valid[i];
        if (k == cap || i + r->d.size >= ds->n_valid) {
            if (ddsp_batcher_load(b, idx, k)) {
                failed = 1;
                break;
            }
            acc[0] += ddsp_trainer_step(r->tr, NULL, b->f0, b->ld, b->audio, b->ids, k,
                                        (uint64_t)r->s.seed, UINT64_MAX, 0, 1.0f) * (double)k;
            acc[1] += (double)k;
            k = 0;
        }
    }
    if (ddsp_dist_any(&r->d, failed) || ddsp_dist_sum_f64(&r->d, acc, 2)) return DDSP_ERR;
    *loss = acc[1] > 0 ? acc[0] / acc[1] : NAN;
    return DDSP_OK;
}

static void fmt_secs(char *buf, size_t cap, double s) {
    if (!(s >= 0.0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* FNV-1a over the weights' bytes. Every rank applies the same update to the same summed
 * gradient, so all must hold identical weights; compared at every checkpoint (and every step
 * with DDSP_CHECK_WEIGHTS=1). */
static int weights_agree(const ddsp_run *r) {
    if (r->d.size == 1) return DDSP_OK;
    const unsigned char *p = (const unsigned char *)r->m.params;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < r->m.n_params * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    const int same = ddsp_dist_same_u64(&r->d, h);
    if (same < 0) return DDSP_ERR;
    if (!same)
        return ddsp_error("step %lld: the ranks' weights differ: a rank computed a different "
                          "update", (long long)r->step);
    return DDSP_OK;
}

/* One line per logged interval (with the mean split of the step's time since the last
 * line), a history entry per step (rank 0); the step's CSV row is written by csv_row once
 * its checkpoint is on disk. */
typedef struct {
    double t0, el0, last_log, loss_acc, train_s, reduce_s;
    size_t loss_n;
    double ph_acc[DDSP_STEP_PHASES]; /* seconds per phase since the last line */
    double el, aps;                  /* the last step's elapsed time and throughput */
} progress;

static int record(ddsp_run *r, progress *pg, const ddsp_train_result *res, int do_valid,
                  double vloss, int last, int stop) {
    const double now = ddsp_now(), el = pg->el0 + (now - pg->t0);
    const int64_t done = r->sum.done;
    const double aps = (double)done * (double)r->s.batch * (double)r->N / r->ds.sample_rate / pg->train_s;
    pg->el = el, pg->aps = aps;
    for (int p = 0; p < DDSP_STEP_PHASES; p++) pg->ph_acc[p] += res->phase_s[p];
    if (ddsp_ckpt_history_add(&r->hist, r->step, res->loss, res->grad_norm, res->lr, aps, el) ||
        (do_valid && ddsp_ckpt_history_add_valid(&r->hist, r->step, vloss)))
        return DDSP_ERR;
    if (now - pg->last_log >= r->s.log_every || last || do_valid || done == 1 || stop) {
        char eta[32], per[256] = "", split[256] = "";
        fmt_secs(eta, sizeof eta, (now - pg->t0) / (double)done * (double)(r->s.steps - r->step));
        size_t o = 0;
        for (int s = 0; s < r->lc.mss.n_scales && o < sizeof per; s++)
            o += (size_t)snprintf(per + o, sizeof per - o, "%s%.2f", s ? " " : "", res->per_scale[s]);
        /* where the time of a step went since the last line, in % of the step */
        static const char *const SHORT[DDSP_STEP_PHASES] = {"data", "fwd", "synth", "loss",
                                                            "bwd", "reduce", "optim"};
        double tot = 0.0;
        for (int p = 0; p < DDSP_STEP_PHASES; p++) tot += pg->ph_acc[p];
        o = (size_t)snprintf(split, sizeof split, "%.3g s/step:", tot / (double)pg->loss_n);
        for (int p = 0; p < DDSP_STEP_PHASES && o < sizeof split; p++)
            o += (size_t)snprintf(split + o, sizeof split - o, " %s %.0f%%", SHORT[p],
                                  tot > 0 ? 100.0 * pg->ph_acc[p] / tot : 0.0);
        ddsp_log("step %lld/%lld  loss %.4f (mean %.4f since last line)  [%s]  |g| %.3g  "
                 "lr %.2g  %.2f audio-s/s  eta %s  | %s",
                 (long long)r->step, (long long)r->s.steps, res->loss,
                 pg->loss_acc / (double)pg->loss_n, per, res->grad_norm, res->lr, aps, eta, split);
        if (do_valid) ddsp_log("step %lld: validation loss %.4f", (long long)r->step, vloss);
        pg->loss_acc = 0.0, pg->loss_n = 0;
        memset(pg->ph_acc, 0, sizeof pg->ph_acc);
        pg->last_log = now;
    }
    return DDSP_OK;
}

/* The step's row of train.csv (columns: ddsp/run.h); ext: the slowest ranks' step phases,
 * then minus the fastest ranks'. */
static void csv_row(ddsp_run *r, const progress *pg, const ddsp_train_result *res, int do_valid,
                    double vloss, const double *ext) {
    if (!r->csv) return;
    char vs[32] = "";
    if (do_valid) snprintf(vs, sizeof vs, "%.6f", vloss);
    fprintf(r->csv, "%lld,%.6f,%s,%.5f,%.3g,%.3f,%.2f", (long long)r->step, res->loss, vs,
            res->grad_norm, res->lr, pg->aps, pg->el);
    for (int s = 0; s < r->lc.mss.n_scales; s++) fprintf(r->csv, ",%.5f", res->per_scale[s]);
    for (int p = 0; p < DDSP_N_PHASES; p++) fprintf(r->csv, ",%.5f", res->phase_s[p]);
    for (int p = 0; p < DDSP_STEP_PHASES; p++) fprintf(r->csv, ",%.5f", ext[p]);
    for (int p = 0; p < DDSP_STEP_PHASES; p++) fprintf(r->csv, ",%.5f", -ext[DDSP_STEP_PHASES + p]);
    fputc('\n', r->csv);
    fflush(r->csv);
}

static const char *signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "a signal";
}

int ddsp_run_train(ddsp_run *r) {
    const ddsp_dataset *ds = &r->ds;
    const int rank0 = r->d.rank == 0;
    ddsp_run_summary *sum = &r->sum;
    char lname[1024];
    LOG0("train: %s model (%zu parameters), %lld train / %lld validation examples of %.2f s, "
         "global batch %lld on %d rank(s) x %d thread(s), steps %lld -> %lld, loss %s, decoder %s, "
         "run folder %s (run %s)",
         r->s.model, r->m.n_weights, (long long)ds->n_train, (long long)ds->n_valid,
         (double)r->N / ds->sample_rate, (long long)r->s.batch, r->d.size, omp_get_max_threads(),
         (long long)r->step, (long long)r->s.steps,
         ddsp_loss_describe(&r->lc, lname, sizeof lname), ddsp_precision_name(r->m.prec),
         r->s.run_dir, r->s.run_id);
    progress pg = {.t0 = ddsp_now()};
    pg.el0 = r->hist.n ? r->hist.elapsed_s[r->hist.n - 1] : 0.0;
    pg.last_log = pg.t0;
    int failed = 0, bad_steps = 0, rc = DDSP_ERR;
    const char *cw = getenv("DDSP_CHECK_WEIGHTS");
    const int check_every_step = cw && cw[0] == '1';
    sum->has_valid = ds->n_valid > 0;
    if (ds->n_valid > 0 && r->step == 0 && r->s.valid_every > 0) {
        if (validate(r, &sum->last_valid)) goto out;
        LOG0("step 0: validation loss %.4f", sum->last_valid);
        if (rank0 && ddsp_ckpt_history_add_valid(&r->hist, 0, sum->last_valid)) failed = 1;
        if (r->csv) fprintf(r->csv, "0,,%.6f,,,,0\n", sum->last_valid);
    }
    while (r->step < r->s.steps) {
        const double ts = ddsp_now();
        failed = ddsp_batcher_next(&r->bt);
        const double data_s = ddsp_now() - ts;
        if (ddsp_dist_any(&r->d, failed)) goto out;
        ddsp_train_result res;
        if (ddsp_train_update(r->tr, &r->opt, &r->d, r->bt.f0, r->bt.ld, r->bt.audio, r->bt.ids,
                              r->bt.n, (size_t)r->s.batch, (uint64_t)r->s.seed, (uint64_t)r->step,
                              ddsp_run_stop_signal != 0, &res))
            goto out;
        res.phase_s[DDSP_PHASE_DATA] = data_s;
        pg.reduce_s += res.reduce_s;
        /* the slowest and the fastest rank per phase: one max over (t, -t), outside the
         * timed step (16 doubles; the ranks have just met in the reduction anyway) */
        double ext[2 * DDSP_STEP_PHASES];
        for (int p = 0; p < DDSP_STEP_PHASES; p++)
            ext[p] = res.phase_s[p], ext[DDSP_STEP_PHASES + p] = -res.phase_s[p];
        if (ddsp_dist_max_f64(&r->d, ext, 2 * DDSP_STEP_PHASES)) goto out;
        if (res.skipped) {
            bad_steps++;
            LOG0("warning: step %lld: non-finite loss (%g) or gradient norm (%g); update skipped "
                 "(%d in a row)", (long long)r->step + 1, res.loss, res.grad_norm, bad_steps);
            if (bad_steps >= 5) {
                char prev[PATH_MAX];
                if (ddsp_ckpt_latest(r->s.run_dir, r->s.run_id, prev, sizeof prev) == DDSP_OK)
                    ddsp_error("%d consecutive non-finite steps: stopping; the last checkpoint %s "
                               "is intact", bad_steps, prev);
                else
                    ddsp_error("%d consecutive non-finite steps: stopping before any checkpoint "
                               "of this run was written in %s (nothing to resume from)",
                               bad_steps, r->s.run_dir);
                goto out;
            }
        } else {
            bad_steps = 0;
        }
        r->step++, sum->done++;
        pg.train_s += ddsp_now() - ts;
        if (isnan(sum->first_loss)) sum->first_loss = res.loss;
        sum->last_loss = res.loss;
        pg.loss_acc += res.loss, pg.loss_n++;

        const int last = r->step == r->s.steps, stop = res.stop;
        const int do_valid = ds->n_valid > 0 && (last || (r->s.valid_every && r->step % r->s.valid_every == 0));
        double vloss = NAN;
        if (do_valid) {
            const double tv = ddsp_now();
            if (validate(r, &vloss)) goto out;
            res.phase_s[DDSP_PHASE_VALID] = ddsp_now() - tv;
            sum->last_valid = vloss;
        }
        if (rank0 && record(r, &pg, &res, do_valid, vloss, last, stop)) failed = 1;
        const int ckpt = last || stop || (r->s.ckpt_every && r->step % r->s.ckpt_every == 0);
        if ((ckpt || check_every_step) && weights_agree(r)) goto out;
        if (ckpt && rank0) {
            const double tc = ddsp_now();
            if (run_write_checkpoint(r)) failed = 1;
            res.phase_s[DDSP_PHASE_CKPT] = ddsp_now() - tc;
        }
        if (rank0) csv_row(r, &pg, &res, do_valid, vloss, ext);
        if (ckpt && rank0 && !failed && r->on_checkpoint) {
            /* e.g. the report: after the row it shows, while the other ranks wait below */
            const double th = ddsp_now();
            if (r->on_checkpoint(r->s.run_dir, r->step, r->hook_ctx))
                ddsp_log("warning: step %lld: %s", (long long)r->step, ddsp_last_error());
            sum->hook_s += ddsp_now() - th, sum->hook_calls++;
        }
        if (ddsp_dist_any(&r->d, failed)) goto out;
        if (stop && !last) {
            const int sig = ddsp_run_stop_signal ? (int)ddsp_run_stop_signal : SIGUSR1;
            LOG0("stopped by %s at step %lld after writing a checkpoint; resume with --resume %s",
                 signal_name(sig), (long long)r->step, r->s.run_dir);
            rc = DDSP_RUN_STOPPED;
            goto out;
        }
    }
    rc = DDSP_OK;
    if (rank0 && sum->done > 0) {
        /* a resynthesis of the first monitoring example and its original, to listen to */
        char path[PATH_MAX], tpath[PATH_MAX];
        if (run_path(r, "resynth.wav", path, sizeof path) || run_path(r, "target.wav", tpath, sizeof tpath) ||
            monitor_update(r) || ddsp_audio_write(path, r->mon_recon[0], r->N, ds->sample_rate) ||
            ddsp_audio_write(tpath, r->mon_target[0], r->N, ds->sample_rate))
            rc = DDSP_ERR;
        else
            ddsp_log("wrote %s (%s example %lld) and %s (its original)", path,
                     ds->n_valid > 0 ? "validation" : "training", (long long)r->mon_ex[0], tpath);
        if (r->d.size > 1)
            ddsp_log("gradient allreduce (%zu floats): %.1f ms per step, %.1f%% of the "
                     "training-step time",
                     r->m.n_params, 1e3 * pg.reduce_s / (double)sum->done,
                     100.0 * pg.reduce_s / pg.train_s);
    }
    if (ddsp_dist_any(&r->d, rc != DDSP_OK)) rc = DDSP_ERR;
out:
    sum->seconds = ddsp_now() - pg.t0;
    sum->step = r->step;
    return rc;
}
