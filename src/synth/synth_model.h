/* The simulated model of `segaudit synth`: the class probabilities a
 * segmentation model that saw the clean labels of a scene would give each
 * pixel, with blurred boundaries, confusions, distractors and a few
 * confident mistakes (synth_model.c says how).  Its quality varies per
 * image.  No I/O, no threads: one SaModel per worker thread. */
#ifndef SA_SYNTH_MODEL_H
#define SA_SYNTH_MODEL_H

#include <stdint.h>

#include "synth/synth_scene.h"

typedef struct SaModel SaModel;

/* A model of kind (enum SegauditSynthModel; see synth_model.c) with the
 * scratch for scenes of h×w, or NULL when out of memory. */
SaModel *sa_model_new(uint32_t h, uint32_t w, int kind);
/* NULL is accepted. */
void sa_model_free(SaModel *m);

/* Draws the model's quality and noise fields for scene s (of the size m
 * was made for) from r.  map: scene class -> dataset class. */
void sa_model_seed(SaModel *m, const SaScene *s, SaRng *r,
                   const uint8_t map[SC_N]);

/* The probabilities of the K classes at every pixel of s (as last seeded)
 * into tensor, laid out [K][H][W]: float32, or with f16 the raw bits of
 * float16. */
void sa_model_render(SaModel *m, const SaScene *s, int K,
                     const uint8_t map[SC_N], int f16, void *tensor);

/* The IEEE binary16 bits nearest to f, ties to even: the conversion used
 * for float16 tensors (exposed for the tests). */
uint16_t sa_synth_f32_to_f16(float f);

#endif
