/* Which OpenBLAS kernel the GEMMs run on, and a hint when the environment holds it back
 * (see ddsp/nn.h). */
#include "ddsp/nn.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *ddsp_nn_blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

/* OpenBLAS 0.3.21 names of its AVX-512 sgemm kernels (matched case-insensitively). */
static int core_is_avx512(const char *c) {
    static const char *const wide[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
        if (strcasecmp(c, wide[i]) == 0) return 1;
    return 0;
}

int ddsp_nn_blas_advice(char *buf, size_t cap) {
    const char *forced = getenv("OPENBLAS_CORETYPE");
    const char *core = ddsp_nn_blas_core();
    if (!forced || !*forced || core_is_avx512(core)) return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return 0;
    snprintf(buf, cap,
             "OpenBLAS runs its %s kernel because OPENBLAS_CORETYPE=%s is set, but this CPU has "
             "AVX-512: OpenBLAS's own choice runs the decoder's GEMMs about 2x faster (unset "
             "OPENBLAS_CORETYPE if your site allows)",
             core, forced);
    return 1;
}
