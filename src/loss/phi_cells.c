/* The bands of the Φ terms, the cells a pair's comparison keeps, and the distance of a
 * pair from its cells (see "Bands" and "comparing two sounds" in ddsp/loss.h). Depends on
 * the configuration only, so pairs of any length share one layout. */
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"

#include <math.h>
#include <string.h>

int ddsp_phi_n_bands(const ddsp_phi_config *c, int t) {
    switch (t) {
    case DDSP_PHI_SC:
    case DDSP_PHI_LOUDNESS: return 1;
    case DDSP_PHI_SCAT1:
    case DDSP_PHI_SCAT2: return c->scat_j;
    case DDSP_PHI_MFCC: return MFCC_NBANDS;
    case DDSP_PHI_JTFS: { /* one band where its bands would not fit a term list's weights */
        const int n = jtfs_count_bands(c->jtfs_jfr, c->jtfs_qfr);
        return n <= DDSP_PHI_MAX_BANDS ? n : 1;
    }
    default: return 8;
    }
}

size_t ddsp_phi_min_length(const ddsp_phi_config *c) {
    size_t n = 1;
    if (c->weight[DDSP_PHI_SCAT1] > 0.0 || c->weight[DDSP_PHI_SCAT2] > 0.0) {
        const size_t m = scat_min_length(c->scat_j);
        if (m > n) n = m;
    }
    if (c->weight[DDSP_PHI_MFCC] > 0.0 && n < MFCC_NFFT / 2 + 1) n = MFCC_NFFT / 2 + 1;
    if (c->weight[DDSP_PHI_JTFS] > 0.0 && n < jtfs_min_length(c->jtfs_j)) n = jtfs_min_length(c->jtfs_j);
    return n;
}

int ddsp_phi_eval_check(const ddsp_phi_config *c) {
    if (c->weight[DDSP_PHI_JTFS] > 0.0 && (c->dist == DDSP_PHI_DIST_COS || c->n_band_w[DDSP_PHI_JTFS]))
        return ddsp_error("jtfs as a loss takes dist l1 or l2 and no band weights (ddsp timbre "
                          "compares it under any distance)");
    return DDSP_OK;
}

void ddsp_phi_layout_init(ddsp_phi_layout *l, const ddsp_phi_config *c) {
    memset(l, 0, sizeof *l);
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        l->off[t] = l->n_cells;
        if (!(c->weight[t] > 0.0)) continue;
        l->n_blocks[t] = t < DDSP_PHI_FIRST_GLOBAL ? c->n_scales : 1;
        l->n_bands[t] = ddsp_phi_n_bands(c, t);
        l->n_cells += (size_t)l->n_blocks[t] * (size_t)l->n_bands[t];
    }
}

/* 1 - cos from a cell's sums (1 where one norm is 0, 0 where both are, as phi_rep_dist) */
static double cell_cos(double ab, double aa, double bb) {
    if (aa > 0.0 && bb > 0.0) return 1.0 - ab / sqrt(aa * bb);
    return aa > 0.0 || bb > 0.0 ? 1.0 : 0.0;
}

/* delta of term t with band weights u (NULL: none) or one band `only` (>= 0) */
static double term_delta(const ddsp_phi_layout *l, const double *cells, int t, const double *u,
                         int only, int dist) {
    const int nb = l->n_bands[t];
    DDSP_ASSERT(l->n_blocks[t] > 0, "term %s is off in this layout", ddsp_phi_term_name(t));
    DDSP_ASSERT(only < nb, "band %d of %d", only, nb);
    double sum = 0.0;
    for (int s = 0; s < l->n_blocks[t]; s++) {
        const double *blk = cells + (l->off[t] + (size_t)s * (size_t)nb) * DDSP_CELL_N;
        if (t == DDSP_PHI_SC) { /* ||S_a - S_b|| / ||S_a|| per scale, as the loss (a: target) */
            const double nt = blk[DDSP_CELL_AA] > 0.0 ? sqrt(blk[DDSP_CELL_AA]) : 1.0;
            sum += sqrt(blk[DDSP_CELL_SQ]) / nt;
            continue;
        }
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (int g = 0; g < nb; g++) {
            if (only >= 0 && g != only) continue;
            const double *cl = blk + (size_t)g * DDSP_CELL_N, wg = u ? u[g] : 1.0;
            if (dist == 1) sum += wg * cl[DDSP_CELL_ABS];
            else if (dist == 2) sum += wg * cl[DDSP_CELL_SQ];
            else if (u) sum += wg * cell_cos(cl[DDSP_CELL_AB], cl[DDSP_CELL_AA], cl[DDSP_CELL_BB]);
            else ab += cl[DDSP_CELL_AB], aa += cl[DDSP_CELL_AA], bb += cl[DDSP_CELL_BB];
        }
        if (dist == DDSP_PHI_DIST_COS && !u) sum += cell_cos(ab, aa, bb);
    }
    return dist == 2 && t != DDSP_PHI_SC ? sqrt(sum) : sum;
}

double ddsp_phi_cells_distance(const ddsp_phi_config *c, const ddsp_phi_layout *l,
                               const double *cells) {
    double d = 0.0;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++)
        if (c->weight[t] > 0.0)
            d += c->weight[t] * term_delta(l, cells, t, c->n_band_w[t] ? c->band_w[t] : NULL, -1,
                                           c->dist);
    return d;
}

double ddsp_phi_cells_term(const ddsp_phi_layout *l, const double *cells, int t, int band,
                           int dist) {
    return term_delta(l, cells, t, NULL, band, dist);
}
