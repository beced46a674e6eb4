/* ddsp/inspect.h — what is inside a ddsp file, for people and scripts (`ddsp inspect`).
 *
 * Two kinds of file, told apart by their `format` attribute:
 *   checkpoint ("ddsp-checkpoint", ddsp/ckpt.h): format and versions, the run's configuration,
 *     step and data-order state, every tensor (shape, L2 norm), the loss history, the training
 *     data statistics and the monitoring examples; then ddsp_ckpt_read loads it as training
 *     would, and its verdict is the first problem when it fails.
 *   dataset ("ddsp-dataset", ddsp/data.h): examples per split, example length, sample and
 *     frame rates, f0 (Hz, voiced fraction) and loudness ranges per split, audio peak and
 *     RMS, the settings, every source file with its status; then ddsp_dataset_open opens it
 *     as training would, and its verdict is the first problem when it fails.
 * Every part is read on its own, so a damaged file still shows what it holds and lists what
 * is wrong. */
#ifndef DDSP_INSPECT_H
#define DDSP_INSPECT_H

#include <stdio.h>

/* Summarise PATH — a checkpoint, a dataset, or a run folder (its newest checkpoint) — on
 * `out`: text, or one JSON object when json != 0.
 * DDSP_OK: the file is complete and loads (the summary was printed).
 * DDSP_ERR, ddsp_last_error() is one line naming the file:
 *   - it has problems: the summary was printed with the problems listed; the message is
 *     "PATH: N problems: FIRST (and more, listed above)";
 *   - it is not a file inspect reads (missing, not HDF5, another format, a folder without
 *     checkpoints): nothing printed as text; with json, an object {file, ok: false, error}.
 * Reads only; uses no MPI. */
int ddsp_inspect(const char *path, int json, FILE *out);

#endif
