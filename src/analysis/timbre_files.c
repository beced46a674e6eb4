/* What `ddsp timbre` writes besides its printout: the metrics as CSV and a fitted term list
 * (each to a temporary published when written, ddsp_tmp_*), and the count of pairs a Φ pads
 * beyond the longer sound. */
#include "ddsp/analysis.h"
#include "ddsp/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* a CSV field, quoted when it holds a comma, quote or newline */
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Create the temporary of path (FINAL.tmp-HOST-PID) for writing; publish_file renames it
 * to path once written, or removes it on a write error. */
static FILE *create_tmp(char *tmp, size_t cap, const char *path) {
    if (ddsp_tmp_name(tmp, cap, path)) return NULL;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        ddsp_error("%s: cannot create file (%s)", path, strerror(errno));
        return NULL;
    }
    ddsp_tmp_track(tmp);
    return f;
}

static int publish_file(FILE *f, const char *tmp, const char *path) {
    const int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
        return ddsp_error("%s: write error (%s)", path, strerror(errno));
    }
    return ddsp_tmp_publish(tmp, path, 1);
}

int ddsp_timbre_write_csv(const char *path, const ddsp_timbre_set *set, const ddsp_timbre_sums *per,
                          const ddsp_timbre_sums *all, const char *phi) {
    char tmp[PATH_MAX];
    FILE *f = create_tmp(tmp, sizeof tmp, path);
    if (!f) return DDSP_ERR;
    fprintf(f, "study,sounds,pairs,spearman,kendall,triplet,ndcg,mae,phi\n");
    for (int s = 0; s <= set->n_studies; s++) {
        const ddsp_timbre_sums *x = s < set->n_studies ? &per[s] : all;
        csv_str(f, s < set->n_studies ? set->study[s].name : "all");
        fprintf(f, ",%ld,%ld,%.6f,%.6f,%.6f,%.6f,%.6f,", x->anchors, x->pairs,
                x->spearman / (double)x->anchors, x->kendall / (double)x->anchors,
                x->triplet / (double)x->anchors, x->ndcg / (double)x->anchors,
                x->mae / (double)x->pairs);
        csv_str(f, phi);
        fputc('\n', f);
    }
    return publish_file(f, tmp, path);
}

int ddsp_timbre_write_terms(const char *path, const char *terms) {
    char tmp[PATH_MAX];
    FILE *f = create_tmp(tmp, sizeof tmp, path);
    if (!f) return DDSP_ERR;
    fprintf(f, "%s\n", terms);
    return publish_file(f, tmp, path);
}

long ddsp_timbre_padded_pairs(const ddsp_timbre_set *set, size_t min_len) {
    long padded = 0;
    for (int s = 0; s < set->n_studies; s++) {
        const ddsp_timbre_study *st = &set->study[s];
        for (int i = 0; i < st->n; i++)
            for (int j = i + 1; j < st->n; j++)
                padded += (st->len[i] > st->len[j] ? st->len[i] : st->len[j]) < min_len;
    }
    return padded;
}
