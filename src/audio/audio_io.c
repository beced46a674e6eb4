/* Audio file I/O through libsndfile (see ddsp/audio.h). The file is read in blocks
 * rather than trusting the frame count in its header, so a corrupt header that declares
 * a huge length cannot make us allocate it. */
#include "ddsp/audio.h"
#include "ddsp/util.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return ddsp_error("%s: not a readable audio file (%s)", path, sf_strerror(NULL));

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

int ddsp_audio_write(const char *path, const float *x, size_t n, int sample_rate) {
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = sample_rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return ddsp_error("%s: cannot create audio file (%s)", path, sf_strerror(NULL));
    sf_count_t w = sf_write_float(sf, x, (sf_count_t)n);
    int rc = DDSP_OK;
    if (w != (sf_count_t)n) rc = ddsp_error("%s: short write (%s)", path, sf_strerror(sf));
    if (sf_close(sf) != 0 && rc == DDSP_OK) rc = ddsp_error("%s: error closing file", path);
    return rc;
}
