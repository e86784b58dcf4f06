/* What the files of the HDF5 tensor reader share (internal to io/): the
 * SaProbs object, a message helper, the arithmetic of shapes, and the
 * checks of h5_check.c.
 *
 *   h5_probs.c  opening the tensor (shape, element type), band reads, the
 *               chunk cache, accessors
 *   h5_check.c  what a file must satisfy to be read (see there)
 *   h5_ids.c    the image ids
 *   h5_direct.c band reads that bypass HDF5 where the bytes allow it
 *   h5_stream.c deflate chunks too large to inflate whole, in a stream
 *   h5_locate.c where a chunk is in the file, and reading bytes there
 *
 * Every message starts with "<path>:<dataset>: " (or "<path>: " for
 * problems with the file itself). */
#ifndef SA_H5_INTERNAL_H
#define SA_H5_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <hdf5.h>

#include "common/error.h"
#include "io/h5_probs.h"
#include "io/probs_convert.h"
#include "io/probs_upsample.h"
#include "io/h5_util.h"
#include "io/mem_array.h"
#include "io/prefetch.h"

struct SaProbs {
    char *path;
    char *dataset;
    char where[1024];   /* "<path>:<dataset>", or the .npy path: messages */
    int npy;            /* a .npy file (npy_probs.c): no HDF5 handles */
    int mem;            /* an array in memory (mem_probs.c): neither */
    SaMemArray marr;    /* that array */
    uint64_t sdims[4];  /* the shape as stored: (N,K,H,W) or (N,H,W,K) */
    SaStoreForm form;   /* how stored elements become the engine's */
    int convert;        /* bands go through sa_convert_band */
    int native_le;      /* the file's elements can be read directly */
    /* one dataset per image (h5_group.c): dims holds the largest H and W */
    int group;          /* dataset names a group of (K,H,W) datasets */
    char **gnames;      /* N dataset names (the image ids), sorted */
    uint64_t gn;        /* entries of gnames */
    uint64_t *gsd;      /* N x 3 stored dims */
    uint32_t *gh, *gw;  /* N heights and widths, after the layout */
    uint64_t gcur;      /* the image whose dataset is open in dset */
    uint32_t up;        /* upsampling factor (0: none); dims, dtype and
                           elsize stay those of the stored rows */
    int up_mode;        /* SA_UP_* */
    hid_t file;
    hid_t dset;
    hid_t fspace;       /* file dataspace, reused for every hyperslab */
    hid_t memtype;      /* always a copy, so it can always be closed */
    uint64_t dims[4];
    uint64_t chunk[4];  /* all 0 unless chunked */
    SaDtype dtype;
    size_t elsize;      /* bytes per element in memory */
    size_t file_elsize; /* bytes per element in the file */
    char layout[256];   /* the storage, as HDF5 (or the .npy file) says */
    char described[320]; /* and the axis order, for sa_probs_layout */
    int nfilters;       /* filters of the chunks */
    int filter_id[4];   /* the first four, in pipeline order */
    /* direct reads (h5_direct.c) */
    int direct;         /* SA_DIRECT_* */
    int fd;             /* our own descriptor of the file, or -1 */
    uint64_t base;      /* contiguous: file offset of element 0 */
    uint64_t fsize;     /* file size */
    uint64_t chunk_bytes; /* bytes of one chunk, uncompressed */
    uint64_t chunk_image, chunk_row, chunk_at, chunk_size; /* last chunk
                                                              located */
    unsigned chunk_mask;
    uint64_t bytes_read; /* tensor bytes read, by either path */
    uint64_t pf_upto;   /* contiguous: rows (image * H + row) announced
                           to the system so far (sa_probs_prefetch) */
    SaPrefetch pf_mem;  /* reads the file ahead (io/prefetch.h) */
    SaPrefetch *pf;     /* &pf_mem once started (at the first band
                           announced), else NULL */
    int pf_off;         /* it could not start, or stopped: announcements */
    int shuffled;       /* SA_DIRECT_DEFLATE: index of the shuffle filter
                           in the pipeline, or -1 */
    int deflated;       /* SA_DIRECT_DEFLATE: index of the deflate filter */
    SaReadScratch scratch; /* for sa_probs_read_band's own direct reads */
    struct SaStreamSlots *streams; /* SA_DIRECT_STREAM (h5_stream.c) */
};

enum { SA_DIRECT_NONE, SA_DIRECT_CONTIGUOUS, SA_DIRECT_CHUNKS,
       SA_DIRECT_DEFLATE, SA_DIRECT_STREAM, SA_DIRECT_MEM };
typedef struct SaStreamSlots SaStreamSlots;

static inline uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* Makes *buf hold need bytes (its content is kept); 0 or -1. */
static inline int sa_grow(void **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    void *nb = realloc(*buf, need);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = need;
    return 0;
}

/* a*b, saturating instead of wrapping. */
static inline uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return (a != 0 && b > UINT64_MAX / a) ? UINT64_MAX : a * b;
}

/* Reports an HDF5 failure "<path>:<ds>: <what> (<hdf5 reason>)" as EIO;
 * must run right after the failing call (see sa_h5_why()). */
static inline int h5_fail(SaErr *err, const char *path, const char *ds,
                          const char *what)
{
    char why[SA_H5_WHY_LEN];
    return sa_err(err, SEGAUDIT_EIO, "%s:%s: %s%s", path, ds, what,
                  sa_h5_why(why, sizeof why));
}

/* ---- h5_check.c -------------------------------------------------------- */

/* Opens p->path read-only into p->file after checking that it is a
 * readable regular HDF5 file, so that the common mistakes get a plain
 * message. */
int sa_probs_open_file(SaProbs *p, SaErr *err);

/* Opens name as a dataset of file, with messages for "missing", "an
 * external link" and "not a dataset".  A missing dataset is reported only
 * when report_missing; else *out stays invalid and 0 is returned. */
int sa_probs_open_dataset(hid_t file, const char *path, const char *name,
                          int report_missing, hid_t *out, SaErr *err);

/* Fills p->layout and p->chunk from p->dset; refuses virtual datasets,
 * external raw storage and filters HDF5 cannot decode. */
int sa_probs_read_layout(SaProbs *p, SaErr *err);

/* Refuses a dataset whose data cannot all be in the file (needs dims,
 * file_elsize and chunk). */
int sa_probs_check_storage(SaProbs *p, SaErr *err);

/* ---- h5_probs.c --------------------------------------------------------- */

/* Chooses the memory type for the file type ft (sets dtype, elsize,
 * form). */
int sa_probs_pick_memtype(SaProbs *p, hid_t ft, SaErr *err);

/* ---- h5_group.c --------------------------------------------------------- */

/* p->dataset names a group: one (K,H,W) or (H,W,K) dataset per image,
 * named by its id.  Reads every dataset's shape and type and checks its
 * storage; fills gnames, gsd, sdims (the first image's), dtype, layout. */
int sa_probs_open_group(SaProbs *p, SaErr *err);
/* Per-image sizes and K after the layout is known. */
int sa_probs_group_layout(SaProbs *p, int nhwc, SaErr *err);
/* Opens image n's dataset into p->dset / p->fspace. */
int sa_probs_group_select(SaProbs *p, uint64_t n, SaErr *err);
void sa_probs_group_free(SaProbs *p);

/* ---- npy_probs.c ------------------------------------------------------- */

/* Opens p->path as a .npy file: fills sdims, dims, form, dtype, elsize,
 * file_elsize, base, fsize and layout (read through the direct path). */
int sa_npy_probs_open(SaProbs *p, SaErr *err);

/* ---- mem_probs.c ------------------------------------------------------- */

/* Takes the array arr (p->where names it): fills marr, sdims, dims, form,
 * dtype, elsize, file_elsize and layout. */
int sa_mem_probs_open(SaProbs *p, const SegauditArray *arr, SaErr *err);
/* A planned read of the array into out ([K][nrows][W]). */
int sa_mem_probs_read(const SaProbs *p, const SaBandRead *plan, uint8_t *out,
                      uint64_t *bytes, SaReadScratch *s, SaErr *err);

/* ---- h5_direct.c ------------------------------------------------------- */

/* Notes in p->native_le whether the file type ft can be read directly. */
void sa_probs_check_native(SaProbs *p, hid_t ft);
/* Decides whether p's bands can be read directly (after its layout is set)
 * and opens the descriptor for it; otherwise p->direct stays NONE. */
void sa_probs_direct_setup(SaProbs *p);
void sa_probs_direct_close(SaProbs *p);
/* sa_probs_read_band's job when p->direct is set (arguments checked). */
int sa_probs_direct_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                         void *dst, SaErr *err);
/* ---- h5_locate.c ------------------------------------------------------- */

/* Where chunk row c of image n is stored (checked against the file; the
 * last one located is kept). */
int sa_probs_chunk_at(SaProbs *p, uint64_t n, uint64_t c, uint64_t *addr,
                      uint64_t *size, unsigned *mask, SaErr *err);
/* Reads len bytes at off into dst, adding them to *bytes; messages name
 * image n rows [r0, r0+nrows). */
int sa_probs_pread(const SaProbs *p, void *dst, uint64_t len, uint64_t off,
                   uint64_t n, uint64_t r0, uint64_t nrows, uint64_t *bytes,
                   SaErr *err);

/* "<where>: image n: a compressed chunk at row `row` is corrupt (why)" */
int sa_probs_corrupt(const SaProbs *p, uint64_t n, uint64_t row,
                     const char *why, SaErr *err);
/* ne elements of el bytes into dst from the shuffle filter's byte planes:
 * byte b of element e at src[b * stride + e]. */
void sa_unshuffle(uint8_t *dst, const uint8_t *src, uint64_t stride,
                  uint64_t ne, uint64_t el);

/* ---- h5_stream.c ------------------------------------------------------- */

/* Whether p's deflate chunks are too large to be inflated whole, and
 * whether they can be inflated in a stream instead (not with too many
 * byte planes). */
int sa_probs_stream_wanted(const SaProbs *p);
int sa_probs_stream_possible(const SaProbs *p);
/* sa_probs_read_band's job for SA_DIRECT_STREAM (arguments checked). */
int sa_probs_stream_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                         void *dst, SaErr *err);
void sa_probs_stream_free(SaProbs *p);

#endif
