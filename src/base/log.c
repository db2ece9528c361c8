#include "log.h"

#include "log_format.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The queue is a pair of buffers: producers append to `fill` under the lock;
 * the writer swaps it with its own empty buffer and writes outside the lock. */
#define QUEUE_CAP (4u << 20)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t writer;
    bool running, stopping;
    int fd;
    bool own_fd;
    char *fill, *spare;
    size_t fill_len;
    unsigned long dropped;
} L = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .fd = 2 };

static void log_flush(void);

static atomic_int min_level = CG_LOG_INFO;
static atomic_int line_format = CG_LOG_LOGFMT;
static atomic_bool to_journal; /* stderr is the journal: priority prefixes, no ts */

static const char *level_names[] = { "debug", "info", "warn", "error" };

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&L.lock);
    for (;;) {
        while (L.fill_len == 0 && !L.stopping)
            pthread_cond_wait(&L.wake, &L.lock);
        if (L.fill_len == 0 && L.stopping)
            break;
        char *buf = L.fill;
        size_t len = L.fill_len;
        L.fill = L.spare;
        L.spare = NULL;
        L.fill_len = 0;
        int fd = L.fd;
        pthread_mutex_unlock(&L.lock);
        write_all(fd, buf, len);
        pthread_mutex_lock(&L.lock);
        L.spare = buf;
    }
    pthread_mutex_unlock(&L.lock);
    return NULL;
}

static int open_file(const char *file)
{
    if (!file)
        return 2;
    return open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

bool cg_log_journald_stream(int fd, const char *journal_stream)
{
    if (!journal_stream)
        return false;
    char *end;
    errno = 0;
    unsigned long long dev = strtoull(journal_stream, &end, 10);
    if (end == journal_stream || *end != ':' || errno)
        return false;
    const char *ino_text = end + 1;
    unsigned long long ino = strtoull(ino_text, &end, 10);
    if (end == ino_text || *end != '\0' || errno || *journal_stream == '-' || *ino_text == '-')
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* The journal only when logging to stderr (systemd.exec(5): a service
 * whose stderr was redirected elsewhere must not use the prefixes). */
static void detect_journal(const char *file)
{
    atomic_store(&to_journal, !file && cg_log_journald_stream(2, getenv("JOURNAL_STREAM")));
}

void cg_log_set_format(cg_log_format format) { atomic_store(&line_format, (int)format); }

bool cg_log_open(const char *file, cg_log_level level)
{
    int fd = open_file(file);
    if (fd < 0)
        return false;
    pthread_mutex_lock(&L.lock);
    L.fd = fd;
    L.own_fd = file != NULL;
    if (!L.fill) {
        L.fill = malloc(QUEUE_CAP);
        L.spare = malloc(QUEUE_CAP);
    }
    atomic_store(&min_level, (int)level);
    detect_journal(file);
    bool start = !L.running && L.fill && L.spare;
    if (start) {
        L.stopping = false;
        L.running = pthread_create(&L.writer, NULL, writer_main, NULL) == 0;
    }
    pthread_mutex_unlock(&L.lock);
    return true;
}

bool cg_log_reopen(const char *file, cg_log_level level)
{
    int fd = open_file(file);
    if (fd < 0)
        return false;
    log_flush();
    pthread_mutex_lock(&L.lock);
    int old = L.fd;
    bool old_own = L.own_fd;
    L.fd = fd;
    L.own_fd = file != NULL;
    pthread_mutex_unlock(&L.lock);
    /* The writer may still hold the old fd for a write in progress; flush
     * above made that unlikely, and writing to a closed fd is harmless. */
    if (old_own && old != fd)
        close(old);
    atomic_store(&min_level, (int)level);
    detect_journal(file);
    return true;
}

/* Waits until the writer has written everything queued. */
static void log_flush(void)
{
    /* Wait until the writer has taken everything, then until it is idle. */
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&L.lock);
        bool empty = L.fill_len == 0 && L.spare != NULL;
        pthread_mutex_unlock(&L.lock);
        if (empty || !L.running)
            return;
        usleep(1000);
    }
}

void cg_log_close(void)
{
    pthread_mutex_lock(&L.lock);
    bool running = L.running;
    L.stopping = true;
    pthread_cond_signal(&L.wake);
    pthread_mutex_unlock(&L.lock);
    if (running)
        pthread_join(L.writer, NULL);
    pthread_mutex_lock(&L.lock);
    if (L.fill_len)
        write_all(L.fd, L.fill, L.fill_len);
    L.fill_len = 0;
    L.running = false;
    free(L.fill);
    free(L.spare);
    L.fill = L.spare = NULL;
    if (L.own_fd)
        close(L.fd);
    L.fd = 2;
    L.own_fd = false;
    pthread_mutex_unlock(&L.lock);
}

bool cg_log_enabled(cg_log_level level) { return (int)level >= atomic_load(&min_level); }

static size_t format_ts(char *out, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* gmtime_r is not free; cache the formatted second per thread. */
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[32];
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    return (size_t)snprintf(out, cap, "%s.%03dZ", cached, (int)(tv.tv_usec / 1000));
}

/* sd-daemon(3) priorities by level: debug, info, warning, err. */
static const int journal_prio[] = { 7, 6, 4, 3 };

#define LINE_MAX_BYTES 16384 /* a request line with a long subject DN fits */

/* ts, level and event, in the configured format; ts[] keeps the
 * timestamp for a log_dropped line. */
static void begin_line(cg_logline *l, char *buf, size_t cap, cg_log_level level, const char *event, char *ts,
                       size_t tscap)
{
    bool journal = atomic_load(&to_journal);
    format_ts(ts, tscap);
    cg_logline_begin(l, buf, cap, (cg_log_format)atomic_load(&line_format), journal ? journal_prio[level] : -1,
                     journal ? NULL : ts, level_names[level], event);
}

static void enqueue(const char *line, size_t len, const char *ts)
{
    pthread_mutex_lock(&L.lock);
    if (!L.running) {
        pthread_mutex_unlock(&L.lock);
        write_all(L.fd, line, len); /* before open / after close: direct */
        return;
    }
    if (L.dropped) {
        char d[256];
        cg_logline dl;
        bool journal = atomic_load(&to_journal);
        cg_logline_begin(&dl, d, sizeof d, (cg_log_format)atomic_load(&line_format),
                         journal ? journal_prio[CG_LOG_WARN] : -1, journal ? NULL : ts, "warn", "log_dropped");
        cg_logline_uint(&dl, "lines", L.dropped);
        size_t k = cg_logline_end(&dl);
        if (L.fill_len + k <= QUEUE_CAP) {
            memcpy(L.fill + L.fill_len, d, k);
            L.fill_len += k;
            L.dropped = 0;
        }
    }
    if (L.fill_len + len <= QUEUE_CAP) {
        memcpy(L.fill + L.fill_len, line, len);
        L.fill_len += len;
        pthread_cond_signal(&L.wake);
    } else {
        L.dropped++;
    }
    pthread_mutex_unlock(&L.lock);
}

void cg_log(cg_log_level level, const char *event, const char *fmt, ...)
{
    if (!cg_log_enabled(level))
        return;
    char fields[LINE_MAX_BYTES], line[LINE_MAX_BYTES], ts[48];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);
    size_t n = m < 0 ? 0 : (size_t)m >= sizeof fields ? sizeof fields - 1 : (size_t)m;
    cg_logline l;
    begin_line(&l, line, sizeof line, level, event, ts, sizeof ts);
    cg_logline_fields(&l, fields, n, fmt);
    if (m >= 0 && (size_t)m >= sizeof fields)
        l.cut = true;
    size_t len = cg_logline_end(&l);
    enqueue(line, len, ts);
}

void cg_log_kv(cg_log_level level, const char *event, const cg_log_field *f, size_t n)
{
    if (!cg_log_enabled(level))
        return;
    char line[LINE_MAX_BYTES], ts[48];
    cg_logline l;
    begin_line(&l, line, sizeof line, level, event, ts, sizeof ts);
    for (size_t i = 0; i < n; i++) {
        switch (f[i].type) {
        case CG_LOGF_STR: {
            const char *s = f[i].v.s;
            cg_logline_str(&l, f[i].key, s, !s ? 0 : f[i].n == CG_LOG_STRLEN ? strlen(s) : f[i].n);
            break;
        }
        case CG_LOGF_UINT:
            cg_logline_uint(&l, f[i].key, f[i].v.u);
            break;
        case CG_LOGF_INT:
            cg_logline_int(&l, f[i].key, f[i].v.i);
            break;
        case CG_LOGF_BOOL:
            cg_logline_bool(&l, f[i].key, f[i].v.b);
            break;
        case CG_LOGF_MS:
            cg_logline_fixed3(&l, f[i].key, f[i].v.d);
            break;
        }
    }
    size_t len = cg_logline_end(&l);
    enqueue(line, len, ts);
}

char *cg_log_quote(char *out, size_t cap, const char *s, size_t n)
{
    cg_logfmt_value(out, cap, s, n);
    return out;
}
