/* `ddsp train`: train the solo_instrument model on a prepared dataset (or on audio files,
 * prepared first), as one process or data-parallel under mpirun/srun: each rank computes
 * its share of the global batch, gradients are summed with one MPI_Allreduce and every rank
 * applies the same Adam update. Checkpoints every K steps, at the end and on SIGUSR1/SIGTERM
 * (what SLURM sends before a time limit or preemption); --resume continues bit for bit. */
#include "cli/cli.h"
#include "ddsp/audio.h"
#include "ddsp/ckpt.h"
#include "ddsp/data.h"
#include "ddsp/dist.h"
#include "ddsp/dsp.h"
#include "ddsp/nn.h"
#include "ddsp/optim.h"
#include "ddsp/train.h"
#include "ddsp/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static const char *HELP =
    "usage: ddsp train [--data DATASET.h5 | AUDIO...] [options]\n"
    "       ddsp train --resume RUN_DIR|CHECKPOINT.h5 [--steps N]\n"
    "\n"
    "Train the DDSP solo_instrument model (RnnFcDecoder + harmonic/noise synth, MSS loss,\n"
    "Adam). With no --data and no AUDIO it prepares the bundled data/ folder; AUDIO files or\n"
    "folders are prepared the same way (the dataset is cached as RUN_DIR/dataset.h5).\n"
    "Under mpirun/srun the ranks share the global batch and sum gradients with MPI.\n"
    "\n"
    "options:\n"
    "  --data FILE.h5        dataset made by `ddsp prepare`\n"
    "  --out RUN_DIR         checkpoints, train.csv, resynth.wav (default runs/default)\n"
    "  --steps N             train until step N (default 300; magenta trains ~30000)\n"
    "  --batch B             GLOBAL batch, split over ranks (default 4)\n"
    "  --lr X                Adam learning rate (default 3e-4)\n"
    "  --lr-decay X          multiply the rate by X every 10000 steps (default 1: off; magenta 0.98)\n"
    "  --clip X              global gradient-norm clip (default 3, 0 = off)\n"
    "  --model full|small    full = 512-wide, GRU 512, 3 layers (magenta); small = 64/64/2\n"
    "  --reverb              add the trainable 48000-tap reverb\n"
    "  --loss l1log|l1|l2    spectral loss (default l1log, as magenta), or a list of\n"
    "                        spectral terms as in `ddsp loss`, e.g. mag,logmag,delta_time=0.5\n"
    "                        or mag,logmag,scat2=1000 (time scattering; see README)\n"
    "  --ld-range DB         loudness scaling range (default 120, ddsp<2.0; magenta HEAD 80)\n"
    "  --seed S              seed for weights, data order and noise (default 1)\n"
    "  --valid-every K       validation loss every K steps (default 100; 0 = only at the end)\n"
    "  --ckpt-every K        checkpoint every K steps (default 100; 0 = only at the end)\n"
    "  --keep N              keep the newest N checkpoints (default 3)\n"
    "  --resume PATH         continue from RUN_DIR's newest checkpoint (starts fresh if it has\n"
    "                        none, so a requeued job can always pass it) or from a checkpoint\n"
    "                        file; model, loss, optimiser and seed come from it, and batch and\n"
    "                        dataset too unless --batch/--data are given\n"
    "  --log-every SECS      progress line interval (default 5)\n"
    "  --precision fp32|bf16 the decoder's products (default fp32; bf16 needs AVX512_BF16 or\n"
    "                        AMX, else fp32 with a note; not stored: pass it again to --resume)\n"
    "signals: SIGUSR1/SIGTERM finish the current step, write a checkpoint and exit with 3.\n"
    "lock: one run per RUN_DIR (RUN_DIR/.lock); a second run there exits with 1 and names it.\n"
    "threads: OMP_NUM_THREADS per process. exit status: 0 done, 1 failure, 2 usage error,\n"
    "3 interrupted by a signal after checkpointing (resume with --resume RUN_DIR).\n";

typedef struct {
    const char *data, *out, *model, *loss, *resume, *precision;
    size_t steps, batch, valid_every, ckpt_every, keep;
    double lr, lr_decay, clip, ld_range, log_every;
    uint64_t seed;
    int reverb, set_batch, set_data, model_set, loss_set, seed_set, lr_set;
    const char **audio;
    int n_audio;
} train_args;

static int parse(int argc, char **argv, train_args *a) {
    memset(a, 0, sizeof *a);
    a->out = NULL, a->model = "full", a->loss = "l1log";
    a->steps = 300, a->batch = 4, a->valid_every = 100, a->ckpt_every = 100, a->keep = 3;
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
            a->data = v, a->set_data = 1;
        } else if (OPT("--out")) {
            NEED;
            a->out = v;
        } else if (OPT("--resume")) {
            NEED;
            a->resume = v;
        } else if (OPT("--model")) {
            NEED;
            a->model = v, a->model_set = 1;
        } else if (OPT("--loss")) {
            NEED;
            a->loss = v, a->loss_set = 1;
        } else if (OPT("--steps")) {
            NEED;
            if (cli_parse_size(o, v, &a->steps, 0, 1000000000)) return -1;
        } else if (OPT("--batch")) {
            NEED;
            if (cli_parse_size(o, v, &a->batch, 1, 4096)) return -1;
            a->set_batch = 1;
        } else if (OPT("--valid-every")) {
            NEED;
            if (cli_parse_size(o, v, &a->valid_every, 0, 1000000000)) return -1;
        } else if (OPT("--ckpt-every")) {
            NEED;
            if (cli_parse_size(o, v, &a->ckpt_every, 0, 1000000000)) return -1;
        } else if (OPT("--keep")) {
            NEED;
            if (cli_parse_size(o, v, &a->keep, 1, 1000000)) return -1;
        } else if (OPT("--seed")) {
            NEED;
            if (cli_parse_size(o, v, &z, 0, SIZE_MAX)) return -1;
            a->seed = z, a->seed_set = 1;
        } else if (OPT("--lr")) {
            NEED;
            if (cli_parse_double(o, v, &a->lr, 1e-12, 0.999)) return -1;
            a->lr_set = 1;
        } else if (OPT("--lr-decay")) {
            NEED;
            if (cli_parse_double(o, v, &a->lr_decay, 1e-6, 1.0)) return -1;
        } else if (OPT("--clip")) {
            NEED;
            if (cli_parse_double(o, v, &a->clip, 0.0, 1e9)) return -1;
        } else if (OPT("--ld-range")) {
            NEED;
            if (cli_parse_double(o, v, &a->ld_range, 1.0, 300.0)) return -1;
        } else if (OPT("--log-every")) {
            NEED;
            if (cli_parse_double(o, v, &a->log_every, 0.0, 86400.0)) return -1;
        } else if (OPT("--precision")) { /* minimal; the run settings will store it */
            NEED;
            ddsp_precision p;
            if (ddsp_precision_parse(v, &p)) {
                fprintf(stderr, "ddsp train: --precision: %s\n", ddsp_last_error());
                return -1;
            }
            a->precision = v;
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
    if (a->keep < 1) {
        fprintf(stderr, "ddsp train: --keep must be at least 1\n");
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

/* ------------------------------------------------------------------ signals */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
    stop_signal = sig;
}

/* sigaction fails only on a bad argument: a bug, hence the assert (no rank can fail alone) */
static void install_signals(void) {
    struct sigaction sa, ign;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    /* past a file-size limit (ulimit -f) write() fails with EFBIG, as on a full disk, instead
     * of SIGXFSZ killing the process: the checkpoint writer then reports it and keeps the
     * previous checkpoint */
    DDSP_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 &&
                    sigaction(SIGXFSZ, &ign, NULL) == 0,
                "sigaction: %s", strerror(errno));
}

/* ------------------------------------------------------------------ the run */
enum { MAX_MONITOR = 2, MON_NFFT = 1024, MON_HOP = 256 };

typedef struct {
    ddsp_dist d;
    ddsp_dataset ds;
    ddsp_model m;
    ddsp_adam opt;
    ddsp_mss_config lc;
    ddsp_trainer *tr;
    batch_buf bb;
    const char *run_dir, *data;
    char data_buf[PATH_MAX];
    size_t B, bmax, F, N, steps;
    uint64_t seed;
    int64_t step, epoch, pos; /* next step to run (0-based count of updates done); data order */
    int64_t *order;            /* (n_train) the current epoch's permutation */
    ddsp_history hist;
    FILE *csv;
    /* monitoring examples (rank 0): rows, target audio and log spectrograms */
    int n_mon;
    int64_t mon_ex[MAX_MONITOR];
    float *mon_target[MAX_MONITOR], *mon_tlog[MAX_MONITOR], *mon_recon[MAX_MONITOR],
        *mon_rlog[MAX_MONITOR];
    size_t mon_F, mon_K;
    double stats[7]; /* training-data statistics for /dataset_stats (rank 0) */
    int lock_fd;     /* rank 0: RUN_DIR/.lock, locked for the run's lifetime; -1 none */
    const train_args *a;
} run_t;

static const char *const STAT_NAMES[7] = {"f0_midi_mean", "f0_midi_std", "loudness_db_mean_voiced",
                                           "loudness_db_std_voiced", "loudness_db_mean",
                                           "loudness_db_max", "voiced_fraction"};

/* f0 (MIDI) and loudness statistics of the training split; "voiced" = confidence >= 0.5.
 * magenta's timbre transfer shifts a new input toward these (ddsp resynth --auto-adjust). */
static int data_stats(run_t *r) {
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
        /* no voiced frame: there is no pitch or voiced loudness to describe (NaN, shown as
         * n/a; --auto-adjust then leaves pitch alone), not a mean of nothing that reads 0 */
        const double v = nv ? (double)nv : 1.0;
        r->stats[0] = s[0] / v;
        r->stats[1] = sqrt(fmax(s[1] / v - r->stats[0] * r->stats[0], 0.0));
        r->stats[2] = s[2] / v;
        r->stats[3] = sqrt(fmax(s[3] / v - r->stats[2] * r->stats[2], 0.0));
        if (!nv) r->stats[0] = r->stats[1] = r->stats[2] = r->stats[3] = NAN;
        r->stats[4] = s[4] / (double)(n ? n : 1);
        r->stats[5] = ldmax;
        r->stats[6] = n ? (double)nv / (double)n : 0.0;
    }
    ddsp_free(f0), ddsp_free(ld), ddsp_free(cf);
    return rc;
}

static void next_batch(run_t *r, int64_t *gidx) {
    for (size_t k = 0; k < r->B; k++) {
        if (r->pos >= r->ds.n_train) {
            epoch_order(r->order, r->ds.train, r->ds.n_train, r->seed, (uint64_t)r->epoch++);
            r->pos = 0;
        }
        gidx[k] = r->order[r->pos++];
    }
}

/* log(|STFT| + 1e-5) at the monitoring scale */
static int log_spec(float *out, const float *x, size_t N) {
    if (ddsp_stft_mag(out, x, N, MON_NFFT, MON_HOP)) return DDSP_ERR;
    const size_t n = ddsp_stft_nframes(N, MON_HOP) * (MON_NFFT / 2 + 1);
    for (size_t i = 0; i < n; i++) out[i] = logf(out[i] + 1e-5f);
    return DDSP_OK;
}

static int monitor_init(run_t *r) {
    const ddsp_dataset *ds = &r->ds;
    r->n_mon = (int)(ds->n_valid > 0 ? (ds->n_valid < MAX_MONITOR ? ds->n_valid : MAX_MONITOR)
                                     : (ds->n_train < MAX_MONITOR ? ds->n_train : MAX_MONITOR));
    r->mon_F = ddsp_stft_nframes(r->N, MON_HOP), r->mon_K = MON_NFFT / 2 + 1;
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
static int monitor_update(run_t *r) {
    for (int k = 0; k < r->n_mon; k++) {
        if (load(&r->ds, &r->bb, &r->mon_ex[k], 1)) return DDSP_ERR;
        ddsp_trainer_synthesize(r->tr, r->mon_recon[k], r->bb.f0, r->bb.ld, r->bb.ids, 1, r->seed,
                                UINT64_MAX, 0);
        if (log_spec(r->mon_rlog[k], r->mon_recon[k], r->N)) return DDSP_ERR;
    }
    return DDSP_OK;
}

static int write_checkpoint(run_t *r) {
    char path[PATH_MAX], batch_s[32];
    ddsp_ckpt_path(path, sizeof path, r->run_dir, r->step);
    if (monitor_update(r)) return DDSP_ERR;
    ddsp_ckpt_monitor mon[MAX_MONITOR];
    for (int k = 0; k < r->n_mon; k++)
        mon[k] = (ddsp_ckpt_monitor){r->mon_ex[k], r->mon_target[k], r->mon_recon[k], r->mon_tlog[k],
                                     r->mon_rlog[k]};
    snprintf(batch_s, sizeof batch_s, "%zu", r->B);
    const char *keys[4] = {"dataset", "batch", "model_preset", "run_dir"};
    const char *vals[4] = {r->data, batch_s, r->a->model, r->run_dir};
    ddsp_ckpt_info info = {
        .state = {.step = r->step, .epoch = r->epoch, .epoch_position = r->pos, .seed = r->seed,
                  .n_ranks = r->d.size},
        .history = &r->hist, .monitor = mon, .n_monitor = r->n_mon, .monitor_N = r->N,
        .monitor_F = r->mon_F, .monitor_K = r->mon_K, .monitor_n_fft = MON_NFFT,
        .monitor_hop = MON_HOP, .keys = keys, .values = vals, .n_extra = 4,
        .stat_names = STAT_NAMES, .stat_values = r->stats, .n_stats = 7};
    const double t0 = ddsp_now();
    if (ddsp_ckpt_write(path, &r->m, &r->opt, &r->lc, &info)) {
        /* say what the user still has: the newest checkpoint that opens */
        char why[PATH_MAX + 200], prev[PATH_MAX];
        snprintf(why, sizeof why, "%s", ddsp_last_error());
        if (ddsp_ckpt_latest(r->run_dir, prev, sizeof prev) == DDSP_OK)
            return ddsp_error("%s; the previous checkpoint %s is intact", why, prev);
        return ddsp_error("%s; %s holds no earlier checkpoint", why, r->run_dir);
    }
    ddsp_ckpt_prune(r->run_dir, (int)r->a->keep);
    ddsp_log("wrote checkpoint %s (step %lld, %.2f s)", path, (long long)r->step, ddsp_now() - t0);
    return DDSP_OK;
}

/* ------------------------------------------------------------------ run-folder lock */
/* Rank 0 holds a write lock (fcntl, which NFS also honours) on RUN_DIR/.lock for the whole
 * run, so a second run pointed at the same folder, by --out or --resume, refuses instead of
 * interleaving its checkpoints with ours. The kernel drops the lock when the process ends,
 * SIGKILL included, so a crash never leaves a stale lock; the file stays, holding the last
 * holder's pid and host for the message. Sets r->lock_fd, closed (unlocked) at exit. */
static int run_lock(run_t *r) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/.lock", r->run_dir) >= sizeof path)
        return ddsp_error("%s: run folder path too long", r->run_dir);
    const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return ddsp_error("%s: cannot open the run folder's lock file (%s)", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) == 0) {
        char host[256], line[320];
        if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
        host[sizeof host - 1] = '\0';
        const int n = snprintf(line, sizeof line, "pid %ld on %s\n", (long)getpid(), host);
        /* the text only helps the message of a refused run: the lock holds without it */
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != (ssize_t)n)
            ddsp_log("warning: %s: cannot record this run's pid (%s)", path, strerror(errno));
        r->lock_fd = fd;
        return DDSP_OK;
    }
    const int e = errno;
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
        ddsp_log("warning: %s: this file system does not lock (%s); nothing stops a second run "
                 "from writing into %s", path, strerror(e), r->run_dir);
        close(fd);
        return DDSP_OK;
    }
    if (e != EACCES && e != EAGAIN) {
        close(fd);
        return ddsp_error("%s: cannot lock (%s)", path, strerror(e));
    }
    /* held: name the holder from what it wrote, else ask the kernel */
    char who[300] = "";
    const ssize_t n = pread(fd, who, sizeof who - 1, 0);
    if (n > 0) {
        who[n] = '\0';
        who[strcspn(who, "\n")] = '\0';
    } else if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        snprintf(who, sizeof who, "pid %ld", (long)fl.l_pid);
    }
    close(fd);
    return ddsp_error("%s: another run (%s) is using this run folder (it holds %s); wait for it "
                      "to end, or train into another --out",
                      r->run_dir, who[0] ? who : "pid unknown", path);
}

/* Everything before the first step. Every rank reaches the same verdict (collective). */
static int setup(run_t *r, train_args *a) {
    ddsp_model_config mc;
    ddsp_adam_config ac;
    ddsp_adam_config_default(&ac);
    ac.lr = a->lr, ac.decay_rate = a->lr_decay, ac.clip_norm = a->clip;
    char ckpt[PATH_MAX] = "";
    const char *resume_dir = NULL;
    int resuming = 0, ok = 0;
    r->a = a;
    r->seed = a->seed;
    r->steps = a->steps;
    r->B = a->batch;

    /* where to resume from: a file, or RUN_DIR's newest checkpoint (none: start fresh) */
    if (a->resume) {
        struct stat st;
        const size_t rl = strlen(a->resume);
        const int exists = stat(a->resume, &st) == 0;
        const int is_file_name = rl > 3 && !strcmp(a->resume + rl - 3, ".h5");
        if ((exists && S_ISDIR(st.st_mode)) || (!exists && !is_file_name)) {
            /* a run folder (its newest checkpoint is chosen under the lock, below); one that
             * does not exist yet is a first start */
            resume_dir = a->resume;
            if (!a->out) a->out = a->resume;
        } else if (exists) {
            snprintf(ckpt, sizeof ckpt, "%s", a->resume);
            resuming = 1;
            if (!a->out) {
                static char dir[PATH_MAX];
                snprintf(dir, sizeof dir, "%s", a->resume);
                char *slash = strrchr(dir, '/');
                if (slash) *slash = '\0';
                a->out = slash ? dir : ".";
            }
        } else {
            ddsp_error("--resume %s: no such file or folder", a->resume);
            goto check;
        }
    }
    if (!a->out) a->out = "runs/default";
    r->run_dir = a->out;
    /* lock before choosing the checkpoint to resume from: a run that ends between our choice
     * and our lock would otherwise see its last checkpoints overwritten. Rank 0 alone locks;
     * every rank learns the verdict here, before the first collective (prepare). */
    ok = mkdir_p(r->run_dir) == DDSP_OK && (r->d.rank != 0 || run_lock(r) == DDSP_OK);
    if (ddsp_dist_any(&r->d, !ok)) {
        if (ok) ddsp_error("another rank failed to set up");
        return DDSP_ERR;
    }
    /* we hold the folder: temporaries of checkpoints (and outputs) whose writer was killed
     * are leftovers; a live writer's file (another host's, a running prepare) is kept */
    if (r->d.rank == 0) ddsp_tmp_sweep_dir(r->run_dir, "ckpt-");
    ok = 0;
    if (resume_dir) {
        if (ddsp_ckpt_latest(resume_dir, ckpt, sizeof ckpt) == DDSP_OK) resuming = 1;
        else LOG0("%s has no checkpoint yet: starting a new run there", resume_dir);
    }

    if (resuming) {
        ddsp_ckpt_state st;
        char v[PATH_MAX];
        /* wisdom first: the plans made below are then the ones the run had */
        if (ddsp_ckpt_read(ckpt, &r->m, &r->opt, &st, &r->hist, &r->lc, 1)) goto check;
        r->seed = st.seed, r->step = st.step, r->epoch = st.epoch, r->pos = st.epoch_position;
        if (!a->set_batch && ddsp_ckpt_config_str(ckpt, "batch", v, sizeof v) == DDSP_OK) {
            char *end;
            errno = 0;
            const long long b = strtoll(v, &end, 10);
            if (end == v || *end || errno || b < 1 || b > 4096) {
                ddsp_error("%s: bad /config batch '%s' (expected a whole number in 1 .. 4096)",
                           ckpt, v);
                goto check;
            }
            r->B = (size_t)b;
        }
        if (!a->set_data && ddsp_ckpt_config_str(ckpt, "dataset", v, sizeof v) == DDSP_OK) {
            snprintf(r->data_buf, sizeof r->data_buf, "%s", v);
            a->data = r->data_buf;
        }
        if (a->model_set || a->loss_set || a->seed_set || a->lr_set)
            LOG0("warning: --model/--loss/--seed/--lr are ignored with --resume: the checkpoint's "
                 "settings continue");
        if (ddsp_ckpt_config_str(ckpt, "model_preset", v, sizeof v) == DDSP_OK) {
            static char preset[32];
            snprintf(preset, sizeof preset, "%.31s", v);
            a->model = preset;
        }
        LOG0("resuming from %s at step %lld (written by %d rank(s); %d now)", ckpt,
             (long long)r->step, st.n_ranks, r->d.size);
    } else {
        ddsp_mss_config_default(&r->lc);
        if (ddsp_model_config_preset(&mc, a->model) || ddsp_mss_parse_type(&r->lc, a->loss) ||
            ddsp_adam_config_check(&ac))
            goto check;
        mc.ld_range = a->ld_range;
        mc.synth.reverb = a->reverb;
        if (ddsp_model_init(&r->m, &mc) || ddsp_adam_init(&r->opt, &ac, r->m.n_params)) goto check;
        ddsp_model_init_weights(&r->m, r->seed);
        r->epoch = 0, r->pos = INT64_MAX;
    }

    r->data = a->data;
    if (!r->data) {
        /* prepare AUDIO (or the bundled data/) into RUN_DIR/dataset.h5, once */
        snprintf(r->data_buf, sizeof r->data_buf, "%s/dataset.h5", r->run_dir);
        r->data = r->data_buf;
        if (access(r->data, F_OK) == 0) {
            LOG0("using the prepared dataset %s (delete it to prepare again)", r->data);
        } else {
            char bundled[PATH_MAX];
            if (a->n_audio == 0) {
                const char *b = bundled_data(bundled, sizeof bundled);
                if (!b) {
                    ddsp_error("no --data given and no bundled data/ folder found (run from the "
                               "repository root, or pass --data DATASET.h5)");
                    goto check;
                }
                a->audio[a->n_audio++] = b;
            }
            ddsp_prepare_config pc;
            ddsp_prepare_config_default(&pc);
            ddsp_prepare_stats st;
            LOG0("preparing %s%s -> %s", a->audio[0], a->n_audio > 1 ? " ..." : "", r->data);
            if (ddsp_prepare(&pc, a->audio, a->n_audio, r->data, &r->d, &st)) goto check;
        }
    }
    if (ddsp_dataset_open(r->data, &r->ds)) goto check;
    if (r->ds.sample_rate != r->m.cfg.synth.sample_rate || r->ds.hop != r->m.cfg.synth.hop) {
        ddsp_error("%s: dataset is %d Hz with hop %d; the model runs at %d Hz, hop %d", r->data,
                   r->ds.sample_rate, r->ds.hop, r->m.cfg.synth.sample_rate, r->m.cfg.synth.hop);
        goto check;
    }
    if (r->ds.n_train < 1) {
        ddsp_error("%s: no training examples", r->data);
        goto check;
    }
    if ((size_t)r->d.size > r->B) {
        ddsp_error("--batch %zu is smaller than the %d ranks: every rank needs an example", r->B,
                   r->d.size);
        goto check;
    }
    /* this rank's share of each global batch: examples rank, rank + size, ... */
    r->bmax = (r->B + (size_t)r->d.size - 1) / (size_t)r->d.size;
    r->F = (size_t)r->ds.F, r->N = (size_t)r->ds.T;
    r->order = malloc(sizeof(int64_t) * (size_t)r->ds.n_train);
    if (!r->order) {
        ddsp_error("out of memory");
        goto check;
    }
    /* the data order: a fresh run (or one checkpointed before its first batch) is at epoch
     * 0, position "past the end"; otherwise the position lies within the epoch's
     * permutation, which is recomputed here */
    if (!(r->epoch == 0 && r->pos == INT64_MAX) &&
        !(r->epoch >= 1 && r->pos >= 0 && r->pos <= r->ds.n_train)) {
        ddsp_error("%s: /state epoch %lld, epoch_position %lld does not fit the %lld training "
                   "examples of %s", ckpt, (long long)r->epoch, (long long)r->pos,
                   (long long)r->ds.n_train, r->data);
        goto check;
    }
    if (r->epoch > 0) epoch_order(r->order, r->ds.train, r->ds.n_train, r->seed, (uint64_t)r->epoch - 1);
    ok = 1;
check:
    if (ddsp_dist_any(&r->d, !ok)) {
        if (ok) ddsp_error("another rank failed to set up");
        return DDSP_ERR;
    }
    /* FFT plans: rank 0 plans (or re-plans from the checkpoint's wisdom), the others take
     * its wisdom, so every rank computes every example the same way */
    ok = 0;
    if (a->precision) {
        ddsp_precision want = DDSP_PREC_FP32;
        char why[256];
        ddsp_precision_parse(a->precision, &want);
        const ddsp_precision p = ddsp_nn_precision_resolve(want, why, sizeof why);
        if (why[0]) LOG0("note: %s", why);
        if (ddsp_model_set_precision(&r->m, p)) goto check2;
        LOG0("precision: %s products, fp32 master weights", ddsp_precision_name(p));
    }
    if (r->d.rank == 0) r->tr = ddsp_trainer_init(&r->m, &r->lc, r->bmax, r->F);
    if (ddsp_dist_share_wisdom(&r->d) == DDSP_OK && r->d.rank != 0)
        r->tr = ddsp_trainer_init(&r->m, &r->lc, r->bmax, r->F);
    r->bb.f0 = ddsp_alloc(sizeof(float) * r->bmax * r->F);
    r->bb.ld = ddsp_alloc(sizeof(float) * r->bmax * r->F);
    r->bb.audio = ddsp_alloc(sizeof(float) * r->bmax * r->N);
    r->bb.ids = malloc(sizeof(int64_t) * r->bmax);
    if (!r->tr || !r->bb.f0 || !r->bb.ld || !r->bb.audio || !r->bb.ids) {
        if (!ddsp_last_error()[0]) ddsp_error("out of memory");
        goto check2;
    }
    if (r->d.rank == 0) {
        if (monitor_init(r) || data_stats(r)) goto check2;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/train.csv", r->run_dir);
        r->csv = fopen(path, resuming ? "a" : "w");
        if (!r->csv) {
            ddsp_error("%s: cannot write (%s)", path, strerror(errno));
            goto check2;
        }
        if (!resuming) fprintf(r->csv, "step,train_loss,valid_loss,grad_norm,lr,audio_s_per_s,elapsed_s\n");
    }
    ok = 1;
check2:
    if (ddsp_dist_any(&r->d, !ok)) {
        if (ok) ddsp_error("another rank failed to set up");
        return DDSP_ERR;
    }
    return DDSP_OK;
}

/* FNV-1a over the weights' bytes. Every rank applies the same update to the same summed
 * gradient, so all must hold identical weights; compared at every checkpoint (and every step
 * with DDSP_CHECK_WEIGHTS=1). Returns DDSP_ERR (message) on a mismatch. */
static int weights_agree(const run_t *r) {
    if (r->d.size == 1) return DDSP_OK;
    const unsigned char *p = (const unsigned char *)r->m.params;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < r->m.n_params * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    unsigned long long lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, r->d.comm);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, r->d.comm);
    if (lo != hi)
        return ddsp_error("step %lld: the ranks' weights differ (checksums %016llx..%016llx): "
                          "a rank computed a different update", (long long)r->step, lo, hi);
    return DDSP_OK;
}

/* Returns EXIT_OK, EXIT_FAIL or EXIT_INTERRUPTED (same on every rank). */
static int train_loop(run_t *r) {
    const train_args *a = r->a;
    const ddsp_dataset *ds = &r->ds;
    const int S = r->lc.n_scales;
    int64_t *gidx = malloc(sizeof(int64_t) * r->B), *mine = malloc(sizeof(int64_t) * r->bmax);
    if (ddsp_dist_any(&r->d, !gidx || !mine)) {
        free(gidx), free(mine);
        ddsp_error("out of memory");
        return EXIT_FAIL;
    }
    LOG0("train: %s model (%zu parameters), %lld train / %lld validation examples of %.2f s, "
         "global batch %zu on %d rank(s) x %d thread(s), steps %lld -> %zu, loss %s, run folder %s",
         a->model, r->m.n_weights, (long long)ds->n_train, (long long)ds->n_valid,
         (double)r->N / ds->sample_rate, r->B, r->d.size, omp_get_max_threads(),
         (long long)r->step, r->steps,
         r->lc.terms[0] ? r->lc.terms : ddsp_mss_type_name(r->lc.type), r->run_dir);
    const double t0 = ddsp_now(), el0 = r->hist.n ? r->hist.elapsed_s[r->hist.n - 1] : 0.0;
    double last_log = t0, loss_acc = 0.0, first_loss = NAN, last_loss = NAN, last_valid = NAN;
    size_t loss_n = 0, done = 0;
    double ar_s = 0.0;    /* time in the gradient allreduce */
    double train_s = 0.0; /* time in training steps (not validation or checkpoints) */
    int failed = 0, bad_steps = 0, rc = EXIT_FAIL;
    const char *cw = getenv("DDSP_CHECK_WEIGHTS");
    const int check_every_step = cw && cw[0] == '1';
    if (ds->n_valid > 0 && r->step == 0 && a->valid_every > 0) {
        last_valid = 0.0;
        last_valid = validate(r->tr, ds, &r->bb, r->bmax, &r->d, r->seed, &failed);
        if (ddsp_dist_any(&r->d, failed)) goto out;
        LOG0("step 0: validation loss %.4f", last_valid);
        if (r->d.rank == 0 && ddsp_history_add_valid(&r->hist, 0, last_valid)) failed = 1;
        if (r->csv) fprintf(r->csv, "0,,%.6f,,,,0\n", last_valid);
    }
    while ((size_t)r->step < r->steps) {
        const double ts = ddsp_now();
        next_batch(r, gidx);
        size_t nb = 0;
        for (size_t k = (size_t)r->d.rank; k < r->B; k += (size_t)r->d.size) mine[nb++] = gidx[k];
        failed = load(ds, &r->bb, mine, nb);
        if (ddsp_dist_any(&r->d, failed)) goto out;
        ddsp_model_zero_grad(&r->m);
        ddsp_mss_value val;
        ddsp_trainer_step(r->tr, &val, r->bb.f0, r->bb.ld, r->bb.audio, r->bb.ids, nb, r->seed,
                          (uint64_t)r->step, 1, (float)nb / (float)r->B);
        /* global loss (the ranks' batch means weighted by their share) and the stop flag */
        double lv[2 + DDSP_MSS_MAX_SCALES];
        lv[0] = val.total * (double)nb / (double)r->B;
        for (int s = 0; s < S; s++) lv[1 + s] = val.per_scale[s] * (double)nb / (double)r->B;
        lv[1 + S] = stop_signal != 0;
        if (r->d.size > 1) {
            const double ta = ddsp_now();
            if (MPI_Allreduce(MPI_IN_PLACE, r->m.grads, (int)r->m.n_params, MPI_FLOAT, MPI_SUM,
                              r->d.comm) != MPI_SUCCESS ||
                MPI_Allreduce(MPI_IN_PLACE, lv, 2 + S, MPI_DOUBLE, MPI_SUM, r->d.comm) != MPI_SUCCESS) {
                ddsp_error("MPI_Allreduce of the gradients failed");
                goto out;
            }
            ar_s += ddsp_now() - ta;
        }
        const double gnorm = ddsp_grad_norm(r->m.grads, r->m.n_params);
        const double lr = ddsp_adam_lr(&r->opt.cfg, r->opt.step);
        if (!isfinite(lv[0]) || !isfinite(gnorm)) {
            /* skip the update: the weights stay those of the last good step */
            bad_steps++;
            LOG0("warning: step %lld: non-finite loss (%g) or gradient norm (%g); update skipped "
                 "(%d in a row)", (long long)r->step + 1, lv[0], gnorm, bad_steps);
            if (bad_steps >= 5) {
                char prev[PATH_MAX];
                if (ddsp_ckpt_latest(r->run_dir, prev, sizeof prev) == DDSP_OK)
                    ddsp_error("%d consecutive non-finite steps: stopping; the last checkpoint %s "
                               "is intact", bad_steps, prev);
                else
                    ddsp_error("%d consecutive non-finite steps: stopping before any checkpoint "
                               "was written in %s (nothing to resume from)", bad_steps, r->run_dir);
                goto out;
            }
        } else {
            bad_steps = 0;
            ddsp_clip_grads(r->m.grads, r->m.n_params, gnorm, r->opt.cfg.clip_norm);
            ddsp_adam_update(&r->opt, r->m.params, r->m.grads);
        }
        r->step++, done++;
        train_s += ddsp_now() - ts;
        if (isnan(first_loss)) first_loss = lv[0];
        last_loss = lv[0];
        loss_acc += lv[0], loss_n++;

        const int last = (size_t)r->step == r->steps, stop = lv[1 + S] > 0;
        const int do_valid = ds->n_valid > 0 && (last || (a->valid_every && r->step % (int64_t)a->valid_every == 0));
        double vloss = NAN;
        if (do_valid) {
            vloss = validate(r->tr, ds, &r->bb, r->bmax, &r->d, r->seed, &failed);
            if (ddsp_dist_any(&r->d, failed)) goto out;
            last_valid = vloss;
        }
        const double now = ddsp_now(), el = el0 + (now - t0);
        const double aps = (double)done * (double)r->B * (double)r->N / ds->sample_rate / train_s;
        if (r->d.rank == 0) {
            if (ddsp_history_add(&r->hist, r->step, lv[0], gnorm, lr, aps, el) ||
                (do_valid && ddsp_history_add_valid(&r->hist, r->step, vloss))) {
                failed = 1;
            }
            if (r->csv) {
                char vs[32] = "";
                if (do_valid) snprintf(vs, sizeof vs, "%.6f", vloss);
                fprintf(r->csv, "%lld,%.6f,%s,%.5f,%.3g,%.3f,%.2f\n", (long long)r->step, lv[0], vs,
                        gnorm, lr, aps, el);
                fflush(r->csv);
            }
            if (now - last_log >= a->log_every || last || do_valid || done == 1 || stop) {
                char eta[32], per[256] = "";
                fmt_secs(eta, sizeof eta, (now - t0) / (double)done * (double)(r->steps - (size_t)r->step));
                size_t o = 0;
                for (int s = 0; s < S && o < sizeof per; s++)
                    o += (size_t)snprintf(per + o, sizeof per - o, "%s%.2f", s ? " " : "", lv[1 + s]);
                ddsp_log("step %lld/%zu  loss %.4f (mean %.4f since last line)  [%s]  |g| %.3g  "
                         "lr %.2g  %.2f audio-s/s  eta %s",
                         (long long)r->step, r->steps, lv[0], loss_acc / (double)loss_n, per, gnorm,
                         lr, aps, eta);
                if (do_valid) ddsp_log("step %lld: validation loss %.4f", (long long)r->step, vloss);
                loss_acc = 0.0, loss_n = 0;
                last_log = now;
            }
        }
        const int ckpt = last || stop || (a->ckpt_every && r->step % (int64_t)a->ckpt_every == 0);
        if ((ckpt || check_every_step) && weights_agree(r)) goto out;
        if (ckpt && r->d.rank == 0 && write_checkpoint(r)) failed = 1;
        if (ddsp_dist_any(&r->d, failed)) goto out;
        if (stop && !last) {
            LOG0("stopped by signal %d at step %lld after writing a checkpoint; resume with "
                 "--resume %s", (int)stop_signal ? (int)stop_signal : SIGUSR1, (long long)r->step,
                 r->run_dir);
            rc = EXIT_INTERRUPTED;
            goto out;
        }
    }
    rc = EXIT_OK;
    if (r->d.rank == 0) {
        if (done == 0 && ddsp_ckpt_latest(r->run_dir, (char[PATH_MAX]){0}, PATH_MAX) != DDSP_OK &&
            write_checkpoint(r))
            rc = EXIT_FAIL;
        /* a resynthesis of the first monitoring example and its original, to listen to */
        char path[PATH_MAX], tpath[PATH_MAX];
        snprintf(path, sizeof path, "%s/resynth.wav", r->run_dir);
        snprintf(tpath, sizeof tpath, "%s/target.wav", r->run_dir);
        if (rc == EXIT_OK && (monitor_update(r) ||
                              ddsp_audio_write(path, r->mon_recon[0], r->N, ds->sample_rate) ||
                              ddsp_audio_write(tpath, r->mon_target[0], r->N, ds->sample_rate)))
            rc = EXIT_FAIL;
        else if (rc == EXIT_OK)
            ddsp_log("wrote %s (%s example %lld) and %s (its original)", path,
                     ds->n_valid > 0 ? "validation" : "training", (long long)r->mon_ex[0], tpath);
        if (done > 0 && r->d.size > 1)
            ddsp_log("gradient allreduce (%zu floats): %.1f ms per step, %.1f%% of the training-step time",
                     r->m.n_params, 1e3 * ar_s / (double)done, 100.0 * ar_s / train_s);
        char vtxt[64];
        if (ds->n_valid > 0) snprintf(vtxt, sizeof vtxt, "validation %.4f", last_valid);
        else snprintf(vtxt, sizeof vtxt, "no validation split");
        if (done > 0)
            printf("trained to step %lld in %.1f s: loss %.4f -> %.4f (batch), %s; run folder %s\n",
                   (long long)r->step, ddsp_now() - t0, first_loss, last_loss, vtxt, r->run_dir);
        else
            printf("nothing to do: the run is already at step %lld (--steps %zu); run folder %s\n",
                   (long long)r->step, r->steps, r->run_dir);
    }
    if (ddsp_dist_any(&r->d, rc != EXIT_OK)) rc = EXIT_FAIL;
out:
    free(gidx), free(mine);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    int pr = parse(argc, argv, &a);
    if (pr != 0) {
        free(a.audio);
        return pr > 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (!a.resume) {
        /* settings errors are usage errors, reported before MPI starts */
        ddsp_model_config mc;
        ddsp_mss_config lc;
        ddsp_adam_config ac;
        ddsp_mss_config_default(&lc);
        ddsp_adam_config_default(&ac);
        ac.lr = a.lr, ac.decay_rate = a.lr_decay, ac.clip_norm = a.clip;
        int bad = ddsp_model_config_preset(&mc, a.model) || ddsp_mss_parse_type(&lc, a.loss) ||
                  ddsp_adam_config_check(&ac);
        if (!bad) {
            mc.ld_range = a.ld_range;
            bad = ddsp_model_config_check(&mc);
        }
        if (bad) {
            cli_fail("train", "%s", ddsp_last_error());
            free(a.audio);
            return EXIT_USAGE;
        }
    }
    run_t r;
    memset(&r, 0, sizeof r);
    r.ds.file = -1;
    r.lock_fd = -1;
    if (ddsp_dist_init(&r.d, &argc, &argv)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_FAIL;
    }
    ddsp_h5_quiet();
    install_signals();
#ifdef __GLIBC__
    /* glibc serves a large block from the heap once a block that large has been freed, so the
     * checkpoint's in-memory image, built anew at every write and a little larger each time
     * (the history grows), ratchets resident memory up over a long run. A fixed 1 MB threshold
     * keeps such blocks mmapped and gives them back when freed: memory stays flat (measured
     * with tests/soak.sh). Training steps allocate nothing, so they are unaffected. */
    if (mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1) {
        /* only replacement allocators refuse (ASan's, tcmalloc): they manage this themselves,
         * so there is nothing to tell the user, and a warning would break one-line errors */
    }
#endif
    /* FFT plans are FFTW_ESTIMATE's (ddsp/dsp.h), so a seed reproduces a run bit for bit; with
     * DDSP_FFTW_PLANNER=measure rank 0's plans are broadcast and stored in checkpoints for
     * exact resumes. */
    int rc = EXIT_FAIL;
    if (setup(&r, &a) == DDSP_OK) rc = train_loop(&r);
    if (rc == EXIT_FAIL && ddsp_last_error()[0] && strncmp(ddsp_last_error(), "another rank", 12))
        cli_fail("train", "%s", ddsp_last_error());
    if (r.csv) fclose(r.csv);
    for (int k = 0; k < MAX_MONITOR; k++) {
        ddsp_free(r.mon_target[k]), ddsp_free(r.mon_recon[k]);
        ddsp_free(r.mon_tlog[k]), ddsp_free(r.mon_rlog[k]);
    }
    ddsp_history_free(&r.hist);
    ddsp_trainer_free(r.tr);
    ddsp_adam_free(&r.opt);
    ddsp_model_free(&r.m);
    ddsp_dataset_close(&r.ds);
    ddsp_free(r.bb.f0), ddsp_free(r.bb.ld), ddsp_free(r.bb.audio);
    free(r.bb.ids), free(r.order), free(a.audio);
    ddsp_fft_cleanup();
    if (r.lock_fd >= 0) close(r.lock_fd); /* releases the run folder */
    ddsp_dist_finalize();
    return rc;
}
