/* CRLs on disk (crl_files.h): the listeners' crl_files, the cache
 * directory's files read at load, and cache files written off the loop.
 */
#include "crl_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define CRL_FILE_MAX (1024u * 1024u * 1024u)

/* One CRL file, with the sentence of what failed. */
static unsigned char *read_crl_file(const char *path, size_t *len, char *err, size_t cap)
{
    cg_file_error fe;
    unsigned char *buf = cg_file_read(path, CRL_FILE_MAX, CG_FILE_REGULAR, len, &fe);
    char sz[32];
    switch (buf ? CG_FILE_OK : fe.fail) {
    case CG_FILE_OK: break;
    case CG_FILE_OPEN: snprintf(err, cap, "cannot open: %s", strerror(fe.err)); break;
    case CG_FILE_STAT:
    case CG_FILE_NOT_REGULAR: snprintf(err, cap, "not a regular file"); break;
    case CG_FILE_TOO_LARGE:
    case CG_FILE_OVER_MAX:
        cg_fmt_size_units(CRL_FILE_MAX, sz, sizeof sz);
        snprintf(err, cap, "larger than %s", sz);
        break;
    case CG_FILE_NOMEM: snprintf(err, cap, "out of memory"); break;
    case CG_FILE_READ: snprintf(err, cap, "read error: %s", strerror(fe.err)); break;
    }
    return buf;
}

crl *crl_file_load(const char *path, int origin, char *err, size_t cap)
{
    size_t len;
    unsigned char *buf = read_crl_file(path, &len, err, cap);
    if (!buf)
        return NULL;
    crl *c = crl_parse(buf, len, err, cap);
    free(buf);
    if (c) {
        c->origin = origin;
        snprintf(c->source, sizeof c->source, "%s %s", origin == CRL_ORIGIN_FILE ? "crl_files" : "cache file", path);
        c->obtained = (int64_t)time(NULL);
    }
    return c;
}

bool crl_set_add(crl_set *set, crl *c)
{
    if (!cg_vec_reserve(set->v, set->cap, set->n + 1, 16))
        return false;
    set->v[set->n++] = c;
    return true;
}

void crl_set_free(crl_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        crl_unref(set->v[i]);
    free(set->v);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files of a directory (not hidden), sorted; NULL on error. */
static char **list_dir(const char *dir, size_t *n, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, cap, "cannot open the directory: %s", strerror(errno));
        return NULL;
    }
    char **v = NULL;
    size_t vn = 0, vcap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (!cg_vec_reserve(v, vcap, vn + 1, 16)) {
            free(path);
            break;
        }
        v[vn++] = path;
    }
    closedir(d);
    if (vn)
        qsort(v, vn, sizeof *v, name_cmp);
    *n = vn;
    return v ? v : calloc(1, sizeof *v);
}

/* Every listener's crl_files, each path once. A listed file that is not a
 * CRL is an error; in a listed directory, a warning (it may hold other
 * files). */
bool crl_files_load(const cg_config *cfg, crl_set *out, cg_diag *diag)
{
    bool ok = true;
    char err[300];
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t li = 0; li < cfg->nlisteners; li++) {
        const cg_listener_cfg *l = &cfg->listeners[li];
        for (size_t fi = 0; fi < l->revocation.ncrl_files; fi++) {
            const char *path = l->revocation.crl_files[fi];
            bool dup = false;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = strcmp(seen[k], path) == 0;
            if (dup)
                continue;
            char **ns = realloc(seen, (nseen + 1) * sizeof *ns);
            if (ns) {
                seen = ns;
                seen[nseen++] = (char *)path;
            }
            struct stat st;
            if (stat(path, &st) != 0) {
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "listeners[%s].revocation.crl_files \"%s\": %s",
                            l->name, path, strerror(errno));
                ok = false;
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                size_t n = 0;
                char **files = list_dir(path, &n, err, sizeof err);
                if (!files) {
                    cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0,
                                "listeners[%s].revocation.crl_files \"%s\": %s", l->name, path, err);
                    ok = false;
                    continue;
                }
                size_t loaded = 0;
                for (size_t k = 0; k < n; k++) {
                    crl *c = crl_file_load(files[k], CRL_ORIGIN_FILE, err, sizeof err);
                    if (c && crl_set_add(out, c))
                        loaded++;
                    else if (c)
                        crl_unref(c);
                    else
                        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                                    "listeners[%s].revocation.crl_files: \"%s\" (in directory \"%s\") skipped: %s",
                                    l->name, files[k], path, err);
                }
                if (loaded == 0)
                    cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                                "listeners[%s].revocation.crl_files: directory \"%s\" holds no CRL", l->name, path);
                cg_strv_free(files, n);
            } else {
                crl *c = crl_file_load(path, CRL_ORIGIN_FILE, err, sizeof err);
                if (!c || !crl_set_add(out, c)) {
                    if (c)
                        crl_unref(c);
                    cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "listeners[%s].revocation.crl_files \"%s\": %s",
                                l->name, path, err);
                    ok = false;
                }
            }
        }
    }
    free(seen);
    return ok;
}

static bool is_cache_name(const char *name)
{
    size_t n = strlen(name);
    if (n != 68 && n != 74)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return strcmp(name + 64, n == 68 ? ".crl" : "-delta.crl") == 0;
}

/* The persisted cache: <issuer id hex>.crl and <issuer id hex>-delta.crl. */
void crl_cache_load(const char *dir, crl_set *out, cg_diag *diag, const char *cfg_file)
{
    char err[300];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0,
                    "revocation.cache_dir \"%s\": cannot create it (%s); CRLs are kept in memory only", dir,
                    strerror(errno));
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0,
                    "revocation.cache_dir \"%s\": cannot read it (%s); CRLs are kept in memory only", dir,
                    strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp")) {
            unlink(path); /* an interrupted write */
            continue;
        }
        if (!is_cache_name(de->d_name))
            continue;
        crl *c = crl_file_load(path, CRL_ORIGIN_CACHE, err, sizeof err);
        if (!c) {
            cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0, "revocation.cache_dir: \"%s\" ignored: %s", path, err);
            continue;
        }
        if (!crl_set_add(out, c))
            crl_unref(c);
    }
    closedir(d);
}

void crl_cache_name(const unsigned char key[33], char out[80])
{
    cg_hex_encode(key, 32, out, 80, false);
    strcpy(out + 64, key[32] == 'D' ? "-delta.crl" : ".crl");
}

typedef struct persist_work {
    uv_work_t req;
    void (*done)(void *ud);
    void *ud;
    crl *c;
    char *dir;
    char name[80];
    char err[300];
} persist_work;

bool crl_file_write_atomic(const char *dir, const char *name, const void *data, size_t len, int64_t mtime, char *err,
                           size_t cap)
{
    char tmp[4200], path[4200];
    const unsigned char *p = data;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, cap, "cannot create the directory: %s", strerror(errno));
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, cap, "cannot create .%s.tmp: %s", name, strerror(errno));
        return false;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, p + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, cap, "cannot write .%s.tmp: %s", name, strerror(errno));
            close(fd);
            unlink(tmp);
            return false;
        }
        done += (size_t)k;
    }
    if (mtime > 0) {
        /* A hint for pruning without reading (ocsp_files.c); never a reason to believe the file. */
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = (time_t)mtime } };
        futimens(fd, ts);
    }
    if (fsync(fd) != 0) {
        snprintf(err, cap, "fsync .%s.tmp: %s", name, strerror(errno));
        close(fd);
        unlink(tmp);
        return false;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, cap, "cannot rename .%s.tmp to %s: %s", name, name, strerror(errno));
        unlink(tmp);
        return false;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

static void persist_run(uv_work_t *req)
{
    persist_work *w = req->data;
    crl_file_write_atomic(w->dir, w->name, w->c->der, w->c->der_len, 0, w->err, sizeof w->err);
}

static void persist_done(uv_work_t *req, int status)
{
    persist_work *w = req->data;
    void (*done)(void *ud) = w->done;
    void *ud = w->ud;
    (void)status;
    if (w->err[0]) {
        char q[400];
        cg_log_quote(q, sizeof q, w->err, strlen(w->err));
        cg_log(CG_LOG_WARN, "crl_cache_write_failed", "dir=%s detail=%s", w->dir, q);
    }
    crl_unref(w->c);
    free(w->dir);
    free(w);
    done(ud);
}

bool crl_cache_persist(uv_loop_t *loop, char *dir, crl *c, const unsigned char key[33], void (*done)(void *ud),
                       void *ud)
{
    persist_work *w = calloc(1, sizeof *w);
    if (!w) {
        free(dir);
        return false;
    }
    w->req.data = w;
    w->done = done;
    w->ud = ud;
    w->c = crl_ref(c);
    w->dir = dir;
    crl_cache_name(key, w->name);
    if (uv_queue_work(loop, &w->req, persist_run, persist_done) != 0) {
        crl_unref(c);
        free(dir);
        free(w);
        return false;
    }
    return true;
}
