/* What the files of the API layer share (internal). */
#ifndef SA_API_H
#define SA_API_H

#include <stdint.h>

#include "common/error.h"
#include "engine/engine.h"
#include "segaudit/segaudit.h"

/* Checks the settings before anything is opened: 0 or SEGAUDIT_EINVAL. */
int sa_settings_validate(const SegauditSettings *s, SaErr *err);

/* Writes the overlays of the first overlay_top images of order (image
 * indices by rank) into the settings' overlay folder: the engine's rows
 * (after pass 2, while the candidate records are alive) through the
 * overlay renderer. */
int sa_api_overlays(SaEngine *e, const uint64_t *order);

/* Warnings of a finished run (at most SA_MAX_WARNINGS, in a fixed
 * order): probabilities that do not sum to 1, ids whose text order differs
 * from their numeric order, most images disagreeing with the model. */
#define SA_MAX_WARNINGS 8
typedef struct SaWarnings {
    int n;
    char *text[SA_MAX_WARNINGS];
} SaWarnings;
int sa_warnings_build(const SaEngine *e, SaWarnings *w, SaErr *err);
void sa_warnings_free(SaWarnings *w);

#endif
