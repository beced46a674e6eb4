/* Loss landscapes of spectral distances over the parameters of a test sound (see
 * ddsp/analysis.h). */
#include "ddsp/analysis.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One distance: an MSS type or a spectral term list ("dist=l2" selects r^2). */
typedef struct {
    ddsp_loss *loss;
} dist_t;

static int dist_init(dist_t *d, const char *spec, size_t N) {
    ddsp_loss_config c;
    ddsp_loss_config_default(&c);
    d->loss = NULL;
    if (ddsp_loss_parse(&c, spec)) return DDSP_ERR;
    d->loss = ddsp_loss_init(&c, 1, N);
    return d->loss ? DDSP_OK : DDSP_ERR;
}

static double dist_eval(dist_t *d, const float *target, const float *x) {
    ddsp_mss_value v;
    ddsp_loss_eval(d->loss, &v, NULL, 1.0f, target, x, 1);
    return v.total;
}

static void dist_free(dist_t *d) {
    ddsp_loss_free(d->loss);
    d->loss = NULL;
}

void ddsp_landscape_free(ddsp_landscape *l) {
    if (!l) return;
    free(l->axis[0]), free(l->axis[1]), free(l->loss), free(l->grad);
    free(l->silence), free(l->basin), free(l->argmin);
    memset(l, 0, sizeof *l);
}

/* d/dp of one surface along axis `ax` by central differences (one-sided at the edges). */
static void surface_grad(double *g, const double *L, const ddsp_landscape *l, int ax) {
    const int n = l->grid, n2 = l->n_vary == 2 ? n : 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n2; j++) {
            const int k = ax == 0 ? i : j;
            const int lo = k > 0 ? k - 1 : k, hi = k < n - 1 ? k + 1 : k;
            const double *a = l->axis[ax];
            const int ilo = ax == 0 ? lo : i, ihi = ax == 0 ? hi : i;
            const int jlo = ax == 1 ? lo : j, jhi = ax == 1 ? hi : j;
            g[i * n2 + j] = (L[ihi * n2 + jhi] - L[ilo * n2 + jlo]) / (a[hi] - a[lo]);
        }
}

/* Share of grid points from which moving to the lowest neighbour (8-neighbourhood in 2-D)
 * while that lowers the loss ends at point `goal`. */
static double basin_share(const double *L, int n, int dims, int goal) {
    const int n2 = dims == 2 ? n : 1, total = n * n2;
    int reach = 0;
    for (int start = 0; start < total; start++) {
        int cur = start;
        for (int guard = 0; guard < total; guard++) {
            const int ci = cur / n2, cj = cur % n2;
            int best = cur;
            for (int di = -1; di <= 1; di++)
                for (int dj = -1; dj <= 1; dj++) {
                    const int i = ci + di, j = cj + dj;
                    if (i < 0 || i >= n || j < 0 || j >= n2) continue;
                    if (L[i * n2 + j] < L[best]) best = i * n2 + j;
                }
            if (best == cur) break;
            cur = best;
        }
        reach += cur == goal;
    }
    return (double)reach / total;
}

int ddsp_landscape_compute(const ddsp_landscape_config *c, ddsp_landscape *out, int verbose) {
    memset(out, 0, sizeof *out);
    if (c->n_vary < 1 || c->n_vary > 2) return ddsp_error("vary 1 or 2 parameters");
    if (c->grid < 3 || c->grid > 401) return ddsp_error("grid %d not in 3..401", c->grid);
    if (c->n_phi < 1 || c->n_phi > DDSP_LANDSCAPE_MAX_PHI)
        return ddsp_error("give 1..%d distances", DDSP_LANDSCAPE_MAX_PHI);
    for (int a = 0; a < c->n_vary; a++)
        if (!(c->hi[a] > c->lo[a]) || !isfinite(c->lo[a]) || !isfinite(c->hi[a]))
            return ddsp_error("range of %s: %g..%g is empty", ddsp_sound_param_name(c->vary[a]),
                              c->lo[a], c->hi[a]);
    if (c->n_vary == 2 && c->vary[0] == c->vary[1])
        return ddsp_error("the two varied parameters are the same (%s)",
                          ddsp_sound_param_name(c->vary[0]));
    const size_t N = c->target.N;
    const int n = c->grid, n2 = c->n_vary == 2 ? n : 1, total = n * n2, P = c->n_phi;
    out->n_phi = P, out->n_vary = c->n_vary, out->grid = n;
    dist_t d[DDSP_LANDSCAPE_MAX_PHI] = {{0}};
    float *tx = ddsp_alloc(sizeof(float) * N), *x = ddsp_alloc(sizeof(float) * N);
    float *zero = ddsp_alloc(sizeof(float) * N);
    out->axis[0] = calloc((size_t)n, sizeof(double));
    out->axis[1] = calloc((size_t)n, sizeof(double));
    out->loss = calloc((size_t)P * total, sizeof(double));
    out->grad = calloc((size_t)P * c->n_vary * total, sizeof(double));
    out->silence = calloc((size_t)P, sizeof(double));
    out->basin = calloc((size_t)P, sizeof(double));
    out->argmin = calloc((size_t)P, sizeof(int));
    int rc = DDSP_ERR;
    if (!tx || !x || !zero || !out->axis[0] || !out->axis[1] || !out->loss || !out->grad ||
        !out->silence || !out->basin || !out->argmin) {
        ddsp_error("out of memory for a %d-point landscape", total);
        goto done;
    }
    for (int k = 0; k < P; k++)
        if (dist_init(&d[k], c->phi[k], N)) goto done;
    for (int a = 0; a < c->n_vary; a++)
        for (int i = 0; i < n; i++)
            out->axis[a][i] = c->lo[a] + (c->hi[a] - c->lo[a]) * i / (n - 1);
    ddsp_sound_render(tx, &c->target);
    for (int k = 0; k < P; k++) out->silence[k] = dist_eval(&d[k], tx, zero);
    const double t0 = ddsp_now();
    double last = t0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n2; j++) {
            ddsp_sound s = c->base;
            s.p[c->vary[0]] = out->axis[0][i];
            if (c->n_vary == 2) s.p[c->vary[1]] = out->axis[1][j];
            ddsp_sound_render(x, &s);
            for (int k = 0; k < P; k++) out->loss[(size_t)k * total + i * n2 + j] =
                dist_eval(&d[k], tx, x);
            if (verbose && ddsp_now() - last > 5.0) {
                last = ddsp_now();
                const int done_pts = i * n2 + j + 1;
                ddsp_log("landscape: %d/%d points, eta %.0f s", done_pts, total,
                         (last - t0) / done_pts * (total - done_pts));
            }
        }
    /* grid point nearest the target's parameters */
    int goal_i = 0, goal_j = 0;
    for (int a = 0; a < c->n_vary; a++) {
        const double want = c->target.p[c->vary[a]];
        int best = 0;
        for (int i = 1; i < n; i++)
            if (fabs(out->axis[a][i] - want) < fabs(out->axis[a][best] - want)) best = i;
        if (a == 0) goal_i = best;
        else goal_j = best;
    }
    for (int k = 0; k < P; k++) {
        const double *L = out->loss + (size_t)k * total;
        for (int a = 0; a < c->n_vary; a++)
            surface_grad(out->grad + ((size_t)k * c->n_vary + a) * total, L, out, a);
        int am = 0;
        for (int q = 1; q < total; q++)
            if (L[q] < L[am]) am = q;
        out->argmin[k] = am;
        out->basin[k] = basin_share(L, n, c->n_vary, goal_i * n2 + goal_j);
    }
    rc = DDSP_OK;
done:
    for (int k = 0; k < P; k++) dist_free(&d[k]);
    ddsp_free(tx), ddsp_free(x), ddsp_free(zero);
    if (rc != DDSP_OK) ddsp_landscape_free(out);
    return rc;
}
