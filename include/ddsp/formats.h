/* ddsp/formats.h — the name (root attribute "format") and version (root attribute
 * "format_version") of every HDF5 file ddsp writes, in one place. Each file kind is written
 * and read by one module, which refuses versions it does not know:
 *   checkpoint  ckpt (src/ckpt)          run.h5     ckpt (src/ckpt)
 *   dataset     data (src/data)          loss       loss (src/loss/loss_file.c)
 *   jacobian    analysis (jacobian_file) landscape  analysis (landscape_file)
 *   timbre cells  analysis (timbre_cells.c: ddsp timbre --cache) */
#ifndef DDSP_FORMATS_H
#define DDSP_FORMATS_H

#define DDSP_CKPT_FORMAT "ddsp-checkpoint"
/* 2: the run's settings typed in /config, a run id, axes/units on every dataset; version 1
 * files (settings as strings, no id) are still read */
#define DDSP_CKPT_VERSION 2
#define DDSP_RUN_FORMAT "ddsp-run"
#define DDSP_RUN_VERSION 1
#define DDSP_RUN_FILE "run.h5"
#define DDSP_DATASET_FORMAT "ddsp-dataset"
#define DDSP_DATASET_VERSION 1
#define DDSP_LOSS_FORMAT "ddsp-loss"
#define DDSP_LOSS_VERSION 1
#define DDSP_JACOBIAN_FORMAT "ddsp-jacobian"
#define DDSP_JACOBIAN_VERSION 1 /* n_in may be absent (early files): then sigma is all */
#define DDSP_LANDSCAPE_FORMAT "ddsp-landscape"
#define DDSP_LANDSCAPE_VERSION 1
#define DDSP_TIMBRE_CELLS_FORMAT "ddsp-timbre-cells"
#define DDSP_TIMBRE_CELLS_VERSION 1

#endif
