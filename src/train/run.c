/* A training run: opening (create or resume a run folder), its settings, the folder's lock
 * and contents, closing (see ddsp/run.h for the contract). The loop is in run_loop.c. */
#define _DEFAULT_SOURCE /* realpath */
#include "train/run_internal.h"

#include "ddsp/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t ddsp_run_stop_signal;

void ddsp_run_settings_default(ddsp_run_settings *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->model, sizeof s->model, "full");
    snprintf(s->loss, sizeof s->loss, "l1log");
    snprintf(s->precision, sizeof s->precision, "fp32");
    s->ld_range = 120.0;
    s->seed = 1;
    s->lr = 3e-4, s->lr_decay = 1.0, s->clip = 3.0;
    s->batch = 4;
    s->steps = 300, s->valid_every = 100, s->ckpt_every = 100, s->keep = 3;
    s->log_every = 5.0;
}

/* ------------------------------------------------------------------ signals */
static void on_signal(int sig) {
    /* a second Ctrl-C: the user does not want to wait for the step and the checkpoint */
    if (sig == SIGINT && ddsp_run_stop_signal == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    ddsp_run_stop_signal = sig;
    if (sig == SIGINT) { /* at once, so the user knows it was heard (write is signal-safe) */
        static const char msg[] = "[ddsp] SIGINT: stopping after this step and its checkpoint "
                                  "(Ctrl-C again to quit at once)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
}

/* The handler runs on an alternate stack in every thread that computes (the calling thread
 * and OpenMP's pool, which oneDNN's kernels run on): delivered on the interrupted thread's own
 * stack, it overwrote data that oneDNN's JIT-generated kernels keep below the stack pointer,
 * and the heap was found corrupted a few products later (tests/train_resume.sh signal under
 * load, ~1 run in 4, before this). Each thread's stack is set once and kept for the thread's
 * life (the pool outlives the run). */
static _Thread_local void *alt_stack;
static void use_alt_stack(void) {
    if (alt_stack) return;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_size = 1 << 16;
    ss.ss_sp = malloc(ss.ss_size);
    if (ss.ss_sp && sigaltstack(&ss, NULL) == 0) alt_stack = ss.ss_sp;
    else free(ss.ss_sp);
}

static void install_signals(ddsp_run *r) {
    use_alt_stack();
#pragma omp parallel
    use_alt_stack();
    static const int sigs[3] = {SIGUSR1, SIGTERM, SIGINT};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* on the alternate stack (above); interrupted system calls resume */
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ddsp_run_stop_signal = 0;
    for (int k = 0; k < 3; k++) {
        sigaction(sigs[k], NULL, &r->old_sig[k]);
        /* a signal ignored by whoever started us (nohup, a shell's background job) stays so */
        if (r->old_sig[k].sa_handler == SIG_IGN) continue;
        sigaction(sigs[k], &sa, NULL);
    }
    /* past a file-size limit (ulimit -f) write() fails with EFBIG, as on a full disk, instead
     * of SIGXFSZ killing the process: the checkpoint writer then reports it */
    signal(SIGXFSZ, SIG_IGN);
    r->sig_installed = 1;
}

static void restore_signals(ddsp_run *r) {
    static const int sigs[3] = {SIGUSR1, SIGTERM, SIGINT};
    if (!r->sig_installed) return;
    for (int k = 0; k < 3; k++) sigaction(sigs[k], &r->old_sig[k], NULL);
    r->sig_installed = 0;
}

/* ------------------------------------------------------------------ the folder */
static int mkdir_p(const char *dir) {
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p) return ddsp_error("%s: path too long", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return ddsp_error("%s: cannot create folder (%s)", p, strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return ddsp_error("%s: cannot create folder (%s)", p, strerror(errno));
    return DDSP_OK;
}

/* Rank 0 holds a write lock (fcntl, which NFS also honours) on RUN_DIR/.lock for the whole
 * run, so a second run pointed at the same folder refuses instead of interleaving its
 * checkpoints with ours. The kernel drops the lock when the process ends, SIGKILL included;
 * the file keeps the last holder's pid and host for the message. */
static int run_lock(ddsp_run *r) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/.lock", r->s.run_dir) >= sizeof path)
        return ddsp_error("%s: run folder path too long", r->s.run_dir);
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
                 "from writing into %s", path, strerror(e), r->s.run_dir);
        close(fd);
        return DDSP_OK;
    }
    if (e != EACCES && e != EAGAIN) {
        close(fd);
        return ddsp_error("%s: cannot lock (%s)", path, strerror(e));
    }
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
                      r->s.run_dir, who[0] ? who : "pid unknown", path);
}

/* 16 hex digits from the kernel's random source (clock and pid if it has none). */
static void new_run_id(char *id, size_t cap) {
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1)
        v = ddsp_rng_u64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), (uint64_t)clock());
    if (f) fclose(f);
    snprintf(id, cap, "%016llx", (unsigned long long)v);
}

/* The run outputs a folder may hold (other runs' files are those; samples/ and report/ are
 * folders of them: set aside whole, so a new run never writes over another's samples). */
static int is_run_file(const char *name) {
    long long st;
    char tail[8];
    return !strcmp(name, DDSP_RUN_FILE) || !strcmp(name, "train.csv") ||
           !strcmp(name, "resynth.wav") || !strcmp(name, "target.wav") ||
           !strcmp(name, "dataset.h5") || !strcmp(name, "samples") || !strcmp(name, "report") ||
           (sscanf(name, "ckpt-%lld.%7s", &st, tail) == 2 && !strcmp(tail, "h5"));
}

/* What of another run is in the folder: 0 nothing; else a description in what (cap). Only
 * run.h5, checkpoints and train.csv count (a prepared dataset.h5 alone is reused). */
static int other_run(const char *dir, char *what, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n_ckpt = 0, has_run = 0, has_csv = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long st;
        char tail[8];
        if (!strcmp(e->d_name, DDSP_RUN_FILE)) has_run = 1;
        else if (!strcmp(e->d_name, "train.csv")) has_csv = 1;
        else if (sscanf(e->d_name, "ckpt-%lld.%7s", &st, tail) == 2 && !strcmp(tail, "h5")) n_ckpt++;
    }
    closedir(d);
    if (!has_run && !has_csv && !n_ckpt) return 0;
    snprintf(what, cap, "%s%s%d checkpoint(s)%s", has_run ? "run.h5 (a run's settings), " : "",
             has_csv ? "train.csv, " : "", n_ckpt, "");
    return 1;
}

/* Move another run's files into RUN_DIR/aside-<id>-<time>/ (nothing is deleted). */
static int set_aside(const char *dir, const char *keep_data) {
    ddsp_run_settings old;
    char id[24] = "unknown";
    if (ddsp_ckpt_run_read(dir, &old) == DDSP_OK && old.run_id[0]) snprintf(id, sizeof id, "%s", old.run_id);
    char when[32], aside[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
    const time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y%m%dT%H%M%S", gmtime_r(&now, &tmv));
    if ((size_t)snprintf(aside, sizeof aside, "%s/aside-%s-%s", dir, id, when) >= sizeof aside)
        return ddsp_error("%s: path too long", dir);
    if (mkdir(aside, 0755) != 0) return ddsp_error("%s: cannot create (%s)", aside, strerror(errno));
    DIR *d = opendir(dir);
    if (!d) return ddsp_error("%s: cannot read the folder (%s)", dir, strerror(errno));
    struct dirent *e;
    int n = 0, rc = DDSP_OK;
    while ((e = readdir(d)) != NULL && rc == DDSP_OK) {
        if (!is_run_file(e->d_name)) continue;
        if ((size_t)snprintf(from, sizeof from, "%s/%s", dir, e->d_name) >= sizeof from ||
            (size_t)snprintf(to, sizeof to, "%s/%s", aside, e->d_name) >= sizeof to) {
            rc = ddsp_error("%s/%s: path too long", dir, e->d_name);
            break;
        }
        if (keep_data && keep_data[0] && !strcmp(from, keep_data)) continue;
        if (rename(from, to) != 0) rc = ddsp_error("%s: cannot move it aside (%s)", from, strerror(errno));
        else n++;
    }
    closedir(d);
    if (rc == DDSP_OK) ddsp_log("moved %d file(s) of the earlier run (id %s) to %s", n, id, aside);
    return rc;
}

/* ------------------------------------------------------------------ settings */
/* The run's settings for a resume: the stored ones, with what the request may change (and
 * gave) applied; DDSP_RUN_REFUSED naming the flag when it asks to change anything else. */
static int merge_settings(ddsp_run_settings *s, const ddsp_run_request *q) {
    const ddsp_run_settings *w = &q->settings;
    const unsigned g = q->given;
    char a[1100], b[1100];
    /* the loss in its normalised form (as stored) */
    ddsp_loss_config lw, ls;
    ddsp_loss_config_default(&lw), ddsp_loss_config_default(&ls);
    snprintf(a, sizeof a, "%s", w->loss);
    snprintf(b, sizeof b, "%s", s->loss);
    if (!ddsp_loss_parse(&lw, w->loss) && !ddsp_loss_parse(&ls, s->loss)) {
        ddsp_loss_describe(&lw, a, sizeof a);
        ddsp_loss_describe(&ls, b, sizeof b);
    }
    struct {
        unsigned bit;
        const char *flag;
        int same;
    } fixed[] = {{DDSP_RUN_GIVEN_MODEL, "--model", !strcmp(w->model, s->model)},
                 {DDSP_RUN_GIVEN_REVERB, "--reverb", w->reverb == s->reverb},
                 {DDSP_RUN_GIVEN_LD_RANGE, "--ld-range", w->ld_range == s->ld_range},
                 {DDSP_RUN_GIVEN_LOSS, "--loss", !strcmp(a, b)},
                 {DDSP_RUN_GIVEN_SEED, "--seed", w->seed == s->seed},
                 {DDSP_RUN_GIVEN_LR, "--lr", w->lr == s->lr},
                 {DDSP_RUN_GIVEN_LR_DECAY, "--lr-decay", w->lr_decay == s->lr_decay},
                 {DDSP_RUN_GIVEN_CLIP, "--clip", w->clip == s->clip},
                 {DDSP_RUN_GIVEN_BATCH, "--batch", w->batch == s->batch},
                 {DDSP_RUN_GIVEN_PRECISION, "--precision", !strcmp(w->precision, s->precision)}};
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++)
        if ((g & fixed[k].bit) && !fixed[k].same) {
            ddsp_error("%s: %s differs from the run's own setting; a run keeps its model, loss, "
                       "seed, precision, learning rate and batch (start a new run with another "
                       "--out to change it)", s->run_dir, fixed[k].flag);
            return DDSP_RUN_REFUSED;
        }
    /* what may change between sessions, said once */
#define CHANGE_I(bit, field, flag)                                                                 \
    if ((g & bit) && w->field != s->field) {                                                       \
        LOG0("%s: %s %lld (was %lld)", s->run_dir, flag, (long long)w->field, (long long)s->field); \
        s->field = w->field;                                                                       \
    }
    CHANGE_I(DDSP_RUN_GIVEN_STEPS, steps, "--steps")
    CHANGE_I(DDSP_RUN_GIVEN_VALID_EVERY, valid_every, "--valid-every")
    CHANGE_I(DDSP_RUN_GIVEN_CKPT_EVERY, ckpt_every, "--ckpt-every")
    CHANGE_I(DDSP_RUN_GIVEN_KEEP, keep, "--keep")
#undef CHANGE_I
    if ((g & DDSP_RUN_GIVEN_LOG_EVERY) && w->log_every != s->log_every) {
        LOG0("%s: --log-every %g (was %g)", s->run_dir, w->log_every, s->log_every);
        s->log_every = w->log_every;
    }
    if ((g & DDSP_RUN_GIVEN_DATA) && strcmp(w->data, s->data)) {
        LOG0("%s: --data %s (was %s)", s->run_dir, w->data, s->data);
        snprintf(s->data, sizeof s->data, "%s", w->data);
    }
    /* version-1 checkpoints did not record these: the request's (defaults) */
    if (s->steps < 0) s->steps = w->steps;
    if (s->valid_every < 0) s->valid_every = w->valid_every;
    if (s->ckpt_every < 0) s->ckpt_every = w->ckpt_every;
    if (s->keep < 1) s->keep = w->keep;
    if (s->log_every < 0) s->log_every = w->log_every;
    if (!s->model[0]) snprintf(s->model, sizeof s->model, "%s", w->model);
    if (!s->batch) s->batch = w->batch;
    return DDSP_OK;
}

/* Everything about the request that can be checked before MPI work: DDSP_RUN_REFUSED with
 * the message of the bad setting. */
static int check_request_settings(const ddsp_run_settings *s) {
    ddsp_model_config mc;
    ddsp_loss_config lc;
    ddsp_adam_config ac;
    ddsp_loss_config_default(&lc);
    ddsp_adam_config_default(&ac);
    ac.lr = s->lr, ac.decay_rate = s->lr_decay, ac.clip_norm = s->clip;
    if (ddsp_model_config_preset(&mc, s->model) || ddsp_loss_parse(&lc, s->loss) ||
        ddsp_adam_config_check(&ac))
        return DDSP_RUN_REFUSED;
    mc.ld_range = s->ld_range;
    mc.synth.reverb = s->reverb;
    if (ddsp_model_config_check(&mc)) return DDSP_RUN_REFUSED;
    ddsp_precision prec;
    if (ddsp_precision_parse(s->precision, &prec)) return DDSP_RUN_REFUSED;
    if (s->batch < 1 || s->batch > 4096) return ddsp_error("batch %lld not in 1..4096", (long long)s->batch), DDSP_RUN_REFUSED;
    return DDSP_OK;
}

/* Absolute form of an existing path (relative paths in a run's settings would break when the
 * run is resumed from another working directory). */
int run_path(const ddsp_run *r, const char *name, char *out, size_t cap) {
    if ((size_t)snprintf(out, cap, "%s/%s", r->s.run_dir, name) >= cap)
        return ddsp_error("%s/%s: path too long", r->s.run_dir, name);
    return DDSP_OK;
}

static int absolute(char *path, size_t cap) {
    char buf[PATH_MAX];
    if (!realpath(path, buf)) return ddsp_error("%s: %s", path, strerror(errno));
    if (strlen(buf) >= cap) return ddsp_error("%s: path too long", buf);
    memcpy(path, buf, strlen(buf) + 1);
    return DDSP_OK;
}

/* ------------------------------------------------------------------ samples */
int ddsp_run_sample_path(char *path, size_t cap, const char *run_dir, int64_t step,
                         int64_t example) {
    const int n = step < 0 ? snprintf(path, cap, "%s/samples/target-example-%lld.wav", run_dir,
                                      (long long)example)
                           : snprintf(path, cap, "%s/samples/step-%08lld-example-%lld.wav",
                                      run_dir, (long long)step, (long long)example);
    if (n < 0 || (size_t)n >= cap) return ddsp_error("%s/samples: path too long", run_dir);
    return DDSP_OK;
}

int ddsp_run_sample_parse(const char *name, int64_t *step, int64_t *example) {
    long long st = -1, ex = -1;
    int end = -1;
    if (sscanf(name, "target-example-%lld.wav%n", &ex, &end) == 1 && end > 0 && !name[end]) {
        st = -1;
    } else {
        end = -1;
        if (sscanf(name, "step-%lld-example-%lld.wav%n", &st, &ex, &end) != 2 || end < 0 ||
            name[end] || st < 0)
            return 0;
    }
    if (ex < 0) return 0;
    *step = st, *example = ex;
    return 1;
}

/* ------------------------------------------------------------------ train.csv */
int run_csv_header(const ddsp_run *r, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "step,train_loss,valid_loss,grad_norm,lr,audio_s_per_s,elapsed_s");
    for (int s = 0; s < r->lc.mss.n_scales && o < cap; s++)
        o += (size_t)snprintf(out + o, cap - o, ",loss_%d", r->lc.mss.scales[s]);
    for (int p = 0; p < DDSP_N_PHASES && o < cap; p++)
        o += (size_t)snprintf(out + o, cap - o, ",%s_s", ddsp_phase_name(p));
    for (int m = 0; m < 2; m++)
        for (int p = 0; p < DDSP_STEP_PHASES && o < cap; p++)
            o += (size_t)snprintf(out + o, cap - o, ",%s_s_%s", ddsp_phase_name(p), m ? "min" : "max");
    if (o + 1 < cap) o += (size_t)snprintf(out + o, cap - o, "\n");
    if (o >= cap) return ddsp_error("train.csv: header too long");
    return DDSP_OK;
}

/* Fresh: a new file with its header. Resume: the rows up to the resumed step (a later row was
 * written after the checkpoint the run continues from, and will be written again); the header
 * is this version's (older rows have fewer columns: readers take missing ones as empty). */
static int csv_open(ddsp_run *r) {
    char HEADER[1024];
    if (run_csv_header(r, HEADER, sizeof HEADER)) return DDSP_ERR;
    char path[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/train.csv", r->s.run_dir) >= sizeof path)
        return ddsp_error("%s: path too long", r->s.run_dir);
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    FILE *out = fopen(tmp, "w");
    if (!out) return ddsp_error("%s: cannot write (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    fputs(HEADER, out);
    FILE *in = r->resumed ? fopen(path, "r") : NULL;
    if (in) {
        char line[4096];
        while (fgets(line, sizeof line, in)) {
            char *end;
            const long long st = strtoll(line, &end, 10);
            if (end == line || *end != ',') continue; /* the header, or not a row */
            if (st <= r->step) fputs(line, out);
        }
        fclose(in);
    }
    if (fclose(out) != 0) {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
        return ddsp_error("%s: cannot write (%s)", path, strerror(errno));
    }
    if (ddsp_tmp_publish(tmp, path, 1)) return DDSP_ERR;
    r->csv = fopen(path, "a");
    if (!r->csv) return ddsp_error("%s: cannot write (%s)", path, strerror(errno));
    return DDSP_OK;
}

/* ------------------------------------------------------------------ open */
/* What rank 0 decides about the folder, broadcast to the others. */
typedef struct {
    int rc;                 /* DDSP_OK, DDSP_ERR, DDSP_RUN_REFUSED */
    int mode;               /* 0 fresh, 1 resume from ckpt, 2 resume without a checkpoint */
    char ckpt[PATH_MAX];
    ddsp_run_settings s;
    char msg[2048];         /* rank 0's error, for every rank */
} decision;

static void decide(ddsp_run *r, const ddsp_run_request *q, decision *dc) {
    ddsp_run_settings stored;
    char what[256];
    dc->s = q->settings;
    snprintf(dc->s.run_dir, sizeof dc->s.run_dir, "%s", r->s.run_dir);
    dc->rc = DDSP_OK;
    const int has_run = ddsp_ckpt_run_read(r->s.run_dir, &stored);
    if (has_run == DDSP_ERR) goto fail;
    if (q->from_file) { /* a checkpoint file: its settings, and the folder becomes its run's */
        if (ddsp_ckpt_read_settings(q->from_file, &stored)) goto fail;
        snprintf(stored.run_dir, sizeof stored.run_dir, "%s", r->s.run_dir);
        if (!stored.run_id[0]) new_run_id(stored.run_id, sizeof stored.run_id);
        snprintf(dc->ckpt, sizeof dc->ckpt, "%s", q->from_file);
        dc->s = stored, dc->mode = 1;
    } else if (q->resume && has_run == DDSP_OK) {
        snprintf(stored.run_dir, sizeof stored.run_dir, "%s", r->s.run_dir);
        dc->s = stored;
        dc->mode = ddsp_ckpt_latest(r->s.run_dir, stored.run_id, dc->ckpt, sizeof dc->ckpt) == DDSP_OK ? 1 : 2;
        if (dc->mode == 2)
            ddsp_log("%s: the run (id %s) has no checkpoint yet: starting it again with its own "
                     "settings", r->s.run_dir, stored.run_id);
    } else if (q->resume && ddsp_ckpt_latest(r->s.run_dir, NULL, dc->ckpt, sizeof dc->ckpt) == DDSP_OK) {
        /* checkpoints without run.h5 (copied into a new folder, or written by a ddsp before
         * run files): the newest readable one's settings and run id (a new id if it has none) */
        if (ddsp_ckpt_read_settings(dc->ckpt, &stored)) goto fail;
        snprintf(stored.run_dir, sizeof stored.run_dir, "%s", r->s.run_dir);
        if (!stored.run_id[0]) new_run_id(stored.run_id, sizeof stored.run_id);
        dc->s = stored, dc->mode = 1;
    } else if (other_run(r->s.run_dir, what, sizeof what)) {
        if (q->resume) {
            ddsp_error("%s holds %s but no run of its own to resume (no run.h5 and no readable "
                       "checkpoint); train into another --out, or pass --set-aside to move "
                       "those files aside", r->s.run_dir, what);
            dc->rc = DDSP_RUN_REFUSED;
            goto fail;
        }
        if (!q->set_aside) {
            ddsp_error("%s holds another run's files (%s): resume it with --resume %s, train "
                       "into another --out, or pass --set-aside to move them into an aside-* "
                       "folder", r->s.run_dir, what, r->s.run_dir);
            dc->rc = DDSP_RUN_REFUSED;
            goto fail;
        }
        if (set_aside(r->s.run_dir, q->settings.data)) goto fail;
        dc->mode = 0;
    } else {
        dc->mode = 0;
    }
    if (dc->mode == 0) {
        new_run_id(dc->s.run_id, sizeof dc->s.run_id);
    } else {
        const int rc = merge_settings(&dc->s, q);
        if (rc) {
            dc->rc = rc;
            goto fail;
        }
    }
    return;
fail:
    if (dc->rc == DDSP_OK) dc->rc = DDSP_ERR;
    snprintf(dc->msg, sizeof dc->msg, "%s", ddsp_last_error());
}

/* Dataset: the settings', or RUN_DIR/dataset.h5 prepared from the request's audio once. */
static int open_data(ddsp_run *r, const ddsp_run_request *q) {
    char *data = r->s.data;
    if (!data[0]) {
        if (run_path(r, "dataset.h5", data, sizeof r->s.data)) return DDSP_ERR;
        if (access(data, F_OK) == 0) {
            LOG0("using the prepared dataset %s (delete it to prepare again)", data);
        } else {
            if (q->n_audio < 1) return ddsp_error("no --data and no audio to prepare");
            ddsp_prepare_config pc;
            ddsp_prepare_config_default(&pc);
            ddsp_prepare_stats st;
            LOG0("preparing %s%s -> %s", q->audio[0], q->n_audio > 1 ? " ..." : "", data);
            if (ddsp_prepare(&pc, q->audio, q->n_audio, data, &r->d, &st)) return DDSP_ERR;
        }
    }
    if (access(data, F_OK) != 0)
        return ddsp_error("%s: the run's dataset is missing (moved? pass --data NEW_PATH)", data);
    if (absolute(data, sizeof r->s.data) || ddsp_dataset_open(data, &r->ds)) return DDSP_ERR;
    r->ds_open = 1;
    const ddsp_dataset *ds = &r->ds;
    if (ds->sample_rate != r->m.cfg.synth.sample_rate || ds->hop != r->m.cfg.synth.hop)
        return ddsp_error("%s: dataset is %d Hz with hop %d; the model runs at %d Hz, hop %d", data,
                          ds->sample_rate, ds->hop, r->m.cfg.synth.sample_rate, r->m.cfg.synth.hop);
    if (ds->n_train < 1) return ddsp_error("%s: no training examples", data);
    r->F = (size_t)ds->F, r->N = (size_t)ds->T;
    return DDSP_OK;
}

/* Model, optimiser, loss: from the checkpoint, or new from the settings. */
/* The decoder's products: bf16 only where the CPU multiplies it natively (else fp32 and a
 * note; the run's setting stays what was asked, so a resume on such a CPU asks again). */
static int set_precision(ddsp_run *r) {
    ddsp_precision prec = DDSP_PREC_FP32;
    char note[256] = "";
    if (ddsp_precision_parse(r->s.precision, &prec)) return DDSP_ERR;
    prec = ddsp_nn_precision_resolve(prec, note, sizeof note);
    if (note[0]) LOG0("note: %s", note);
    return ddsp_model_set_precision(&r->m, prec);
}

static int open_model(ddsp_run *r, const char *ckpt) {
    if (ckpt) {
        ddsp_ckpt_state st;
        /* wisdom first: the plans made below are then the ones the run had */
        if (ddsp_ckpt_read(ckpt, &r->m, &r->opt, &st, &r->hist, &r->lc, 1)) return DDSP_ERR;
        r->step = st.step, r->epoch = st.epoch, r->pos = st.epoch_position;
        r->s.seed = (int64_t)st.seed;
        LOG0("resuming from %s at step %lld (written by %d rank(s); %d now)", ckpt,
             (long long)r->step, st.n_ranks, r->d.size);
        return DDSP_OK;
    }
    ddsp_model_config mc;
    ddsp_adam_config ac;
    ddsp_adam_config_default(&ac);
    ac.lr = r->s.lr, ac.decay_rate = r->s.lr_decay, ac.clip_norm = r->s.clip;
    ddsp_loss_config_default(&r->lc);
    if (ddsp_model_config_preset(&mc, r->s.model) || ddsp_loss_parse(&r->lc, r->s.loss))
        return DDSP_ERR;
    mc.ld_range = r->s.ld_range;
    mc.synth.reverb = r->s.reverb;
    if (ddsp_model_init(&r->m, &mc) || ddsp_adam_init(&r->opt, &ac, r->m.n_params)) return DDSP_ERR;
    ddsp_model_init_weights(&r->m, (uint64_t)r->s.seed);
    r->step = 0, r->epoch = 0, r->pos = DDSP_BATCHER_FRESH;
    return DDSP_OK;
}

int ddsp_run_open(ddsp_run **out, const ddsp_run_request *q, const ddsp_dist *d) {
    *out = NULL;
    ddsp_run *r = calloc(1, sizeof *r);
    if (!r) return ddsp_error("out of memory");
    r->d = *d;
    r->lock_fd = -1;
    r->on_checkpoint = q->on_checkpoint, r->hook_ctx = q->hook_ctx;
    r->sum.last_valid = NAN, r->sum.first_loss = NAN, r->sum.last_loss = NAN;
    int rc = check_request_settings(&q->settings);
    if (ddsp_dist_any(d, rc != DDSP_OK)) {
        free(r);
        return rc != DDSP_OK ? rc : ddsp_error("another rank failed to set up");
    }
    snprintf(r->s.run_dir, sizeof r->s.run_dir, "%s", q->run_dir);
    install_signals(r);
    /* the folder, made absolute, and its lock, before choosing what to resume: a run that ends
     * between our choice and our lock would otherwise see its checkpoints overwritten */
    int ok = (d->rank != 0 || mkdir_p(r->s.run_dir) == DDSP_OK);
    if (ddsp_dist_any(d, !ok) || (ok = absolute(r->s.run_dir, sizeof r->s.run_dir) == DDSP_OK,
                                  ddsp_dist_any(d, !ok)) ||
        (ok = d->rank != 0 || run_lock(r) == DDSP_OK, ddsp_dist_any(d, !ok))) {
        if (ok) ddsp_error("another rank failed to set up");
        ddsp_run_close(r);
        return DDSP_ERR;
    }
    /* leftovers of checkpoint writers that were killed: we hold the folder now */
    if (d->rank == 0) ddsp_tmp_sweep_dir(r->s.run_dir, "ckpt-");
    decision *dc = calloc(1, sizeof *dc);
    if (!dc) {
        ddsp_run_close(r);
        return ddsp_error("out of memory");
    }
    if (d->rank == 0) decide(r, q, dc);
    if (ddsp_dist_bcast(d, dc, sizeof *dc, 0)) dc->rc = DDSP_ERR;
    rc = dc->rc;
    if (rc != DDSP_OK) {
        ddsp_error("%s", dc->msg);
        free(dc);
        ddsp_run_close(r);
        return rc;
    }
    r->s = dc->s;
    r->resumed = dc->mode != 0;
    ok = open_model(r, dc->mode == 1 ? dc->ckpt : NULL) == DDSP_OK && set_precision(r) == DDSP_OK;
    ok = ok && open_data(r, q) == DDSP_OK;
    if (ddsp_dist_any(d, !ok)) {
        free(dc);
        goto fail;
    }
    ok = ddsp_batcher_init(&r->bt, &r->ds, (size_t)r->s.batch, d->rank, d->size,
                           (uint64_t)r->s.seed, r->epoch, r->pos) == DDSP_OK;
    if (!ok && dc->mode == 1) /* the checkpoint's data position: name the file */
        ddsp_error("%s: /state epoch %lld, epoch_position %lld: %s", dc->ckpt, (long long)r->epoch,
                   (long long)r->pos, ddsp_last_error());
    free(dc);
    /* every setting on disk before the first step (a run killed now resumes with them) */
    if (ok && d->rank == 0) ok = ddsp_ckpt_run_write(r->s.run_dir, &r->s) == DDSP_OK;
    if (ddsp_dist_any(d, !ok)) goto fail;
    /* FFT plans: rank 0 plans (or re-plans from the checkpoint's wisdom), the others take its
     * wisdom, so every rank computes every example the same way */
    if (d->rank == 0) r->tr = ddsp_trainer_init(&r->m, &r->lc, r->bt.bmax, r->F);
    ok = ddsp_dist_share_wisdom(d) == DDSP_OK;
    if (ok && d->rank != 0) r->tr = ddsp_trainer_init(&r->m, &r->lc, r->bt.bmax, r->F);
    ok = ok && r->tr;
    if (ok && d->rank == 0) ok = run_monitor_init(r) == DDSP_OK && run_data_stats(r) == DDSP_OK && csv_open(r) == DDSP_OK;
    if (ddsp_dist_any(d, !ok)) goto fail;
    r->sum.resumed = r->resumed;
    r->sum.step = r->step;
    *out = r;
    return DDSP_OK;
fail:
    if (!ddsp_last_error()[0]) ddsp_error("another rank failed to set up");
    ddsp_run_close(r);
    return DDSP_ERR;
}

void ddsp_run_close(ddsp_run *r) {
    if (!r) return;
    if (r->csv) fclose(r->csv);
    for (int k = 0; k < RUN_MAX_MONITOR; k++) {
        ddsp_free(r->mon_target[k]), ddsp_free(r->mon_recon[k]);
        ddsp_free(r->mon_tlog[k]), ddsp_free(r->mon_rlog[k]);
    }
    ddsp_ckpt_history_free(&r->hist);
    ddsp_trainer_free(r->tr);
    ddsp_adam_free(&r->opt);
    ddsp_model_free(&r->m);
    ddsp_batcher_free(&r->bt);
    if (r->ds_open) ddsp_dataset_close(&r->ds);
    if (r->lock_fd >= 0) close(r->lock_fd); /* releases the run folder */
    restore_signals(r);
    free(r);
}

void ddsp_run_get_summary(const ddsp_run *r, ddsp_run_summary *s) {
    *s = r->sum;
    s->step = r->step;
}

const ddsp_run_settings *ddsp_run_get_settings(const ddsp_run *r) {
    return &r->s;
}

const ddsp_model *ddsp_run_get_model(const ddsp_run *r) {
    return &r->m;
}

const ddsp_adam *ddsp_run_get_adam(const ddsp_run *r) {
    return &r->opt;
}
