/* Reading a file ahead of its reader, in file order, on a thread of its
 * own.
 *
 * The bands of a tensor lie in K places of the file (one per class), so
 * the system's read-ahead, which follows one reader moving forward, does
 * not follow them, and announcing each piece (posix_fadvise WILLNEED)
 * makes the disk read it in requests of pages one by one, each a few
 * hundred KB.  A reader that moves forward through the file, on its own
 * descriptor, gets the system's read-ahead in large requests instead.  The
 * prefetcher is that reader: it moves bytes from the file into the page
 * cache with sendfile to /dev/null (no copy to memory of its own), up to
 * where it is asked to, and skips what the page cache already holds.
 *
 * Everything here is a hint: a prefetcher that cannot start, or whose
 * reads fail, stops, and the tensor's reads go on as before. */
#ifndef SA_PREFETCH_H
#define SA_PREFETCH_H

#include <pthread.h>
#include <stdint.h>

/* Bytes the thread reads at once. */
#define SA_PREFETCH_STEP ((uint64_t)4 << 20)
/* The least page size it runs with (vec holds a step's pages). */
#define SA_PREFETCH_PAGE 4096

/* Held by its owner (so that starting one allocates nothing); the fields
 * are prefetch.c's. */
typedef struct SaPrefetch {
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* to the thread: a request, or stop */
    pthread_cond_t moved; /* from it: done, gen or failed changed */
    pthread_t thread;
    int fd;          /* the file, opened again */
    int sink;        /* /dev/null */
    int stop;        /* set by sa_prefetch_stop */
    int failed;      /* a read failed, or the file ended early */
    uint64_t lo;     /* begin of the last request */
    uint64_t done;   /* read up to here */
    uint64_t target; /* asked up to here */
    uint64_t gen;    /* changes when done is moved by a request */
    int waiting;     /* readers in sa_prefetch_wait */
    long page;
    unsigned char vec[SA_PREFETCH_STEP / SA_PREFETCH_PAGE]; /* mincore's */
} SaPrefetch;

/* Starts a prefetcher, in pf, of the file at path, which must be the file
 * open as fd (same device and inode; it is opened again, for a read-ahead
 * state of its own): 0, or -1 when it cannot (the caller then announces
 * pieces with posix_fadvise). */
int sa_prefetch_start(SaPrefetch *pf, const char *path, int fd);

/* Asks for bytes [begin, end) of the file to be read, in order.  Calls
 * are expected with begin never decreasing: a begin past every byte asked
 * for so far skips the bytes between; a begin below the previous call's
 * starts over there (a new pass over the file).  Returns 0, or -1 when the
 * prefetcher has stopped (its reads failed). */
int sa_prefetch_want(SaPrefetch *pf, uint64_t begin, uint64_t end);

/* Waits until the bytes before end have been read, when they are among
 * those asked for; returns at once when they are not, and as soon as the
 * prefetcher stops, skips past them or starts over (the caller then reads
 * them from the disk itself).  Any thread may wait. */
void sa_prefetch_wait(SaPrefetch *pf, uint64_t end);

/* Stops the thread of a started prefetcher (after its current read, at
 * most SA_PREFETCH_STEP bytes) and closes its files. */
void sa_prefetch_stop(SaPrefetch *pf);

#endif
