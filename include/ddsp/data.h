/* ddsp/data.h — training datasets in HDF5: `ddsp prepare` writes them, training reads them.
 *
 * File layout (format "ddsp-dataset", format_version 1), E examples of T samples, F frames:
 *   /audio          (E, T) float32   the example's audio at the model rate
 *   /f0_hz          (E, F) float32   f0 per frame (frame i describes sample hop*i)
 *   /f0_confidence  (E, F) float32   voicing probability in [0, 1]
 *   /loudness_db    (E, F) float32   A-weighted loudness
 *   /split          (E)    int8      0 = train, 1 = validation
 *   /source_file    (E)    int32     row of /files the example was cut from
 *   /source_offset  (E)    int64     first sample of the example in that file (model rate)
 *   /files          (n_files) string source paths as given
 *   /file_seconds   (n_files) float64 length at the model rate (0 when unreadable)
 *   /file_status    (n_files) int32   what prepare did with the file: DDSP_FILE_* below
 * Per-example datasets are chunked one example per chunk, so a rank reads only its shard.
 * Root attributes record every setting (sample_rate, frame_rate, hop, example_secs,
 * hop_secs, valid_fraction, n_train, n_valid, f0 and loudness settings, ddsp_version).
 *
 * Split: per file, the last round(valid_fraction * windows) windows are validation; train
 * windows end at or before the first validation window starts, so no stretch of audio is on
 * both sides (the ceil(T / hop) - 1 windows straddling the boundary are dropped).
 */
#ifndef DDSP_DATA_H
#define DDSP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/dist.h"
#include "ddsp/features.h"

#include "ddsp/formats.h"

/* /file_status values. */
enum {
    DDSP_FILE_UNSEEN = 0, /* not examined */
    DDSP_FILE_OK = 1,     /* read and cut into examples */
    DDSP_FILE_SHORT = 2,  /* shorter than one example: skipped */
    DDSP_FILE_BAD = 3     /* not readable as audio: skipped */
};

typedef struct {
    int sample_rate;       /* model rate, Hz (16000); inputs are resampled to it */
    int frame_rate;        /* feature frames per second (250); must divide sample_rate */
    double example_secs;   /* example length (4) */
    double hop_secs;       /* distance between example starts (1) */
    double valid_fraction; /* share of each file's windows held out (0.1) */
    int strict;            /* 1: the first unreadable or too-short input is an error */
    int force;             /* 1: replace an existing output file */
    ddsp_f0_config f0;
    ddsp_loudness_config loudness;
} ddsp_prepare_config;

typedef struct {
    int64_t files_ok, files_bad, files_short;
    int64_t n_train, n_valid, n_dropped;
    double seconds_in; /* audio read, at the model rate */
} ddsp_prepare_stats;

void ddsp_prepare_config_default(ddsp_prepare_config *c);
/* DDSP_OK or DDSP_ERR naming the setting (e.g. an example length that is not a whole number
 * of frames). */
int ddsp_prepare_config_check(const ddsp_prepare_config *c);

/* Cut `inputs` (files and/or folders, searched recursively for audio files, sorted) into
 * examples with features and write `out_path` atomically (a temporary file renamed at the
 * end; an existing file is kept unless c->force). Collective over the group d: ranks split the
 * files and write their examples with parallel HDF5; the content does not depend on the
 * number of ranks. Bad inputs are reported by name and skipped (c->strict: error).
 * DDSP_OK or DDSP_ERR, the same on every rank. */
int ddsp_prepare(const ddsp_prepare_config *c, const char *const *inputs, int n_inputs,
                 const char *out_path, const ddsp_dist *d, ddsp_prepare_stats *stats);

/* ---------------------------------------------------------------- reading */
typedef struct {
    int64_t file;          /* hid_t of the open file */
    char *path;            /* owned copy, for messages */
    int64_t n_examples, T, F;
    int sample_rate, hop;
    int64_t n_train, n_valid;
    int64_t *train;        /* (n_train) example indices of the training split, ascending */
    int64_t *valid;        /* (n_valid) */
} ddsp_dataset;

/* Open and validate (format name and version, datasets present with consistent shapes and
 * float dtype). DDSP_OK or DDSP_ERR with a message naming the file and what is wrong. */
int ddsp_dataset_open(const char *path, ddsp_dataset *ds);
/* Read example `i`: audio (T), f0_hz (F), loudness_db (F); any pointer may be NULL.
 * DDSP_OK or DDSP_ERR (read failure, non-finite values). */
int ddsp_dataset_read(const ddsp_dataset *ds, int64_t i, float *audio, float *f0_hz,
                      float *loudness_db);
/* Read example i's f0 confidence (F). DDSP_OK or DDSP_ERR. */
int ddsp_dataset_read_confidence(const ddsp_dataset *ds, int64_t i, float *conf);
void ddsp_dataset_close(ddsp_dataset *ds);

/* ---------------------------------------------------------------- a rank's batches
 * Global batches of B training examples in a seeded order: each epoch is a permutation of
 * the training split keyed by (seed, epoch), the same on every rank; rank r of `size` takes
 * examples r, r + size, ... of each global batch. (epoch, pos) is the position of the next
 * example, what a checkpoint stores to continue the order exactly: a fresh order is epoch 0,
 * pos DDSP_BATCHER_FRESH (the first batch draws epoch 1's permutation). */
#define DDSP_BATCHER_FRESH INT64_MAX
typedef struct {
    const ddsp_dataset *ds; /* borrowed */
    size_t B, bmax;         /* global batch; this rank's most examples per batch */
    int rank, size;
    uint64_t seed;
    int64_t epoch, pos;
    int64_t *order;         /* (n_train) the current epoch's permutation */
    int64_t *gidx;          /* (B) the last global batch */
    size_t n;               /* this rank's examples in the last batch */
    float *f0, *ld, *audio; /* (bmax, F), (bmax, F), (bmax, T): this rank's examples */
    int64_t *ids;           /* (bmax) their dataset rows (the noise keys) */
} ddsp_batcher;

/* Buffers for global batches of B (B >= size) over ds, positioned at (epoch, pos).
 * DDSP_ERR naming the dataset when the position does not fit it (e.g. a checkpoint of
 * another dataset) or memory runs out. */
int ddsp_batcher_init(ddsp_batcher *b, const ddsp_dataset *ds, size_t B, int rank, int size,
                      uint64_t seed, int64_t epoch, int64_t pos);
/* Advance to the next global batch and read this rank's share into f0/ld/audio/ids
 * (b->n examples). DDSP_OK or DDSP_ERR (a read failure, naming the file and row). */
int ddsp_batcher_next(ddsp_batcher *b);
/* Read the given rows (n <= bmax) into the buffers instead (validation, monitoring);
 * b->n = n. DDSP_OK or DDSP_ERR. */
int ddsp_batcher_load(ddsp_batcher *b, const int64_t *rows, size_t n);
void ddsp_batcher_free(ddsp_batcher *b);

/* The f0 and loudness settings ds was prepared with (its root attributes; defaults for those
 * absent), so features computed now match the stored ones. */
void ddsp_dataset_feature_config(const ddsp_dataset *ds, ddsp_f0_config *fc, ddsp_loudness_config *lc);

/* The rows of split "train", "valid" or "all" (anything else: all), in file order, into
 * *rows (n_examples long at most; caller frees; *n may be 0). DDSP_ERR only without memory. */
int ddsp_dataset_select(const ddsp_dataset *ds, const char *split, int64_t **rows, size_t *n);

#endif
