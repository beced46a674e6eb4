/* `ddsp train`: options into a run request, then the run library (ddsp/run.h) does the work:
 * open (create or resume the run folder), train, close. One process, or data-parallel under
 * mpirun/srun. */
#include "cli/cli.h"
#include "ddsp/dist.h"
#include "ddsp/dsp.h"
#include "ddsp/report.h"
#include "ddsp/run.h"
#include "ddsp/util.h"

#include <limits.h>
#include <math.h>
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
    "       ddsp train --resume RUN_DIR|CHECKPOINT.h5 [--steps N] [--data MOVED.h5] ...\n"
    "\n"
    "Train the DDSP solo_instrument model (RnnFcDecoder + harmonic/noise synth, MSS loss,\n"
    "Adam). With no --data and no AUDIO it prepares the bundled data/ folder; AUDIO files or\n"
    "folders are prepared the same way (the dataset is cached as RUN_DIR/dataset.h5).\n"
    "Under mpirun/srun the ranks share the global batch and sum gradients with MPI.\n"
    "\n"
    "what the run is (kept by a resume, which refuses a different value):\n"
    "  --model full|small    full = 512-wide, GRU 512, 3 layers (magenta); small = 64/64/2\n"
    "  --loss l1log|l1|l2    spectral loss (default l1log, as magenta), or a list of\n"
    "                        spectral terms as in `ddsp loss`, e.g. mag,logmag,delta_time=0.5\n"
    "                        or mag,logmag,scat2=1000 (time scattering; see README)\n"
    "  --seed S              seed for weights, data order and noise (default 1)\n"
    "  --batch B             GLOBAL batch, split over ranks (default 4)\n"
    "  --lr X                Adam learning rate (default 3e-4)\n"
    "  --lr-decay X          multiply the rate by X every 10000 steps (default 1: off; magenta 0.98)\n"
    "  --clip X              global gradient-norm clip (default 3, 0 = off)\n"
    "  --ld-range DB         loudness scaling range (default 120, ddsp<2.0; magenta HEAD 80)\n"
    "  --reverb              add the trainable 48000-tap reverb\n"
    "  --precision fp32|bf16 the decoder's products (default fp32; bf16: bfloat16 operands with\n"
    "                        fp32 accumulation, where the CPU has AVX512_BF16 or AMX, else fp32\n"
    "                        with a note)\n"
    "what may change between sessions:\n"
    "  --data FILE.h5        dataset made by `ddsp prepare` (on resume: where it moved)\n"
    "  --steps N             train until step N (default 300; magenta trains ~30000)\n"
    "  --valid-every K       validation loss every K steps (default 100; 0 = only at the end)\n"
    "  --ckpt-every K        checkpoint every K steps (default 100; 0 = only at the end)\n"
    "  --keep N              keep the newest N checkpoints of the run (default 3)\n"
    "  --log-every SECS      progress line interval (default 5)\n"
    "the run folder:\n"
    "  --out RUN_DIR         where the run lives (default runs/default): run.h5 (its settings\n"
    "                        and id), checkpoints, train.csv, resynth.wav\n"
    "  --resume RUN_DIR|FILE continue the run in RUN_DIR (its settings from run.h5, its newest\n"
    "                        checkpoint) or from a checkpoint file; a folder without a run\n"
    "                        starts one, so a requeued job can always pass it\n"
    "  --set-aside           a new run where another run's files are: move those into\n"
    "                        RUN_DIR/aside-<id>-<time>/ (without it, such a folder is refused)\n"
    "  --no-report           do not refresh RUN_DIR/report/index.html at every checkpoint\n"
    "                        (`ddsp report RUN_DIR` writes it any time)\n"
    "signals: SIGUSR1, SIGTERM and Ctrl-C (SIGINT) finish the current step, write a checkpoint\n"
    "and exit with 3; a second Ctrl-C exits at once.\n"
    "lock: one run per RUN_DIR (RUN_DIR/.lock); a second run there exits with 1 and names it.\n"
    "threads: OMP_NUM_THREADS per process. exit status: 0 done, 1 failure, 2 usage error,\n"
    "3 interrupted by a signal after checkpointing (resume with --resume RUN_DIR).\n";

typedef struct {
    ddsp_run_request q;
    const char *out, *resume;
    const char **audio;
    int n_audio;
    int no_report;
} train_args;

/* Options that set one setting: a string into a buffer, or a range-checked number. */
static int parse(int argc, char **argv, train_args *a) {
    ddsp_run_settings *s = &a->q.settings;
    ddsp_run_settings_default(s);
    a->audio = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->audio) return -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v;
        int r;
        size_t z;
        double x;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(HELP, stdout);
            return 1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
#define GIVE(bit) a->q.given |= (bit)
#define STR(field, bit)                                                                        \
    {                                                                                          \
        if (r < 0) return -1;                                                                  \
        if (strlen(v) >= sizeof s->field) {                                                    \
            cli_fail("train", "%s: value too long (%zu characters)", o, strlen(v));            \
            return -1;                                                                         \
        }                                                                                      \
        snprintf(s->field, sizeof s->field, "%s", v);                                          \
        GIVE(bit);                                                                             \
    }
#define SIZE(field, lo, hi, bit)                                                               \
    {                                                                                          \
        if (r < 0 || cli_parse_size(o, v, &z, lo, hi)) return -1;                              \
        s->field = (int64_t)z;                                                                 \
        GIVE(bit);                                                                             \
    }
#define NUM(field, lo, hi, bit)                                                                \
    {                                                                                          \
        if (r < 0 || cli_parse_double(o, v, &x, lo, hi)) return -1;                            \
        s->field = x;                                                                          \
        GIVE(bit);                                                                             \
    }
        if (OPT("--data")) STR(data, DDSP_RUN_GIVEN_DATA)
        else if (OPT("--model")) STR(model, DDSP_RUN_GIVEN_MODEL)
        else if (OPT("--loss")) STR(loss, DDSP_RUN_GIVEN_LOSS)
        else if (OPT("--precision")) STR(precision, DDSP_RUN_GIVEN_PRECISION)
        else if (OPT("--steps")) SIZE(steps, 0, 1000000000, DDSP_RUN_GIVEN_STEPS)
        else if (OPT("--batch")) SIZE(batch, 1, 4096, DDSP_RUN_GIVEN_BATCH)
        else if (OPT("--valid-every")) SIZE(valid_every, 0, 1000000000, DDSP_RUN_GIVEN_VALID_EVERY)
        else if (OPT("--ckpt-every")) SIZE(ckpt_every, 0, 1000000000, DDSP_RUN_GIVEN_CKPT_EVERY)
        else if (OPT("--keep")) SIZE(keep, 1, 1000000, DDSP_RUN_GIVEN_KEEP)
        else if (OPT("--seed")) SIZE(seed, 0, INT64_MAX, DDSP_RUN_GIVEN_SEED)
        else if (OPT("--lr")) NUM(lr, 1e-12, 0.999, DDSP_RUN_GIVEN_LR)
        else if (OPT("--lr-decay")) NUM(lr_decay, 1e-6, 1.0, DDSP_RUN_GIVEN_LR_DECAY)
        else if (OPT("--clip")) NUM(clip, 0.0, 1e9, DDSP_RUN_GIVEN_CLIP)
        else if (OPT("--ld-range")) NUM(ld_range, 1.0, 300.0, DDSP_RUN_GIVEN_LD_RANGE)
        else if (OPT("--log-every")) NUM(log_every, 0.0, 86400.0, DDSP_RUN_GIVEN_LOG_EVERY)
        else if (OPT("--out")) {
            if (r < 0) return -1;
            a->out = v;
        } else if (OPT("--resume")) {
            if (r < 0) return -1;
            a->resume = v;
        } else if (!strcmp(o, "--reverb")) {
            s->reverb = 1;
            GIVE(DDSP_RUN_GIVEN_REVERB);
        } else if (!strcmp(o, "--set-aside")) {
            a->q.set_aside = 1;
        } else if (!strcmp(o, "--no-report")) {
            a->no_report = 1;
        } else if (o[0] == '-' && o[1] == '-') {
            cli_fail("train", "unknown option '%s' (see ddsp train --help)", o);
            return -1;
        } else {
            a->audio[a->n_audio++] = o;
        }
#undef OPT
#undef GIVE
#undef STR
#undef SIZE
#undef NUM
    }
    if (s->data[0] && a->n_audio) {
        cli_fail("train", "give either --data or AUDIO files, not both");
        return -1;
    }
    return 0;
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

/* Where the run lives and what to resume: --resume DIR (a folder, or a path that does not
 * exist yet and is not a .h5 file) is that run folder; --resume FILE.h5 continues from the
 * file, in --out or the file's folder. Returns 0, or -1 with a message. */
static int where(train_args *a, char *dir, size_t cap) {
    ddsp_run_request *q = &a->q;
    q->run_dir = a->out ? a->out : "runs/default";
    if (!a->resume) return 0;
    struct stat st;
    const size_t rl = strlen(a->resume);
    const int exists = stat(a->resume, &st) == 0;
    const int is_file_name = rl > 3 && !strcmp(a->resume + rl - 3, ".h5");
    q->resume = 1;
    if ((exists && S_ISDIR(st.st_mode)) || (!exists && !is_file_name)) {
        if (!a->out) q->run_dir = a->resume;
        return 0;
    }
    if (!exists) return ddsp_error("--resume %s: no such file or folder", a->resume);
    q->from_file = a->resume;
    if (!a->out) {
        snprintf(dir, cap, "%s", a->resume);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        q->run_dir = slash ? dir : ".";
    }
    return 0;
}

/* The run's hook at every checkpoint (rank 0, outside the timed step): the report. */
static int refresh_report(const char *run_dir, int64_t step, void *ctx) {
    (void)ctx;
    ddsp_report_opts o = {.run_dir = run_dir};
    ddsp_report_info info;
    if (ddsp_report_write(&o, &info)) return DDSP_ERR;
    ddsp_log("step %lld: report %s (%.2f s)", (long long)step, info.page, info.seconds);
    return DDSP_OK;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    memset(&a, 0, sizeof a);
    int pr = parse(argc, argv, &a);
    if (pr != 0) {
        free(a.audio);
        return pr > 0 ? EXIT_OK : EXIT_USAGE;
    }
    char dir[PATH_MAX], bundled[PATH_MAX];
    if (where(&a, dir, sizeof dir)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_FAIL;
    }
    if (!a.q.settings.data[0] && a.n_audio == 0) {
        /* no data given: the bundled recordings (used only if the run has no dataset yet) */
        const char *b = bundled_data(bundled, sizeof bundled);
        if (b) a.audio[a.n_audio++] = b;
    }
    a.q.audio = a.audio, a.q.n_audio = a.n_audio;
    if (!a.no_report) a.q.on_checkpoint = refresh_report;
    ddsp_dist d;
    if (ddsp_dist_init(&d, &argc, &argv)) {
        cli_fail("train", "%s", ddsp_last_error());
        free(a.audio);
        return EXIT_FAIL;
    }
    ddsp_h5_quiet();
#ifdef __GLIBC__
    /* glibc serves a large block from the heap once a block that large has been freed, so the
     * checkpoint's in-memory image, built anew at every write and a little larger each time
     * (the history grows), ratchets resident memory up over a long run. A fixed 1 MB threshold
     * keeps such blocks mmapped and gives them back when freed: memory stays flat (measured
     * with tests/soak.sh). Replacement allocators (ASan's, tcmalloc) refuse: nothing to say. */
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    ddsp_run *r = NULL;
    int rc = ddsp_run_open(&r, &a.q, &d);
    if (rc == DDSP_OK) rc = ddsp_run_train(r);
    const int shown = strncmp(ddsp_last_error(), "another rank", 12) != 0;
    if (rc != DDSP_OK && rc != DDSP_RUN_STOPPED && ddsp_last_error()[0] && (d.rank == 0 || shown))
        cli_fail("train", "%s", ddsp_last_error());
    if (r && (rc == DDSP_OK) && d.rank == 0) {
        ddsp_run_summary s;
        ddsp_run_get_summary(r, &s);
        if (s.hook_calls)
            ddsp_log("report refreshed %d time(s) in %.2f s, %.2f%% of the session's %.1f s",
                     s.hook_calls, s.hook_s, 100.0 * s.hook_s / s.seconds, s.seconds);
        const ddsp_run_settings *rs = ddsp_run_get_settings(r);
        char vtxt[64];
        if (s.has_valid) snprintf(vtxt, sizeof vtxt, "validation %.4f", s.last_valid);
        else snprintf(vtxt, sizeof vtxt, "no validation split");
        if (s.done > 0)
            printf("trained to step %lld in %.1f s: loss %.4f -> %.4f (batch), %s; run folder "
                   "%s\n", (long long)s.step, s.seconds, s.first_loss, s.last_loss, vtxt,
                   rs->run_dir);
        else
            printf("nothing to do: the run is already at step %lld (--steps %lld); run folder "
                   "%s\n", (long long)s.step, (long long)rs->steps, rs->run_dir);
    }
    ddsp_run_close(r);
    free(a.audio);
    ddsp_fft_cleanup();
    ddsp_dist_finalize();
    return rc == DDSP_OK ? EXIT_OK : rc == DDSP_RUN_STOPPED ? EXIT_INTERRUPTED
           : rc == DDSP_RUN_REFUSED ? EXIT_USAGE : EXIT_FAIL;
}
