/* OCSP answers on disk: <revocation.cache_dir>/ocsp/<key>.ocsp, where <key> is the lowercase hex of
 * the certificate's cg_ocsp_certid_key, holding the response exactly as the responder sent it
 * (DER: `openssl ocsp -respin FILE -resp_text` reads it). Its modification time is when the answer
 * expires: start-up prunes expired files without reading them. Written whole or absent
 * (crl_file_write_atomic) and read by the OCSP queries on the thread pool (ocsp_fetch.c), which
 * verify a persisted answer again like a fresh one: a file is never believed for being here.
 * Blocking: at start and on the thread pool only.
 */
#ifndef CG_OCSP_FILES_H
#define CG_OCSP_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <cache_dir>/ocsp (malloc'd), NULL when out of memory. */
char *ocsp_files_dir(const char *cache_dir);
/* "<64 hex digits>.ocsp". */
void ocsp_file_name(const unsigned char key[32], char out[80]);

/* The persisted answer of key in dir: at most max bytes of a regular file (not a symbolic link,
 * FIFO, directory ...). NULL when there is none (*absent true) or it is refused (err says why). */
unsigned char *ocsp_file_read(const char *dir, const unsigned char key[32], size_t max, size_t *len, bool *absent,
                              char *err, size_t cap);
/* Writes the answer of key, whole or absent, its modification time expires. */
bool ocsp_file_write(const char *dir, const unsigned char key[32], const unsigned char *der, size_t len,
                     int64_t expires, char *err, size_t cap);
/* Removes the answer of key when it is a regular file (a link or directory someone put there
 * stays: it is refused at every read, and named in the log). */
void ocsp_file_remove(const char *dir, const unsigned char key[32]);

/* At start: removes leftovers of interrupted writes and the answers whose modification time
 * (their expiry) has passed; *kept counts the others. Returns how many were removed. A missing
 * directory is left missing: the first write creates it (0700), as the user certgate serves as. */
size_t ocsp_files_prune(const char *dir, int64_t now, size_t *kept);

#endif
