/* libFuzzer target: bytes -> temporary .h5 file -> ddsp_dataset_open, then read the first
 * few examples of each split as training does (ddsp_dataset_read). Checks the invariants
 * ddsp/data.h promises (split indices in range, shapes consistent) and that no HDF5
 * identifier is left open after ddsp_dataset_close. */
#include <hdf5.h>

#include "ddsp/data.h"
#include "ddsp/util.h"
#include "fuzz_common.h"

/* examples larger than this are validated by open but not read (buffer size) */
#define MAX_ROW (1 << 20)

static void read_some(const ddsp_dataset *ds, const int64_t *idx, int64_t n, float *audio,
                      float *f0, float *ld) {
    for (int64_t k = 0; k < n && k < 3; k++) {
        if (idx[k] < 0 || idx[k] >= ds->n_examples) abort();
        ddsp_dataset_read(ds, idx[k], audio, f0, ld);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(".h5", data, size);
    ddsp_dataset ds;
    if (ddsp_dataset_open(path, &ds) == DDSP_OK) {
        if (ds.n_train + ds.n_valid != ds.n_examples || ds.T < 0 || ds.F < 0 || ds.hop <= 0 ||
            ds.F * ds.hop != ds.T)
            abort();
        if (ds.T <= MAX_ROW) {
            float *audio = malloc(sizeof(float) * (size_t)(ds.T + 1));
            float *f0 = malloc(sizeof(float) * (size_t)(ds.F + 1));
            float *ld = malloc(sizeof(float) * (size_t)(ds.F + 1));
            if (!audio || !f0 || !ld) abort();
            read_some(&ds, ds.train, ds.n_train, audio, f0, ld);
            read_some(&ds, ds.valid, ds.n_valid, audio, f0, ld);
            /* out of range must be an error, not a read */
            if (ddsp_dataset_read(&ds, ds.n_examples, audio, f0, ld) == DDSP_OK) abort();
            free(audio), free(f0), free(ld);
        }
        ddsp_dataset_close(&ds);
    } else if (ds.file != -1 || ds.path || ds.train || ds.valid) {
        abort(); /* a failed open leaves nothing behind */
    }
    fuzz_h5_check("ddsp_dataset_open/read/close");
    return 0;
}
