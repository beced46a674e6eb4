/* Learning works: the small model trained on the first 4 s of the bundled violin (features
 * from our own f0 tracker and loudness) lowers the MSS loss by a clear margin; and the same
 * seed, data and thread count give bitwise identical weights. */
#include "ddsp/audio.h"
#include "ddsp/features.h"
#include "ddsp/model.h"
#include "ddsp/optim.h"
#include "ddsp/dist.h"
#include "ddsp/train.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

enum { N = 64000, F = 1000 };

/* Train `steps` steps from seed; returns the weights (caller frees) and mean losses of the
 * first and last 10 steps. */
static float *train(const float *f0, const float *ld, const float *x, int steps, double *first,
                    double *last) {
    ddsp_model_config c;
    ddsp_model_config_preset(&c, "small");
    ddsp_model m;
    ddsp_adam o;
    ddsp_adam_config ac;
    ddsp_adam_config_default(&ac);
    ac.lr = 1e-3; /* the small model tolerates a larger rate: a clear drop in few steps */
    ddsp_loss_config lc;
    ddsp_loss_config_default(&lc);
    lc.mss.precision = DDSP_MSS_FAST;
    if (ddsp_model_init(&m, &c) || ddsp_adam_init(&o, &ac, m.n_params)) return NULL;
    ddsp_model_init_weights(&m, 17);
    ddsp_trainer *tr = ddsp_trainer_init(&m, &lc, 1, F);
    if (!tr) return NULL;
    const int64_t id = 0;
    *first = *last = 0.0;
    ddsp_dist one;
    ddsp_dist_single(&one);
    for (int s = 0; s < steps; s++) {
        ddsp_train_result res;
        if (ddsp_train_update(tr, &o, &one, f0, ld, x, &id, 1, 1, 17, (uint64_t)s, 0, &res)) return NULL;
        const double L = res.loss;
        if (s < 10) *first += L / 10;
        if (s >= steps - 10) *last += L / 10;
    }
    float *w = malloc(sizeof(float) * m.n_params);
    memcpy(w, m.params, sizeof(float) * m.n_params);
    ddsp_trainer_free(tr);
    ddsp_adam_free(&o);
    ddsp_model_free(&m);
    return w;
}

int main(int argc, char **argv) {
    const char *data = argc > 2 ? argv[2] : "data";
    char p[1024];
    snprintf(p, sizeof p, "%s/violin.wav", data);
    ddsp_audio a;
    if (ddsp_audio_read(p, &a) || a.n < N) {
        printf("cannot read %s: %s\n", p, ddsp_last_error());
        return 1;
    }
    float *f0 = malloc(sizeof(float) * F), *conf = malloc(sizeof(float) * F);
    float *ld = malloc(sizeof(float) * F);
    ddsp_f0_config fc;
    ddsp_f0_config_default(&fc);
    ddsp_loudness_config lc;
    ddsp_loudness_config_default(&lc);
    CHECK(ddsp_f0_track(&fc, a.x, N, f0, conf) == DDSP_OK && ddsp_loudness(&lc, a.x, N, ld) == DDSP_OK,
          "features: %s", ddsp_last_error());

    double first, last;
    float *w = train(f0, ld, a.x, 300, &first, &last);
    CHECK(w != NULL, "training set-up failed: %s", ddsp_last_error());
    printf("small model, 300 steps on violin[0:4 s]: loss %.4f -> %.4f (mean of 10 steps)\n", first,
           last);
    CHECK(last < 0.8 * first, "loss did not fall by 20%%: %.4f -> %.4f", first, last);
    free(w);

    double f1, l1, f2, l2;
    float *w1 = train(f0, ld, a.x, 15, &f1, &l1), *w2 = train(f0, ld, a.x, 15, &f2, &l2);
    ddsp_model_config c;
    ddsp_model m;
    ddsp_model_config_preset(&c, "small");
    ddsp_model_init(&m, &c);
    CHECK(w1 && w2 && !memcmp(w1, w2, sizeof(float) * m.n_params) && f1 == f2 && l1 == l2,
          "two runs with the same seed differ");
    ddsp_model_free(&m);
    free(w1), free(w2), free(f0), free(conf), free(ld);
    ddsp_audio_free(&a);
    return tu_finish("test_train");
}
