/* ddsp/ckpt.h — HDF5 checkpoints: weights, optimiser state, step and settings.
 *
 * Layout (format "ddsp-checkpoint", format_version 1):
 *   /model/<tensor name>       float32, the tensor's shape (e.g. /model/decoder/gru/kernel)
 *   /optimizer/m/<name>, /optimizer/v/<name>   Adam moments, same shapes
 *   attributes on /: format, format_version, ddsp_version, step, seed, and every model,
 *   loss and optimiser setting (model_hidden, model_gru_units, ...), so a checkpoint alone
 *   rebuilds the model; free-form key/value strings can be added by the caller.
 * Files are written to PATH.tmp and renamed over PATH only when complete, so a crash or a
 * full disk never leaves a half-written checkpoint under the real name.
 */
#ifndef DDSP_CKPT_H
#define DDSP_CKPT_H

#include <stdint.h>

#include "ddsp/loss.h"
#include "ddsp/model.h"
#include "ddsp/optim.h"

#define DDSP_CKPT_FORMAT "ddsp-checkpoint"
#define DDSP_CKPT_VERSION 1

typedef struct {
    int64_t step;
    uint64_t seed;
    const char *const *keys;   /* n_extra free-form string attributes (may be NULL) */
    const char *const *values;
    int n_extra;
} ddsp_ckpt_info;

/* Write model (and the optimiser when o != NULL) atomically. DDSP_OK or DDSP_ERR (message
 * names the file; the previous file at `path`, if any, is untouched). */
int ddsp_ckpt_write(const char *path, const ddsp_model *m, const ddsp_adam *o,
                    const ddsp_mss_config *loss, const ddsp_ckpt_info *info);

/* Read a checkpoint's model settings into *c, then the weights into m (initialised here with
 * that config: free with ddsp_model_free). step/seed returned when non-NULL. DDSP_OK or
 * DDSP_ERR naming the file and the problem (not a checkpoint, version, missing tensor,
 * wrong shape, non-finite weight). */
int ddsp_ckpt_read_model(const char *path, ddsp_model *m, int64_t *step, uint64_t *seed);

#endif
