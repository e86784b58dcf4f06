/* The cache's storage: one SQLite database per cache folder, holding
 * opaque entries by (kind, slot), each with a key and a checksum.
 *
 *   <dir>/cache.sqlite   the entries (WAL journal: <dir>/cache.sqlite-wal)
 *   <dir>/records-<gen>.pack
 *                        the entries' tails (their bulk), mapped by reads
 *   <dir>/lock           held (flock) by the run that uses the folder
 *
 * A slot names what an entry is for (an image under given settings); the
 * key names the inputs it was computed from.  An entry is used only when
 * its key is the one asked for and its checksum holds; a put replaces the
 * slot's entry in one transaction, so that a run killed at any moment
 * leaves every entry whole or absent.
 *
 * What goes wrong with the database is not fatal: a damaged or foreign
 * file is moved aside and a new one started (found during a run: when it
 * ends), a failed write stops the writes; each is described by a note
 * (sa_cachedb_note).  Only a folder
 * that cannot be used at all (not writable, locked by another run) is an
 * error.  Calls are serialised inside: any thread may make them. */
#ifndef SA_CACHE_DB_H
#define SA_CACHE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct SaCacheDb SaCacheDb;

#define SA_CACHE_KEY 32 /* bytes of slots and keys */

/* What a get found. */
enum SaCacheFound {
    SA_CACHE_MISS = 0,    /* no entry for the slot */
    SA_CACHE_HIT = 1,     /* *data holds it */
    SA_CACHE_STALE = 2,   /* an entry from other inputs */
    SA_CACHE_DAMAGED = 3  /* an entry that fails its checksum, or could not
                             be read (a note says which) */
};

/* Opens (creating it and the folder as needed) the cache of dir and takes
 * its lock.  format is the entries' format version: a database written
 * with another one is emptied (with a note).  check_only: the folder and
 * the lock only, the database is not opened (nothing is repaired).
 * Errors: the folder cannot be created or written, or another run holds
 * it. */
int sa_cachedb_open(const char *dir, uint32_t format, int check_only,
                    SaCacheDb **out, SaErr *err);

/* Looks up the entry of slot; on SA_CACHE_HIT, *data holds *len bytes.
 * *data is the caller's buffer of *cap bytes (NULL, 0 at first), grown
 * with realloc as needed; the caller frees it.  *tail is the entry's tail
 * of *tail_len bytes (NULL, 0 without one), 8-byte aligned, in read-only
 * memory that stays until the database is closed; with tail NULL, an
 * entry with a tail is damaged.  An entry or tail longer than max_len is
 * damaged.  With data NULL, only probes: SA_CACHE_HIT says an entry of
 * that key and a possible length is there (its bytes are not read, nor
 * checked).  Returns an enum SaCacheFound, or SEGAUDIT_ENOMEM. */
int sa_cachedb_get(SaCacheDb *db, int kind, const uint8_t *slot,
                   const uint8_t *key, size_t max_len, void **data,
                   size_t *cap, size_t *len, const void **tail,
                   size_t *tail_len, SaErr *err);

/* Stores data, and tail (tail_len bytes, 0 for none) in the pack, as
 * slot's entry, computed from key (one transaction, after the tail is
 * synced).  Returns 0, or 1 when it was not stored (writes have stopped:
 * a note says why). */
int sa_cachedb_put(SaCacheDb *db, int kind, const uint8_t *slot,
                   const uint8_t *key, const void *data, size_t len,
                   const void *tail, size_t tail_len);

/* The end of the run's use (no other call may be under way, and no tail
 * is in use any more): a file found damaged is moved aside, the pack is
 * compacted when most of it is dead (and compact is set: not when the run
 * was interrupted, which has no time to spare), the journal is written
 * into the file.  Returns the bytes the cache takes on disk. */
uint64_t sa_cachedb_finish(SaCacheDb *db, int compact);

/* The notes so far (what was repaired or given up), NULL past the end.
 * Valid until the database is closed. */
const char *sa_cachedb_note(SaCacheDb *db, int i);

/* Adds a note (printf-style). */
void sa_cachedb_add_note(SaCacheDb *db, const char *fmt, ...) SA_PRINTF(2, 3);

/* Closes the database and releases the lock; NULL is accepted. */
void sa_cachedb_close(SaCacheDb *db);

#endif
