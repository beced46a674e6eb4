/* ddsp/util.h — errors, assertions, logging, timing, aligned memory and HDF5 helpers.
 *
 * Two kinds of failure:
 *   - bugs: DDSP_ASSERT(cond, fmt, ...) is always compiled in; it prints rank, file and
 *     line and aborts the whole job (MPI_Abort once MPI is up, abort() before).
 *   - failures a user can cause (bad file, bad flag): functions return DDSP_ERR (-1) after
 *     recording one line with ddsp_error(); the CLI prints ddsp_last_error() and exits 1.
 */
#ifndef DDSP_UTIL_H
#define DDSP_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define DDSP_OK 0
#define DDSP_ERR (-1)

/* Record a one-line, printf-style error message (replaces the previous one) and return
 * DDSP_ERR, so `return ddsp_error("%s: not a WAV file", path);` reads naturally. */
int ddsp_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message recorded by ddsp_error() on this thread ("" if none). Messages hold up
 * to 16 KB (three full paths and their reason); a longer one loses its middle, never its
 * end, which carries the reason. */
const char *ddsp_last_error(void);
/* vsnprintf into buf (cap bytes) that cuts an over-long message in the middle (" [...] ")
 * instead of at the end. */
void ddsp_vformat(char *buf, size_t cap, const char *fmt, va_list ap);

void ddsp_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
/* What a failed DDSP_ASSERT calls before abort(): the dist module registers the MPI_Abort
 * of the whole job once MPI is up (util itself knows nothing of MPI). */
void ddsp_set_abort_hook(void (*hook)(int code));
#define DDSP_ASSERT(cond, ...)                                                                 \
    do {                                                                                       \
        if (!(cond)) ddsp_assert_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                 \
    } while (0)

/* Logging: messages go to stderr, prefixed with "[ddsp]"; LOG0 prints on rank 0 only.
 * The rank is set once by the dist module (0 when MPI is not used). */
void ddsp_log_set_rank(int rank);
int ddsp_log_rank(void);
void ddsp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define LOG0(...)                                                                              \
    do {                                                                                       \
        if (ddsp_log_rank() == 0) ddsp_log(__VA_ARGS__);                                       \
    } while (0)

/* Monotonic wall clock in seconds. */
double ddsp_now(void);

/* 64-byte aligned allocation of `bytes`, zero-filled (so every page is touched once, at
 * allocation, not later inside a timed step). Returns NULL on failure. ddsp_free(NULL) is
 * a no-op. */
void *ddsp_alloc(size_t bytes);
void ddsp_free(void *p);

/* ---------------------------------------------------------------- temporary files
 * Outputs are written under a temporary name beside their final name and published by a
 * rename, so a reader never sees half a file. The temporary name carries the writer's host
 * and pid, FINAL.tmp-HOST-PID: concurrent jobs never share one, and a leftover of a writer
 * that no longer runs can be told from a live writer's file. */
/* buf (cap bytes) <- the temporary name for final_path. DDSP_ERR if it does not fit. */
int ddsp_tmp_name(char *buf, size_t cap, const char *final_path);
/* Remember a temporary for removal by the handlers of ddsp_tmp_signals (up to 8 at once);
 * forget it once published or removed (ddsp_tmp_publish forgets it). */
void ddsp_tmp_track(const char *path);
void ddsp_tmp_forget(const char *path);
/* For commands without signal handling of their own: SIGINT, SIGTERM, SIGHUP, SIGUSR1/2
 * remove the tracked temporaries, then end the process as the signal would (a signal
 * ignored at start stays ignored); SIGXFSZ is ignored, so a write past ulimit -f fails with
 * a message. */
void ddsp_tmp_signals(void);
/* Remove leftovers of final_path (FINAL.tmp-HOST-PID of a writer on this host that no
 * longer runs); never a live writer's file. Returns how many were removed (each logged). */
int ddsp_tmp_sweep(const char *final_path);
/* The same for every file of folder dir; with legacy_prefix also the old fixed names
 * PREFIX*.h5.tmp (only where the caller knows no other writer can be: a locked run folder). */
int ddsp_tmp_sweep_dir(const char *dir, const char *legacy_prefix);
/* Publish tmp as final_path. replace: rename over an existing file; otherwise fail if
 * final_path exists (atomically: a hard link, so a job only ever publishes its own file and
 * never replaces one that appeared meanwhile). tmp is gone afterwards either way. DDSP_OK
 * or DDSP_ERR naming final_path and the reason. */
int ddsp_tmp_publish(const char *tmp, const char *final_path, int replace);

/* ---------------------------------------------------------------- HDF5 helpers
 * All return DDSP_OK or DDSP_ERR (with a message naming file and object). `loc` is an
 * hid_t (file or group) passed as int64_t so this header does not pull in hdf5.h. */
int ddsp_h5_write_f32(int64_t loc, const char *name, const float *data, int rank,
                      const uint64_t *dims);
int ddsp_h5_write_f64(int64_t loc, const char *name, const double *data, int rank,
                      const uint64_t *dims);
int ddsp_h5_write_i64(int64_t loc, const char *name, const int64_t *data, int rank,
                      const uint64_t *dims);
int ddsp_h5_attr_str(int64_t obj, const char *name, const char *value);
int ddsp_h5_attr_f64(int64_t obj, const char *name, double value);
int ddsp_h5_attr_i64(int64_t obj, const char *name, int64_t value);
int ddsp_h5_attr_i64v(int64_t obj, const char *name, const int64_t *v, size_t n);
/* A typed attribute (what a run's settings file and a checkpoint's /config hold: numbers as
 * numbers, strings as strings). kind: 'i' int64 (i), 'f' double (f), 's' string (s). */
typedef struct {
    const char *name;
    char kind;
    int64_t i;
    double f;
    const char *s;
} ddsp_h5_attr;
int ddsp_h5_attrs_write(int64_t obj, const ddsp_h5_attr *a, int n);
/* Describe dataset `name` under loc for readers: attributes "axes" (what each dimension is,
 * e.g. "example, sample") and "units" (e.g. "full scale", "Hz", "dB"). */
int ddsp_h5_describe(int64_t loc, const char *name, const char *axes, const char *units);
/* Read a whole dataset converted to float / double. The caller owns *out (free with
 * ddsp_free). dims (up to 8) and *rank are filled in; `file` is only used in messages. */
int ddsp_h5_read_f32(int64_t loc, const char *file, const char *name, float **out,
                     uint64_t *dims, int *rank);
int ddsp_h5_read_f64(int64_t loc, const char *file, const char *name, double **out,
                     uint64_t *dims, int *rank);
/* Read a scalar attribute of obj converted to int64 / double, or a string attribute
 * (fixed-length or variable-length, as h5py writes it) into buf (cap bytes, NUL-terminated).
 * DDSP_ERR (message names it) if missing, of another class, or a string of cap bytes or more
 * (never truncated). */
int ddsp_h5_attr_get_i64(int64_t obj, const char *name, int64_t *v);
int ddsp_h5_attr_get_f64(int64_t obj, const char *name, double *v);
int ddsp_h5_attr_get_str(int64_t obj, const char *name, char *buf, size_t cap);
/* Open an existing HDF5 file read-only and check its root "format" attribute is `format` and
 * "format_version" in 1..max_version (*version set when not NULL). The file's id (close with
 * ddsp_h5_close), or -1 with a message naming the file and what is wrong. */
int64_t ddsp_h5_open_format(const char *path, const char *format, int max_version, int64_t *version);
void ddsp_h5_close(int64_t file);
/* The root "format" attribute of an HDF5 file into fmt ("" when absent or not HDF5). */
void ddsp_h5_file_format(const char *path, char *fmt, size_t cap);
/* 1 when loc has a link `name` (a path such as "history/step" is fine when its groups exist). */
int ddsp_h5_exists(int64_t loc, const char *name);
/* Turn off HDF5's automatic error stack printing (we report our own one-line errors). */
void ddsp_h5_quiet(void);

/* ---------------------------------------------------------------- counter-based RNG
 * The value at (key, index) depends on nothing else (SplitMix64 output function applied to
 * key + index * golden ratio), so a stream is the same whatever the thread or rank that
 * draws it. Keys mix a seed with up to two ids, e.g. ddsp_rng_key(seed, step, example). */
uint64_t ddsp_rng_key(uint64_t seed, uint64_t a, uint64_t b);
uint64_t ddsp_rng_u64(uint64_t key, uint64_t index);
/* out[i] = uniform in [lo, hi) from (key, first + i), i < n (24-bit resolution). */
void ddsp_rng_uniform(float *out, size_t n, uint64_t key, uint64_t first, float lo, float hi);
/* Uniform double in [0, 1) (53 bits) and a standard normal (Box-Muller on indices 2i, 2i+1). */
double ddsp_rng_uniform01(uint64_t key, uint64_t index);
double ddsp_rng_normal(uint64_t key, uint64_t index);

#endif
