/* Precision names, bf16 conversion, bf16 CPU detection and the one place that sets the
 * thread count of OpenMP, oneDNN and OpenBLAS (see ddsp/nn.h). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <cpuid.h>
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>
#define HAVE_CVT_BF16 1
#else
#define HAVE_CVT_BF16 0
#endif

const char *ddsp_precision_name(ddsp_precision p) {
    return p == DDSP_PREC_BF16 ? "bf16" : "fp32";
}

int ddsp_precision_parse(const char *s, ddsp_precision *p) {
    if (s && !strcmp(s, "fp32")) *p = DDSP_PREC_FP32;
    else if (s && !strcmp(s, "bf16")) *p = DDSP_PREC_BF16;
    else return ddsp_error("unknown precision '%s' (fp32 or bf16)", s ? s : "");
    return DDSP_OK;
}

size_t ddsp_precision_size(ddsp_precision p) {
    return p == DDSP_PREC_BF16 ? sizeof(ddsp_bf16) : sizeof(float);
}

/* Round to nearest even, as VCVTNEPS2BF16: denormal inputs become a signed zero, NaN stays a
 * (quiet) NaN. The scalar and vector paths give the same bits. */
static inline ddsp_bf16 bf16_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) return (ddsp_bf16)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ddsp_bf16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ddsp_bf16)(u >> 16);
}

void nn_bf16_row(ddsp_bf16 *dst, const float *src, size_t n) {
    size_t i = 0;
#if HAVE_CVT_BF16
    for (; i + 16 <= n; i += 16) {
        const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), (__m256i)v);
    }
#endif
    for (; i < n; i++)
        dst[i] = bf16_scalar(src[i]);
}

enum { CVT_BLOCK = 16384 };

void ddsp_bf16_from_f32(ddsp_bf16 *dst, const float *src, size_t n) {
    const size_t nblk = (n + CVT_BLOCK - 1) / CVT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= 4 * CVT_BLOCK)
    for (size_t k = 0; k < nblk; k++) {
        const size_t i0 = k * CVT_BLOCK, i1 = n - i0 < CVT_BLOCK ? n : i0 + CVT_BLOCK;
        nn_bf16_row(dst + i0, src + i0, i1 - i0);
    }
}

void ddsp_f32_from_bf16(float *dst, const ddsp_bf16 *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

void ddsp_nn_convert(void *dst, ddsp_precision p, const float *src, size_t n) {
    if (p == DDSP_PREC_BF16) ddsp_bf16_from_f32(dst, src, n);
    else if (dst != src) memcpy(dst, src, sizeof(float) * n);
}

/* ---------------------------------------------------------------- CPU */
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int ddsp_nn_cpu_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    const uint64_t x = xcr0();
    const int os_avx512 = (x & 0xe6) == 0xe6;       /* SSE, AVX, opmask, ZMM state */
    const int os_amx = (x & (3u << 17)) == (3u << 17); /* XTILECFG, XTILEDATA */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int amx_bf16 = (d >> 22) & 1;
    const int avx512f = (b >> 16) & 1;
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1) __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    const int avx512_bf16 = (a1 >> 5) & 1;
    const int hw = (avx512f && avx512_bf16 && os_avx512) || (amx_bf16 && os_amx);
    /* oneDNN must be allowed to use it too (ONEDNN_MAX_CPU_ISA may cap it) */
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const unsigned need = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return hw && (isa & need) == need;
}

ddsp_precision ddsp_nn_precision_default(void) {
    /* bf16 met the time-to-quality check (README "Speed": validation loss after 600 steps of
     * the full model within 3 % of fp32, same seed) and runs the step ~1.7x faster where
     * the CPU multiplies bf16 natively. */
    return ddsp_nn_cpu_bf16() ? DDSP_PREC_BF16 : DDSP_PREC_FP32;
}

ddsp_precision ddsp_nn_precision_resolve(ddsp_precision want, char *msg, size_t cap) {
    if (msg && cap) msg[0] = '\0';
    if (want != DDSP_PREC_BF16 || ddsp_nn_cpu_bf16()) return want;
    if (msg && cap)
        snprintf(msg, cap,
                 "bf16 asked for, but this CPU has no native bf16 (AVX512_BF16 or AMX): "
                 "running fp32 (oneDNN's bf16 emulation is ~2.6x slower than its fp32)");
    return DDSP_PREC_FP32;
}

/* ---------------------------------------------------------------- threads */
static int g_threads;

int ddsp_nn_threads_init(int n) {
    if (n <= 0) n = omp_get_max_threads(); /* OMP_NUM_THREADS, else the CPUs we may use */
    omp_set_dynamic(0);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    g_threads = n;
    return n;
}

int ddsp_nn_threads(void) {
    return g_threads ? g_threads : omp_get_max_threads();
}
