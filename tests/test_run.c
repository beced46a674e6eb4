/* The run library end to end (ddsp/run.h), on 1 rank or under mpiexec on several:
 *  - open, train K steps, close, reopen (resume), train K more == 2K steps in one session,
 *    bit for bit (weights, Adam moments, step);
 *  - a run that never wrote a checkpoint resumes with its own settings (model, loss, seed,
 *    batch) when the request gives none;
 *  - a resume that asks for another model, loss or seed is refused (DDSP_RUN_REFUSED),
 *    while steps and cadences may change;
 *  - a fresh run into another run's folder is refused, and with set_aside moves the other
 *    run's files aside without deleting any.
 * Usage: test_run AUDIO_DIR WORK_DIR */
#include "ddsp/dist.h"
#include "ddsp/run.h"
#include "ddsp/util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int failures;
static ddsp_dist D;
#define CHECK(c, ...)                                                                       \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            failures++;                                                                     \
            if (D.rank == 0) {                                                              \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                        \
                fprintf(stderr, __VA_ARGS__);                                               \
                fprintf(stderr, " (%s)\n", ddsp_last_error());                             \
            }                                                                               \
        }                                                                                   \
    } while (0)

static char work[1024], dataset[1200];
static const char *audio[1];

/* A small, fast run: small model, 1 s examples are the dataset's; batch 4. */
static ddsp_run_request request(const char *dir, int64_t steps) {
    ddsp_run_request q;
    memset(&q, 0, sizeof q);
    ddsp_run_settings_default(&q.settings);
    snprintf(q.settings.model, sizeof q.settings.model, "small");
    snprintf(q.settings.data, sizeof q.settings.data, "%s", dataset);
    q.settings.steps = steps;
    q.settings.valid_every = 0;
    q.settings.ckpt_every = 1000;
    q.settings.log_every = 1000;
    q.settings.seed = 7;
    q.given = DDSP_RUN_GIVEN_MODEL | DDSP_RUN_GIVEN_DATA | DDSP_RUN_GIVEN_STEPS |
              DDSP_RUN_GIVEN_VALID_EVERY | DDSP_RUN_GIVEN_CKPT_EVERY | DDSP_RUN_GIVEN_LOG_EVERY |
              DDSP_RUN_GIVEN_SEED;
    q.run_dir = dir;
    return q;
}

/* open + train + copy out the weights/moments + close; returns the open/train outcome */
static int session(const ddsp_run_request *q, float **w, float **m, float **v, size_t *n,
                   int64_t *step) {
    ddsp_run *r = NULL;
    int rc = ddsp_run_open(&r, q, &D);
    if (rc != DDSP_OK) return rc;
    rc = ddsp_run_train(r);
    if (w) {
        const ddsp_model *mod = ddsp_run_get_model(r);
        const ddsp_adam *o = ddsp_run_get_adam(r);
        *n = mod->n_params;
        *w = malloc(*n * sizeof(float)), *m = malloc(*n * sizeof(float)), *v = malloc(*n * sizeof(float));
        memcpy(*w, mod->params, *n * sizeof(float));
        memcpy(*m, o->m, *n * sizeof(float));
        memcpy(*v, o->v, *n * sizeof(float));
        ddsp_run_summary s;
        ddsp_run_get_summary(r, &s);
        *step = s.step;
    }
    ddsp_run_close(r);
    return rc;
}

static void path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", work, name); }

static int exists(const char *dir, const char *name) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* K steps, close, resume K more == 2K in one session, bit for bit */
static void check_resume_bitwise(void) {
    const int64_t K = 3;
    char one[1100], two[1100];
    path(one, sizeof one, "one"), path(two, sizeof two, "two");
    float *w1, *m1, *v1, *w2, *m2, *v2;
    size_t n1, n2;
    int64_t s1, s2;
    ddsp_run_request q = request(one, 2 * K);
    CHECK(session(&q, &w1, &m1, &v1, &n1, &s1) == DDSP_OK, "2K steps in one session");
    q = request(two, K);
    CHECK(session(&q, NULL, NULL, NULL, NULL, NULL) == DDSP_OK, "K steps");
    q = request(two, 2 * K);
    q.resume = 1;
    CHECK(session(&q, &w2, &m2, &v2, &n2, &s2) == DDSP_OK, "resume to 2K");
    CHECK(s1 == 2 * K && s2 == 2 * K, "steps %lld and %lld", (long long)s1, (long long)s2);
    CHECK(n1 == n2 && !memcmp(w1, w2, n1 * sizeof(float)), "weights differ after K + K");
    CHECK(n1 == n2 && !memcmp(m1, m2, n1 * sizeof(float)) && !memcmp(v1, v2, n1 * sizeof(float)),
          "Adam moments differ after K + K");
    /* and the weights did move (the comparison is not between two untouched models) */
    double moved = 0;
    for (size_t i = 0; i < n1; i++) moved += fabs((double)m1[i]);
    CHECK(moved > 0, "Adam's first moment is zero: nothing trained");
    free(w1), free(m1), free(v1), free(w2), free(m2), free(v2);
    if (D.rank == 0) printf("ok  %lld + %lld steps == %lld steps bit for bit on %d rank(s)\n",
                            (long long)K, (long long)K, (long long)(2 * K), D.size);
}

/* a run that wrote run.h5 but no checkpoint resumes with its own settings */
static void check_resume_before_checkpoint(void) {
    char dir[1100];
    path(dir, sizeof dir, "nockpt");
    ddsp_run_request q = request(dir, 0); /* opened, settings written, no step, no checkpoint */
    snprintf(q.settings.loss, sizeof q.settings.loss, "l1");
    q.settings.seed = 11;
    q.settings.batch = 2;
    q.given |= DDSP_RUN_GIVEN_LOSS | DDSP_RUN_GIVEN_BATCH;
    ddsp_run *r = NULL;
    CHECK(ddsp_run_open(&r, &q, &D) == DDSP_OK, "open");
    ddsp_run_close(r); /* as if killed before the first checkpoint */
    CHECK(exists(dir, "run.h5"), "run.h5 not written before the first step");
    ddsp_run_request z;
    memset(&z, 0, sizeof z);
    ddsp_run_settings_default(&z.settings); /* a bare `ddsp train --resume DIR --steps 2` */
    z.settings.steps = 2;
    z.given = DDSP_RUN_GIVEN_STEPS;
    z.run_dir = dir;
    z.resume = 1;
    r = NULL;
    CHECK(ddsp_run_open(&r, &z, &D) == DDSP_OK, "resume without a checkpoint");
    if (r) {
        const ddsp_run_settings *s = ddsp_run_get_settings(r);
        CHECK(!strcmp(s->model, "small") && !strcmp(s->loss, "l1") && s->seed == 11 && s->batch == 2 &&
                  !strcmp(s->data, dataset) && s->ckpt_every == 1000 && s->steps == 2,
              "settings not kept: model %s loss %s seed %lld batch %lld data %s ckpt_every %lld",
              s->model, s->loss, (long long)s->seed, (long long)s->batch, s->data,
              (long long)s->ckpt_every);
    }
    ddsp_run_close(r);
    /* asking for another model, loss or seed is refused; the cadence may change */
    const unsigned bad[] = {DDSP_RUN_GIVEN_MODEL, DDSP_RUN_GIVEN_LOSS, DDSP_RUN_GIVEN_SEED};
    for (int k = 0; k < 3; k++) {
        ddsp_run_request b = z;
        snprintf(b.settings.model, sizeof b.settings.model, "full");
        snprintf(b.settings.loss, sizeof b.settings.loss, "l2");
        b.settings.seed = 99;
        b.given |= bad[k];
        r = NULL;
        const int rc = ddsp_run_open(&r, &b, &D);
        CHECK(rc == DDSP_RUN_REFUSED && strstr(ddsp_last_error(), k == 0 ? "--model" : k == 1 ? "--loss" : "--seed"),
              "change %d: rc %d, not refused naming the flag", k, rc);
        ddsp_run_close(r);
    }
    if (D.rank == 0) printf("ok  a run without a checkpoint resumes with its own settings; model/loss/seed changes refused\n");
}

/* a fresh run into another run's folder: refused; set_aside moves the files, deletes none */
static void check_other_run(void) {
    char dir[1100];
    path(dir, sizeof dir, "two"); /* check_resume_bitwise's run, with checkpoints */
    ddsp_run_request q = request(dir, 1);
    ddsp_run *r = NULL;
    int rc = ddsp_run_open(&r, &q, &D);
    CHECK(rc == DDSP_RUN_REFUSED && strstr(ddsp_last_error(), "another run"), "fresh run into another run's folder: rc %d", rc);
    ddsp_run_close(r);
    CHECK(exists(dir, "ckpt-00000006.h5"), "the other run's checkpoint is gone");
    q.set_aside = 1;
    r = NULL;
    rc = ddsp_run_open(&r, &q, &D);
    CHECK(rc == DDSP_OK, "set_aside: rc %d", rc);
    ddsp_run_close(r);
    int aside = 0;
    if (D.rank == 0) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, "aside-", 6)) continue;
            char sub[2400];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            aside += exists(sub, "ckpt-00000006.h5") && exists(sub, "run.h5");
        }
        if (d) closedir(d);
        CHECK(aside == 1, "the other run's files are not in one aside-* folder");
    }
    if (D.rank == 0) printf("ok  another run's folder: refused; set aside without loss\n");
}

int main(int argc, char **argv) {
    if (ddsp_dist_init(&D, &argc, &argv)) {
        fprintf(stderr, "test_run: %s\n", ddsp_last_error());
        return 1;
    }
    if (argc != 3) {
        if (D.rank == 0) fprintf(stderr, "usage: test_run AUDIO WORK_DIR\n");
        ddsp_dist_finalize();
        return 2;
    }
    snprintf(work, sizeof work, "%s", argv[2]);
    audio[0] = argv[1];
    /* the dataset, prepared once by a first run's open (the request's audio) */
    char prep[1100];
    path(prep, sizeof prep, "prep");
    snprintf(dataset, sizeof dataset, "%s/dataset.h5", prep);
    ddsp_run_request q = request(prep, 0);
    q.settings.data[0] = '\0';
    q.given &= ~(unsigned)DDSP_RUN_GIVEN_DATA;
    q.audio = audio, q.n_audio = 1;
    ddsp_run *r = NULL;
    CHECK(ddsp_run_open(&r, &q, &D) == DDSP_OK, "prepare through a run");
    ddsp_run_close(r);
    if (!failures) {
        check_resume_bitwise();
        check_resume_before_checkpoint();
        check_other_run();
    }
    ddsp_dist_finalize();
    if (D.rank == 0) printf(failures ? "test_run: %d failure(s)\n" : "test_run: all passed\n", failures);
    return failures ? 1 : 0;
}
