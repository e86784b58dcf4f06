/* Generating synthetic street-scene datasets with known annotation errors.
 *
 * segaudit_synth() writes a dataset that segaudit can audit, together with
 * the truth about which images were mislabeled:
 *
 *   <out_dir>/labels/<id>.png  8-bit grayscale label maps (the GIVEN labels,
 *                              errors included); ids are "synth_" and the
 *                              image index, zero-padded to at least 6 digits
 *   <out_dir>/probs.h5         /pred_probs (N,K,H,W) float32 or float16 (as
 *                              h5py writes it), /image_ids (UTF-8 strings)
 *   <out_dir>/truth.csv        image,mislabeled,error_type,error_pixels
 *   <out_dir>/classes.txt      the K class names, one per line
 *
 * The scenes use the 19 Cityscapes train-id classes (road, sidewalk, ...,
 * bicycle).  With n_classes K != 19, scene class c becomes c*K/19 (integer
 * division), so several scene classes may share one class (K < 19) or some
 * classes are never used (K > 19); the names are then "class_<k>".
 *
 * The probabilities come from a simulated imperfect model that sees the
 * TRUE (clean) labels; annotation errors change only the given labels.
 * Exactly round(error_rate * N) images, chosen by the seed, get one error
 * each: "overlooked" (an object labeled as its surroundings, or as
 * void_value), "swapped" (an object labeled as a class it is easily
 * confused with) or "boundary" (an object grown or shrunk by a few pixels).
 *
 * The output depends only on the settings other than n_threads: the same
 * seed gives byte-identical files for any thread count. */
#ifndef SEGAUDIT_SYNTH_H
#define SEGAUDIT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element type of /pred_probs. */
enum SegauditSynthDtype {
    SEGAUDIT_SYNTH_F32 = 0, /* float32 (default) */
    SEGAUDIT_SYNTH_F16 = 1  /* IEEE half, as h5py writes numpy.float16 */
};

/* The simulated model. */
enum SegauditSynthModel {
    SEGAUDIT_SYNTH_STANDARD = 0, /* a good model: about 3 % of the pixels
                                    have s <= 0.5 or a wrong argmax */
    SEGAUDIT_SYNTH_WEAK = 1,     /* a weak, noisy model: heavy floor mass,
                                    wide blur, frequent confusions; about a
                                    third of the pixels have s <= 0.5 or a
                                    wrong argmax */
    SEGAUDIT_SYNTH_SHARP = 2,    /* a strong model: thin boundaries, little
                                    floor mass, few confusions */
    SEGAUDIT_SYNTH_BLURRY = 3,   /* boundaries blurred three times wider
                                    than the standard model's */
    SEGAUDIT_SYNTH_OVERCONFIDENT = 4 /* the standard model with four times
                                    as many confident mistakes, twice as
                                    large, and little floor mass */
};

/* The kinds of annotation error (a bit set in SegauditSynthSettings
 * errors). */
enum SegauditSynthError {
    SEGAUDIT_SYNTH_OVERLOOKED = 1, /* an object labeled as its surroundings
                                      (or as void_value) */
    SEGAUDIT_SYNTH_SWAPPED = 2,    /* an object labeled as a confusable
                                      class */
    SEGAUDIT_SYNTH_BOUNDARY = 4,   /* an object grown or shrunk by a few
                                      pixels */
    SEGAUDIT_SYNTH_PARTIAL = 8,    /* half of an object (top or bottom)
                                      labeled as its surroundings: a
                                      missing region */
    SEGAUDIT_SYNTH_COARSE = 16,    /* an object's label drawn as its
                                      bounding box: a coarse polygon */
    SEGAUDIT_SYNTH_ALL_ERRORS = 31
};

/* Storage of /pred_probs. */
enum SegauditSynthCompress {
    SEGAUDIT_SYNTH_NONE = 0, /* contiguous (default) */
    SEGAUDIT_SYNTH_GZIP = 1  /* chunks of (1,K,rows,W), shuffle + deflate */
};

typedef struct SegauditSynthSettings {
    const char *out_dir;  /* dataset folder, created if missing (required) */
    uint64_t n_images;    /* N >= 1 (required; 0 = unset) */
    uint32_t height;      /* H, 16..65535 (required; 0 = unset) */
    uint32_t width;       /* W, 16..65535 (required; 0 = unset) */
    int n_classes;        /* K, 2..255 (19) */
    double error_rate;    /* fraction of mislabeled images, 0..1 (0.3) */
    uint64_t seed;        /* any value (0) */
    int dtype;            /* enum SegauditSynthDtype (F32) */
    int compress;         /* enum SegauditSynthCompress (NONE) */
    int gzip_level;       /* deflate level 1..9 with GZIP (4, as h5py) */
    int void_value;       /* -1: overlooked objects get the surrounding
                             class (default); K..255: they get this value */
    int n_threads;        /* worker threads; 0 = all cores (0) */
    int force;            /* 1: overwrite an existing dataset in out_dir (0) */
    const volatile int *cancel; /* when set and *cancel becomes non-zero, the
                                   run stops with SEGAUDIT_ECANCEL (NULL) */
    int model;            /* enum SegauditSynthModel (STANDARD) */
    uint32_t chunk_rows;  /* rows per chunk of (1,K,rows,W): 0 = contiguous
                             without compression, chunks of about 1 MiB with
                             GZIP (0); height or more = one chunk per
                             image */
    int errors;           /* enum SegauditSynthError bits: the kinds an
                             error is drawn from (0: overlooked, swapped
                             and boundary) */
} SegauditSynthSettings;

/* Fills s with the defaults documented above. */
void segaudit_synth_default_settings(SegauditSynthSettings *s);

/* Writes the dataset.  Returns 0 or a negative SEGAUDIT_E* code with a
 * message in errbuf (when errbuf is not NULL): SEGAUDIT_EINVAL for invalid
 * settings, SEGAUDIT_EINPUT when out_dir already holds a dataset and force
 * is 0, SEGAUDIT_EIO when writing fails (the message names the file).
 * probs.h5, truth.csv and classes.txt are written under temporary names and
 * renamed only when everything succeeded; after a failure the label PNGs
 * written by this call are removed again.  Uses n_threads OpenMP threads;
 * HDF5 is called from one thread at a time. */
int segaudit_synth(const SegauditSynthSettings *s, char *errbuf,
                   size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
