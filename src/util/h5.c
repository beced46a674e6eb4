/* Small HDF5 helpers: write a typed dataset / attribute in one call, read a whole dataset
 * converted to float or double. Every HDF5 return is checked; failures become one-line
 * errors that name the file and the object. */
#include "ddsp/util.h"

#include <hdf5.h>
#include <string.h>
#include <unistd.h>

void ddsp_h5_quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static int write_ds(int64_t loc, const char *name, hid_t type, const void *data, int rank,
                    const uint64_t *dims) {
    hsize_t d[8];
    if (rank < 0 || rank > 8) return ddsp_error("%s: bad rank %d", name, rank);
    for (int i = 0; i < rank; i++) d[i] = (hsize_t)dims[i];
    int rc = DDSP_ERR;
    hid_t space = H5Screate_simple(rank, d, NULL);
    hid_t ds = H5I_INVALID_HID;
    if (space < 0) goto cleanup;
    ds = H5Dcreate2((hid_t)loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0) goto cleanup;
    if (H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) goto cleanup;
    rc = DDSP_OK;
cleanup:
    if (ds >= 0) H5Dclose(ds);
    if (space >= 0) H5Sclose(space);
    if (rc != DDSP_OK) ddsp_error("cannot write HDF5 dataset '%s'", name);
    return rc;
}

int ddsp_h5_write_f32(int64_t loc, const char *name, const float *data, int rank,
                      const uint64_t *dims) {
    return write_ds(loc, name, H5T_NATIVE_FLOAT, data, rank, dims);
}

int ddsp_h5_write_f64(int64_t loc, const char *name, const double *data, int rank,
                      const uint64_t *dims) {
    return write_ds(loc, name, H5T_NATIVE_DOUBLE, data, rank, dims);
}

int ddsp_h5_write_i64(int64_t loc, const char *name, const int64_t *data, int rank,
                      const uint64_t *dims) {
    return write_ds(loc, name, H5T_NATIVE_INT64, data, rank, dims);
}

static int write_attr(int64_t obj, const char *name, hid_t type, const void *v, size_t n,
                      int scalar) {
    int rc = DDSP_ERR;
    hsize_t d = (hsize_t)n;
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5I_INVALID_HID;
    if (space < 0) goto cleanup;
    if (H5Aexists((hid_t)obj, name) > 0) H5Adelete((hid_t)obj, name);
    a = H5Acreate2((hid_t)obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto cleanup;
    if (H5Awrite(a, type, v) < 0) goto cleanup;
    rc = DDSP_OK;
cleanup:
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    if (rc != DDSP_OK) ddsp_error("cannot write HDF5 attribute '%s'", name);
    return rc;
}

int ddsp_h5_attr_str(int64_t obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return ddsp_error("cannot write HDF5 attribute '%s'", name);
    size_t len = strlen(value);
    H5Tset_size(t, len > 0 ? len : 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    int rc = write_attr(obj, name, t, len > 0 ? value : "", 1, 1);
    H5Tclose(t);
    return rc;
}

int ddsp_h5_attr_f64(int64_t obj, const char *name, double value) {
    return write_attr(obj, name, H5T_NATIVE_DOUBLE, &value, 1, 1);
}

int ddsp_h5_attr_i64(int64_t obj, const char *name, int64_t value) {
    return write_attr(obj, name, H5T_NATIVE_INT64, &value, 1, 1);
}

int ddsp_h5_attr_i64v(int64_t obj, const char *name, const int64_t *v, size_t n) {
    return write_attr(obj, name, H5T_NATIVE_INT64, v, n, 0);
}

int ddsp_h5_attrs_write(int64_t obj, const ddsp_h5_attr *a, int n) {
    for (int k = 0; k < n; k++) {
        const int rc = a[k].kind == 'i'   ? ddsp_h5_attr_i64(obj, a[k].name, a[k].i)
                       : a[k].kind == 'f' ? ddsp_h5_attr_f64(obj, a[k].name, a[k].f)
                                          : ddsp_h5_attr_str(obj, a[k].name, a[k].s ? a[k].s : "");
        if (rc) return DDSP_ERR;
    }
    return DDSP_OK;
}

int ddsp_h5_describe(int64_t loc, const char *name, const char *axes, const char *units) {
    hid_t ds = H5Oopen((hid_t)loc, name, H5P_DEFAULT);
    if (ds < 0) return ddsp_error("cannot open '%s' to describe it", name);
    int rc = ddsp_h5_attr_str(ds, "axes", axes) || ddsp_h5_attr_str(ds, "units", units);
    H5Oclose(ds);
    return rc ? DDSP_ERR : DDSP_OK;
}

static int read_ds(int64_t loc, const char *file, const char *name, hid_t memtype,
                   size_t elsize, void **out, uint64_t *dims, int *rank) {
    int rc = DDSP_ERR;
    hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
    void *buf = NULL;
    *out = NULL;
    if (H5Lexists((hid_t)loc, name, H5P_DEFAULT) <= 0) {
        ddsp_error("%s: missing HDF5 dataset '%s'", file, name);
        goto cleanup;
    }
    ds = H5Dopen2((hid_t)loc, name, H5P_DEFAULT);
    if (ds < 0) {
        ddsp_error("%s: '%s' is not a readable dataset", file, name);
        goto cleanup;
    }
    hid_t ftype = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(ftype);
    H5Tclose(ftype);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        ddsp_error("%s: dataset '%s' is not numeric", file, name);
        goto cleanup;
    }
    space = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(space);
    if (r < 0 || r > 8) {
        ddsp_error("%s: dataset '%s' has unsupported rank %d", file, name, r);
        goto cleanup;
    }
    hsize_t d[8];
    H5Sget_simple_extent_dims(space, d, NULL);
    size_t n = 1;
    for (int i = 0; i < r; i++) {
        dims[i] = d[i];
        n *= (size_t)d[i];
    }
    *rank = r;
    buf = ddsp_alloc(n * elsize);
    if (!buf) {
        ddsp_error("%s: out of memory reading '%s'", file, name);
        goto cleanup;
    }
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        ddsp_error("%s: cannot read dataset '%s'", file, name);
        goto cleanup;
    }
    *out = buf;
    buf = NULL;
    rc = DDSP_OK;
cleanup:
    ddsp_free(buf);
    if (space >= 0) H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

int ddsp_h5_read_f32(int64_t loc, const char *file, const char *name, float **out,
                     uint64_t *dims, int *rank) {
    return read_ds(loc, file, name, H5T_NATIVE_FLOAT, sizeof(float), (void **)out, dims, rank);
}

int ddsp_h5_read_f64(int64_t loc, const char *file, const char *name, double **out,
                     uint64_t *dims, int *rank) {
    return read_ds(loc, file, name, H5T_NATIVE_DOUBLE, sizeof(double), (void **)out, dims,
                   rank);
}

static int attr_get(int64_t obj, const char *name, hid_t memtype, H5T_class_t want, void *v) {
    if (H5Aexists((hid_t)obj, name) <= 0) return ddsp_error("missing attribute '%s'", name);
    hid_t a = H5Aopen((hid_t)obj, name, H5P_DEFAULT);
    if (a < 0) return ddsp_error("cannot open attribute '%s'", name);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = DDSP_ERR;
    H5T_class_t cls = H5Tget_class(t);
    int ok_class = want == H5T_FLOAT ? (cls == H5T_FLOAT || cls == H5T_INTEGER) : cls == want;
    if (!ok_class || H5Sget_simple_extent_npoints(sp) != 1)
        ddsp_error("attribute '%s' is not a single %s", name, want == H5T_STRING ? "string" : "number");
    else if (H5Aread(a, memtype, v) < 0)
        ddsp_error("cannot read attribute '%s'", name);
    else
        rc = DDSP_OK;
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int ddsp_h5_attr_get_i64(int64_t obj, const char *name, int64_t *v) {
    return attr_get(obj, name, H5T_NATIVE_INT64, H5T_FLOAT, v);
}

int ddsp_h5_attr_get_f64(int64_t obj, const char *name, double *v) {
    return attr_get(obj, name, H5T_NATIVE_DOUBLE, H5T_FLOAT, v);
}

int ddsp_h5_attr_get_str(int64_t obj, const char *name, char *buf, size_t cap) {
    if (cap == 0) return ddsp_error("attribute '%s': no room", name);
    buf[0] = '\0';
    if (H5Aexists((hid_t)obj, name) <= 0) return ddsp_error("missing attribute '%s'", name);
    hid_t a = H5Aopen((hid_t)obj, name, H5P_DEFAULT);
    if (a < 0) return ddsp_error("cannot open attribute '%s'", name);
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = DDSP_ERR;
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        ddsp_error("attribute '%s' is not a single string", name);
    } else if (H5Tis_variable_str(ft) > 0) {
        /* variable-length, as h5py writes str attributes */
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py's are UTF-8: no ASCII<->UTF-8 conversion */
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0 || !v) {
            ddsp_error("cannot read attribute '%s'", name);
        } else if (strlen(v) >= cap) {
            ddsp_error("attribute '%s' is too long (%zu characters, at most %zu)", name,
                       strlen(v), cap - 1);
        } else {
            memcpy(buf, v, strlen(v) + 1);
            rc = DDSP_OK;
        }
        if (v) H5free_memory(v);
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(ft);
        char *tmp = ddsp_alloc(len + 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (!tmp || H5Aread(a, mt, tmp) < 0) {
            ddsp_error("cannot read attribute '%s'", name);
        } else if (strlen(tmp) >= cap) {
            ddsp_error("attribute '%s' is too long (%zu characters, at most %zu)", name,
                       strlen(tmp), cap - 1);
        } else {
            memcpy(buf, tmp, strlen(tmp) + 1);
            rc = DDSP_OK;
        }
        H5Tclose(mt);
        ddsp_free(tmp);
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int64_t ddsp_h5_open_format(const char *path, const char *format, int max_version, int64_t *version) {
    ddsp_h5_quiet();
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path), -1;
    if (access(path, R_OK) != 0) return ddsp_error("%s: not readable (permission denied)", path), -1;
    if (H5Fis_hdf5(path) <= 0) return ddsp_error("%s: not an HDF5 file (a %s file is)", path, format), -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path), -1;
    char fmt[64] = "";
    int64_t ver = 0;
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, format))
        ddsp_error("%s: not a %s file (format attribute '%s')", path, format, fmt[0] ? fmt : "missing");
    else if (ddsp_h5_attr_get_i64(f, "format_version", &ver) || ver < 1 || ver > max_version)
        ddsp_error("%s: %s format version %lld, this ddsp reads 1 to %d", path, format,
                   (long long)ver, max_version);
    else {
        if (version) *version = ver;
        return f;
    }
    H5Fclose(f);
    return -1;
}

void ddsp_h5_close(int64_t file) {
    if (file >= 0) H5Fclose((hid_t)file);
}

void ddsp_h5_file_format(const char *path, char *fmt, size_t cap) {
    fmt[0] = '\0';
    ddsp_h5_quiet();
    if (access(path, R_OK) != 0 || H5Fis_hdf5(path) <= 0) return;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    if (ddsp_h5_attr_get_str(f, "format", fmt, cap)) fmt[0] = '\0';
    H5Fclose(f);
}

int ddsp_h5_exists(int64_t loc, const char *name) {
    /* each group on the way must exist too (H5Lexists fails on a missing intermediate) */
    char part[512];
    const char *p = name;
    while ((p = strchr(p, '/')) != NULL) {
        const size_t n = (size_t)(p - name);
        if (n == 0 || n >= sizeof part) return 0;
        memcpy(part, name, n);
        part[n] = '\0';
        if (H5Lexists((hid_t)loc, part, H5P_DEFAULT) <= 0) return 0;
        p++;
    }
    return H5Lexists((hid_t)loc, name, H5P_DEFAULT) > 0;
}
