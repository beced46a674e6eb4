/* Private to src/inspect: the pieces the checkpoint and dataset summaries share — attributes
 * read whatever their type, a bounded list of problems, "key value" lines wrapped for people
 * and a small JSON writer (indented, with inner containers on one line). */
#ifndef DDSP_INSPECT_IMPL_H
#define DDSP_INSPECT_IMPL_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>

#define INSP_MAX_VALS 16
#define INSP_MAX_PROBLEMS 24
#define INSP_PROBLEM_LEN 1100

/* One attribute as found: numbers (up to INSP_MAX_VALS kept, n counts them all) or a string. */
typedef struct {
    char name[64];
    char kind; /* 'i' integers, 'f' floats, 's' string, '?' unreadable */
    size_t n;
    int64_t iv[INSP_MAX_VALS];
    double fv[INSP_MAX_VALS];
    char s[512];
} insp_attr;

typedef struct {
    insp_attr *a; /* (n) owned; free(a) */
    int n, cap;
} insp_attr_list;

/* What is wrong, in the order found; the reader's verdict is moved to the front. */
typedef struct {
    char v[INSP_MAX_PROBLEMS][INSP_PROBLEM_LEN];
    int n;
} insp_problems;

void insp_problem(insp_problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The reader's failure (ddsp_last_error(), its "PATH: " prefix dropped) as problem 0,
 * "the WHO reader fails: ..."; the message also goes to msg (cap bytes). */
void insp_reader_fails(insp_problems *p, const char *path, const char *who, char *msg, size_t cap);

int insp_has(hid_t loc, const char *name);
/* All attributes of group `grp` ("." for the root), in name order, appended to out; 0 when
 * the group is missing or cannot be opened. */
int insp_read_attrs(hid_t f, const char *grp, insp_attr_list *out);
const insp_attr *insp_find_attr(const insp_attr_list *l, const char *name);
/* A single-valued numeric attribute as double; NAN when absent, a string or an array. */
double insp_attr_num(const insp_attr_list *l, const char *name);
/* Dimensions of a dataset without reading it (up to 8): its rank, or -1. */
int insp_ds_dims(hid_t loc, const char *name, uint64_t *dims);

/* ------------------------------------------------------------------ text */
void insp_fmt_value(char *buf, size_t cap, const insp_attr *a);
/* "  LABEL      key value, key value, ..." wrapped at 100 columns under a 13-column label;
 * keep(key, arg) chooses the attributes (NULL: all), `strip` is a key prefix not shown. */
void insp_print_wrapped(FILE *o, const char *label, const insp_attr_list *l,
                        int (*keep)(const char *key, int arg), int arg, const char *strip);

/* ------------------------------------------------------------------ JSON */
typedef struct {
    FILE *o;
    int depth, n[16]; /* items written at each depth */
    int inline_from;  /* containers at this depth and deeper go on one line */
} insp_json;

/* Start the top-level object: {  (close with insp_json_end). */
void insp_json_begin(insp_json *j, FILE *o);
void insp_json_end(insp_json *j);
void insp_jstr_raw(FILE *o, const char *s);
void insp_jkey(insp_json *j, const char *key); /* key NULL inside arrays */
void insp_jopen(insp_json *j, const char *key, char c);
void insp_jclose(insp_json *j, char c);
void insp_jnum(insp_json *j, const char *key, double v); /* null when not finite */
void insp_jint(insp_json *j, const char *key, long long v);
void insp_jbool(insp_json *j, const char *key, int v);
void insp_jstr(insp_json *j, const char *key, const char *v);
void insp_jattr(insp_json *j, const char *key, const insp_attr *a);
/* "ok" and "problems" (the last members of every summary). */
void insp_jproblems(insp_json *j, const insp_problems *p);

/* ------------------------------------------------------------------ the two kinds
 * Summarise PATH (already known to carry the kind's format attribute) and print it to o.
 * *n_problems: how many problems were found (0: complete and loads); DDSP_ERR only when
 * memory runs out (message recorded). first (cap bytes): the first problem. */
int insp_checkpoint(const char *path, int json, FILE *o, int *n_problems, char *first, size_t cap);
int insp_dataset(const char *path, int json, FILE *o, int *n_problems, char *first, size_t cap);

#endif
