/* NumPy .npy headers: the parser and the checks that a file holds the data
 * its header declares.  The array's bytes themselves are read elsewhere
 * (with pread, from data_offset on).
 *
 * Accepted: format versions 1.0, 2.0 and 3.0; a header dictionary with
 * exactly the keys 'descr', 'fortran_order' and 'shape' in any order,
 * quoted with ' or ", with or without a trailing comma, with whitespace
 * (space, tab, newline, carriage return, form feed) between any two
 * tokens; dimensions written as decimal integers, also with the 'L'
 * suffix of Python 2; descr a plain numeric type: float16/32/64
 * ('f2', 'f4', 'f8'), int and uint of 1, 2, 4 and 8 bytes ('i1'..'u8') and
 * bool ('b1' or '?'), each with an optional byte-order character.
 *
 * Byte order: '<' is little-endian and '>' big-endian.  '=' (native) and a
 * descr without an order character mean the byte order of the host that
 * parses the file (the only one NumPy could have meant, when the file was
 * written on this kind of host); on the usual little-endian hosts that is
 * little-endian.  '|' (not applicable) is accepted only for 1-byte types.
 * big_endian is always 0 for 1-byte types.
 *
 * Refused (SEGAUDIT_EINPUT, with a message that starts with "<path>: " and
 * says what was found and what was expected): other versions, headers over
 * SA_NPY_MAX_HEADER bytes, non-ASCII bytes in 1.0 and 2.0 headers,
 * structured, object, string, complex, datetime and long-double types,
 * Fortran order, missing, repeated or unknown keys, shapes that are not a
 * tuple of non-negative integers, more than SA_NPY_MAX_DIMS dimensions,
 * sizes whose byte count (or end offset in the file) does not fit in 63
 * bits, and anything after the dictionary but whitespace.
 *
 * A file longer than data_offset + data_bytes is accepted (NumPy itself
 * reads only the bytes it needs; several arrays can be saved one after
 * the other into one file).
 *
 * No allocation in sa_npy_parse; sa_npy_read_header allocates only for
 * headers longer than 4 KB.  Thread-safe (no shared state). */
#ifndef SA_NPY_H
#define SA_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SA_NPY_MAX_DIMS 8
/* The largest header dictionary accepted, in bytes (NumPy's own default
 * limit is 10000). */
#define SA_NPY_MAX_HEADER ((uint32_t)1 << 20)

typedef struct SaNpyHeader {
    char kind;            /* 'f' float, 'u' unsigned int, 'i' signed int,
                             'b' bool */
    unsigned itemsize;    /* bytes per element: f: 2, 4, 8; u, i: 1, 2, 4,
                             8; b: 1 */
    int big_endian;       /* 1 when the elements are stored big-endian ('>',
                             or '=' on a big-endian host); 0 for 1-byte
                             types */
    int fortran_order;    /* always 0 on success: Fortran order is refused */
    int ndim;             /* 0..SA_NPY_MAX_DIMS; 0 is a scalar */
    uint64_t shape[SA_NPY_MAX_DIMS]; /* shape[ndim..] are 0 */
    uint64_t data_offset; /* byte offset of the first element in the file:
                             magic (6) + version (2) + length field (2 or
                             4) + the header's declared length */
    uint64_t data_bytes;  /* product(shape) * itemsize (0 when a dimension
                             is 0; 1 element for a scalar) */
    int version;          /* the format's major version: 1, 2 or 3 */
} SaNpyHeader;

/* Parses the header in buf[0..len).  len may be more than the header (the
 * data may follow) or less (then: a "truncated header" error naming the
 * bytes there are and the bytes the header needs).  Never reads past len.
 * path is only used in messages.  Returns 0 and fills *h, or
 * SEGAUDIT_EINPUT (*h is then cleared). */
int sa_npy_parse(const unsigned char *buf, size_t len, const char *path,
                 SaNpyHeader *h, SaErr *err);

/* Reads the header of the .npy file open on fd (with pread: the file
 * position is not used or moved; nothing is opened or closed) and checks
 * that the file, file_size bytes long (from fstat), holds data_offset +
 * data_bytes bytes.  A short file is SEGAUDIT_EINPUT with a message naming
 * the expected and the actual size; a failed read, or a file shorter than
 * file_size, is SEGAUDIT_EIO; SEGAUDIT_ENOMEM when a long header cannot be
 * buffered. */
int sa_npy_read_header(int fd, const char *path, uint64_t file_size,
                       SaNpyHeader *h, SaErr *err);

/* "float16", "float32", "float64", "int8" .. "int64", "uint8" ..
 * "uint64", "bool", for messages; "unknown" for anything else. */
const char *sa_npy_type_name(const SaNpyHeader *h);

/* Writes the shape as NumPy prints it, "(2, 3, 4)", "(5,)" or "()", into
 * buf (truncated to n - 1 characters).  Returns buf. */
const char *sa_npy_shape_str(const SaNpyHeader *h, char *buf, size_t n);

#endif
