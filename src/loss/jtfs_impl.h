/* Internal to jtfs_bank.c and jtfs.c: the state of the joint time-frequency scattering Φ
 * term (the definitions it follows are in the header comment of jtfs.c). jtfs_bank.c builds
 * the filter banks and the layout of paths, rows and buffers; jtfs.c runs the transform and
 * its adjoint. */
#ifndef DDSP_LOSS_JTFS_IMPL_H
#define DDSP_LOSS_JTFS_IMPL_H

#include "loss/phi_terms.h"

#include <fftw3.h>
#include <stddef.h>

/* A Gaussian 5 sigma from its centre: filter values and row weights below this fraction of
 * the filter's largest one are left out (kymatio's own subsampling criterion, alpha = 5). */
#define JTFS_TAU 3.726653172078671e-06
/* Points of a modulus: the bins used plus this many sigma of the filter (jtfs_bank.c) */
#define JTFS_ALIAS 8.0
/* Time tile of the second order: the taps' input rows, the rows' values and the averaging
 * kernel of one tile stay in the first two cache levels */
#define JTFS_TILE 256
/* Averaging-kernel entries below this fraction of its largest are left out (single
 * precision rounds at 6e-8 anyway) */
#define JTFS_KTOL 1e-8

typedef struct { /* a time filter (Morlet or Gaussian low-pass) on the bins of P */
    double xi, sigma;
    int j;       /* kymatio's largest dyadic subsampling of its output */
    int lo, nb;  /* support: bins lo .. lo + nb - 1 (mod P; lo may be negative) */
    int M;       /* points its filtered signal is computed on */
    double *v;   /* (nb) filter values (kymatio's normalised morlet_1d / gauss_1d) */
    fftw_plan fwd, bwd, r2c, c2r; /* size M (first order) */
    fftwf_plan fwdf, bwdf;   /* size M, single precision (second order) */
} jtfs_tfilt;

typedef struct { /* a frequential filter: a circular convolution over the Nfr padded rows */
    double xi, sigma;
    int j, k;     /* kymatio's j_fr and k_fr = min(j_fr, log2 F): output stride 2^k */
    int spin;     /* sign of xi: 0 for the low-pass */
    int L;        /* rows after subsampling: Nfr >> k */
    fftw_complex *h; /* (Nfr) row response: inverse DFT of the filter */
    int w;        /* |h[d]| >= JTFS_TAU max|h| only for circular distances |d| <= w */
} jtfs_ffilt;

typedef struct { /* frequential averaging by phi_F of rows at stride 2^k_in */
    int L, q;     /* input rows Nfr >> k_in; output stride q = 2^(log2 F - k_in) */
    double *h;    /* (L) real kernel */
    int w;
} jtfs_favg;

typedef struct { /* the rows one frequential filter needs for one input height n1max */
    int n;        /* live rows */
    int *r;       /* (n) their indices in 0 .. L-1 */
    int *t0, *t1; /* (n, 2) tap intervals [t0, t1) of n1 with |h| >= tau (two at most) */
} jtfs_rows;

typedef struct { /* one frequential-scattering block: order 1 (on S1), or order 2 for one n2 */
    int order, n2;    /* n2 = -1 for order 1 */
    int n1max;        /* input rows n1 = 0 .. n1max-1 */
    int R;            /* output rows kept: ceil(n1max / 2^log2F) */
    int nf;           /* frequential filters used: order 1 the spin >= 0 ones, order 2 all */
    jtfs_rows *rows;  /* (nf) */
    int path0;        /* row of the output array where the block starts: path0 + f R + r' */
    int M;            /* order 2: points of the n2 time signals */
    size_t gU_off;    /* order 2: offset of this block's dL/dU1 partials in a per-item buffer */
    int gb_lo, gb_n;  /* order 2: bins gb_lo .. gb_lo + gb_n - 1 of each U1 spectrum */
    /* order 2: phi_T averaging of an M-point modulus to the kept outputs as a real kernel,
     * K[m][t] (m = 0 .. ntime-1 for times i0 + m), stored per time tile of JTFS_TILE
     * points: tile c holds rows m = klo[c] .. klo[c] + kn[c] - 1 (the others are below
     * JTFS_KTOL of the largest there), (kn[c], tile length) floats from K + koff[c], and
     * transposed, (tile length, kn[c] rounded up to 16) zero-padded floats from Kt + ktoff[c] */
    float *K, *Kt;
    size_t *koff, *ktoff;
    int *klo, *kn;
    double cost;      /* relative cost, to schedule the heavy blocks first */
} jtfs_block;

typedef struct { /* per-thread scratch */
    fftw_complex *a, *b;     /* (Mmax) c2c in / out */
    double *u, *r;           /* (Mmax) real scratch */
    fftw_complex *uh, *gh;   /* (Mmax/2+1) spectra */
    /* the second order, in single precision */
    float *Y, *Ye, *GY;      /* (2, ymax) time-filtered rows (target, estimate), gradient:
                              * real parts (n1max, M), then imaginary parts (n1max, M) */
    float *va;               /* (JTFS_TILE) one live row's modulus on one tile */
    float *H;                /* (Nfr n1, 2) taps of one filter's live rows: value */
    int *tn, *toff;          /* (Nfr n1) their input rows; (Nfr + 1) row i's taps from toff[i] */
    fftwf_complex *af, *bf;  /* (Mmax) c2c in / out */
    double *Sr;              /* (Nfr, MJ) time-averaged live rows */
    double *GS;              /* (Nfr, MJ) gradients w.r.t. them */
    double *A, *GA;          /* (R_max, MJ) averaged rows and their gradient */
    fftw_complex *W;         /* (Nfr, MJ) order-1 frequential rows */
    double *G1;              /* (n1, MJ) order-1 gradient w.r.t. S1 (stage C) */
    double *xp;              /* (P) padded signal / its gradient */
    fftw_complex *X;         /* (P/2+1) spectrum scratch */
    fftw_complex *cj;        /* (2 MJ) low-pass input and output */
} jtfs_work;

struct jtfs {
    /* settings and sizes */
    int J, Q1, Q2, Jfr, Qfr;
    int ref;                    /* kymatio's grids (jtfs_init_reference) */
    double tau;                 /* JTFS_TAU, or 1e-15 for the reference */
    size_t N, max_batch;
    int P, pad_left, pad_right; /* reflect padding to P = 2^J_pad (kymatio's build()) */
    int MJ, i0, i1;             /* outputs on MJ = P / 2^J points, kept: i0 .. i1-1 */
    int Nfr, log2F;             /* padded frequential axis, log2 of F = 2^Jfr */
    /* filters */
    jtfs_tfilt phi;             /* time low-pass: bins -jphi .. jphi */
    int jphi;
    int n1, n2;                 /* first- and second-order time wavelets */
    jtfs_tfilt *psi1, *psi2;
    int nfr, npos;              /* frequential filters: 0 low-pass, 1..npos up, then down */
    jtfs_ffilt *fr;
    jtfs_favg *favg;            /* (log2F + 1) by k_in */
    /* layout */
    int nblk;                   /* block 0: order 1; then one per n2 with paths */
    jtfs_block *blk;
    int *order;                 /* (nblk - 1) order-2 blocks, heaviest first */
    int npath, ntime, nbands;
    int *path_band;             /* (npath) */
    size_t *u1_off, u1_len;     /* (n1) offsets of the U1 spectra (M/2+1 each) */
    size_t *g1_off, g1_len;     /* (n1) offsets of the first-order dL/dX bands (nb each) */
    size_t gU_len;              /* dL/dU1 partials of all order-2 blocks, per item */
    /* buffers (allocated once) */
    fftw_complex *X;            /* (2 max_batch, P/2+1) spectra of target / estimate */
    fftw_complex *U1;           /* (2 max_batch, u1_len) */
    double *S1;                 /* (2 max_batch, n1, MJ) */
    double *coef;               /* (2 max_batch, npath, ntime) */
    double *GS1;                /* (max_batch, n1, MJ) */
    fftw_complex *GX0;          /* (max_batch, jphi + 1) */
    fftw_complex *gU;           /* (max_batch, gU_len) */
    fftw_complex *g1;           /* (max_batch, g1_len) */
    double *part;               /* (max_batch, nblk, nbands) sums of D per task and band */
    double *bsum;               /* (nbands) */
    int *bcnt;                  /* (nbands) paths per band */
    size_t ymax;
    int Mmax, Rmax;
    int nthreads;
    jtfs_work *work;
    fftw_plan r2c_P, c2r_P, bwd_J, fwd_J;
};

/* jtfs_bank.c: filters, paths and buffers (called by jtfs_init) */
int jtfs_bank_build(jtfs_t *s);
/* smallest even 2^a 3^b 5^c >= m */
int jtfs_nice_size(size_t m);

#endif
