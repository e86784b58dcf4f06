/* Writer of an (N,K,H,W) probability tensor and its image ids (HDF5), image
 * by image, in the layout segaudit reads (see h5_probs.h).
 *
 * Element types: float32, or IEEE float16 exactly as h5py writes it; the
 * caller supplies float16 values as their raw 16 bits.  Storage: contiguous,
 * or chunks of (1,K,rows,W), optionally with shuffle + deflate.
 *
 * Compression can run in any thread: sa_h5w_encode() makes the compressed
 * chunks of one image without calling HDF5, and sa_h5w_write_image() then
 * stores them with H5Dwrite_chunk.  Every other function calls HDF5: the
 * caller serialises them (HDF5 is not thread-safe).
 *
 * Files are written reproducibly (no timestamps): the same calls in the same
 * order give byte-identical files. */
#ifndef SA_H5_WRITE_H
#define SA_H5_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/dtype.h"

typedef struct SaH5WriterOpts {
    uint64_t n, k, h, w; /* tensor shape, all >= 1 */
    SaDtype dtype;       /* SA_F16 or SA_F32 */
    uint64_t chunk_rows; /* rows per chunk; 0 = contiguous storage */
    int gzip_level;      /* 0 = no filters; 1..9 = shuffle + deflate (needs
                            chunk_rows) */
} SaH5WriterOpts;

typedef struct SaH5Writer SaH5Writer;

/* Rows per chunk for chunks of about target_bytes (at least 1, at most h). */
uint64_t sa_h5w_chunk_rows_for(uint64_t k, uint64_t h, uint64_t w,
                               size_t elsize, size_t target_bytes);

/* Creates (truncates) path with the dataset (e.g. "/pred_probs").  Messages
 * start with "<path>: ".  Errors: SEGAUDIT_EINVAL for bad options, else
 * SEGAUDIT_EIO. */
int sa_h5w_create(SaH5Writer **out, const char *path, const char *dataset,
                  const SaH5WriterOpts *o, SaErr *err);

/* Bytes of one image [K][H][W] in memory. */
size_t sa_h5w_image_bytes(const SaH5Writer *w);

/* The compressed chunks of one image, made by sa_h5w_encode().  Reusable:
 * zero-initialise once, encode many times, free once. */
typedef struct SaH5Encoded {
    uint64_t n_chunks;
    size_t *sizes;         /* compressed bytes of each chunk */
    unsigned char **data;  /* each chunk's buffer */
    size_t *caps;          /* capacity of each buffer */
    unsigned char *raw;    /* scratch: one uncompressed chunk */
    unsigned char *shuf;   /* scratch: the same, shuffled */
} SaH5Encoded;

/* Shuffles and deflates the chunks of image ([K][H][W], native order) into
 * enc.  Needs gzip_level > 0.  Thread-safe (no HDF5 call); different
 * threads use different enc. */
int sa_h5w_encode(const SaH5Writer *w, const void *image, SaH5Encoded *enc,
                  SaErr *err);

void sa_h5w_encoded_free(SaH5Encoded *enc);

/* Stores image `index`: with gzip_level > 0 from enc (image is unused),
 * else from image ([K][H][W], native order; enc is unused). */
int sa_h5w_write_image(SaH5Writer *w, uint64_t index, const void *image,
                       const SaH5Encoded *enc, SaErr *err);

/* Creates the 1-D dataset of n variable-length UTF-8 strings (as h5py's
 * string_dtype() writes them), then fills ids [first, first+count). */
int sa_h5w_ids_create(SaH5Writer *w, const char *dataset, uint64_t n,
                      SaErr *err);
int sa_h5w_ids_write(SaH5Writer *w, uint64_t first, uint64_t count,
                     const char *const *ids, SaErr *err);

/* Closes everything and flushes the file.  A failure (disk full while the
 * metadata is flushed, for instance) is SEGAUDIT_EIO.  Frees w whatever
 * happens; NULL is accepted. */
int sa_h5w_close(SaH5Writer *w, SaErr *err);

/* Closes w, ignoring errors, and removes its file; NULL is accepted. */
void sa_h5w_abort(SaH5Writer *w);

#endif
