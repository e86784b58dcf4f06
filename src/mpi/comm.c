/* The group exchanges of the library (SegauditComm) over MPI_COMM_WORLD.
 * MPI counts are ints, so longer messages go in pieces of 1 GiB; the
 * library's messages are bytes, its sums 64-bit unsigned integers. */
#include <limits.h>
#include <mpi.h>
#include <stdint.h>

#include "comm.h"

#define PIECE ((size_t)1 << 30)

/* One piece: count elements at p, with the other rank (or the root). */
typedef int (*PieceFn)(char *p, int count, int peer);

/* len bytes of buf in pieces of at most 1 GiB (a multiple of unit, the
 * element size), each of PIECE / unit elements at most. */
static int in_pieces(PieceFn f, void *buf, size_t len, size_t unit, int peer)
{
    for (size_t off = 0; off < len; off += PIECE) {
        size_t m = len - off < PIECE ? len - off : PIECE;
        if (f((char *)buf + off, (int)(m / unit), peer) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int sum_piece(char *p, int count, int peer)
{
    (void)peer;
    return MPI_Allreduce(MPI_IN_PLACE, p, count, MPI_UINT64_T, MPI_SUM,
                         MPI_COMM_WORLD);
}

static int bcast_piece(char *p, int count, int root)
{
    return MPI_Bcast(p, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

static int send_piece(char *p, int count, int to)
{
    return MPI_Send(p, count, MPI_BYTE, to, 0, MPI_COMM_WORLD);
}

static int recv_piece(char *p, int count, int from)
{
    return MPI_Recv(p, count, MPI_BYTE, from, 0, MPI_COMM_WORLD,
                    MPI_STATUS_IGNORE);
}

static int allreduce_sum(void *ctx, uint64_t *data, size_t n)
{
    (void)ctx;
    return in_pieces(sum_piece, data, n * sizeof *data, sizeof *data, 0);
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
    return in_pieces(bcast_piece, buf, len, 1, root);
}

static int send(void *ctx, int to, const void *buf, size_t len)
{
    (void)ctx;
    /* MPI_Send only reads the buffer */
    return in_pieces(send_piece, (void *)(uintptr_t)buf, len, 1, to);
}

static int recv(void *ctx, int from, void *buf, size_t len)
{
    (void)ctx;
    return in_pieces(recv_piece, buf, len, 1, from);
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
