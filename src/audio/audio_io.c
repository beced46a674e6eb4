/* Audio file I/O through libsndfile (see ddsp/audio.h). The file is read in blocks
 * rather than trusting the frame count in its header, so a corrupt header that declares
 * a huge length cannot make us allocate it. */
#include "ddsp/audio.h"
#include "ddsp/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libsndfile quietly shortens a WAV/AIFF whose data chunk runs past the end of the file;
 * its log is the only place that says so ("data : 32000 (should be 20)"). */
static int truncated_data_chunk(SNDFILE *sf) {
    char log[8192];
    log[0] = '\0';
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    for (const char *line = log; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        if ((!strncmp(line, "data ", 5) || !strncmp(line, "SSND ", 5))) {
            const char *eol = strchr(line, '\n'), *sb = strstr(line, "should be");
            if (sb && (!eol || sb < eol)) return 1;
        }
    }
    return 0;
}

int ddsp_audio_read(const char *path, ddsp_audio *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return ddsp_error("%s: no such file", path);
    if (S_ISDIR(st.st_mode)) return ddsp_error("%s: is a directory, not an audio file", path);

    /* opened here, not by sf_open: libsndfile keeps the name in a 1 KB buffer and cannot
     * open longer paths */
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ddsp_error("%s: cannot open (%s)", path, strerror(errno));
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open_fd(fd, SFM_READ, &info, SF_TRUE);
    if (!sf) {
        close(fd); /* sf_open_fd closes it only on success */
        return ddsp_error("%s: not a readable audio file (%s)", path, sf_strerror(NULL));
    }

    int rc = DDSP_ERR;
    float *block = NULL, *x = NULL;
    size_t n = 0, cap = 0;
    const int ch = info.channels;
    if (ch < 1 || ch > 64) {
        ddsp_error("%s: unsupported channel count %d", path, ch);
        goto cleanup;
    }
    if (info.samplerate <= 0) {
        ddsp_error("%s: invalid sample rate %d", path, info.samplerate);
        goto cleanup;
    }
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    enum { BLOCK = 16384 };
    block = malloc(sizeof(float) * BLOCK * (size_t)ch);
    if (!block) {
        ddsp_error("%s: out of memory", path);
        goto cleanup;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, block, BLOCK);
        if (got <= 0) break;
        if (n + (size_t)got > cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            while (ncap < n + (size_t)got) ncap *= 2;
            float *nx = realloc(x, ncap * sizeof(float));
            if (!nx) {
                ddsp_error("%s: out of memory after %zu samples", path, n);
                goto cleanup;
            }
            x = nx;
            cap = ncap;
        }
        for (sf_count_t i = 0; i < got; i++) {
            float s = 0.0f;
            for (int c = 0; c < ch; c++) s += block[(size_t)i * ch + c];
            s = ch == 1 ? s : s / (float)ch;
            if (!isfinite(s)) {
                ddsp_error("%s: non-finite sample (NaN or Inf) at sample %zu", path,
                           n + (size_t)i);
                goto cleanup;
            }
            x[n + (size_t)i] = s;
        }
        n += (size_t)got;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        ddsp_error("%s: read error after %zu samples (%s)", path, n, sf_strerror(sf));
        goto cleanup;
    }
    if (n == 0) {
        ddsp_error("%s: file contains no audio samples", path);
        goto cleanup;
    }
    if (truncated_data_chunk(sf)) {
        ddsp_error("%s: truncated file: the header declares more audio than the file holds "
                   "(%zu samples present)", path, n);
        goto cleanup;
    }
    out->x = ddsp_alloc(n * sizeof(float));
    if (!out->x) {
        ddsp_error("%s: out of memory", path);
        goto cleanup;
    }
    memcpy(out->x, x, n * sizeof(float));
    out->n = n;
    out->sample_rate = info.samplerate;
    out->channels = ch;
    rc = DDSP_OK;
cleanup:
    free(block);
    free(x);
    sf_close(sf);
    return rc;
}

void ddsp_audio_free(ddsp_audio *a) {
    if (!a) return;
    ddsp_free(a->x);
    memset(a, 0, sizeof *a);
}

/* Little-endian stores for the header. */
static void le16(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v) {
    le16(p, v & 0xffff), le16(p + 2, v >> 16);
}

int ddsp_audio_write(const char *path, const float *x, size_t n, int sample_rate) {
    /* The canonical IEEE-float WAV (RIFF/WAVE, fmt of 18 bytes with cbSize 0, fact, data),
     * written here: libsndfile writes a 16-byte fmt chunk for float, which readers such as
     * sox flag ("wave header missing extended part of fmt chunk"), and WAVEX trips the
     * same check in sox. */
    if (sample_rate <= 0) return ddsp_error("%s: invalid sample rate %d", path, sample_rate);
    if (n > (UINT32_MAX - 64) / 4)
        return ddsp_error("%s: %zu samples do not fit a WAV file (at most %u)", path, n,
                          (UINT32_MAX - 64) / 4);
    unsigned char h[58];
    const uint32_t bytes = (uint32_t)(4 * n);
    memcpy(h, "RIFF", 4), le32(h + 4, 50 + bytes), memcpy(h + 8, "WAVE", 4);
    memcpy(h + 12, "fmt ", 4), le32(h + 16, 18);
    le16(h + 20, 3 /* WAVE_FORMAT_IEEE_FLOAT */), le16(h + 22, 1), le32(h + 24, (uint32_t)sample_rate);
    le32(h + 28, 4 * (uint32_t)sample_rate), le16(h + 32, 4), le16(h + 34, 32), le16(h + 36, 0);
    memcpy(h + 38, "fact", 4), le32(h + 42, 4), le32(h + 46, (uint32_t)n);
    memcpy(h + 50, "data", 4), le32(h + 54, bytes);
    /* written beside the final name and renamed over it when complete: a failed or
     * interrupted write never leaves half a file under the real name */
    char tmp[PATH_MAX];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    FILE *f = fopen(tmp, "wb");
    if (!f) return ddsp_error("%s: cannot create audio file (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    enum { BLK = 4096 };
    unsigned char buf[4 * BLK];
    for (size_t i = 0; ok && i < n; i += BLK) {
        const size_t m = n - i < BLK ? n - i : BLK;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], 4);
            le32(buf + 4 * j, u);
        }
        ok = fwrite(buf, 4, m, f) == m;
    }
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (e) {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
        return ddsp_error("%s: cannot write audio file (%s)", path, strerror(e));
    }
    return ddsp_tmp_publish(tmp, path, 1);
}
