/* DESIGN: the cache's storage, on SQLite.
 *
 * Why SQLite: its transactions give, for free, what resume needs: an entry
 * is in the database whole or not at all, whatever moment the process is
 * killed at (WAL journal; synchronous=FULL, so a committed entry also
 * survives a power loss), and two processes never corrupt one file.
 *
 * An entry's bulk (an image's candidate records: most of the cache) is its
 * tail, kept outside SQLite in one append-only file, records-<gen>.pack,
 * which a run maps into memory: the record store then reads the records
 * where they are, without copying them into memory of its own (which
 * costs more than reading them: every fresh page is a fault and a
 * clearing).  A tail is written and synced before the row that points at
 * it is committed, so a row never points at bytes that are not there; a
 * run killed between the two leaves only unreferenced bytes at the pack's
 * end.  The pack is rewritten without its dead bytes (replaced entries,
 * such leftovers) when they outweigh the live ones: into the next
 * generation's file, synced, then the rows' new offsets and the new
 * generation committed in one transaction; a file of another generation
 * is removed at open.
 *
 * Two tables:
 *   entries(kind, slot, key, sum, data, toff, tlen, tsum),
 *     primary key (kind, slot)
 *   pack(gen): the pack's generation
 * `sum` is the CRC-32 and length of data, `tsum` the CRC-32 of the tail's
 * tlen bytes at offset toff of the pack; the database's application_id
 * says the file is a segaudit cache, its user_version the entries' format.
 *
 * Two connections: the writer thread commits on one while lookups read on
 * the other (WAL lets a reader go on during a write), so a lookup never
 * waits for a commit's sync.
 *
 * Failures, most likely first: a second run on the folder (refused at
 * open, with the holder's pid); a full disk or a write error (writes stop,
 * reads go on); an entry that cannot be read (that entry is computed again
 * and replaced); a damaged file (found at open: moved aside to
 * cache.sqlite.damaged and a new one started; found during a run: the rest
 * of the run does without the cache, and the file is moved aside when the
 * run ends). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef SA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "common/dirs.h"
#include "io/cache_db.h"

#define APP_ID 0x53414331 /* "SAC1" */
#define MAX_NOTES 16
#define MAX_MAPS 8
#define MAX_GEN 1000000000000LL /* a pack generation beyond: not ours */

struct SaCacheDb {
    pthread_mutex_t wmu, rmu, nmu; /* the write and read connections, the
                                      notes; wmu before rmu */
    sqlite3 *wdb, *rdb;
    sqlite3_stmt *get, *put;
    char *dir, *path;
    uint32_t format;
    int lock_fd;
    int writes_off;       /* a write failed: no more writes */
    atomic_int damaged;   /* the file was found damaged during the run (set
                             under either connection's mutex) */
    char *notes[MAX_NOTES];
    int n_notes;
    /* the pack: the writer appends at pack_end (under wmu); readers map
     * it (under rmu), once more when an entry lies past the maps so far,
     * which stay until the database is closed */
    int pack_fd;
    long long gen;
    uint64_t pack_end;
    struct {
        void *p;
        size_t len;
    } maps[MAX_MAPS];
    int n_maps;
};

static void vnote(SaCacheDb *db, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&db->nmu);
    if (db->n_notes < MAX_NOTES) {
        char buf[SA_ERR_MSG];
        if (db->n_notes == MAX_NOTES - 1)
            snprintf(buf, sizeof buf, "(more notes are left out)");
        else
            vsnprintf(buf, sizeof buf, fmt, ap);
        char *s = strdup(buf);
        if (s)
            db->notes[db->n_notes++] = s;
    }
    pthread_mutex_unlock(&db->nmu);
}

void sa_cachedb_add_note(SaCacheDb *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(db, fmt, ap);
    va_end(ap);
}

const char *sa_cachedb_note(SaCacheDb *db, int i)
{
    pthread_mutex_lock(&db->nmu);
    const char *s = i >= 0 && i < db->n_notes ? db->notes[i] : NULL;
    pthread_mutex_unlock(&db->nmu);
    return s;
}

/* mkdir -p, with the cache's messages. */
static int make_dirs(const char *dir, SaErr *err)
{
    char part[PATH_MAX];
    if (sa_make_dirs(dir, part, sizeof part) == 0)
        return 0;
    if (errno == ENOTDIR)
        return sa_err(err, SEGAUDIT_EIO, "--cache %s: %s is not a folder",
                      dir, part);
    return sa_err(err, SEGAUDIT_EIO,
                  "--cache %s: cannot create %s (%s); give a folder this run "
                  "can write, or leave out --cache", dir, part,
                  strerror(errno));
}

static int take_lock(SaCacheDb *c, SaErr *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/lock", c->dir);
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (c->lock_fd < 0)
        return sa_err(err, SEGAUDIT_EIO,
                      "--cache %s: cannot write in the cache folder (%s); "
                      "give a folder this run can write, or leave out "
                      "--cache", c->dir, strerror(errno));
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(c->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return sa_err(err, SEGAUDIT_EIO,
                      "--cache %s: the cache is in use by another segaudit "
                      "run%s%s%s; wait for it to end, or give this run "
                      "another cache folder", c->dir, pid[0] ? " (pid " : "",
                      pid, pid[0] ? ")" : "");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(c->lock_fd, 0) != 0 || pwrite(c->lock_fd, pid, (size_t)n,
                                                0) != n)
        return sa_err(err, SEGAUDIT_EIO,
                      "--cache %s: cannot write in the cache folder (%s); "
                      "give a folder this run can write, or leave out "
                      "--cache", c->dir, strerror(errno));
    return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The integer a statement returns, or -1 (no row, or an error in *rc). */
static long long query_int(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        if (*rc == SQLITE_ROW || *rc == SQLITE_DONE)
            *rc = SQLITE_OK; /* no row: -1 */
    }
    sqlite3_finalize(st);
    return v;
}

static uint64_t round8(uint64_t v)
{
    return (v + 7) & ~(uint64_t)7;
}

static void pack_path(const SaCacheDb *c, long long gen, char *out,
                      size_t n)
{
    snprintf(out, n, "%s/records-%lld.pack", c->dir, gen);
}

/* Removes every pack file but generation keep's (keep < 0: all). */
static void remove_packs(const SaCacheDb *c, long long keep)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        char *end;
        if (strncmp(nm, "records-", 8) != 0)
            continue;
        long long g = strtoll(nm + 8, &end, 10);
        if (end == nm + 8 || strcmp(end, ".pack") != 0 || g == keep)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", c->dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

static void unmap_pack(SaCacheDb *c)
{
    for (int i = 0; i < c->n_maps; i++)
        munmap(c->maps[i].p, c->maps[i].len);
    c->n_maps = 0;
}

static void close_pack(SaCacheDb *c)
{
    unmap_pack(c);
    if (c->pack_fd >= 0)
        close(c->pack_fd);
    c->pack_fd = -1;
}

/* Syncs the cache folder (a file's name in it); 0 or -1. */
static int sync_dir(const SaCacheDb *c)
{
    int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* Opens the pack of the database's generation (an SQLite code).  A new
 * database (fresh) starts its pack empty; other generations' files go. */
static int open_pack(SaCacheDb *c, int fresh)
{
    int rc;
    long long rows = query_int(c->wdb, "SELECT count(*) FROM pack", &rc);
    if (rc != SQLITE_OK)
        return rc;
    long long gen = 0;
    if (rows == 0) {
        if ((rc = exec(c->wdb, "INSERT INTO pack(gen) VALUES (0)")) !=
            SQLITE_OK)
            return rc;
    } else {
        gen = query_int(c->wdb, "SELECT gen FROM pack", &rc);
        if (rc != SQLITE_OK)
            return rc;
        /* one row, a generation a run can have reached: else not ours */
        if (rows != 1 || gen < 0 || gen > MAX_GEN)
            return SQLITE_CORRUPT;
    }
    c->gen = gen;
    char p[PATH_MAX];
    pack_path(c, gen, p, sizeof p);
    c->pack_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    struct stat st;
    if (c->pack_fd < 0 || fstat(c->pack_fd, &st) != 0)
        return errno == EACCES || errno == EROFS || errno == EPERM
                   ? SQLITE_READONLY
                   : SQLITE_IOERR;
    c->pack_end = round8((uint64_t)st.st_size);
    if (fresh && st.st_size > 0) {
        if (ftruncate(c->pack_fd, 0) != 0)
            return SQLITE_IOERR;
        c->pack_end = 0;
    }
    if (st.st_size == 0)
        sync_dir(c); /* a new file: its name made durable too (where the
                        file system can) */
    remove_packs(c, gen);
    return SQLITE_OK;
}

/* Where tail bytes [off, off + len) of the pack are in memory, or NULL
 * when the pack does not hold them.  Under rmu. */
static const void *tail_at(SaCacheDb *c, uint64_t off, uint64_t len)
{
    for (int i = 0; i < c->n_maps; i++)
        if (off <= c->maps[i].len && len <= c->maps[i].len - off)
            return (const unsigned char *)c->maps[i].p + off;
    struct stat st;
    if (c->pack_fd < 0 || c->n_maps == MAX_MAPS ||
        fstat(c->pack_fd, &st) != 0 || (uint64_t)st.st_size < off ||
        (uint64_t)st.st_size - off < len || (uint64_t)st.st_size > SIZE_MAX)
        return NULL;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
                   c->pack_fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    c->maps[c->n_maps].p = p;
    c->maps[c->n_maps].len = (size_t)st.st_size;
    c->n_maps++;
    return (const unsigned char *)p + off;
}

static void close_db(SaCacheDb *c)
{
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_close(c->rdb);
    sqlite3_close(c->wdb);
    c->get = c->put = NULL;
    c->rdb = c->wdb = NULL;
    close_pack(c);
}

/* A small page cache: each entry is read or written once.  (In pages of
 * the page size in force: set again when that changes.) */
static void bound_cache(sqlite3 *db)
{
    exec(db, "PRAGMA cache_size=-2048");
}

static int connect(SaCacheDb *c, sqlite3 **db)
{
    int rc = sqlite3_open_v2(c->path, db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(*db, 10000);
        bound_cache(*db);
    }
    return rc;
}

/* Opens c->path and makes it a cache of c->format.  Returns SQLITE_OK, or
 * an SQLite code (and *what) when the file is not a usable cache. */
static int open_db(SaCacheDb *c, const char **what)
{
    *what = "cannot be opened";
    int rc = connect(c, &c->wdb);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3 *db = c->wdb;
    long long app = query_int(db, "PRAGMA application_id", &rc);
    *what = "is not an SQLite database";
    if (rc != SQLITE_OK)
        return rc;
    long long tables = query_int(db, "SELECT count(*) FROM sqlite_master",
                                 &rc);
    if (rc != SQLITE_OK)
        return rc;
    if (app != APP_ID && tables > 0) {
        *what = "is not a segaudit cache";
        return SQLITE_NOTADB;
    }
    long long ver = query_int(db, "PRAGMA user_version", &rc);
    if (rc != SQLITE_OK)
        return rc;
    *what = "cannot be written";
    int fresh = tables == 0;
    if ((rc = exec(db, "PRAGMA journal_mode=WAL")) != SQLITE_OK ||
        (rc = exec(db, "PRAGMA synchronous=FULL")) != SQLITE_OK)
        return rc;
    bound_cache(db);
    if (tables > 0 && ver != (long long)c->format) {
        sa_cachedb_add_note(c, "%s was written by another version of "
                            "segaudit (cache format %lld, this one reads "
                            "%u): its entries are dropped", c->path, ver,
                            c->format);
        if ((rc = exec(db, "DROP TABLE IF EXISTS entries; "
                       "DROP TABLE IF EXISTS pack")) != SQLITE_OK)
            return rc;
        /* the dropped pages would stay in the file, which later entries
         * (small: their records go to the pack) would hardly reuse */
        exec(db, "VACUUM");
        fresh = 1;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA application_id=%d; PRAGMA user_version=%u; "
             "CREATE TABLE IF NOT EXISTS entries(kind INTEGER NOT NULL, "
             "slot BLOB NOT NULL, key BLOB NOT NULL, sum BLOB NOT NULL, "
             "data BLOB NOT NULL, toff INTEGER NOT NULL, "
             "tlen INTEGER NOT NULL, tsum INTEGER NOT NULL, "
             "PRIMARY KEY(kind, slot)); "
             "CREATE TABLE IF NOT EXISTS pack(gen INTEGER NOT NULL)",
             APP_ID, c->format);
    if ((rc = exec(db, sql)) != SQLITE_OK || (rc = open_pack(c, fresh)) != SQLITE_OK)
        return rc;
    rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO entries"
                            "(kind, slot, key, sum, data, toff, tlen, tsum) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1,
                            &c->put, NULL);
    *what = "cannot be read";
    if (rc == SQLITE_OK)
        rc = connect(c, &c->rdb);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->rdb, "SELECT key, sum, rowid, "
                                "length(data), toff, tlen, tsum FROM entries "
                                "WHERE kind = ?1 AND slot = ?2", -1, &c->get,
                                NULL);
    return rc;
}

static int damaged_code(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Moves the file aside (its journal dropped); 1 when it was moved. */
static int move_aside(SaCacheDb *c)
{
    char aside[PATH_MAX + 16], wal[PATH_MAX + 16];
    snprintf(aside, sizeof aside, "%s.damaged", c->path);
    int moved = rename(c->path, aside) == 0;
    if (!moved)
        unlink(c->path);
    snprintf(wal, sizeof wal, "%s-wal", c->path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", c->path);
    unlink(wal);
    return moved;
}

/* At open: the file is damaged or foreign; it is moved aside and a new
 * one started. */
static int start_over(SaCacheDb *c, const char *what, const char *why)
{
    close_db(c);
    int moved = move_aside(c);
    remove_packs(c, -1);
    sa_cachedb_add_note(c, "%s %s (%s): %s; a new cache is started, and "
                        "its images are computed again", c->path, what, why,
                        moved ? "it is kept as cache.sqlite.damaged"
                              : "it is replaced");
    const char *w2;
    return open_db(c, &w2);
}

int sa_cachedb_open(const char *dir, uint32_t format, int check_only,
                    SaCacheDb **out, SaErr *err)
{
    *out = NULL;
    SaCacheDb *c = calloc(1, sizeof *c);
    if (!c)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    pthread_mutex_init(&c->wmu, NULL);
    pthread_mutex_init(&c->rmu, NULL);
    pthread_mutex_init(&c->nmu, NULL);
    c->lock_fd = -1;
    c->pack_fd = -1;
    c->format = format;
    size_t n = strlen(dir) + sizeof "/cache.sqlite";
    c->dir = strdup(dir);
    c->path = malloc(n);
    int rc = 0;
    if (!c->dir || !c->path)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0) {
        snprintf(c->path, n, "%s/cache.sqlite", dir);
        rc = make_dirs(dir, err);
    }
    if (rc == 0)
        rc = take_lock(c, err);
    if (rc == 0 && !check_only) {
        const char *what;
        int src = open_db(c, &what);
        if (src == SQLITE_READONLY || src == SQLITE_CANTOPEN ||
            src == SQLITE_PERM || src == SQLITE_AUTH)
            rc = sa_err(err, SEGAUDIT_EIO,
                        "--cache %s: %s %s (%s); give a folder this run "
                        "can write, or leave out --cache", dir, c->path,
                        what, sqlite3_errstr(src));
        else if (damaged_code(src))
            src = start_over(c, (src & 0xff) == SQLITE_CORRUPT ? "is damaged"
                                                                : what,
                             sqlite3_errstr(src));
        if (rc == 0 && src != SQLITE_OK) {
            /* a full disk, an I/O error: the run goes on without */
            sa_cachedb_add_note(c, "%s %s (%s): the run goes on without "
                                "the cache", c->path, what,
                                sqlite3_errstr(src));
            close_db(c);
            c->writes_off = 1;
        }
    }
    if (rc) {
        sa_cachedb_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The file turned out damaged during the run: the rest of the run does
 * without it, and it is moved aside when the run ends. */
static void found_damaged(SaCacheDb *c, int rc)
{
    if (atomic_exchange(&c->damaged, 1) == 0)
        sa_cachedb_add_note(c, "%s is damaged (%s): the run goes on without "
                            "the cache, which is moved aside at the end",
                            c->path, sqlite3_errstr(rc));
}

/* The CRC-32 of data. */
static uint32_t crc_of(const void *data, size_t len)
{
#ifdef SA_HAVE_LIBDEFLATE
    /* several times faster than zlib's; the same CRC-32 */
    return libdeflate_crc32(0, data, len);
#else
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    const unsigned char *p = data;
    for (size_t left = len; left > 0;) {
        uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        left -= n;
    }
    return crc;
#endif
}

/* An entry's row checksum: its CRC-32 and length. */
static void make_sum(const void *data, size_t len, uint8_t sum[12])
{
    uint32_t crc = crc_of(data, len);
    uint64_t l = len;
    memcpy(sum, &crc, 4);
    memcpy(sum + 4, &l, 8);
}

int sa_cachedb_get(SaCacheDb *c, int kind, const uint8_t *slot,
                   const uint8_t *key, size_t max_len, void **data,
                   size_t *cap, size_t *len, const void **tail,
                   size_t *tail_len, SaErr *err)
{
    *len = 0;
    if (tail) {
        *tail = NULL;
        *tail_len = 0;
    }
    sqlite3_int64 dlen = 0, toff = 0, tlen = 0, tsum = 0;
    const void *tp = NULL;
    uint8_t want[12], sum[12];
    pthread_mutex_lock(&c->rmu);
    int found = SA_CACHE_MISS;
    if (!c->get || atomic_load(&c->damaged)) {
        pthread_mutex_unlock(&c->rmu);
        return SA_CACHE_MISS;
    }
    sqlite3_stmt *st = c->get;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_blob(st, 2, slot, SA_CACHE_KEY, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    const char *doing = "looked up";
    if (rc == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(st, 0);
        const void *s = sqlite3_column_blob(st, 1);
        int klen = sqlite3_column_bytes(st, 0);
        int slen = sqlite3_column_bytes(st, 1);
        sqlite3_int64 rowid = sqlite3_column_int64(st, 2);
        dlen = sqlite3_column_int64(st, 3);
        toff = sqlite3_column_int64(st, 4);
        tlen = sqlite3_column_int64(st, 5);
        tsum = sqlite3_column_int64(st, 6);
        if (slen == 12)
            memcpy(want, s, 12);
        rc = SQLITE_OK;
        if (klen != SA_CACHE_KEY || memcmp(k, key, SA_CACHE_KEY) != 0) {
            found = SA_CACHE_STALE;
        } else if (slen != 12 || dlen <= 0 || (uint64_t)dlen > max_len ||
                   dlen > INT_MAX || toff < 0 || toff % 8 != 0 || tlen < 0 ||
                   (uint64_t)tlen > max_len || tsum < 0 ||
                   tsum > (sqlite3_int64)UINT32_MAX ||
                   (tlen > 0 && data && !tail)) {
            found = SA_CACHE_DAMAGED;
        } else if (!data) {
            /* a probe: the entry is there, for this key */
            found = SA_CACHE_HIT;
            *len = (size_t)dlen;
        } else if ((size_t)dlen > *cap) {
            void *p = realloc(*data, (size_t)dlen);
            if (!p)
                found = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            else {
                *data = p;
                *cap = (size_t)dlen;
            }
        }
        if (found == SA_CACHE_MISS) {
            /* read straight into the caller's buffer */
            sqlite3_blob *b = NULL;
            doing = "read";
            rc = sqlite3_blob_open(c->rdb, "main", "entries", "data", rowid,
                                   0, &b);
            if (rc == SQLITE_OK)
                rc = sqlite3_blob_read(b, *data, (int)dlen, 0);
            sqlite3_blob_close(b);
            if (rc == SQLITE_OK && tlen > 0 &&
                !(tp = tail_at(c, (uint64_t)toff, (uint64_t)tlen))) {
                /* the pack is shorter than the row says, or unreadable */
                found = SA_CACHE_DAMAGED;
            } else if (rc == SQLITE_OK) {
                found = SA_CACHE_HIT; /* once its checksums hold */
            }
        }
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_OK) {
        /* this entry is computed again and replaced; a damaged file is
         * given up for the rest of the run */
        found = SA_CACHE_DAMAGED;
        if (damaged_code(rc))
            found_damaged(c, rc);
        else
            sa_cachedb_add_note(c, "%s: an entry could not be %s (%s)",
                                c->path, doing, sqlite3_errstr(rc));
    }
    pthread_mutex_unlock(&c->rmu);
    if (found == SA_CACHE_HIT && data) {
        /* checked outside the lock: other threads read meanwhile */
        make_sum(*data, (size_t)dlen, sum);
        found = memcmp(want, sum, 12) != 0 ||
                        (tlen > 0 &&
                         crc_of(tp, (size_t)tlen) != (uint32_t)tsum)
                    ? SA_CACHE_DAMAGED
                    : SA_CACHE_HIT;
        *len = found == SA_CACHE_HIT ? (size_t)dlen : 0;
        if (found == SA_CACHE_HIT && tail) {
            *tail = tp;
            *tail_len = (size_t)tlen;
        }
    }
    return found;
}

/* Writes the whole of p[0..n) at off; 0 or an errno. */
static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : ENOSPC;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Appends a tail to the pack and syncs it: its offset, or -1 (a note says
 * why, and writes stop).  Under wmu. */
static long long pack_append(SaCacheDb *c, const void *tail, size_t len)
{
    uint64_t off = c->pack_end;
    int e = c->pack_fd < 0 ? EBADF : pwrite_all(c->pack_fd, tail, len, off);
    if (e == 0 && fdatasync(c->pack_fd) != 0)
        e = errno;
    if (e) {
        char p[PATH_MAX];
        pack_path(c, c->gen, p, sizeof p);
        sa_cachedb_add_note(c, "%s: a write failed (%s): the run goes on "
                            "without writing to the cache", p, strerror(e));
        c->writes_off = 1;
        return -1;
    }
    c->pack_end = round8(off + len);
    return (long long)off;
}

int sa_cachedb_put(SaCacheDb *c, int kind, const uint8_t *slot,
                   const uint8_t *key, const void *data, size_t len,
                   const void *tail, size_t tail_len)
{
    pthread_mutex_lock(&c->wmu);
    if (c->writes_off || atomic_load(&c->damaged) || !c->put) {
        pthread_mutex_unlock(&c->wmu);
        return 1;
    }
    uint8_t sum[12];
    make_sum(data, len, sum);
    /* the tail first, synced: a committed row never points past it */
    long long toff = 0;
    uint32_t tsum = 0;
    if (tail_len > 0) {
        if ((toff = pack_append(c, tail, tail_len)) < 0) {
            pthread_mutex_unlock(&c->wmu);
            return 1;
        }
        tsum = crc_of(tail, tail_len);
    }
    sqlite3_stmt *st = c->put;
    int rc = sqlite3_bind_int(st, 1, kind);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 2, slot, SA_CACHE_KEY, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 3, key, SA_CACHE_KEY, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 4, sum, 12, SQLITE_STATIC);
    if (rc == SQLITE_OK && len > (size_t)sqlite3_limit(c->wdb,
                                                       SQLITE_LIMIT_LENGTH, -1))
        rc = SQLITE_TOOBIG;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob64(st, 5, data, len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 6, toff);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 7, (sqlite3_int64)tail_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 8, tsum);
    if (rc != SQLITE_OK) {
        /* this entry only (beyond what SQLite keeps in one value) */
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&c->wmu);
        sa_cachedb_add_note(c, "an entry of %zu bytes cannot be kept (%s); "
                            "its image is computed each time", len,
                            sqlite3_errstr(rc));
        return 1;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int stored = rc == SQLITE_DONE;
    if (!stored && damaged_code(rc)) {
        found_damaged(c, rc);
    } else if (!stored) {
        sa_cachedb_add_note(c, "%s: a write failed (%s): the run goes on "
                            "without writing to the cache", c->path,
                            sqlite3_errstr(rc));
        c->writes_off = 1;
    }
    pthread_mutex_unlock(&c->wmu);
    return !stored;
}

static uint64_t file_size(const char *path, const char *suffix)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The live tails, in pack order; drop: the pack does not hold it (the
 * row goes). */
typedef struct Live {
    sqlite3_int64 rowid, off, len;
    int drop;
} Live;

static int cmp_live(const void *a, const void *b)
{
    const Live *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Copies the live tails into the next generation's pack, synced; their
 * new offsets in lv.  0 or -1. */
static int copy_live(SaCacheDb *c, Live *lv, size_t n, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    unsigned char *buf = NULL;
    size_t cap = 0;
    uint64_t end = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = (size_t)lv[i].len;
        if (lv[i].drop)
            continue;
        if (len > cap) {
            unsigned char *nb = realloc(buf, len);
            if (!nb) {
                rc = -1;
                break;
            }
            buf = nb;
            cap = len;
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = pread(c->pack_fd, buf + got, len - got,
                              (off_t)((uint64_t)lv[i].off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got != len) {
            lv[i].drop = 1; /* past the pack's end: the row goes */
            continue;
        }
        if (pwrite_all(fd, buf, len, end) != 0)
            rc = -1;
        lv[i].off = (sqlite3_int64)end;
        end = round8(end + len);
    }
    free(buf);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -1;
    close(fd);
    /* the new file's name is durable before any row points into it */
    if (rc == 0)
        rc = sync_dir(c);
    return rc;
}

/* Rewrites the pack without its dead bytes when they outweigh the live
 * ones; anything that fails leaves the pack as it
 * is, for a later run to try.  Under both locks, with no tail in use. */
static void compact_pack(SaCacheDb *c)
{
    struct stat st;
    if (c->pack_fd < 0 || fstat(c->pack_fd, &st) != 0)
        return;
    int rc;
    long long live = query_int(c->wdb, "SELECT coalesce(sum(tlen), 0) "
                               "FROM entries", &rc);
    if (rc != SQLITE_OK || live < 0 ||
        (uint64_t)st.st_size <= 2 * (uint64_t)live)
        return;
    long long n = query_int(c->wdb, "SELECT count(*) FROM entries WHERE "
                            "tlen > 0", &rc);
    if (rc != SQLITE_OK || n < 0 || (uint64_t)n > SIZE_MAX / sizeof(Live))
        return;
    Live *lv = malloc(((size_t)n + 1) * sizeof *lv);
    sqlite3_stmt *q = NULL;
    size_t got = 0;
    if (!lv || sqlite3_prepare_v2(c->wdb, "SELECT rowid, toff, tlen FROM "
                                  "entries WHERE tlen > 0", -1, &q,
                                  NULL) != SQLITE_OK) {
        free(lv);
        return;
    }
    while (got < (size_t)n && sqlite3_step(q) == SQLITE_ROW) {
        lv[got].rowid = sqlite3_column_int64(q, 0);
        lv[got].off = sqlite3_column_int64(q, 1);
        lv[got].len = sqlite3_column_int64(q, 2);
        lv[got].drop = 0;
        if (lv[got].off < 0 || lv[got].len <= 0 ||
            (uint64_t)lv[got].len > (uint64_t)st.st_size)
            lv[got].drop = 1;
        got++;
    }
    sqlite3_finalize(q);
    qsort(lv, got, sizeof *lv, cmp_live);
    char next[PATH_MAX], old[PATH_MAX];
    pack_path(c, c->gen + 1, next, sizeof next);
    pack_path(c, c->gen, old, sizeof old);
    int ok = got == (size_t)n && copy_live(c, lv, got, next) == 0;
    sqlite3_stmt *u = NULL;
    if (ok)
        ok = exec(c->wdb, "BEGIN IMMEDIATE") == SQLITE_OK;
    sqlite3_stmt *del = NULL;
    if (ok && (sqlite3_prepare_v2(c->wdb, "UPDATE entries SET toff = ?1 "
                                  "WHERE rowid = ?2", -1, &u,
                                  NULL) != SQLITE_OK ||
               sqlite3_prepare_v2(c->wdb, "DELETE FROM entries WHERE "
                                  "rowid = ?1", -1, &del, NULL) != SQLITE_OK)) {
        sqlite3_finalize(u);
        u = NULL;
        exec(c->wdb, "ROLLBACK");
        ok = 0;
    }
    for (size_t i = 0; ok && u && i < got; i++) {
        sqlite3_stmt *q2 = lv[i].drop ? del : u;
        if (lv[i].drop) {
            sqlite3_bind_int64(del, 1, lv[i].rowid);
        } else {
            sqlite3_bind_int64(u, 1, lv[i].off);
            sqlite3_bind_int64(u, 2, lv[i].rowid);
        }
        ok = sqlite3_step(q2) == SQLITE_DONE;
        sqlite3_reset(q2);
    }
    sqlite3_finalize(u);
    sqlite3_finalize(del);
    if (u) {
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE pack SET gen = %lld", c->gen + 1);
        if (ok)
            ok = exec(c->wdb, sql) == SQLITE_OK &&
                 exec(c->wdb, "COMMIT") == SQLITE_OK;
        if (!ok)
            exec(c->wdb, "ROLLBACK");
    }
    free(lv);
    if (!ok) {
        unlink(next);
        return;
    }
    close_pack(c);
    unlink(old);
    c->gen++;
}

uint64_t sa_cachedb_finish(SaCacheDb *c, int compact)
{
    pthread_mutex_lock(&c->wmu);
    pthread_mutex_lock(&c->rmu);
    if (atomic_load(&c->damaged)) {
        close_db(c);
        int moved = move_aside(c);
        remove_packs(c, -1);
        sa_cachedb_add_note(c, "%s %s; the next run starts a new cache",
                            c->path, moved ? "is kept as cache.sqlite.damaged"
                                           : "is removed");
    } else if (c->wdb) {
        if (compact && !c->writes_off)
            compact_pack(c);
        /* the journal's pages go into the file first */
        exec(c->wdb, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
    char pack[PATH_MAX];
    pack_path(c, c->gen, pack, sizeof pack);
    uint64_t bytes = file_size(c->path, "") + file_size(c->path, "-wal") +
                     file_size(pack, "");
    pthread_mutex_unlock(&c->rmu);
    pthread_mutex_unlock(&c->wmu);
    return bytes;
}

void sa_cachedb_close(SaCacheDb *c)
{
    if (!c)
        return;
    close_db(c);
    if (c->lock_fd >= 0)
        close(c->lock_fd); /* releases the lock */
    for (int i = 0; i < c->n_notes; i++)
        free(c->notes[i]);
    pthread_mutex_destroy(&c->wmu);
    pthread_mutex_destroy(&c->rmu);
    pthread_mutex_destroy(&c->nmu);
    free(c->dir);
    free(c->path);
    free(c);
}
