/* Distances between two representations of a Φ term, shared by every term: the cosine
 * distance (dist cos), band weights, and the cells a pair's comparison keeps (see "dist
 * cos", "Bands" and "comparing two sounds" in ddsp/loss.h); and the representations of the
 * per-scale terms with their adjoints, for the tasks of phi.c that need them whole.
 *
 * Cosine distance of a, b with gradient (Ae plays a): 1 - ab / sqrt(aa bb), and
 *   d/da_i = -(b_i - cos sqrt(bb / aa) a_i) / sqrt(aa bb). */
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"

#include <math.h>
#include <string.h>

static inline int band_of(const phi_bands *bd, size_t i) {
    return bd && bd->map ? bd->map[(i / bd->inner) % bd->period] : 0;
}

/* 1 - cos from the sums; cos_out gets cos (0 when a norm is 0) and the return says whether
 * a gradient exists (both norms > 0). */
static double cos_dist(double ab, double aa, double bb, double *cos_out, int *has_grad) {
    *has_grad = aa > 0.0 && bb > 0.0;
    if (!*has_grad) {
        *cos_out = 0.0;
        return aa > 0.0 || bb > 0.0 ? 1.0 : 0.0;
    }
    *cos_out = ab / sqrt(aa * bb);
    return 1.0 - *cos_out;
}

double phi_rep_dist(int dist, const double *Ae, const double *At, size_t n,
                    const phi_bands *bd, const double *u, double scale, double *dA) {
    if (dist == 1 || dist == 2) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double r = Ae[i] - At[i], wb = u ? u[band_of(bd, i)] : 1.0;
            sum += wb * (dist == 1 ? fabs(r) : r * r);
            if (dA) dA[i] = scale * wb * (dist == 1 ? (double)((r > 0.0) - (r < 0.0)) : 2.0 * r);
        }
        return sum;
    }
    DDSP_ASSERT(dist == DDSP_PHI_DIST_COS, "unknown distance %d", dist);
    const int nb = u ? bd->n : 1;
    DDSP_ASSERT(nb >= 1 && nb <= DDSP_PHI_MAX_BANDS, "%d bands", nb);
    double ab[DDSP_PHI_MAX_BANDS] = {0}, ee[DDSP_PHI_MAX_BANDS] = {0}, tt[DDSP_PHI_MAX_BANDS] = {0};
    for (size_t i = 0; i < n; i++) {
        const int g = u ? band_of(bd, i) : 0;
        ab[g] += Ae[i] * At[i], ee[g] += Ae[i] * Ae[i], tt[g] += At[i] * At[i];
    }
    double val = 0.0, ca[DDSP_PHI_MAX_BANDS], cb[DDSP_PHI_MAX_BANDS];
    for (int g = 0; g < nb; g++) {
        double c;
        int has;
        const double wg = u ? u[g] : 1.0;
        val += wg * cos_dist(ab[g], ee[g], tt[g], &c, &has);
        /* d/dAe_i = ca (At_i - cb Ae_i): exactly 0 when Ae = At (then cos = 1 exactly) */
        ca[g] = has ? -scale * wg / sqrt(ee[g] * tt[g]) : 0.0;
        cb[g] = has ? c * sqrt(tt[g] / ee[g]) : 0.0;
    }
    if (dA)
        for (size_t i = 0; i < n; i++) {
            const int g = u ? band_of(bd, i) : 0;
            dA[i] = ca[g] * (At[i] - cb[g] * Ae[i]);
        }
    return val;
}

void phi_rep_cells(double *cells, const double *Aa, const double *Ab, size_t n,
                   const phi_bands *bd) {
    for (size_t i = 0; i < n; i++) {
        double *c = cells + (size_t)band_of(bd, i) * DDSP_CELL_N;
        const double a = Aa[i], b = Ab[i], r = a - b;
        c[DDSP_CELL_ABS] += fabs(r);
        c[DDSP_CELL_SQ] += r * r;
        c[DDSP_CELL_AB] += a * b;
        c[DDSP_CELL_AA] += a * a;
        c[DDSP_CELL_BB] += b * b;
    }
}

/* ------------------------------------------------------------------ per-scale terms */
size_t phi_rep_len(int t, const phi_grid *g) {
    switch (t) {
    case DDSP_PHI_MAG:
    case DDSP_PHI_LOGMAG:
    case DDSP_PHI_CUMSUM_FREQ: return g->F * g->K;
    case DDSP_PHI_DELTA_TIME: return g->F > 1 ? (g->F - 1) * g->K : 0;
    case DDSP_PHI_DELTA_FREQ: return g->F * (g->K - 1);
    case DDSP_PHI_MEL:
    case DDSP_PHI_LOGMEL: return g->F * (size_t)g->nmel;
    default: DDSP_ASSERT(0, "term %d has no per-scale representation", t);
    }
    return 0;
}

static inline double mel_sum(const phi_grid *g, const double *Srow, int b) {
    const double *mw = g->mel_w + g->mel_off[b];
    const double *s = Srow + g->mel_lo[b];
    double m = 0.0;
    for (int i = 0; i < g->mel_nb[b]; i++) m += mw[i] * s[i];
    return m;
}

void phi_rep_forward(int t, const phi_grid *g, const double *S, double *A, phi_bands *bd) {
    const size_t F = g->F, K = g->K;
    const double eps = (double)DDSP_MSS_LOG_EPS;
    *bd = (phi_bands){g->kband, 1, K, 8};
    switch (t) {
    case DDSP_PHI_MAG: memcpy(A, S, sizeof(double) * F * K); break;
    case DDSP_PHI_LOGMAG:
        for (size_t i = 0; i < F * K; i++) A[i] = log(S[i] + eps);
        break;
    case DDSP_PHI_DELTA_TIME:
        for (size_t i = 0; F > 1 && i < (F - 1) * K; i++) A[i] = S[i + K] - S[i];
        break;
    case DDSP_PHI_DELTA_FREQ:
        bd->period = K - 1;
        for (size_t f = 0; f < F; f++)
            for (size_t k = 0; k + 1 < K; k++) A[f * (K - 1) + k] = S[f * K + k + 1] - S[f * K + k];
        break;
    case DDSP_PHI_CUMSUM_FREQ:
        for (size_t f = 0; f < F; f++) {
            double c = 0.0;
            for (size_t k = 0; k < K; k++) A[f * K + k] = c += S[f * K + k];
        }
        break;
    case DDSP_PHI_MEL:
    case DDSP_PHI_LOGMEL:
        *bd = (phi_bands){g->mband, 1, (size_t)g->nmel, 8};
        for (size_t f = 0; f < F; f++)
            for (int b = 0; b < g->nmel; b++) {
                const double m = mel_sum(g, S + f * K, b);
                A[f * (size_t)g->nmel + (size_t)b] = t == DDSP_PHI_LOGMEL ? log(m + eps) : m;
            }
        break;
    default: DDSP_ASSERT(0, "term %d has no per-scale representation", t);
    }
}

void phi_rep_adjoint(int t, const phi_grid *g, const double *S, const double *dA, double *G) {
    const size_t F = g->F, K = g->K;
    const double eps = (double)DDSP_MSS_LOG_EPS;
    switch (t) {
    case DDSP_PHI_MAG:
        for (size_t i = 0; i < F * K; i++) G[i] += dA[i];
        break;
    case DDSP_PHI_LOGMAG:
        for (size_t i = 0; i < F * K; i++) G[i] += dA[i] / (S[i] + eps);
        break;
    case DDSP_PHI_DELTA_TIME:
        for (size_t i = 0; F > 1 && i < (F - 1) * K; i++) G[i + K] += dA[i], G[i] -= dA[i];
        break;
    case DDSP_PHI_DELTA_FREQ:
        for (size_t f = 0; f < F; f++)
            for (size_t k = 0; k + 1 < K; k++) {
                const double d = dA[f * (K - 1) + k];
                G[f * K + k + 1] += d, G[f * K + k] -= d;
            }
        break;
    case DDSP_PHI_CUMSUM_FREQ: /* adjoint of the cumulative sum: suffix sums */
        for (size_t f = 0; f < F; f++) {
            double acc = 0.0;
            for (size_t k = K; k-- > 0;) G[f * K + k] += acc += dA[f * K + k];
        }
        break;
    case DDSP_PHI_MEL:
    case DDSP_PHI_LOGMEL:
        for (size_t f = 0; f < F; f++)
            for (int b = 0; b < g->nmel; b++) {
                double d = dA[f * (size_t)g->nmel + (size_t)b];
                if (t == DDSP_PHI_LOGMEL) d /= mel_sum(g, S + f * K, b) + eps;
                const double *mw = g->mel_w + g->mel_off[b];
                double *gr = G + f * K + g->mel_lo[b];
                for (int i = 0; i < g->mel_nb[b]; i++) gr[i] += d * mw[i];
            }
        break;
    default: DDSP_ASSERT(0, "term %d has no per-scale representation", t);
    }
}

double phi_rep_term(int t, const phi_grid *g, const double *St, const double *Se, int dist,
                    const double *u, double wt, size_t B, double *At, double *Ae, double *dA,
                    double *G) {
    const size_t n = phi_rep_len(t, g);
    if (n == 0) return 0.0;
    phi_bands bd;
    phi_rep_forward(t, g, St, At, &bd);
    phi_rep_forward(t, g, Se, Ae, &bd);
    const double scale = dist == DDSP_PHI_DIST_COS ? wt / (double)B : wt / ((double)B * (double)n);
    const double v = phi_rep_dist(dist, Ae, At, n, &bd, u, scale, G ? dA : NULL);
    if (G) phi_rep_adjoint(t, g, Se, dA, G);
    return scale * v;
}
