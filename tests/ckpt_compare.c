/* ckpt_compare A.h5 B.h5 TOL: relative L2 distance between the model weights of two
 * checkpoints; exit 0 when <= TOL (used by the MPI reproducibility tests). */
#include "ddsp/ckpt.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: ckpt_compare A.h5 B.h5 TOL\n");
        return 2;
    }
    ddsp_model a, b;
    if (ddsp_ckpt_read_model(argv[1], &a, NULL, NULL) || ddsp_ckpt_read_model(argv[2], &b, NULL, NULL)) {
        fprintf(stderr, "%s\n", ddsp_last_error());
        return 1;
    }
    if (a.n_params != b.n_params) {
        fprintf(stderr, "different models (%zu vs %zu parameters)\n", a.n_weights, b.n_weights);
        return 1;
    }
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < a.n_params; i++) {
        const double d = (double)a.params[i] - b.params[i];
        num += d * d, den += (double)a.params[i] * a.params[i];
    }
    const double rel = sqrt(num / den), tol = atof(argv[3]);
    printf("relative L2 distance of the weights: %.3g (tolerance %.3g)\n", rel, tol);
    ddsp_model_free(&a);
    ddsp_model_free(&b);
    return rel <= tol ? 0 : 1;
}
