/* OCSP answers on disk (ocsp_files.h). */
#include "ocsp_files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crl_files.h"
#include "base/base.h"

#define SUFFIX ".ocsp"

char *ocsp_files_dir(const char *cache_dir)
{
    char *dir;
    return asprintf(&dir, "%s/ocsp", cache_dir) < 0 ? NULL : dir;
}

void ocsp_file_name(const unsigned char key[32], char out[80])
{
    cg_hex_encode(key, 32, out, 80, false);
    strcpy(out + 64, SUFFIX);
}

static bool is_answer_name(const char *name)
{
    if (strlen(name) != 64 + strlen(SUFFIX) || strcmp(name + 64, SUFFIX) != 0)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

unsigned char *ocsp_file_read(const char *dir, const unsigned char key[32], size_t max, size_t *len, bool *absent,
                              char *err, size_t cap)
{
    char name[80], path[4200];
    ocsp_file_name(key, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *absent = false;
    err[0] = '\0';
    struct stat st;
    if (lstat(path, &st) != 0) {
        *absent = errno == ENOENT || errno == ENOTDIR;
        if (!*absent)
            snprintf(err, cap, "cannot read it: %s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, cap, "not a regular file");
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, cap, "larger than revocation.ocsp_max_response_size (%zu bytes)", max);
        return NULL;
    }
    cg_file_error fe;
    unsigned char *buf = cg_file_read(path, max, CG_FILE_REGULAR, len, &fe);
    if (!buf) {
        switch (fe.fail) {
        case CG_FILE_TOO_LARGE:
        case CG_FILE_OVER_MAX:
            snprintf(err, cap, "larger than revocation.ocsp_max_response_size (%zu bytes)", max);
            break;
        case CG_FILE_NOT_REGULAR:
        case CG_FILE_STAT: snprintf(err, cap, "not a regular file"); break;
        case CG_FILE_NOMEM: snprintf(err, cap, "out of memory"); break;
        default: snprintf(err, cap, "cannot read it: %s", strerror(fe.err)); break;
        }
        *absent = fe.fail == CG_FILE_OPEN && fe.err == ENOENT; /* removed meanwhile */
    }
    return buf;
}

bool ocsp_file_write(const char *dir, const unsigned char key[32], const unsigned char *der, size_t len,
                     int64_t expires, char *err, size_t cap)
{
    char name[80];
    ocsp_file_name(key, name);
    return crl_file_write_atomic(dir, name, der, len, expires > 0 ? expires : 1, err, cap);
}

void ocsp_file_remove(const char *dir, const unsigned char key[32])
{
    char name[80], path[4200];
    ocsp_file_name(key, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(path);
}

size_t ocsp_files_prune(const char *dir, int64_t now, size_t *kept)
{
    size_t removed = 0;
    *kept = 0;
    /* Never created here: start-up runs as root before the privileges are dropped, and the
     * service user must own what it writes into (the first write creates the directory). */
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (de->d_name[0] == '.') {
            if (strstr(de->d_name, ".tmp") && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
                removed++; /* an interrupted write */
            continue;
        }
        if (!is_answer_name(de->d_name) || lstat(path, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode) && (int64_t)st.st_mtime < now) {
            if (unlink(path) == 0)
                removed++;
            continue;
        }
        (*kept)++;
    }
    closedir(d);
    return removed;
}
