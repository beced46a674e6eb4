/* Private: branch-free float math that GCC vectorises (used in hot loops).
 *
 * ddsp_logf: natural log of a positive, finite float (normal or subnormal), max error
 * ~1.5 ulp over [1e-38, 1e38] — the Cephes logf polynomial on a mantissa reduced to
 * [sqrt(1/2), sqrt(2)). tests/test_dsp.c compares it with libm's logf. */
#ifndef DDSP_FASTMATH_H
#define DDSP_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float ddsp_logf(float x) {
    uint32_t u;
    /* subnormals: scale by 2^23 first so the exponent field is meaningful */
    const int sub = x < 1.17549435e-38f;
    x = sub ? x * 8388608.0f : x;
    memcpy(&u, &x, 4);
    int e = (int)(u >> 23) - 126 - (sub ? 23 : 0);
    u = (u & 0x007fffffu) | 0x3f000000u; /* mantissa m in [0.5, 1) */
    float m;
    memcpy(&m, &u, 4);
    const int lo = m < 0.707106781186547524f;
    e -= lo;
    float f = lo ? m + m - 1.0f : m - 1.0f;
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    const float fe = (float)e;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* |re + i im| without underflow: re^2 + im^2 below FLT_MIN (|z| < ~1e-19) loses its bits and,
 * where -mrecip turns sqrtf into x * rsqrt(x), comes out as +inf (rsqrt of a subnormal is inf).
 * Such values are scaled by 2^100 first, so |z| is right to float rounding for every float
 * input, subnormal ones included. Branch-free (vectorises). */
static inline float ddsp_hypotf(float re, float im) {
    const int tiny = (re < 0.0f ? -re : re) + (im < 0.0f ? -im : im) < 0x1p-60f;
    const float s = tiny ? 0x1p100f : 1.0f, inv = tiny ? 0x1p-100f : 1.0f;
    re *= s, im *= s;
    return sqrtf(re * re + im * im) * inv;
}

/* sign(x) in {-1, 0, 1} as float, sign(0) = 0 (the subgradient torch uses for |x|). */
static inline float ddsp_signf(float x) {
    return (float)(x > 0.0f) - (float)(x < 0.0f);
}

#endif
