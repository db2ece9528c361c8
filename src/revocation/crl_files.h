/* CRLs on disk: the files the listeners list in revocation.crl_files, and
 * the cache directory (revocation.cache_dir) the store persists fetched CRLs
 * to, one file per issuer and kind: <issuer id hex>.crl and
 * <issuer id hex>-delta.crl. Reading happens at load and reload (off the
 * workers' loops); writing runs on the libuv thread pool, whole or absent
 * (temporary file, fsync, rename).
 */
#ifndef CG_CRL_FILES_H
#define CG_CRL_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "crl_parse.h"
#include "base/base.h"

/* CRLs read from disk, each a reference. */
typedef struct crl_set {
    crl **v;
    size_t n, cap;
} crl_set;

/* Appends c (taking its reference); false when out of memory (c kept by the caller). */
bool crl_set_add(crl_set *set, crl *c);
/* Drops every reference and the array. */
void crl_set_free(crl_set *set);

/* One CRL file (at most 1 GiB), its origin (CRL_ORIGIN_FILE or
 * CRL_ORIGIN_CACHE) and source set. NULL with a sentence in err. */
crl *crl_file_load(const char *path, int origin, char *err, size_t cap);
/* Every listener's crl_files, each path once. A listed file that is not a
 * CRL is an error; in a listed directory, a warning (it may hold other
 * files). false when any error was added to diag. */
bool crl_files_load(const cg_config *cfg, crl_set *out, cg_diag *diag);
/* The cache directory's CRL files (created when missing; leftovers of an
 * interrupted write removed). Problems are warnings in diag. */
void crl_cache_load(const char *dir, crl_set *out, cg_diag *diag, const char *cfg_file);
/* The file name of the CRL of key (issuer id + 'B' full or 'D' delta). */
void crl_cache_name(const unsigned char key[33], char out[80]);
/* Writes len bytes as dir/name, whole or absent: a temporary .name.PID.tmp in dir (created 0700
 * when missing), fsync, rename, fsync of dir; mtime > 0 sets the file's modification time.
 * Blocking: on the thread pool. false with a sentence in err. */
bool crl_file_write_atomic(const char *dir, const char *name, const void *data, size_t len, int64_t mtime, char *err,
                           size_t cap);
/* Writes c to dir (taken: freed after) as the file of key, on loop's thread
 * pool; a failure is logged (crl_cache_write_failed). done(ud) runs on the
 * loop when the write ended. false (dir freed, done never called) when it
 * could not be queued. */
bool crl_cache_persist(uv_loop_t *loop, char *dir, crl *c, const unsigned char key[33], void (*done)(void *ud),
                       void *ud);

#endif
