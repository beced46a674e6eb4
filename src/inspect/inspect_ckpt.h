/* Private to src/inspect: a checkpoint's summary, collected part by part (inspect_ckpt.c)
 * and printed as text or JSON (inspect_ckpt_print.c). */
#ifndef DDSP_INSPECT_CKPT_H
#define DDSP_INSPECT_CKPT_H

#include "inspect/inspect_impl.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define INSP_MAX_EXAMPLES 64

typedef struct {
    char name[160];
    int rank, readable;
    uint64_t dims[8];
    size_t n, nonfinite;
    double l2;
} insp_tensor;

typedef struct {
    char name[32];
    int64_t row;
    uint64_t F, K, N;
    int ok;
    double dist; /* mean |target - recon| of the log-magnitudes */
} insp_example;

typedef struct {
    double *v; /* (n) owned */
    size_t n;
    int present;
} insp_vec;

typedef struct {
    const char *path; /* borrowed */
    char format[64], version[64];
    int64_t format_version, step;
    int has_format_version, has_step;
    int has_config, has_state, has_model, has_opt, has_hist, has_stats, has_spec;
    insp_attr_list config, state, stats;
    long long wisdom_f, wisdom_d; /* bytes, -1 when absent */
    int64_t opt_step;
    int has_opt_step, opt_m, opt_v;
    insp_tensor *t;         /* (nt) owned */
    int nt, tcap, expected; /* expected: tensors of the configured model (0: unknown) */
    size_t n_params;
    insp_vec h_step, h_loss, h_gnorm, h_lr, h_aps, h_elapsed, v_step, v_loss;
    int64_t spec_nfft, spec_hop;
    insp_example ex[INSP_MAX_EXAMPLES];
    int n_ex, more_ex;
    insp_problems pr;
    int loads;
    char load_msg[1024];
} insp_ckpt;

void insp_ckpt_print_text(FILE *o, const insp_ckpt *s);
void insp_ckpt_print_json(FILE *o, const insp_ckpt *s);

#endif
