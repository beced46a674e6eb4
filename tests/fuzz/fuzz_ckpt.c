/* libFuzzer target: bytes -> temporary .h5 file -> ddsp_ckpt_read_model (the model is
 * rebuilt from the checkpoint's own /config), then the full ddsp_ckpt_read (optimiser, state,
 * history, loss settings; FFTW wisdom not imported: it is process-wide state). Checks that
 * a successful read holds only finite weights, that a failed one leaves nothing allocated,
 * and that no HDF5 identifier is left open. */
#include <hdf5.h>
#include <math.h>

#include "ddsp/ckpt.h"
#include "ddsp/util.h"
#include "fuzz_common.h"

static void check_model(const ddsp_model *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        if (t->offset + t->size > m->n_params) abort();
        for (size_t k = 0; k < t->size; k++)
            if (!isfinite(m->params[t->offset + k])) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(".h5", data, size);
    ddsp_model m;
    int64_t step = 0;
    uint64_t seed = 0;
    if (ddsp_ckpt_read_model(path, &m, &step, &seed) == DDSP_OK) {
        check_model(&m);
        ddsp_model_free(&m);
    } else if (m.params || m.grads) {
        abort();
    }
    fuzz_h5_check("ddsp_ckpt_read_model");

    ddsp_adam o;
    ddsp_ckpt_state st;
    ddsp_ckpt_history h;
    ddsp_loss_config loss;
    memset(&o, 0, sizeof o);
    memset(&h, 0, sizeof h);
    if (ddsp_ckpt_read(path, &m, &o, &st, &h, &loss, 0) == DDSP_OK) {
        check_model(&m);
        if (h.n < 0 || h.nv < 0 || h.n > h.cap || h.nv > h.vcap) abort();
        ddsp_model_free(&m);
    }
    ddsp_adam_free(&o);
    ddsp_ckpt_history_free(&h);
    fuzz_h5_check("ddsp_ckpt_read");
    return 0;
}
