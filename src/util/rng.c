/* Counter-based random numbers (SplitMix64's output function as a hash of key + counter).
 * Used for weight init, data order and the filtered-noise source, so that runs are
 * reproducible whatever the thread count or the split of examples over ranks. */
#include <math.h>

#include "ddsp/util.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15ull

uint64_t ddsp_rng_key(uint64_t seed, uint64_t a, uint64_t b) {
    return mix64(mix64(mix64(seed + GOLDEN) + a * GOLDEN) + b * GOLDEN + 1);
}

uint64_t ddsp_rng_u64(uint64_t key, uint64_t index) {
    return mix64(key + (index + 1) * GOLDEN);
}

void ddsp_rng_uniform(float *out, size_t n, uint64_t key, uint64_t first, float lo, float hi) {
    const float scale = (hi - lo) / 16777216.0f;
    for (size_t i = 0; i < n; i++)
        out[i] = lo + (float)(ddsp_rng_u64(key, first + i) >> 40) * scale;
}

double ddsp_rng_uniform01(uint64_t key, uint64_t index) {
    return (double)(ddsp_rng_u64(key, index) >> 11) * (1.0 / 9007199254740992.0);
}

double ddsp_rng_normal(uint64_t key, uint64_t index) {
    const double u1 = 1.0 - ddsp_rng_uniform01(key, 2 * index); /* (0, 1]: log is finite */
    const double u2 = ddsp_rng_uniform01(key, 2 * index + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
