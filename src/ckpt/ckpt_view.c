/* What `ddsp plot` draws from a checkpoint (ddsp_ckpt_read_view): the monitoring
 * spectrograms, the loss history and a few settings, read through the checkpoint module's
 * own entry (format and version checked). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ckpt/ckpt_internal.h"
#include "ddsp/util.h"

int ddsp_ckpt_read_view(const char *path, int max_examples, ddsp_ckpt_view *v) {
    memset(v, 0, sizeof *v);
    v->sample_rate = NAN;
    v->n_weights = -1;
    hid_t f, g, sg = -1;
    int64_t ver;
    if (ckpt_open(path, &f, &g, &ver)) return DDSP_ERR;
    int rc = DDSP_ERR;
    double d;
    if (ddsp_h5_attr_get_f64(g, "synth_sample_rate", &d) == DDSP_OK) v->sample_rate = d;
    if (ddsp_h5_attr_get_f64(g, "model_n_weights", &d) == DDSP_OK && d >= 0) v->n_weights = (int64_t)d;
    if (ddsp_h5_attr_get_i64(f, "step", &v->step)) v->step = -1;
    if (ddsp_h5_attr_get_str(g, ver >= 2 ? "run_model" : "model_preset", v->model, sizeof v->model))
        v->model[0] = '\0';
    if (ddsp_h5_attr_get_str(g, "loss_type", v->loss, sizeof v->loss)) v->loss[0] = '\0';
    if (!strcmp(v->loss, "terms") && ddsp_h5_attr_get_str(g, "loss_terms", v->loss, sizeof v->loss))
        snprintf(v->loss, sizeof v->loss, "terms");
    if (max_examples > DDSP_CKPT_VIEW_MAX) max_examples = DDSP_CKPT_VIEW_MAX;
    if (max_examples > 0 && ddsp_h5_exists(f, "spectrograms/example_0")) {
        if (!(v->sample_rate > 0)) {
            ddsp_error("%s: /config has no synth_sample_rate, so the spectrogram axes are unknown", path);
            goto done;
        }
        int64_t n_fft = 0, hop = 0;
        sg = H5Gopen2(f, "spectrograms", H5P_DEFAULT);
        if (sg < 0 || ddsp_h5_attr_get_i64(sg, "n_fft", &n_fft) || ddsp_h5_attr_get_i64(sg, "hop", &hop) ||
            n_fft < 2 || n_fft > (1 << 20) || hop < 1) {
            ddsp_error("%s: /spectrograms lacks its n_fft and hop attributes", path);
            goto done;
        }
        v->n_fft = (int)n_fft, v->hop = (int)hop, v->bins = (size_t)n_fft / 2 + 1;
        for (int k = 0; k < max_examples; k++) {
            char grp[32];
            snprintf(grp, sizeof grp, "example_%d", k);
            if (!ddsp_h5_exists(sg, grp)) break;
            hid_t eg = H5Gopen2(sg, grp, H5P_DEFAULT);
            if (eg < 0 || ddsp_h5_attr_get_i64(eg, "example", &v->example[k])) v->example[k] = -1;
            for (int w = 0; w < 2; w++) {
                const char *nm = w ? "recon_logmag" : "target_logmag";
                uint64_t dims[8];
                int r = 0;
                float **dst = w ? &v->recon[k] : &v->target[k];
                const int bad = eg < 0 || ddsp_h5_read_f32(eg, path, nm, dst, dims, &r);
                if (bad || r != 2 || dims[0] == 0 || dims[1] != v->bins ||
                    (w == 1 && dims[0] != v->frames[k])) {
                    if (eg >= 0) H5Gclose(eg);
                    v->n_examples = k + 1; /* so view_free releases what was read */
                    ddsp_error(bad ? "%s: /spectrograms/%s/%s is missing or unreadable"
                                   : "%s: /spectrograms/%s/%s is not frames x n_fft/2+1 bins (as its target)",
                               path, grp, nm);
                    goto done;
                }
                v->frames[k] = (size_t)dims[0];
            }
            H5Gclose(eg);
            v->n_examples = k + 1;
        }
    }
    if (ckpt_read_history(f, path, &v->hist)) goto done;
    rc = DDSP_OK;
done:
    if (sg >= 0) H5Gclose(sg);
    H5Gclose(g);
    H5Fclose(f);
    if (rc) ddsp_ckpt_view_free(v);
    return rc;
}

void ddsp_ckpt_view_free(ddsp_ckpt_view *v) {
    for (int k = 0; k < DDSP_CKPT_VIEW_MAX; k++) ddsp_free(v->target[k]), ddsp_free(v->recon[k]);
    ddsp_ckpt_history_free(&v->hist);
    memset(v, 0, sizeof *v);
}
