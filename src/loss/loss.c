/* The loss as one object over both kinds of Φ (ddsp/loss.h "the loss"): the typed
 * configuration, its text form (what --loss takes and checkpoints store), and evaluation
 * with the accumulate-into-d_estimate contract of every backward. mss.c and phi.c do not
 * know each other; this file is the only one that knows both. */
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ddsp_loss_config_default(ddsp_loss_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = DDSP_LOSS_MSS;
    ddsp_mss_config_default(&c->mss);
    ddsp_phi_config_default(&c->phi);
}

int ddsp_loss_parse(ddsp_loss_config *c, const char *s) {
    if (!strcmp(s, "l1log") || !strcmp(s, "l1") || !strcmp(s, "l2")) {
        c->kind = DDSP_LOSS_MSS;
        return ddsp_mss_parse_type(&c->mss, s);
    }
    /* a spectral term list? (a term's name, several items / a setting in any order, or a
     * preset's name) */
    int t = 0;
    while (t < DDSP_PHI_NTERMS && strncmp(s, ddsp_phi_term_name(t), strlen(ddsp_phi_term_name(t))))
        t++;
    if (t == DDSP_PHI_NTERMS && !strchr(s, ',') && !strchr(s, '=') && !ddsp_phi_preset(s))
        return ddsp_error("unknown loss '%s' (expected l1log, l1, l2, spectral terms such as "
                          "mag,logmag,delta_time=0.5 or a preset: perceptual)", s);
    ddsp_phi_config p;
    ddsp_phi_config_default(&p);
    if (ddsp_phi_parse_terms(&p, s)) return DDSP_ERR;
    c->kind = DDSP_LOSS_TERMS;
    c->phi = p;
    return DDSP_OK;
}

const char *ddsp_loss_describe(const ddsp_loss_config *c, char *buf, size_t cap) {
    if (c->kind == DDSP_LOSS_TERMS) return ddsp_phi_describe(&c->phi, buf, cap);
    snprintf(buf, cap, "%s", ddsp_mss_type_name(c->mss.type));
    return buf;
}

void ddsp_loss_phi_config(const ddsp_loss_config *c, ddsp_phi_config *out) {
    *out = c->phi;
    out->n_scales = c->mss.n_scales;
    memcpy(out->scales, c->mss.scales, sizeof out->scales);
    out->overlap = c->mss.overlap;
}

int ddsp_loss_config_check(const ddsp_loss_config *c) {
    if (ddsp_mss_config_check(&c->mss)) return DDSP_ERR;
    if (c->kind != DDSP_LOSS_TERMS) return DDSP_OK;
    ddsp_phi_config p;
    ddsp_loss_phi_config(c, &p);
    return ddsp_phi_config_check(&p) || ddsp_phi_eval_check(&p) ? DDSP_ERR : DDSP_OK;
}

struct ddsp_loss {
    ddsp_loss_kind kind;
    ddsp_mss *mss;
    ddsp_phi *phi;
};

ddsp_loss *ddsp_loss_init(const ddsp_loss_config *c, size_t max_batch, size_t N) {
    if (ddsp_loss_config_check(c)) return NULL;
    ddsp_loss *l = calloc(1, sizeof *l);
    if (!l) return ddsp_error("out of memory"), NULL;
    l->kind = c->kind;
    if (c->kind == DDSP_LOSS_TERMS) {
        ddsp_phi_config p;
        ddsp_loss_phi_config(c, &p);
        l->phi = ddsp_phi_init(&p, max_batch, N);
    } else {
        l->mss = ddsp_mss_init(&c->mss, max_batch, N);
    }
    if (!l->mss && !l->phi) {
        free(l);
        return NULL;
    }
    return l;
}

void ddsp_loss_free(ddsp_loss *l) {
    if (!l) return;
    ddsp_mss_free(l->mss);
    ddsp_phi_free(l->phi);
    free(l);
}

void ddsp_loss_eval(ddsp_loss *l, ddsp_mss_value *out, float *d_estimate, float scale,
                    const float *target, const float *estimate, size_t B) {
    ddsp_mss_value v;
    if (l->phi) {
        ddsp_phi_value pv;
        ddsp_phi_eval_scaled(l->phi, &pv, d_estimate, scale, target, estimate, B);
        memset(&v, 0, sizeof v);
        v.total = pv.total;
        memcpy(v.per_scale, pv.per_scale, sizeof v.per_scale);
    } else if (d_estimate) {
        ddsp_mss_backward(l->mss, d_estimate, &v, NULL, target, estimate, B, scale);
    } else {
        ddsp_mss_forward(l->mss, &v, NULL, target, estimate, B);
    }
    if (out) *out = v;
}
