#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

static const char *base_name(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

/* Reads a small /proc file; returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    errno = e;
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

int cg_pidfile_is_certgate(pid_t pid, char *what, size_t cap)
{
    char path[64], exe[PATH_MAX], comm[64], cmd[PATH_MAX];
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) {
        snprintf(what, cap, "no process %ld", (long)pid);
        return -1;
    }
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *b = base_name(exe);
        if (!strcmp(b, "certgate") || !strcmp(b, "certgate (deleted)"))
            return 1;
        snprintf(what, cap, "process %ld is %s, not certgate", (long)pid, exe);
        return 0;
    }
    if (errno == ENOENT && kill(pid, 0) != 0 && errno == ESRCH) {
        snprintf(what, cap, "no process %ld", (long)pid);
        return -1;
    }
    /* exe is hidden: compare the name and argv[0] (both can be set by the
     * process itself, so this only guards against a wrong pid, not a
     * hostile one; root reading exe is the strong check). */
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    if (read_small(path, comm, sizeof comm) < 0) {
        snprintf(what, cap, "cannot inspect process %ld: %s", (long)pid, strerror(errno));
        return errno == ENOENT ? -1 : 0;
    }
    comm[strcspn(comm, "\n")] = '\0';
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    if (read_small(path, cmd, sizeof cmd) < 0)
        cmd[0] = '\0';
    if (!strcmp(comm, "certgate") && !strcmp(base_name(cmd), "certgate"))
        return 1;
    snprintf(what, cap, "process %ld is \"%s\" (%s), not certgate", (long)pid, comm, cmd[0] ? cmd : "no command line");
    return 0;
}

long cg_pidfile_read(const char *path, char *err, size_t cap)
{
    char buf[64];
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, cap, "cannot read the pid file %s: %s", path, strerror(errno));
        return -1;
    }
    char *end;
    errno = 0;
    long pid = strtol(buf, &end, 10);
    if (errno || end == buf || pid <= 0 || pid > INT_MAX || (*end && *end != '\n')) {
        snprintf(err, cap, "the pid file %s holds no process id (\"%.20s\")", path, buf);
        return -1;
    }
    return pid;
}

bool cg_pidfile_check(const char *path, bool *stale, char *err, size_t cap)
{
    *stale = false;
    long pid = cg_pidfile_read(path, err, cap);
    if (pid == 0)
        return true;
    if (pid < 0) {
        *stale = true; /* garbage: replaced */
        return true;
    }
    char what[600];
    if (pid != (long)getpid() && cg_pidfile_is_certgate((pid_t)pid, what, sizeof what) == 1) {
        snprintf(err, cap, "certgate is already running with pid %ld (process.pid_file %s): stop it first, or "
                 "give this instance its own pid_file", pid, path);
        return false;
    }
    *stale = pid != (long)getpid();
    return true;
}

/* Writes text to path through "<path>.tmp" and rename(2), so a reader never
 * sees half a file. */
static bool write_replace(const char *path, const char *text, uid_t owner, gid_t group, char *err, size_t cap)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, cap, "%s: name too long", path);
        return false;
    }
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, cap, "cannot create %s: %s", tmp, strerror(errno));
        return false;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    int e = errno;
    if (ok && owner != (uid_t)-1 && fchown(fd, owner, group) != 0) {
        ok = false;
        e = errno;
    }
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(e));
        unlink(tmp);
    }
    return ok;
}

bool cg_pidfile_write(const char *path, uid_t owner, gid_t group, char *err, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (mkdir(dir, 0755) == 0) {
            if (owner != (uid_t)-1 && chown(dir, owner, group) != 0) {
                snprintf(err, cap, "cannot give %s to uid %ld: %s", dir, (long)owner, strerror(errno));
                return false;
            }
        } else if (errno != EEXIST) {
            snprintf(err, cap, "cannot create the directory %s of process.pid_file: %s", dir, strerror(errno));
            return false;
        }
    }
    char text[32];
    snprintf(text, sizeof text, "%ld\n", (long)getpid());
    return write_replace(path, text, owner, group, err, cap);
}

bool cg_pidfile_remove(const char *path, char *err, size_t cap)
{
    char e2[300];
    if (cg_pidfile_read(path, e2, sizeof e2) != (long)getpid())
        return true; /* gone, or another instance's by now */
    char status[PATH_MAX];
    cg_pidfile_status_path(path, status, sizeof status);
    unlink(status);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, cap, "cannot remove the pid file %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

void cg_pidfile_status_path(const char *pid_file, char *out, size_t cap)
{
    size_t n = strlen(pid_file);
    if (n > 4 && !strcmp(pid_file + n - 4, ".pid"))
        snprintf(out, cap, "%.*s.status", (int)(n - 4), pid_file);
    else
        snprintf(out, cap, "%s.status", pid_file);
}

bool cg_pidfile_write_status(const char *pid_file, unsigned reloads, unsigned failed, bool ok, const char *detail)
{
    char path[PATH_MAX], q[1400], text[1600], err[300];
    cg_pidfile_status_path(pid_file, path, sizeof path);
    cg_log_quote(q, sizeof q, detail, strlen(detail));
    snprintf(text, sizeof text, "pid=%ld reloads=%u failed=%u result=%s detail=%s\n", (long)getpid(), reloads,
             failed, ok ? "ok" : "failed", q);
    if (!write_replace(path, text, (uid_t)-1, (gid_t)-1, err, sizeof err)) {
        char q[700];
        cg_log(CG_LOG_WARN, "status_file", "detail=%s", cg_log_quote(q, sizeof q, err, strlen(err)));
        return false;
    }
    return true;
}

/* The value after "key=" in a logfmt line, unquoted into out. */
static bool field(const char *line, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = line;
    for (;;) {
        p = strstr(p, key);
        if (!p)
            return false;
        if ((p == line || p[-1] == ' ') && p[kl] == '=')
            break;
        p += kl;
    }
    p += kl + 1;
    size_t o = 0;
    if (*p != '"') {
        while (*p && *p != ' ' && *p != '\n' && o + 1 < cap)
            out[o++] = *p++;
        out[o] = '\0';
        return true;
    }
    for (p++; *p && *p != '"' && o + 1 < cap; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            c = *++p;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'x' && p[1] && p[2]) {
                char hex[3] = { p[1], p[2], 0 };
                c = (char)strtol(hex, NULL, 16);
                p += 2;
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bool cg_pidfile_read_status(const char *pid_file, cg_pidfile_status *out)
{
    char path[PATH_MAX], line[2048], v[32];
    cg_pidfile_status_path(pid_file, path, sizeof path);
    if (read_small(path, line, sizeof line) < 0)
        return false;
    memset(out, 0, sizeof *out);
    if (!field(line, "pid", v, sizeof v))
        return false;
    out->pid = strtol(v, NULL, 10);
    if (!field(line, "reloads", v, sizeof v))
        return false;
    out->reloads = (unsigned)strtoul(v, NULL, 10);
    if (field(line, "failed", v, sizeof v))
        out->failed = (unsigned)strtoul(v, NULL, 10);
    out->ok = field(line, "result", v, sizeof v) && !strcmp(v, "ok");
    field(line, "detail", out->detail, sizeof out->detail);
    return true;
}
