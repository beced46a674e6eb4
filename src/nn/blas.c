/* Which OpenBLAS kernel this process runs (see ddsp/nn.h). The decoder's products moved to
 * oneDNN, so OPENBLAS_CORETYPE no longer slows training and needs no hint. */
#include "ddsp/nn.h"

#include <cblas.h>

const char *ddsp_nn_blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}
