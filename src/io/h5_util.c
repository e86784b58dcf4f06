/* HDF5 plumbing shared by the reader and the writer.  See h5_util.h. */
#include "io/h5_util.h"
#include "io/h5_probs.h"

#include <stdio.h>

/* HDF5's exit-time cleanup crashes (HDF5 1.10.8) when a file it failed to
 * close is still in its tables, turning an error exit into SIGSEGV; the
 * process frees everything anyway.  Must come before the first HDF5 call. */
void sa_h5_init(void)
{
    static int done;
    if (!done) {
        done = 1;
        H5dont_atexit();
    }
}

void sa_h5_quiet(void)
{
    sa_h5_init();
    /* Our messages replace HDF5's stack dumps on stderr. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct Innermost {
    char *desc;
    size_t size;
    hid_t min_num;
} Innermost;

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    Innermost *in = data;
    /* Walking upward, entry 0 is where the error was detected: the most
     * specific description. */
    if (n == 0) {
        if (e->desc)
            snprintf(in->desc, in->size, "%s", e->desc);
        in->min_num = e->min_num;
    }
    return 0;
}

const char *sa_h5_error_desc(char *desc, size_t size, int minor_fallback)
{
    Innermost in = {desc, size, H5I_INVALID_HID};

    desc[0] = '\0';
    if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, &in) < 0) {
        desc[0] = '\0';
        return desc;
    }
    if (minor_fallback && desc[0] == '\0' && in.min_num >= 0)
        H5Eget_msg(in.min_num, NULL, desc, size);
    return desc;
}

const char *sa_h5_why(char *buf, size_t size)
{
    char desc[SA_H5_WHY_LEN - 4];

    buf[0] = '\0';
    if (sa_h5_error_desc(desc, sizeof desc, 1)[0] != '\0')
        snprintf(buf, size, " (%s)", desc);
    return buf;
}

const char *sa_h5_class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

hid_t sa_h5_open_readonly(const char *path, const char *not_hdf5, SaErr *err)
{
    char why[SA_H5_WHY_LEN];
    sa_h5_quiet();
    htri_t is = H5Fis_hdf5(path);
    if (is == 0) {
        sa_err(err, SEGAUDIT_EINPUT, "%s: %s", path, not_hdf5);
        return H5I_INVALID_HID;
    }
    if (is < 0) {
        sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s", path,
               sa_h5_why(why, sizeof why));
        return H5I_INVALID_HID;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) {
        sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s", path,
               sa_h5_why(why, sizeof why));
        return H5I_INVALID_HID;
    }
#if H5_VERSION_GE(1, 10, 7) && !(H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 12 && \
                                 H5_VERS_RELEASE == 0)
    /* Read-only: a filesystem without locks (NFS, Lustre) is no reason to
     * refuse the file. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0)
        sa_err(err, SEGAUDIT_EIO, "%s: cannot open as HDF5%s", path,
               sa_h5_why(why, sizeof why));
    H5Pclose(fapl);
    return f;
}

H5O_type_t sa_h5_object_type(hid_t loc, const char *name)
{
    H5O_info_t oi;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Oget_info_by_name3(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
#else
    if (H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
#endif
        return H5O_TYPE_UNKNOWN;
    return oi.type;
}
