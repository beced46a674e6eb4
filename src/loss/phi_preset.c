/* Built-in Φ presets: names that stand for a term list wherever one is accepted. */
#include "ddsp/loss.h"

#include <string.h>

/* perceptual: PROVISIONAL until `ddsp timbre --fit` has run on the collection. */
static const struct {
    const char *name, *terms;
} presets[] = {
    {"perceptual", "mfcc=1,dist=cos"},
};

const char *ddsp_phi_preset(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(name, presets[i].name)) return presets[i].terms;
    return NULL;
}
