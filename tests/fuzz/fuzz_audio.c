/* libFuzzer target: bytes -> temporary .wav file -> ddsp_audio_read, then the resampling to
 * the model rate that `ddsp prepare` does (ddsp_audio_load), for inputs small enough to
 * resample quickly. A failure must be DDSP_ERR with a one-line message naming the file; a
 * success must hold N > 0 finite samples. */
#include <math.h>

#include "ddsp/audio.h"
#include "ddsp/util.h"
#include "fuzz_common.h"

/* resampling cost grows with the output length; beyond this the input is read only */
#define MAX_RESAMPLE_OUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(".wav", data, size);
    ddsp_audio a;
    if (ddsp_audio_read(path, &a) != DDSP_OK) {
        const char *e = ddsp_last_error();
        if (strncmp(e, path, strlen(path)) != 0 || strchr(e, '\n')) {
            fprintf(stderr, "error message does not name the file on one line: '%s'\n", e);
            abort();
        }
        if (a.x || a.n) abort(); /* *out is zeroed on failure */
        return 0;
    }
    if (!a.x || a.n == 0 || a.sample_rate <= 0 || a.channels < 1) abort();
    for (size_t i = 0; i < a.n; i++)
        if (!isfinite(a.x[i])) abort();
    const double n_out = (double)a.n * 16000.0 / a.sample_rate;
    if (n_out <= MAX_RESAMPLE_OUT && ddsp_audio_resample(&a, 16000, path) == DDSP_OK) {
        if (a.sample_rate != 16000) abort();
        for (size_t i = 0; i < a.n; i++)
            if (!isfinite(a.x[i])) abort();
    }
    ddsp_audio_free(&a);
    return 0;
}
