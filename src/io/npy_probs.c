/* The prediction tensor in a NumPy .npy file: a 4-D C-order array of
 * float16/32/64 or uint8/16 in either byte order, read band by band with
 * pread like contiguous HDF5 data (h5_direct.c), no HDF5 involved.  The
 * header is parsed by npy.c. */
#include "io/h5_internal.h"
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sa_npy_probs_open(SaProbs *p, SaErr *err)
{
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: cannot open (%s)", p->path,
                      strerror(errno));
    struct stat st;
    SaNpyHeader h;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot stat (%s)", p->path,
                    strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: not a regular file", p->path);
        goto done;
    }
    if ((rc = sa_npy_read_header(fd, p->path, (uint64_t)st.st_size, &h,
                                 err)) != 0)
        goto done;
    if (h.ndim != 4) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: %d-dimensional array of %s; "
                    "expected 4 dimensions, (N,K,H,W) or (N,H,W,K) with "
                    "--layout nhwc", p->path, h.ndim, sa_npy_type_name(&h));
        goto done;
    }
    SaStoreForm *f = &p->form;
    if (h.kind == 'f') {
        f->kind = 'f';
        p->dtype = h.itemsize == 2 ? SA_F16 : h.itemsize == 4 ? SA_F32
                                                               : SA_F64;
        p->elsize = h.itemsize;
    } else if (h.kind == 'u' && (h.itemsize == 1 || h.itemsize == 2)) {
        f->kind = 'u';
        p->dtype = SA_F64;
        p->elsize = 8;
    } else {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: element type is %s; expected "
                    "float16, float32, float64, or quantised uint8 or "
                    "uint16", p->path, sa_npy_type_name(&h));
        goto done;
    }
    f->size = h.itemsize;
    f->swap = h.itemsize > 1 && h.big_endian != sa_host_big_endian();
    p->file_elsize = h.itemsize;
    for (int i = 0; i < 4; i++)
        p->sdims[i] = p->dims[i] = h.shape[i];
    p->npy = 1;
    p->base = h.data_offset;
    p->fsize = (uint64_t)st.st_size;
    snprintf(p->layout, sizeof p->layout, "npy %s, contiguous",
             sa_npy_type_name(&h));
    p->fd = fd; /* the band reads use it */
    fd = -1;
done:
    if (fd >= 0)
        close(fd);
    return rc;
}
