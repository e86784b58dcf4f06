/* The group exchanges of the library (SegauditComm) over MPI_COMM_WORLD.
 * MPI counts are ints, so longer messages go in pieces of 1 GiB; the
 * library's messages are bytes, its sums 64-bit unsigned integers. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#include "comm.h"

#define PIECE ((size_t)1 << 30)

static int allreduce_sum(void *ctx, uint64_t *data, size_t n)
{
    (void)ctx;
    const size_t step = PIECE / sizeof *data;
    for (size_t off = 0; off < n; off += step) {
        size_t m = n - off < step ? n - off : step;
        if (MPI_Allreduce(MPI_IN_PLACE, data + off, (int)m, MPI_UINT64_T,
                          MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int allgather(void *ctx, const void *mine, void *all, size_t len)
{
    (void)ctx;
    if (len > INT_MAX)
        return -1; /* the library gathers a few bytes per rank */
    return MPI_Allgather(mine, (int)len, MPI_BYTE, all, (int)len, MPI_BYTE,
                         MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

static int bcast(void *ctx, void *buf, size_t len, int root)
{
    (void)ctx;
    for (size_t off = 0; off < len; off += PIECE) {
        size_t m = len - off < PIECE ? len - off : PIECE;
        if (MPI_Bcast((char *)buf + off, (int)m, MPI_BYTE, root,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int send(void *ctx, int to, const void *buf, size_t len)
{
    (void)ctx;
    for (size_t off = 0; off < len; off += PIECE) {
        size_t m = len - off < PIECE ? len - off : PIECE;
        if (MPI_Send((const char *)buf + off, (int)m, MPI_BYTE, to, 0,
                     MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int recv(void *ctx, int from, void *buf, size_t len)
{
    (void)ctx;
    for (size_t off = 0; off < len; off += PIECE) {
        size_t m = len - off < PIECE ? len - off : PIECE;
        if (MPI_Recv((char *)buf + off, (int)m, MPI_BYTE, from, 0,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

void mpi_comm_init(SegauditComm *c)
{
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->ctx = NULL;
    c->allreduce_sum = allreduce_sum;
    c->allgather = allgather;
    c->bcast = bcast;
    c->send = send;
    c->recv = recv;
}
