/* The output folder of `segaudit synth` and the files in it:
 *
 *   labels/synth_<id>.png   the given labels, 8-bit grayscale
 *   truth/synth_<id>.png    the true error mask: 255 where the given label
 *                           differs from the scene's, else 0
 *   probs.h5                the tensor and /image_ids (written by the caller)
 *   truth.csv               which images have an error (written by the
 *                           caller)
 *   classes.txt             the class names
 *
 * probs.h5, truth.csv and classes.txt are written under ".partial" names
 * and published by renames once everything is complete; after a failure
 * sa_synth_files_remove() leaves nothing that could pass for a dataset. */
#ifndef SA_SYNTH_FILES_H
#define SA_SYNTH_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "segaudit/synth.h"

typedef struct SaSynthFiles {
    char *dir; /* the settings' out_dir, not owned */
    char *labels, *masks, *probs, *probs_tmp, *truth, *truth_tmp, *classes,
        *classes_tmp;
    int made_dir, made_labels, made_masks; /* created by this run */
} SaSynthFiles;

/* Digits of the image ids: at least 6, enough for n-1. */
int sa_synth_id_width(uint64_t n);
/* "synth_<i in width digits>" into buf. */
void sa_synth_format_id(char *buf, size_t size, int width, uint64_t i);

/* Sets the paths for s->out_dir and creates the folders; refuses (or with
 * s->force clears) an existing dataset.  Free p with sa_synth_files_free()
 * whatever happens. */
int sa_synth_files_prepare(const SegauditSynthSettings *s, SaSynthFiles *p,
                           SaErr *err);
void sa_synth_files_free(SaSynthFiles *p);

/* classes.txt for K classes at path: the scene's class names when K is
 * their number, else class_0, class_1, ... */
int sa_synth_write_classes(const char *path, int K, SaErr *err);

/* The label PNG of image i (h×w labels, row-major). */
int sa_synth_write_label(const SaSynthFiles *p, int width, uint64_t i,
                         const uint8_t *lab, uint32_t h, uint32_t w,
                         SaErr *err);
/* The true error mask of image i (h×w bytes, 0 or 255). */
int sa_synth_write_mask(const SaSynthFiles *p, int width, uint64_t i,
                        const uint8_t *mask, uint32_t h, uint32_t w,
                        SaErr *err);

/* Closes a text file written at path; a write error that stdio kept until
 * now, or one at fclose, is a failure. */
int sa_synth_close_text(FILE *f, const char *path, SaErr *err);

/* Renames the .partial files to their names. */
int sa_synth_files_publish(const SaSynthFiles *p, SaErr *err);

/* After a failure: removes the .partial files, the label PNGs and error
 * masks of the n images whose written[i] is set (written may be NULL), and
 * the folders this run created if they are then empty. */
void sa_synth_files_remove(const SaSynthFiles *p, const uint8_t *written,
                           uint64_t n, int width);

#endif
