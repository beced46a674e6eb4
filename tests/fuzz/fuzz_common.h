/* Shared by the libFuzzer targets in tests/fuzz: the readers under test take a path, so each
 * input is written to one temporary file per process (in /dev/shm when there is one) and
 * the reader is pointed at it. */
#ifndef DDSP_FUZZ_COMMON_H
#define DDSP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_path[256];

static void fuzz_remove_file(void) {
    if (fuzz_path[0]) unlink(fuzz_path);
}

/* Path of this process's input file, created on the first call; `suffix` keeps the
 * extension a reader may look at (".wav", ".h5"). */
static const char *fuzz_file_path(const char *suffix) {
    if (!fuzz_path[0]) {
        struct stat st;
        const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        const char *t = getenv("TMPDIR");
        if (t && *t) dir = t;
        snprintf(fuzz_path, sizeof fuzz_path, "%s/ddsp_fuzz_%ld%s", dir, (long)getpid(), suffix);
        atexit(fuzz_remove_file);
    }
    return fuzz_path;
}

/* Replace the file's content with data[0..size). Aborts on I/O failure: that is a problem
 * of the machine, not a finding. */
static const char *fuzz_write_file(const char *suffix, const uint8_t *data, size_t size) {
    const char *p = fuzz_file_path(suffix);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

/* HDF5 targets: every file, group, dataset, attribute and named datatype a reader opened
 * must be closed again (HDF5 1.10 has no public count of dataspaces and transient types).
 * A missing H5?close is a leak HDF5 itself never reports. */
#ifdef H5_VERS_MAJOR
static void fuzz_h5_check(const char *what) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n != 0) {
        fprintf(stderr, "%s left %zd HDF5 file object identifier(s) open\n", what, n);
        abort();
    }
}
#endif

#endif
