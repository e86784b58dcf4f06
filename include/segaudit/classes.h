/* Class-name presets and colour palettes. */
#ifndef SEGAUDIT_CLASSES_H
#define SEGAUDIT_CLASSES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A known label convention: its K class names and their colours. */
typedef struct SegauditClassPreset {
    const char *name;                 /* "cityscapes", "ade20k", ... */
    int n_classes;                    /* K */
    const char *const *class_names;   /* K names */
    const uint8_t (*palette)[3];      /* K colours (r, g, b) */
    int ignore_index;                 /* the usual void value, or -1 */
} SegauditClassPreset;

/* The preset called name ("cityscapes": the 19 train ids with the official
 * colours; "ade20k": 150 classes, assuming the "reduce zero label"
 * convention (class k-1 = ADE20K id k, id 0 -> 255); "pascal-voc": 21
 * classes with the VOC palette), or NULL. */
const SegauditClassPreset *segaudit_class_preset(const char *name);

/* Fills palette[0..k) with k well-separated colours: deterministic, never
 * black, white or pure red (those mark void, gaps and issues), and the
 * palette of k is a prefix of the palette of any larger k. */
void segaudit_generate_palette(uint8_t (*palette)[3], int k);

#ifdef __cplusplus
}
#endif

#endif
