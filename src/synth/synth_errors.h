/* Annotation errors for `segaudit synth`: one error injected into the
 * given labels of a scene, made of one of its objects.  No I/O, no
 * threads; uses the scene's scratch masks. */
#ifndef SA_SYNTH_ERRORS_H
#define SA_SYNTH_ERRORS_H

#include <stdint.h>

#include "synth/synth_scene.h"

enum SaErrorKind {
    SA_ERR_NONE = 0, SA_ERR_OVERLOOKED, SA_ERR_SWAPPED, SA_ERR_BOUNDARY,
    SA_ERR_PARTIAL, SA_ERR_COARSE, SA_N_ERR_KINDS
};
/* "none", "overlooked", "swapped", "boundary", "partial", "coarse". */
extern const char *const sa_error_kind_names[SA_N_ERR_KINDS];

/* Injects one annotation error into given (h*w labels, on entry the clean
 * labels map[cls]).  void_value < 0: overlooked objects get the class
 * around them; else they get void_value.  Returns the kind (SA_ERR_NONE
 * when the scene has no object an error can be made of) and sets *changed
 * to the number of pixels whose label changed. */
/* kinds: the bit set of SegauditSynthError the kind is drawn from (kind
 * k is bit 1 << (k - 1)). */
int sa_scene_inject(SaScene *s, SaRng *r, const uint8_t map[SC_N],
                    int void_value, int kinds, uint8_t *given,
                    uint64_t *changed);

#endif
