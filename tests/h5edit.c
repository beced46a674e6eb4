/* h5edit: change one thing in an HDF5 file, for tests that corrupt checkpoints and datasets
 * the way a bug, a disk or a hand edit would (no h5py on a CI machine).
 *   h5edit FILE attr OBJECT NAME int|float|str|vstr VALUE   set (or create) an attribute
 *                                                      (vstr: a variable-length UTF-8 string,
 *                                                      as h5py writes a Python str)
 *   h5edit FILE value DATASET INDEX VALUE              overwrite element INDEX (flat, as double);
 *                                                      INDEX "all" overwrites every element
 *   h5edit FILE delattr OBJECT NAME                    remove an attribute
 * OBJECT and DATASET are paths inside the file ("/", "/config", "/optimizer/v/decoder/..").
 * Exit 0 on success, 1 with a message otherwise. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "h5edit: %s\n", what);
    return 1;
}

static int set_attr(hid_t f, const char *obj, const char *name, const char *type, const char *val) {
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o < 0) return fail("cannot open the object");
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR), t, a;
    herr_t e;
    if (!strcmp(type, "int")) {
        long long v = strtoll(val, NULL, 10);
        a = H5Acreate2(o, name, H5T_NATIVE_LLONG, sp, H5P_DEFAULT, H5P_DEFAULT);
        e = a >= 0 ? H5Awrite(a, H5T_NATIVE_LLONG, &v) : -1;
    } else if (!strcmp(type, "float")) {
        double v = strtod(val, NULL);
        a = H5Acreate2(o, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
        e = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &v) : -1;
    } else if (!strcmp(type, "vstr")) {
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        e = a >= 0 ? H5Awrite(a, t, &val) : -1;
        H5Tclose(t);
    } else {
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(val) + 1);
        a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        e = a >= 0 ? H5Awrite(a, t, val) : -1;
        H5Tclose(t);
    }
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    return e < 0 ? fail("cannot write the attribute") : 0;
}

static int set_value(hid_t f, const char *dset, const char *idx, const char *val) {
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    if (d < 0) return fail("cannot open the dataset");
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    const int all = !strcmp(idx, "all");
    long long i = all ? 0 : strtoll(idx, NULL, 10);
    if (i < 0 || i >= n) {
        H5Dclose(d);
        return fail("index out of range");
    }
    double *v = malloc(sizeof(double) * (size_t)n);
    herr_t e = v ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : -1;
    if (e >= 0) {
        for (long long k = all ? 0 : i; k < (all ? n : i + 1); k++) v[k] = strtod(val, NULL);
        e = H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    }
    free(v);
    H5Dclose(d);
    return e < 0 ? fail("cannot rewrite the dataset") : 0;
}

int main(int argc, char **argv) {
    if (argc < 5) return fail("usage: h5edit FILE attr|value|delattr ...");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return fail("cannot open the file");
    int rc;
    if (!strcmp(argv[2], "attr") && argc == 7) {
        rc = set_attr(f, argv[3], argv[4], argv[5], argv[6]);
    } else if (!strcmp(argv[2], "value") && argc == 6) {
        rc = set_value(f, argv[3], argv[4], argv[5]);
    } else if (!strcmp(argv[2], "delattr") && argc == 5) {
        hid_t o = H5Oopen(f, argv[3], H5P_DEFAULT);
        rc = o >= 0 && H5Adelete(o, argv[4]) >= 0 ? 0 : fail("cannot delete the attribute");
        if (o >= 0) H5Oclose(o);
    } else {
        rc = fail("bad arguments");
    }
    H5Fclose(f);
    return rc;
}
