/* Test sounds and loss landscapes: a shift moves the waveform, the landscape of a sound
 * against itself is 0 at the target and descends toward it, the time-shift claim (MSS
 * distance beyond the distance to silence), argument checks and the HDF5 file. */
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_shift_moves_waveform(void) {
    const ddsp_sound_kind kinds[] = {DDSP_SOUND_CHIRP, DDSP_SOUND_HARMONIC, DDSP_SOUND_NOISE};
    for (int k = 0; k < 3; k++) {
        ddsp_sound s;
        ddsp_sound_default(&s, kinds[k]);
        s.N = 8192;
        float *a = ddsp_alloc(sizeof(float) * s.N), *b = ddsp_alloc(sizeof(float) * s.N);
        ddsp_sound_render(a, &s);
        s.p[DDSP_SP_SHIFT] = 100;
        ddsp_sound_render(b, &s);
        double err = 0.0, peak = 0.0;
        for (size_t i = 100; i < s.N; i++) err = fmax(err, fabs(b[i] - a[i - 100]));
        for (size_t i = 0; i < s.N; i++) peak = fmax(peak, fabs(a[i]));
        printf("sound %-8s peak %.3f, shift by 100 samples: max error %.3g\n",
               ddsp_sound_kind_name(kinds[k]), peak, err);
        CHECK(fabs(peak - 0.5) < 1e-6, "%s: peak %.6f, not 0.5", ddsp_sound_kind_name(kinds[k]),
              peak);
        CHECK(err < 2e-3, "%s: shifted sound is not the delayed sound (%.3g)",
              ddsp_sound_kind_name(kinds[k]), err);
        ddsp_free(a), ddsp_free(b);
    }
    ddsp_sound_kind kind;
    CHECK(ddsp_sound_parse_kind("bell", &kind) == DDSP_ERR, "unknown sound accepted");
    CHECK(ddsp_sound_param_index(DDSP_SOUND_NOISE, "am") == DDSP_ERR, "noise has no am");
}

static void base_config(ddsp_landscape_config *c, ddsp_sound_kind kind, const char *param,
                        int grid) {
    memset(c, 0, sizeof *c);
    ddsp_sound_default(&c->target, kind);
    c->target.N = 8192;
    c->n_vary = 1;
    c->vary[0] = ddsp_sound_param_index(kind, param);
    ddsp_sound_param_range(kind, c->vary[0], &c->lo[0], &c->hi[0]);
    c->grid = grid;
    c->n_phi = 2;
    c->phi[0] = "l1log";
    c->phi[1] = "mag,logmag,sc";
    c->base = c->target;
}

static void test_detune_landscape(const char *dir) {
    ddsp_landscape_config c;
    base_config(&c, DDSP_SOUND_HARMONIC, "detune", 9); /* -100..100 cents, 0 in the middle */
    ddsp_landscape l;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_OK, "%s", ddsp_last_error());
    for (int k = 0; k < l.n_phi; k++) {
        const double *L = l.loss + (size_t)k * 9, *g = l.grad + (size_t)k * 9;
        CHECK(L[4] == 0.0 && l.argmin[k] == 4, "%s: minimum %g at %d, expected 0 at 4", c.phi[k],
              L[4], l.argmin[k]);
        CHECK(g[1] < 0.0 && g[7] > 0.0, "%s: surface gradient does not point away from the "
              "target (%g, %g)", c.phi[k], g[1], g[7]);
        CHECK(l.basin[k] > 0.0 && l.silence[k] > 0.0, "%s: basin %g, silence %g", c.phi[k],
              l.basin[k], l.silence[k]);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/landscape_test.h5", dir);
    CHECK(ddsp_landscape_write(path, &c, &l) == DDSP_OK, "%s", ddsp_last_error());
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot reopen %s", path);
    if (f >= 0) {
        char fmt[64] = "";
        CHECK(!ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) &&
                  !strcmp(fmt, "ddsp-landscape"), "format attribute '%s'", fmt);
        double *loss = NULL;
        uint64_t d[8];
        int r;
        CHECK(!ddsp_h5_read_f64(f, path, "loss_1", &loss, d, &r) && r == 1 && d[0] == 9 &&
                  loss[3] == l.loss[9 + 3], "loss_1 not written as computed");
        ddsp_free(loss);
        H5Fclose(f);
    }
    remove(path);
    ddsp_landscape_free(&l);
}

/* The claim of Vahidi et al.: a chirplet against its own time-shifted copy is further away
 * in MSS l2 distance than from silence. */
static void test_shift_claim(void) {
    ddsp_landscape_config c;
    base_config(&c, DDSP_SOUND_CHIRP, "shift", 5);
    c.lo[0] = -2048, c.hi[0] = 2048;
    c.n_phi = 1;
    c.phi[0] = "l2";
    ddsp_landscape l;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_OK, "%s", ddsp_last_error());
    const double ratio = fmax(l.loss[0], l.loss[4]) / l.silence[0];
    printf("chirp shifted by 2048 samples: MSS l2 distance %.3g x the distance to silence\n",
           ratio);
    CHECK(l.loss[2] == 0.0 && ratio > 1.0, "shift claim not reproduced (ratio %.3g)", ratio);
    ddsp_landscape_free(&l);
    /* argument checks */
    c.grid = 2;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "grid 2 accepted");
    c.grid = 5, c.phi[0] = "nonsense";
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "bad distance accepted");
    c.phi[0] = "l2", c.hi[0] = c.lo[0];
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "empty range accepted");
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    ddsp_h5_quiet();
    test_shift_moves_waveform();
    test_detune_landscape(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    test_shift_claim();
    ddsp_fft_cleanup();
    return tu_finish("test_analysis");
}
