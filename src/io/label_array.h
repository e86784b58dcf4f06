/* Reader of label maps stored as one integer array of shape (N,H,W): a
 * NumPy .npy file in C order, or a dataset of an HDF5 file.  Image n, rows
 * [r0, r0+nrows) are delivered as uint16 values, like the rows of a label
 * PNG (png_io.h), in any order.
 *
 * Element types: signed and unsigned integers of 1, 2, 4 or 8 bytes in
 * either byte order, and bool (NumPy's '|b1'; in HDF5 any enum over an
 * integer type, which is how h5py stores bool, read as its integer
 * values).  A .npy bool byte other than 0 reads as 1, as NumPy reads it.
 *
 * Values: 0..65535 are kept; -32768..-1 become 65536+v, so that -1 (a
 * common "ignore" label) reads as 65535; any other value is an error
 * naming the image, row, column and value.
 *
 * Memory: one scratch buffer of the largest band read so far (nrows*W
 * elements of the stored size, or of 8 bytes for HDF5), nothing sized by
 * the whole array.  HDF5 files get the checks of h5_check.c: external
 * links, virtual datasets, external raw storage and filters the library
 * cannot decode are refused, and so are datasets whose data are not all
 * in the file.
 *
 * Not thread-safe: one thread at a time per object, and (HDF5) one thread
 * at a time calling HDF5 at all.  Different .npy objects may be used
 * concurrently. */
#ifndef SA_LABEL_ARRAY_H
#define SA_LABEL_ARRAY_H

#include <stdint.h>

#include "common/error.h"

typedef struct SaLabelArray SaLabelArray;

/* Opens path: a .npy file (recognised by its magic bytes "\x93NUMPY";
 * dataset must then be NULL or "") or an HDF5 file with the (N,H,W)
 * dataset `dataset` (NULL or "": "/labels").  Anything but a regular file
 * is refused without blocking (a FIFO is never waited on).  The element
 * type must be an integer (signed or unsigned, 1, 2, 4 or 8 bytes, either
 * byte order) or bool.  Rank must be 3, no zero dimension, H*W < 2^32,
 * N < 2^32.  A missing HDF5 dataset: the message lists the datasets the
 * file has at its root (up to 20 names).  Errors: SEGAUDIT_EINPUT for a
 * file that is missing or wrong, SEGAUDIT_EIO when reading fails,
 * SEGAUDIT_EINVAL for a dataset name given with a .npy file,
 * SEGAUDIT_ENOMEM.  Messages start with "<path>: " or
 * "<path>:<dataset>: ".  *out is NULL on failure. */
int sa_label_array_open(SaLabelArray **out, const char *path,
                        const char *dataset, SaErr *err);

/* The labels as an array in memory (read in place; it must stay valid
 * until a is closed), named `name` in messages: 3-D, of any integer type
 * of audit.h or bool, with the same value rules.  Thread-safety as
 * above.  A shared file mapping (arr->file_mapped) has its pages released
 * once read. */
int sa_label_array_open_mem(SaLabelArray **out,
                            const struct SegauditArray *arr, const char *name,
                            SaErr *err);

/* N, H, W. */
void sa_label_array_dims(const SaLabelArray *a, uint64_t dims[3]);

/* 1 when the stored type is signed. */
int sa_label_array_signed(const SaLabelArray *a);

/* The stored type for messages: "uint8" .. "int64", "bool" (.npy '|b1',
 * or h5py's int8 enum of FALSE=0 and TRUE=1), or "enum of uint16" and the
 * like (other HDF5 enums). */
const char *sa_label_array_type_name(const SaLabelArray *a);

/* Reads rows [r0, r0+nrows) of image n into dst (nrows*W values).  Values
 * 0..65535 are stored as is; negative values -32768..-1 become 65536+v (so
 * that -1 reads as 65535 and the caller can ignore it as such); anything
 * else (< -32768 or > 65535) is SEGAUDIT_EINPUT naming the file, the image
 * index, row, column and the value ("image 3, row 17, column 250: label
 * 70000 is out of range ...").  An image or rows out of range, or a NULL
 * dst, is SEGAUDIT_EINVAL; nrows 0 reads nothing.  A failed read leaves
 * the object usable.  Not thread-safe (the caller serialises calls). */
int sa_label_array_read(SaLabelArray *a, uint64_t n, uint64_t r0,
                        uint64_t nrows, uint16_t *dst, SaErr *err);

/* Bytes of the array read so far, in its stored type (a band counts once
 * it has been read, even when one of its values is then refused). */
uint64_t sa_label_array_bytes_read(const SaLabelArray *a);

/* Closes a; NULL is accepted. */
void sa_label_array_close(SaLabelArray *a);

#endif
