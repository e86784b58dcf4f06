/* What a run tells its user besides the numbers: where the image ids came
 * from, and warnings about inputs that look wrong although every value is
 * valid (so that a report of a misaligned dataset is never taken at face
 * value).  See api.h. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "segaudit/audit.h"

/* Compares a and b with runs of digits taken as numbers ("frame_2" before
 * "frame_10"); equal numbers with different zero padding compare equal. */
static int cmp_natural(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            size_t na = 0, nb = 0;
            while (isdigit((unsigned char)a[na]))
                na++;
            while (isdigit((unsigned char)b[nb]))
                nb++;
            if (na != nb)
                return na < nb ? -1 : 1;
            int c = memcmp(a, b, na);
            if (c)
                return c;
            a += na;
            b += nb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int add(SaWarnings *w, SaErr *err, const char *fmt, ...)
    SA_PRINTF(3, 4);
static int add(SaWarnings *w, SaErr *err, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (w->n >= SA_MAX_WARNINGS)
        return 0;
    if (!(w->text[w->n] = strdup(buf)))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    w->n++;
    return 0;
}

int sa_warnings_build(const SaEngine *e, SaWarnings *w, SaErr *err)
{
    int rc = 0;
    uint64_t valid = 0;
    for (uint64_t n = 0; n < e->N; n++)
        valid += e->images[n].valid_pixels;
    if (e->far) {
        rc = add(w, err,
                 "%llu pixels (%.3g%% of the valid ones) have probabilities "
                 "that do not sum to 1, the first in image '%s' at (row %u, "
                 "col %u): sum %g; %s, --strict to refuse them",
                 (unsigned long long)e->far,
                 100.0 * (double)e->far / (double)(valid ? valid : 1),
                 e->ids[e->far_image], e->far_row, e->far_col, e->far_sum,
                 e->quantised
                     ? "integer probabilities are divided by the type's "
                       "largest value unless --probs-scale says otherwise"
                     : "use --logits for logits");
    }
    /* ids from file names: text order against numeric order */
    if (rc == 0 && e->ids_source == SA_IDS_NAMES) {
        for (uint64_t i = 1; i < e->N; i++) {
            if (cmp_natural(e->ids[i - 1], e->ids[i]) > 0) {
                rc = add(w, err,
                         "the image ids are the label file names sorted as "
                         "text, and they sort differently as numbers ('%s' "
                         "comes before '%s' as text): if the predictions "
                         "were written in numeric order, every image is "
                         "compared with another image's predictions; give "
                         "the ids with --ids",
                         e->ids[i - 1], e->ids[i]);
                break;
            }
        }
    }
    /* most images disagree with the model on most of their pixels */
    uint64_t scored = 0, low = 0;
    for (uint64_t n = 0; n < e->N; n++) {
        const SaImage *im = &e->images[n];
        if (e->skipped[n] || im->valid_pixels == 0)
            continue;
        scored++;
        low += im->score[SEGAUDIT_SCORE_PIXEL_ACCURACY] < 0.5;
    }
    if (rc == 0 && scored && 2 * low > scored)
        rc = add(w, err,
                 "in %llu of %llu images, more than half of the valid "
                 "pixels disagree with the model's most likely class: the "
                 "labels and predictions are probably mismatched rather "
                 "than mislabeled.  Likely causes: image ids out of order "
                 "(%s), dataset label ids instead of training ids "
                 "(--label-map), or the wrong tensor layout",
                 (unsigned long long)low, (unsigned long long)scored,
                 e->ids_source == SA_IDS_NAMES
                     ? "the ids are the label file names sorted as text; "
                       "give them with --ids"
                 : e->ids_source == SA_IDS_TEXT
                     ? "check the order of the --ids file"
                 : e->ids_source == SA_IDS_INDEX
                     ? "the label arrays and the predictions are paired "
                       "by index"
                     : "check the id dataset");
    return rc;
}

void sa_warnings_free(SaWarnings *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->text[i]);
    memset(w, 0, sizeof *w);
}
