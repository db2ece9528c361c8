/* The files through which other commands find the running certgate
 * (process.pid_file) and learn how its last reload went (the status file
 * beside it), and the check that a process id names a certgate.
 *
 * The pid file holds the process id and a newline. The status file, the pid
 * file's name with ".pid" replaced by ".status" (or ".status" appended), is
 * one logfmt line rewritten (by rename) after start and after every reload:
 *   pid=1234 reloads=3 failed=1 result=ok detail="..."
 * `certgate reload` compares `reloads` before and after its SIGHUP.
 */
#ifndef CG_PIDFILE_H
#define CG_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether pid is a running certgate: /proc/PID/exe names a file called
 * certgate (also "certgate (deleted)", after an upgrade replaced it), or,
 * when exe cannot be read (another user's process, or one that changed its
 * ids: the kernel then hides exe), /proc/PID/comm and argv[0] both say
 * certgate. Returns 1 yes; 0 no, with what the process is instead in what;
 * -1 no such process. */
int cg_pidfile_is_certgate(pid_t pid, char *what, size_t cap);

/* The pid in path: > 0; 0 when the file does not exist; -1 (err set) when
 * it cannot be read or holds no process id. */
long cg_pidfile_read(const char *path, char *err, size_t cap);

/* Before binding: refuses (false, err set) when path names a live certgate
 * other than this process. A stale file (no such process, or one that is not
 * certgate) is left for cg_pidfile_write to replace; stale is set. */
bool cg_pidfile_check(const char *path, bool *stale, char *err, size_t cap);

/* Writes this process's pid to path (temp file + rename, mode 0644),
 * creating the directory (0755) when missing. When owner is not -1, the
 * file and a directory created here are given to owner:group, so that after
 * the privilege drop certgate can still rewrite its status file and remove
 * the pid file at exit. */
bool cg_pidfile_write(const char *path, uid_t owner, gid_t group, char *err, size_t cap);

/* Removes path if it still names this process. Returns false (err set)
 * only when it should have been removed and could not be. */
bool cg_pidfile_remove(const char *path, char *err, size_t cap);

/* The status file of a pid file. */
void cg_pidfile_status_path(const char *pid_file, char *out, size_t cap);

/* Rewrites the status file (temp file + rename). detail is free text. */
bool cg_pidfile_write_status(const char *pid_file, unsigned reloads, unsigned failed, bool ok, const char *detail);

/* The status file read back: false when absent or unreadable. detail gets
 * the unquoted text. */
typedef struct cg_pidfile_status {
    long pid;
    unsigned reloads, failed;
    bool ok;
    char detail[600];
} cg_pidfile_status;
bool cg_pidfile_read_status(const char *pid_file, cg_pidfile_status *out);

#endif
