/* `ddsp landscape`: loss surfaces of spectral distances around a parametric test sound. */
#include "cli/cli.h"
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp landscape --vary PARAM[,PARAM] --out L.h5 [options]\n"
    "\n"
    "Loss surface of one or more spectral distances between a test sound and a target over a\n"
    "grid of 1 or 2 of the sound's parameters, with the surface's gradient and the share of\n"
    "grid points from which steepest descent reaches the target's parameters. After Vahidi et\n"
    "al. 2023: sounds heard as the same (a time shift, another noise draw) can be far apart\n"
    "in MSS distance. `ddsp plot L.h5 --out fig.png` draws the result.\n"
    "\n"
    "options:\n"
    "  --sound chirp|harmonic|noise  test sound (default chirp: AM/FM chirplet)\n"
    "                          chirp: am (Hz), fm (octaves/s), fc (Hz), shift (samples)\n"
    "                          harmonic: f0 (Hz), detune (cents), shift\n"
    "                          noise: seed, shift\n"
    "  --vary P[,P]            the parameters on the grid (required)\n"
    "  --range P=LO:HI         grid range of P (defaults: am 4:16, fm 0.5:4, fc 250:1000,\n"
    "                          f0 110:440, detune -100:100, shift -2048:2048, seed 0:20)\n"
    "  --grid N                points per axis (default 21; 3..401)\n"
    "  --target P=V            the target's parameter P (repeatable; defaults am 8, fm 2,\n"
    "                          fc 500, f0 220, detune 0, shift 0, seed 0)\n"
    "  --target-shift S        the target delayed by S samples (e.g. 1024), the grid sounds not\n"
    "  --loss PHI              a distance (repeatable; default l1log): l1log | l1 | l2 (MSS) or a\n"
    "                          spectral term list as in `ddsp loss` (mag,logmag,sc,...; add\n"
    "                          dist=l2 for the squared distance)\n"
    "  --samples N             length in samples at 16 kHz (default 32768)\n"
    "  --out L.h5              output file (required)\n";

static int parse_assign(const char *s, char *name, size_t cap, const char **val) {
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= cap) return -1;
    memcpy(name, s, (size_t)(eq - s));
    name[eq - s] = '\0';
    *val = eq + 1;
    return 0;
}

int cmd_landscape(int argc, char **argv) {
    ddsp_sound_kind kind = DDSP_SOUND_CHIRP;
    const char *vary = NULL, *out = NULL, *ranges[8], *targets[16];
    int n_ranges = 0, n_targets = 0, have_tshift = 0;
    double tshift = 0.0;
    size_t grid = 21, samples = 32768;
    ddsp_landscape_config c;
    memset(&c, 0, sizeof c);
    const cli_str_opt strs[] = {{"--vary", &vary}, {"--out", &out}, {NULL, NULL}};
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((r = cli_opt(argc, argv, &i, "--sound", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (ddsp_sound_parse_kind(v, &kind)) goto usage_err;
        } else if ((r = cli_str_opts(argc, argv, &i, strs))) {
            if (r < 0) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--range", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (n_ranges == 8) return cli_fail("landscape", "too many --range"), EXIT_USAGE;
            ranges[n_ranges++] = v;
        } else if ((r = cli_opt(argc, argv, &i, "--target", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (n_targets == 16) return cli_fail("landscape", "too many --target"), EXIT_USAGE;
            targets[n_targets++] = v;
        } else if ((r = cli_opt(argc, argv, &i, "--target-shift", &v))) {
            if (r < 0 || cli_parse_double("--target-shift", v, &tshift, -1e7, 1e7)) return EXIT_USAGE;
            have_tshift = 1;
        } else if ((r = cli_opt(argc, argv, &i, "--grid", &v))) {
            if (r < 0 || cli_parse_size("--grid", v, &grid, 3, 401)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--samples", &v))) {
            if (r < 0 || cli_parse_size("--samples", v, &samples, 1024, 1u << 22)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--loss", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (c.n_phi == DDSP_LANDSCAPE_MAX_PHI) {
                cli_fail("landscape", "at most %d --loss", DDSP_LANDSCAPE_MAX_PHI);
                return EXIT_USAGE;
            }
            c.phi[c.n_phi++] = v;
        } else {
            cli_fail("landscape", "unknown argument '%s' (see ddsp landscape --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!vary) return cli_fail("landscape", "--vary PARAM[,PARAM] is required"), EXIT_USAGE;
    if (!out) return cli_fail("landscape", "--out L.h5 is required"), EXIT_USAGE;
    if (c.n_phi == 0) c.phi[c.n_phi++] = "l1log";
    c.grid = (int)grid;
    ddsp_sound_default(&c.target, kind);
    c.target.N = samples;
    /* varied parameters */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", vary);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (c.n_vary == 2) return cli_fail("landscape", "--vary takes 1 or 2 parameters"), EXIT_USAGE;
        int idx = ddsp_sound_param_index(kind, p);
        if (idx < 0) goto usage_err;
        c.vary[c.n_vary] = idx;
        ddsp_sound_param_range(kind, idx, &c.lo[c.n_vary], &c.hi[c.n_vary]);
        c.n_vary++;
    }
    if (c.n_vary == 2 && c.vary[0] == c.vary[1])
        return cli_fail("landscape", "--vary names %s twice", ddsp_sound_param_name(c.vary[0])),
               EXIT_USAGE;
    for (int k = 0; k < n_ranges; k++) {
        char name[32];
        const char *val;
        double lo, hi;
        char tail;
        if (parse_assign(ranges[k], name, sizeof name, &val) ||
            sscanf(val, "%lf:%lf%c", &lo, &hi, &tail) != 2) {
            cli_fail("landscape", "--range '%s': expected P=LO:HI", ranges[k]);
            return EXIT_USAGE;
        }
        int a = 0;
        while (a < c.n_vary && strcmp(ddsp_sound_param_name(c.vary[a]), name)) a++;
        if (a == c.n_vary) {
            cli_fail("landscape", "--range %s: %s is not varied (--vary %s)", ranges[k], name,
                     vary);
            return EXIT_USAGE;
        }
        if (!(hi > lo)) {
            cli_fail("landscape", "--range %s: empty range", ranges[k]);
            return EXIT_USAGE;
        }
        c.lo[a] = lo, c.hi[a] = hi;
    }
    for (int k = 0; k < n_targets; k++) {
        char name[32];
        const char *val;
        double v;
        if (parse_assign(targets[k], name, sizeof name, &val)) {
            cli_fail("landscape", "--target '%s': expected P=VALUE", targets[k]);
            return EXIT_USAGE;
        }
        int idx = ddsp_sound_param_index(kind, name);
        if (idx < 0) goto usage_err;
        if (cli_parse_double("--target", val, &v, -1e9, 1e9)) return EXIT_USAGE;
        c.target.p[idx] = v;
    }
    c.base = c.target;
    if (have_tshift) c.target.p[DDSP_SP_SHIFT] = tshift; /* the grid sounds stay unshifted */

    int rc = EXIT_FAIL;
    ddsp_landscape l;
    ddsp_log("landscape: %s sound, %zu samples, %d x %d grid over %s, %d distance(s)%s",
             ddsp_sound_kind_name(kind), samples, c.grid, c.n_vary == 2 ? c.grid : 1, vary,
             c.n_phi, have_tshift ? ", target shifted" : "");
    if (ddsp_landscape_compute(&c, &l, 1)) {
        cli_fail("landscape", "%s", ddsp_last_error());
        ddsp_fft_cleanup();
        return EXIT_FAIL;
    }
    const int n2 = c.n_vary == 2 ? c.grid : 1, total = c.grid * n2;
    printf("%-28s %14s %14s %10s %10s  %s\n", "distance", "to silence", "max on grid",
           "max/sil.", "basin", "grid minimum at");
    for (int k = 0; k < l.n_phi; k++) {
        const double *L = l.loss + (size_t)k * total;
        double mx = L[0];
        for (int q = 1; q < total; q++) mx = fmax(mx, L[q]);
        char at[96];
        const int am = l.argmin[k];
        if (c.n_vary == 2)
            snprintf(at, sizeof at, "%s=%g %s=%g", ddsp_sound_param_name(c.vary[0]),
                     l.axis[0][am / n2], ddsp_sound_param_name(c.vary[1]), l.axis[1][am % n2]);
        else
            snprintf(at, sizeof at, "%s=%g", ddsp_sound_param_name(c.vary[0]), l.axis[0][am]);
        char ratio[32];
        if (l.silence[k] > 0) snprintf(ratio, sizeof ratio, "%10.3f", mx / l.silence[k]);
        else snprintf(ratio, sizeof ratio, "%10s", "n/a");
        printf("%-28s %14.6g %14.6g %s %9.0f%%  %s\n", c.phi[k], l.silence[k], mx, ratio,
               100.0 * l.basin[k], at);
        if (!(l.silence[k] > 0))
            ddsp_log("warning: %s: the target is at distance 0 from silence (a silent target?): "
                     "its distances cannot be normalised and are plotted as they are", c.phi[k]);
    }
    if (ddsp_landscape_write(out, &c, &l)) {
        cli_fail("landscape", "%s", ddsp_last_error());
        goto done;
    }
    printf("wrote %s\n", out);
    rc = EXIT_OK;
done:
    ddsp_landscape_free(&l);
    ddsp_fft_cleanup();
    return rc;
usage_err:
    cli_fail("landscape", "%s", ddsp_last_error());
    return EXIT_USAGE;
}
