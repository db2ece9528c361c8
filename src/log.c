#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void cg_log(cg_log_level level, const char *event, const char *fmt, ...)
{
    if (!cg_log_enabled(level))
        return;
    char line[16384]; /* a request line with a long subject DN fits */
    char ts[48];
    format_ts(ts, sizeof ts);
    int n = snprintf(line, sizeof line, "ts=%s level=%s event=%s ", ts, level_names[level], event);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len >= sizeof line - 1) {
        len = sizeof line - 5;
        memcpy(line + len, "...", 3); /* truncated; still one line */
        len += 3;
    }
    while (len > 0 && line[len - 1] == ' ')
        len--;
    line[len++] = '\n';

    pthread_mutex_lock(&L.lock);
    if (!L.running) {
        pthread_mutex_unlock(&L.lock);
        write_all(L.fd, line, len); /* before open / after close: direct */
        return;
    }
    if (L.dropped && L.fill_len + 128 < QUEUE_CAP) {
        int k = snprintf(L.fill + L.fill_len, 128, "ts=%s level=warn event=log_dropped lines=%lu\n", ts,
                         L.dropped);
        if (k > 0)
            L.fill_len += (size_t)k;
        L.dropped = 0;
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

static bool safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '/' || c == ':' || c == '@' || c == '+' || c == ',' || c == '[' ||
           c == ']' || c == '%' || c == '~' || c == '*' || c == '!' || c == '$' || c == '(' || c == ')' ||
           c == ';' || c == '&' || c == '?';
}

char *cg_log_quote(char *out, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return out;
    bool bare = n > 0;
    for (size_t i = 0; i < n && bare; i++)
        bare = safe_char((unsigned char)s[i]);
    size_t o = 0;
    if (bare) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(out, s, k);
        out[k] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o + 1 < cap)
        out[o++] = '"';
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}
