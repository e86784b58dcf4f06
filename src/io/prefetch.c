/* The prefetcher (see prefetch.h). */
#define _GNU_SOURCE
#include "io/prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when every page of [at, at + n) is in the page cache (at is a
 * multiple of the page size); 0 when some is not, or when it cannot
 * tell. */
static int resident(SaPrefetch *pf, uint64_t at, uint64_t n)
{
    void *m = mmap(NULL, n, PROT_READ, MAP_SHARED, pf->fd, (off_t)at);
    if (m == MAP_FAILED)
        return 0;
    int all = mincore(m, n, pf->vec) == 0;
    uint64_t pages = (n + (uint64_t)pf->page - 1) / (uint64_t)pf->page;
    for (uint64_t i = 0; all && i < pages; i++)
        all = pf->vec[i] & 1;
    munmap(m, n);
    return all;
}

/* Whether the thread has a step to read: a whole one, or what a reader
 * waits for (so that a band announced at a time does not wake it for
 * each band). */
static int due(const SaPrefetch *pf)
{
    return pf->done < pf->target &&
           (pf->target - pf->done >= SA_PREFETCH_STEP || pf->waiting);
}

static void *run(void *arg)
{
    SaPrefetch *pf = arg;
    /* Steps the page cache holds are skipped, until one is read from the
     * disk: from then on every step is read, holding or not, since the
     * system's read-ahead stays ahead of a reader only while that reader
     * reads every page (a skipped page can be the one that starts the
     * next read-ahead, and the next step then starts over with small
     * requests).  Starting over (a new gen) checks again. */
    int streaming = 0;
    uint64_t last_gen = 0;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->stop && !pf->failed && !due(pf))
            pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->stop || pf->failed)
            break;
        /* one step, from a page boundary */
        uint64_t at = pf->done - pf->done % (uint64_t)pf->page;
        uint64_t n = pf->target - at;
        if (n > SA_PREFETCH_STEP)
            n = SA_PREFETCH_STEP;
        uint64_t gen = pf->gen;
        pthread_mutex_unlock(&pf->mu);
        if (gen != last_gen)
            streaming = 0;
        last_gen = gen;
        int ok = 1;
        if (streaming || !resident(pf, at, n)) {
            streaming = 1;
            off_t off = (off_t)at;
            uint64_t left = n;
            while (left) {
                ssize_t r = sendfile(pf->sink, pf->fd, &off, left);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    ok = 0;
                    break;
                }
                left -= (uint64_t)r;
            }
        }
        pthread_mutex_lock(&pf->mu);
        if (!ok)
            pf->failed = 1;
        else if (pf->gen == gen && pf->done < at + n)
            pf->done = at + n;
        pthread_cond_broadcast(&pf->moved);
    }
    pf->failed = 1; /* no more reads: no one waits */
    pthread_cond_broadcast(&pf->moved);
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

int sa_prefetch_start(SaPrefetch *pf, const char *path, int fd)
{
    struct stat a, b;
    *pf = (SaPrefetch){.fd = -1, .sink = -1};
    pf->page = sysconf(_SC_PAGESIZE);
    if (!path || fd < 0 || fstat(fd, &a) != 0 || pf->page < SA_PREFETCH_PAGE)
        return -1;
    pf->fd = open(path, O_RDONLY | O_CLOEXEC);
    pf->sink = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (pf->fd < 0 || pf->sink < 0 || fstat(pf->fd, &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        goto fail;
    if (pthread_mutex_init(&pf->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&pf->cv, NULL) != 0) {
        pthread_mutex_destroy(&pf->mu);
        goto fail;
    }
    if (pthread_cond_init(&pf->moved, NULL) != 0) {
        pthread_cond_destroy(&pf->cv);
        pthread_mutex_destroy(&pf->mu);
        goto fail;
    }
    if (pthread_create(&pf->thread, NULL, run, pf) != 0) {
        pthread_cond_destroy(&pf->moved);
        pthread_cond_destroy(&pf->cv);
        pthread_mutex_destroy(&pf->mu);
        goto fail;
    }
    return 0;
fail:
    if (pf->fd >= 0)
        close(pf->fd);
    if (pf->sink >= 0)
        close(pf->sink);
    *pf = (SaPrefetch){.fd = -1, .sink = -1};
    return -1;
}

int sa_prefetch_want(SaPrefetch *pf, uint64_t begin, uint64_t end)
{
    pthread_mutex_lock(&pf->mu);
    int failed = pf->failed;
    const uint64_t gen = pf->gen;
    if (begin < pf->lo) { /* a new pass: from begin again */
        pf->done = begin;
        pf->target = end;
        pf->gen++;
    } else {
        if (begin > pf->target) { /* what lies between is not wanted */
            pf->done = begin;
            pf->gen++;
        }
        if (end > pf->target)
            pf->target = end;
    }
    pf->lo = begin;
    if (due(pf))
        pthread_cond_signal(&pf->cv);
    if (pf->gen != gen)
        pthread_cond_broadcast(&pf->moved);
    pthread_mutex_unlock(&pf->mu);
    return failed ? -1 : 0;
}

void sa_prefetch_wait(SaPrefetch *pf, uint64_t end)
{
    pthread_mutex_lock(&pf->mu);
    const uint64_t gen = pf->gen;
    if (!pf->failed && pf->done < end && end <= pf->target) {
        pf->waiting++;
        pthread_cond_signal(&pf->cv); /* less than a step may be left */
        while (!pf->failed && pf->gen == gen && pf->done < end)
            pthread_cond_wait(&pf->moved, &pf->mu);
        pf->waiting--;
    }
    pthread_mutex_unlock(&pf->mu);
}

void sa_prefetch_stop(SaPrefetch *pf)
{
    pthread_mutex_lock(&pf->mu);
    pf->stop = 1;
    pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->thread, NULL);
    pthread_cond_destroy(&pf->moved);
    pthread_cond_destroy(&pf->cv);
    pthread_mutex_destroy(&pf->mu);
    close(pf->fd);
    close(pf->sink);
    *pf = (SaPrefetch){.fd = -1, .sink = -1};
}
