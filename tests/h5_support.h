/* Writing HDF5 test files (test_h5, test_label_array).  Include after
 * <cmocka.h> and <hdf5.h>.  Header-only, like golden_support.h. */
#ifndef H5_SUPPORT_H
#define H5_SUPPORT_H

/* A new (truncated) HDF5 file at path. */
static inline hid_t new_file(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Writes dataset name of type ftype (dims rank-D) from data in memtype;
 * chunk/shuffle/gzip optional; data NULL leaves it unwritten. */
static inline void h5_put(hid_t file, const char *name, hid_t ftype,
                          int rank, const hsize_t *dims,
                          const hsize_t *chunk, int shuffle, int gzip,
                          hid_t memtype, const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(space >= 0 && dcpl >= 0);
    if (chunk)
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
    if (shuffle)
        assert_true(H5Pset_shuffle(dcpl) >= 0);
    if (gzip)
        assert_true(H5Pset_deflate(dcpl, 6) >= 0);
    hid_t d = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    assert_true(d >= 0);
    if (data)
        assert_true(H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                             data) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
}

#endif
