/* What the HDF5 reader and writer share (internal to io/): switching off
 * HDF5's own error printing, the innermost entry of HDF5's error stack for
 * messages, and the names of type classes.
 *
 * sa_h5_init() (keeping HDF5 from installing its exit-time cleanup) is
 * declared in h5_probs.h, where the reader's callers see it, and defined in
 * h5_util.c with the rest of the process-wide set-up. */
#ifndef SA_H5_UTIL_H
#define SA_H5_UTIL_H

#include <stddef.h>

#include <hdf5.h>

#include "common/error.h"

/* Size of the buffers for sa_h5_why(). */
#define SA_H5_WHY_LEN 320

/* sa_h5_init(), then HDF5's automatic error printing off.  HDF5 keeps that
 * setting per thread (thread-safe builds): it applies to the calling
 * thread, so every entry point that calls HDF5 calls this first. */
void sa_h5_quiet(void);

/* The description of the innermost entry of HDF5's error stack (where the
 * error was detected: "No such file", "can't read data", ...) into desc,
 * truncated to size; "" when there is none or the stack cannot be walked.
 * With minor_fallback, an entry without a description gives the message of
 * its minor error number instead.  Must run right after the failing call:
 * the next HDF5 API call clears the stack.  Returns desc. */
const char *sa_h5_error_desc(char *desc, size_t size, int minor_fallback);

/* " (<innermost HDF5 error>)" or "": sa_h5_error_desc() with the minor
 * fallback, in parentheses, into buf.  Returns buf. */
const char *sa_h5_why(char *buf, size_t size);

/* Opens path (a file already known to be a readable regular file) as HDF5,
 * read-only, without requiring file locks (NFS, Lustre).  A file that is
 * not HDF5 is SEGAUDIT_EINPUT with "<path>: <not_hdf5>"; other failures are
 * SEGAUDIT_EIO.  Returns the file id, or H5I_INVALID_HID with err set. */
hid_t sa_h5_open_readonly(const char *path, const char *not_hdf5, SaErr *err);

/* The type of the object that name leads to from loc (H5O_TYPE_GROUP,
 * H5O_TYPE_DATASET, ...), or H5O_TYPE_UNKNOWN when it cannot be read. */
H5O_type_t sa_h5_object_type(hid_t loc, const char *name);

/* "integer", "float", "string", ... for messages about element types. */
const char *sa_h5_class_name(H5T_class_t c);

#endif
