/* Errors, assertions, logging, clock and aligned memory (see ddsp/util.h). */
#include "ddsp/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Room for a message naming three paths of PATH_MAX (4096) and its reason. */
static _Thread_local char err_buf[16384];
static int log_rank;
static void (*abort_hook)(int code);

void ddsp_set_abort_hook(void (*hook)(int code)) {
    abort_hook = hook;
}

void ddsp_vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    const int len = vsnprintf(buf, cap, fmt, ap);
    if (len >= 0 && (size_t)len >= cap && cap > 64) {
        /* too long: keep the start and the end (the reason comes last), cut the middle */
        char *full = malloc((size_t)len + 1);
        if (full) {
            vsnprintf(full, (size_t)len + 1, fmt, ap2);
            const size_t head = (cap - 8) / 3, tail = cap - 8 - head;
            memcpy(buf, full, head);
            memcpy(buf + head, " [...] ", 7);
            memcpy(buf + head + 7, full + (size_t)len - tail, tail);
            buf[head + 7 + tail] = '\0';
            free(full);
        }
    }
    va_end(ap2);
}

int ddsp_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    /* through a copy: callers may pass ddsp_last_error() itself as an argument */
    char msg[sizeof err_buf];
    ddsp_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(err_buf, msg, strlen(msg) + 1);
    return DDSP_ERR;
}

const char *ddsp_last_error(void) {
    return err_buf;
}

void ddsp_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[ddsp] rank %d: %s:%d: assertion `%s` failed: %s\n", log_rank, file, line,
            cond, msg);
    fflush(stderr);
    if (abort_hook) abort_hook(134); /* dist's: abort the whole job */
    abort();
}

void ddsp_log_set_rank(int rank) {
    log_rank = rank;
}

int ddsp_log_rank(void) {
    return log_rank;
}

void ddsp_log(const char *fmt, ...) {
    char msg[16384];
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[ddsp] %s\n", msg);
}

double ddsp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void *ddsp_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    memset(p, 0, rounded);
    return p;
}

void ddsp_free(void *p) {
    free(p);
}
