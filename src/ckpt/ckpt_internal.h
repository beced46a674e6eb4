/* Private to the ckpt module: what ckpt.c (checkpoint files) and ckpt_settings.c (run
 * settings, run.h5, run folders) share. */
#ifndef DDSP_CKPT_INTERNAL_H
#define DDSP_CKPT_INTERNAL_H

#include <hdf5.h>

#include "ddsp/ckpt.h"
#include "ddsp/util.h"

/* The one way into a checkpoint: exists, HDF5, format and version, /config. On DDSP_OK the
 * caller closes *g and *f; on DDSP_ERR nothing is left open. */
int ckpt_open(const char *path, hid_t *f, hid_t *g, int64_t *ver);
/* /config's model configuration, checked against the stored tensors' shapes. */
int ckpt_read_model_config(hid_t f, hid_t g, const char *path, ddsp_model_config *c);
/* A /config attribute as int (range-checked) or double; message names file and attribute. */
int ckpt_get_i(hid_t g, const char *path, const char *name, int *v);
int ckpt_get_d(hid_t g, const char *path, const char *name, double *v);
/* /history into h (absent: empty). */
int ckpt_read_history(hid_t f, const char *path, ddsp_ckpt_history *h);
/* The run settings as typed attributes (a: room for 24) / read back from obj and range-checked
 * (where: "/config" or "run.h5", for messages). */
int ckpt_settings_attrs(const ddsp_run_settings *s, ddsp_h5_attr *a);
int ckpt_settings_read(hid_t obj, const char *path, const char *where, ddsp_run_settings *s);

#endif
