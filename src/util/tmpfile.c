/* Temporary files beside their final name, published by rename (see ddsp/util.h).
 *
 * A temporary is FINAL.tmp-HOST-PID: two jobs writing the same output never share one, and
 * a leftover can be told apart from a live writer's file (same host, pid no longer alive).
 * Tracked temporaries are removed by the signal handler of ddsp_tmp_signals; a SIGKILL
 * leaves its file, which the next start sweeps away. */
#include "ddsp/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef HOST_NAME_MAX
#define HOST_NAME_MAX 255
#endif

enum { MAX_TRACKED = 8 };
/* written outside handlers, read by them: a slot is live when its first byte is not 0 */
static char tracked[MAX_TRACKED][PATH_MAX];
static volatile sig_atomic_t tracked_live[MAX_TRACKED];

/* This host's name with the characters a file name cannot hold replaced. */
static void host_tag(char *buf, size_t cap) {
    char h[HOST_NAME_MAX + 1] = "";
    if (gethostname(h, sizeof h) != 0 || !h[0]) snprintf(h, sizeof h, "localhost");
    h[HOST_NAME_MAX] = '\0';
    size_t j = 0;
    for (size_t i = 0; h[i] && j + 1 < cap; i++)
        buf[j++] = (h[i] == '/' || h[i] == '-') ? '_' : h[i];
    buf[j] = '\0';
}

int ddsp_tmp_name(char *buf, size_t cap, const char *final_path) {
    char host[HOST_NAME_MAX + 1];
    host_tag(host, sizeof host);
    const int n = snprintf(buf, cap, "%s.tmp-%s-%ld", final_path, host, (long)getpid());
    if (n < 0 || (size_t)n >= cap)
        return ddsp_error("%s: path too long for its temporary file (at most %zu characters)",
                          final_path, cap > 80 ? cap - 80 : cap);
    return DDSP_OK;
}

void ddsp_tmp_track(const char *path) {
    for (int i = 0; i < MAX_TRACKED; i++)
        if (!tracked_live[i]) {
            snprintf(tracked[i], sizeof tracked[i], "%s", path);
            tracked_live[i] = 1;
            return;
        }
}

void ddsp_tmp_forget(const char *path) {
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_live[i] && !strcmp(tracked[i], path)) tracked_live[i] = 0;
}

static void on_signal(int sig) {
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_live[i]) unlink(tracked[i]); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

void ddsp_tmp_signals(void) {
    /* past a file-size limit (ulimit -f) a write then fails with EFBIG and is reported, as
     * on a full disk, instead of the process being killed */
    signal(SIGXFSZ, SIG_IGN);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old;
        /* a signal ignored by whoever started us stays ignored (nohup, background jobs) */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Is `name` (a file in a folder) a temporary NAME.tmp-HOST-PID of a dead writer on this
 * host? base_len > 0: its final name must be the first base_len characters. */
static int stale(const char *name, const char *base, size_t base_len) {
    const char *t = strstr(name, ".tmp-");
    if (!t || (base_len && ((size_t)(t - name) != base_len || strncmp(name, base, base_len))))
        return 0;
    const char *dash = strrchr(t + 5, '-');
    if (!dash || dash == t + 5) return 0;
    char host[HOST_NAME_MAX + 1];
    host_tag(host, sizeof host);
    if (strlen(host) != (size_t)(dash - (t + 5)) || strncmp(host, t + 5, strlen(host))) return 0;
    char *end;
    const long pid = strtol(dash + 1, &end, 10);
    if (*end || pid <= 0) return 0;
    if (pid == (long)getpid()) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove leftovers in folder `dir` that `stale` (or, legacy != NULL, the old fixed name
 * PREFIX*.h5.tmp) matches; returns how many. */
static int sweep(const char *dir, const char *base, const char *legacy) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        const size_t len = strlen(e->d_name);
        int old = legacy && !strncmp(e->d_name, legacy, strlen(legacy)) && len > 7 &&
                  !strcmp(e->d_name + len - 7, ".h5.tmp");
        if (!old && !stale(e->d_name, base, base ? strlen(base) : 0)) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        if (unlink(path) == 0) {
            ddsp_log("removed %s, left by a writer that no longer runs", path);
            n++;
        }
    }
    closedir(d);
    return n;
}

int ddsp_tmp_sweep(const char *final_path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(final_path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == final_path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - final_path), final_path);
    return sweep(dir, slash ? slash + 1 : final_path, NULL);
}

int ddsp_tmp_sweep_dir(const char *dir, const char *legacy_prefix) {
    return sweep(dir, NULL, legacy_prefix);
}

int ddsp_tmp_publish(const char *tmp, const char *final_path, int replace) {
    int rc = DDSP_OK;
    if (replace) {
        if (rename(tmp, final_path) != 0)
            rc = ddsp_error("%s: cannot rename %s into place (%s)", final_path, tmp,
                            strerror(errno));
    } else if (link(tmp, final_path) != 0) {
        /* a hard link publishes only if the name is free, atomically */
        const int e = errno;
        struct stat st;
        if (e == EEXIST)
            rc = ddsp_error("%s: appeared while this job was writing it (another job writing "
                            "the same output?); it was kept and this job's output discarded "
                            "(use --force to replace it)", final_path);
        else if ((e == EPERM || e == ENOTSUP || e == EXDEV || e == EMLINK) &&
                 stat(final_path, &st) != 0 && errno == ENOENT && rename(tmp, final_path) == 0)
            return DDSP_OK; /* no hard links on this file system: rename (not atomic) */
        else
            rc = ddsp_error("%s: cannot publish %s (%s)", final_path, tmp, strerror(e));
    }
    unlink(tmp); /* after link: the final name keeps the data; on failure: discard */
    ddsp_tmp_forget(tmp);
    return rc;
}
