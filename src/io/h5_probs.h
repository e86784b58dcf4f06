/* Reader of the (N,K,H,W) prediction tensor and the image ids (HDF5).
 *
 * Element types: IEEE float16 (as h5py writes it: a 16-bit float type),
 * float32, float64, in either byte order.  Contiguous or chunked storage,
 * any filters the HDF5 library can decode (gzip, shuffle, ...).
 *
 * HDF5 is not called from two threads at once: the caller serialises every
 * call on every SaProbs object (the engine calls them from one thread).
 *
 * Implemented by h5_probs.c (opening, band reads), h5_ids.c (the ids),
 * h5_check.c (what a file must satisfy, the plugin policy) and h5_util.c
 * (sa_h5_init); h5_internal.h is what they share. */
#ifndef SA_H5_PROBS_H
#define SA_H5_PROBS_H

#include <stddef.h>
#include <stdint.h>

#include "common/dtype.h"
#include "common/error.h"
#include "common/strlist.h"
#include "io/probs_upsample.h"

typedef struct SaProbs SaProbs;

/* Opens path and the dataset (e.g. "/pred_probs").  Checks: the file is
 * HDF5, the dataset exists, rank 4, no zero dimension, a float type of 16,
 * 32 or 64 bits.  Messages start with "<path>:<dataset>: ". */
int sa_probs_open(SaProbs **out, const char *path, const char *dataset,
                  SaErr *err);

/* How to read the stored tensor. */
typedef struct SaProbsOpts {
    int nhwc;          /* stored (N,H,W,K) (else (N,K,H,W)); can be changed
                          after opening with sa_probs_set_layout */
    double scale;      /* > 0: quantised integers are value * scale (else
                          the CF attributes scale_factor and add_offset of
                          the dataset, else value / 255 or / 65535) */
} SaProbsOpts;

/* sa_probs_open with options (NULL: the defaults).  path may also be a
 * NumPy .npy file (recognised by its magic bytes; dataset must then be
 * NULL or ""), of float16/32/64 or uint8/16 in either byte order.  HDF5
 * datasets may be quantised uint8/uint16 as well. */
int sa_probs_open_ex(SaProbs **out, const char *path, const char *dataset,
                     const SaProbsOpts *opts, SaErr *err);

/* The tensor as an array in memory (read in place; it must stay valid
 * until p is closed), named `name` in messages.  The array is 4-D, of
 * float16/32/64 or uint8/uint16 (quantised, as opts->scale says, else
 * value / 255 or / 65535); opts->nhwc tells the axis order.  Reads are
 * planned (sa_probs_plan_read) and can run on any thread.  A shared file
 * mapping (arr->file_mapped) has its pages released once read. */
int sa_probs_open_array(SaProbs **out, const struct SegauditArray *arr,
                        const char *name, const SaProbsOpts *opts, SaErr *err);

/* The shape as stored (before the axes are ordered as (N,K,H,W)). */
void sa_probs_stored_shape(const SaProbs *p, uint64_t sdims[4]);
/* Reads the stored tensor as channels-last (nhwc = 1) or not; only before
 * the first read.  Refuses a K over 65536. */
int sa_probs_set_layout(SaProbs *p, int nhwc, SaErr *err);
int sa_probs_nhwc(const SaProbs *p);
/* 1 when the dataset named a group of one dataset per image (ids = the
 * dataset names, sorted); images may then differ in size, and the dims are
 * the largest H and W. */
int sa_probs_per_image(const SaProbs *p);
/* How messages name the tensor: "<path>:<dataset>", or the path of a .npy
 * file (which has no dataset). */
const char *sa_probs_where(const SaProbs *p);
/* Size of image n (after any upsampling). */
void sa_probs_image_size(const SaProbs *p, uint64_t n, uint64_t *h,
                         uint64_t *w);
/* Delivers the tensor upsampled by the integer factor s (>= 2) with mode
 * SA_UP_BILINEAR or SA_UP_NEAREST (probs_upsample.h): from then on the
 * dimensions are H*s, W*s and the elements float64.  Only before the
 * first read. */
int sa_probs_set_upsample(SaProbs *p, uint32_t s, int mode, SaErr *err);
/* Whether the values are quantised integers, and what they are multiplied
 * by and then offset by. */
int sa_probs_quantised(const SaProbs *p);
void sa_probs_scale(const SaProbs *p, double *scale, double *offset);

/* N, K, H, W. */
void sa_probs_dims(const SaProbs *p, uint64_t dims[4]);
SaDtype sa_probs_dtype(const SaProbs *p);
/* Bytes per element in the buffers of sa_probs_read_band (2, 4 or 8;
 * quantised integers are delivered as float64). */
size_t sa_probs_elsize(const SaProbs *p);
/* "float16", "float32", "float64", "uint8", "uint16" (as stored). */
const char *sa_probs_dtype_name(const SaProbs *p);
/* E.g. "contiguous", "chunked (1,19,64,128) shuffle+deflate". */
const char *sa_probs_layout(const SaProbs *p);
/* Chunk rows (dimension 2 of the chunk), or 0 when contiguous. */
uint64_t sa_probs_chunk_rows(const SaProbs *p);

/* Reads the image ids.  ids_dataset NULL means "/image_ids" if it exists
 * (then *found = 0 when it does not, and *ids_out = NULL).  A named dataset
 * that does not exist is an error.  The dataset must be 1-D of length N with
 * variable- or fixed-length strings (trailing NULs/spaces of fixed-length
 * strings are dropped).  On success *ids_out is an array of N malloc'd
 * strings (free with sa_free_strings). */
int sa_probs_read_ids(SaProbs *p, const char *ids_dataset, char ***ids_out,
                      int *found, SaErr *err);

/* Reads rows [r0, r0+nrows) of image n, all K channels, into dst laid out
 * as [K][nrows][W] elements of sa_probs_elsize() bytes in native byte order
 * (float16 as its raw 16 bits).  dst holds K*nrows*W elements. */
int sa_probs_read_band(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       void *dst, SaErr *err);

/* Buffers a thread keeps for planned reads of compressed chunks (zeroed
 * at first; grown as needed). */
typedef struct SaReadScratch {
    void *cbuf, *ubuf;   /* a compressed chunk, and the same inflated */
    size_t ccap, ucap;
    void *lbuf;          /* a band at the stored resolution (upsampling) */
    size_t lcap;
    void *inflater;      /* libdeflate's, when built with it */
} SaReadScratch;
void sa_read_scratch_free(SaReadScratch *s);

/* A band read that needs no HDF5 call once planned: the file offsets of
 * its pieces.  Planned on the thread that uses p, done on any thread. */
#define SA_BAND_PIECES 32
typedef struct SaBandRead {
    uint64_t n, r0, nrows;
    int npieces;                     /* chunk rows touched (1: contiguous) */
    uint64_t at[SA_BAND_PIECES];     /* file offset of each piece's rows of
                                        class 0 (of its chunk, when
                                        compressed) */
    uint64_t rows[SA_BAND_PIECES];   /* rows in each piece */
    uint64_t first[SA_BAND_PIECES];  /* compressed: first row in the chunk */
    uint64_t size[SA_BAND_PIECES];   /* compressed: bytes stored */
    unsigned mask[SA_BAND_PIECES];   /* compressed: filters skipped */
    uint64_t plane;                  /* bytes from one class to the next */
    uint64_t up_r0, up_n;            /* upsampling: the output rows (n, r0
                                        and nrows are then stored rows) */
} SaBandRead;

/* Plans the read of rows [r0, r0+nrows) of image n: 1 when
 * sa_probs_read_planned can do it (direct reads), 0 when the caller must
 * use sa_probs_read_band instead, or a negative error. */
int sa_probs_plan_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       SaBandRead *plan, SaErr *err);

/* Does a planned read into dst (laid out as for sa_probs_read_band).
 * Thread-safe: any number at once, on any threads (each with its own
 * scratch), while the thread that owns p goes on.  The bytes read are added to *bytes (the owner adds them
 * to p with sa_probs_count). */
int sa_probs_read_planned(const SaProbs *p, const SaBandRead *plan,
                          void *dst, uint64_t *bytes, SaReadScratch *s,
                          SaErr *err);

/* Rows per chunk that bands should be a multiple of (so that no
 * compressed chunk is inflated for two bands), or 0 for any. */
uint64_t sa_probs_band_unit(const SaProbs *p);

/* Asks for a planned band's bytes to be read from the disk, so that they
 * are on their way while earlier bands are scored; a hint, without errors
 * (and none for bands that are converted as they are read).
 *
 * The bytes are read by a prefetcher (io/prefetch.h), in file order: on
 * contiguous storage, the band's image and the images up to
 * SA_PREFETCH_AHEAD bytes of rows past the band; in chunks, the band's
 * chunks.  sa_probs_read_planned then waits for what the prefetcher is
 * reading, so the disk sees one reader moving forward.  Images (or
 * chunks) larger than SA_PREFETCH_SPAN, and files the prefetcher cannot
 * read, get announcements instead (posix_fadvise WILLNEED; on contiguous
 * storage each row once, for bands planned in order, in steps of at least
 * half that distance: K calls each). */
#define SA_PREFETCH_AHEAD ((uint64_t)32 << 20)
#define SA_PREFETCH_SPAN ((uint64_t)256 << 20)
void sa_probs_prefetch(SaProbs *p, const SaBandRead *plan);

/* Adds bytes read by sa_probs_read_planned to p's count. */
void sa_probs_count(SaProbs *p, uint64_t bytes);

/* Tells the chunk cache to expect bands of nrows rows (sizes the cache so
 * that each chunk is decompressed once).  Optional; 0 or error-free. */
int sa_probs_plan_band_rows(SaProbs *p, uint64_t nrows, SaErr *err);

/* Keeps HDF5 from installing its exit-time cleanup; called before the
 * first HDF5 call of the process (the readers and writers do). */
void sa_h5_init(void);

/* Whether HDF5 may load filter plugins (process-wide; default: refused by
 * the engine unless its settings allow them). */
void sa_probs_allow_plugins(int allow);

/* Bytes of the tensor read so far: read from the file by direct reads, or
 * delivered by HDF5 (uncompressed) otherwise. */
uint64_t sa_probs_bytes_read(const SaProbs *p);
/* "direct" when bands are read straight from the file (contiguous or
 * unfiltered full-width chunks of little-endian IEEE floats), "hdf5" when
 * HDF5 reads them. */
const char *sa_probs_read_path(const SaProbs *p);

/* Whether objects opened from now on may read directly (process-wide;
 * default 1).  0 makes every read go through H5Dread: for measuring HDF5
 * itself, and for comparing the two paths. */
void sa_probs_use_direct(int on);

/* How many chunks inflated in a stream p keeps open at once (0 when its
 * chunks are not streamed): bands of more images than that, read in
 * turns, would each start their chunk again. */
int sa_probs_stream_slots(const SaProbs *p);

/* Deflate chunks of more than this many bytes (inflated; default 16 MiB)
 * are inflated in a stream, band by band, instead of whole by each worker
 * (process-wide, for objects opened from now on): for tests. */
void sa_probs_stream_above(uint64_t bytes);

/* Closes p; NULL is accepted. */
void sa_probs_close(SaProbs *p);

#endif
