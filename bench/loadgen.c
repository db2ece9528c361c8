/*
 * cg-loadgen: an HTTP/1.1 load generator that presents a TLS client
 * certificate (mbedTLS 3.6 client on libuv). Generic tools (wrk, ab, h2load)
 * cannot, and certgate refuses clients without one. Benchmark tool, not a
 * test: see bench/README.md.
 *
 *   cg-loadgen --url https://127.0.0.1:8443/ --cacert root.crt \
 *              --cert alice.crt --key alice.key \
 *              [--connections 64] [--duration 10 | --requests N] \
 *              [--mode keepalive|new|resume] [--tls13] [--threads N] [--json]
 *   cg-loadgen --url ... --idle 1000 --hold 10 [--ready-file F]
 *   cg-loadgen --url http://127.0.0.1:8080/     (plain TCP, same code path)
 *   cg-loadgen --url https://... --h2 16 [--connections 4]   (HTTP/2, ALPN h2)
 *
 * Only loopback targets (127.0.0.0/8, ::1, "localhost") are accepted, and
 * every run is bounded in time (--max-time caps the whole run).
 *
 * Design: one libuv loop per thread; each connection slot loops
 * connect -> [TLS handshake] -> GET -> parse response -> (next GET | close
 * and reconnect). mbedTLS reads from the bytes of the current uv read
 * callback (custom BIO; MBEDTLS_ERR_SSL_WANT_READ when they are used up) and
 * writes with uv_try_write, queueing the remainder with uv_write. Responses
 * are parsed incrementally (status line, headers, Content-Length, chunked or
 * read-until-close bodies) and bodies are counted, never stored, so a 100 MB
 * response costs no memory. Latencies go into a log-linear histogram
 * (64 sub-buckets per power of two: < 1.6 % error).
 *
 * --h2 N: HTTP/2 over the same TLS connections (ALPN h2; h2load presents no
 * client certificate): libnghttp2's client session with memory I/O, N
 * streams in flight per keep-alive connection, each answered stream
 * replaced by a new one; latency is per stream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#define HEAD_MAX   (32 * 1024)   /* largest response head accepted */
#define RBUF_SIZE  (64 * 1024)   /* one uv read */
#define PLAIN_SIZE (16 * 1024)   /* one mbedtls_ssl_read */
#define RETRY_MS   10            /* pause before reconnecting after an error */
#define MAX_WATCH  16            /* --watch-pid: processes sampled at most */

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

enum { MODE_KEEPALIVE, MODE_NEW, MODE_RESUME };
static const char *const mode_names[] = {"keepalive", "new", "resume"};

static struct {
    const char *url, *cacert, *cert, *key, *server_name, *ready_file, *release_file;
    bool tls;
    bool tls13;           /* --tls13: TLS 1.3 only (default: TLS 1.2 only) */
    char host[256];
    int port;
    char path[2048];
    struct sockaddr_storage addr;
    int connections;
    double duration;      /* seconds; 0 = use --requests */
    uint64_t requests;    /* 0 = use --duration */
    int mode;
    int idle;             /* > 0: idle mode */
    double hold;
    int threads;
    double timeout;       /* per request (including connect + handshake) */
    double max_time;      /* whole run */
    double warmup;        /* --duration: seconds run before measuring */
    double rate;          /* keepalive: requests per second offered in all (0 = as fast as possible) */
    int nwatch;
    long watch_pid[MAX_WATCH]; /* processes whose CPU time and RSS are sampled */
    bool json;
    char *request;        /* the request bytes */
    size_t request_len;
    int h2_streams;       /* > 0: HTTP/2 with this many streams in flight per connection */
    char authority[300];  /* HTTP/2 :authority */
} opt = {
    .connections = 0, .duration = 0, .mode = MODE_KEEPALIVE, .threads = 1,
    .timeout = 10, .max_time = 0, .hold = 10,
};

static atomic_uint_fast64_t requests_reserved; /* --requests: handed out so far */

/* --watch-pid: CPU time (utime + stime) and VmRSS of other processes (the
 * server under test) at the start and the end of the measured interval, so
 * that "server CPU per request" excludes warm-up and the process start-up. */
typedef struct {
    double cpu0, cpu1;
    long rss0, rss1;
    bool ok0, ok1;
} watch_sample;
static watch_sample watch[MAX_WATCH];
static struct rusage ru_start; /* own CPU: from the end of the warm-up */

static bool proc_sample(long pid, double *cpu_s, long *rss_kb)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return false;
    unsigned long long ut = 0, st = 0;
    /* after ")": field 3 (state) ... field 14 utime, 15 stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return false;
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *rss_kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) != NULL) {
        while (fgets(buf, sizeof buf, f))
            if (strncmp(buf, "VmRSS:", 6) == 0) {
                *rss_kb = strtol(buf + 6, NULL, 10);
                break;
            }
        fclose(f);
    }
    return true;
}

static void watch_start(void)
{
    for (int i = 0; i < opt.nwatch; i++)
        watch[i].ok0 = proc_sample(opt.watch_pid[i], &watch[i].cpu0, &watch[i].rss0);
}

static void watch_end(void)
{
    for (int i = 0; i < opt.nwatch; i++)
        if (!watch[i].ok1)
            watch[i].ok1 = proc_sample(opt.watch_pid[i], &watch[i].cpu1, &watch[i].rss1);
}

/* ------------------------------------------------------------------------ */
/* Latency histogram                                                        */

#define H_SUB  64
#define H_ROWS 40 /* row 0: 0..63 us exact; row r >= 1: [2^(r+5), 2^(r+6)) */

typedef struct {
    uint64_t count, max, sum;
    uint64_t b[H_ROWS][H_SUB];
} hist;

static void hist_add(hist *h, uint64_t us)
{
    h->count++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
    if (us < H_SUB) {
        h->b[0][us]++;
        return;
    }
    int e = 63 - __builtin_clzll(us); /* >= 6 */
    int row = e - 5;
    if (row >= H_ROWS) {
        h->b[H_ROWS - 1][H_SUB - 1]++;
        return;
    }
    h->b[row][(us >> (e - 6)) - H_SUB]++;
}

static void hist_merge(hist *dst, const hist *src)
{
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
    for (int r = 0; r < H_ROWS; r++)
        for (int s = 0; s < H_SUB; s++)
            dst->b[r][s] += src->b[r][s];
}

/* Value (us) at quantile q: the midpoint of the bucket that holds it. */
static uint64_t hist_q(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t target = (uint64_t)(q * (double)h->count + 0.999999);
    if (target < 1)
        target = 1;
    uint64_t seen = 0;
    for (int r = 0; r < H_ROWS; r++)
        for (int s = 0; s < H_SUB; s++) {
            seen += h->b[r][s];
            if (seen >= target) {
                uint64_t v;
                if (r == 0)
                    v = (uint64_t)s;
                else {
                    int shift = r - 1; /* e - 6 */
                    uint64_t lo = ((uint64_t)(s + H_SUB)) << shift;
                    v = lo + ((1ull << shift) >> 1);
                }
                return v > h->max ? h->max : v;
            }
        }
    return h->max;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */

enum {
    E_CONNECT,   /* TCP connect failed */
    E_HANDSHAKE, /* TLS handshake failed (alert, verify, EOF during it) */
    E_TLS,       /* TLS error after the handshake */
    E_IO,        /* read/write error (ECONNRESET, EPIPE, ...) */
    E_EOF,       /* connection closed in the middle of a response */
    E_EOF_IDLE,  /* reused connection closed before any byte of the response */
    E_TIMEOUT,   /* no complete response within --timeout */
    E_PARSE,     /* malformed response */
    E_STATUS,    /* complete response with a status other than 2xx */
    E_IDLE_LOST, /* --idle: connection closed by the peer while held */
    E_COUNT
};
static const char *const err_names[E_COUNT] = {
    "connect", "handshake", "tls", "io", "eof", "eof_idle", "timeout", "parse", "status", "idle_lost",
};

typedef struct {
    uint64_t responses;       /* complete responses, any status */
    uint64_t status[6];       /* [1..5] by class, [0] other */
    uint64_t err[E_COUNT];
    char err_msg[E_COUNT][160]; /* first message of each kind */
    uint64_t bytes_in, bytes_out, body_bytes;
    uint64_t connects, hs_full, hs_resumed;
    uint64_t idle_held, idle_open_end;
    hist lat, hs_lat;
} stats;

/* ------------------------------------------------------------------------ */
/* Response parser                                                          */

enum {
    P_HEAD, P_BODY_CL, P_BODY_EOF,
    P_CHUNK_SIZE, P_CHUNK_EXT, P_CHUNK_SIZE_LF, P_CHUNK_DATA, P_CHUNK_DATA_CR, P_CHUNK_DATA_LF,
    P_TRAILER_START, P_TRAILER_LINE, P_TRAILER_END_LF, P_DONE,
};
enum { PR_MORE = 0, PR_DONE = 1, PR_ERR = -1 };

typedef struct {
    int st;
    char *head;
    size_t head_len;
    uint64_t remaining;
    int digits;
    int status;
    bool keepalive;
    uint64_t body;
    const char *err;
} rparser;

static void rp_reset(rparser *p)
{
    p->st = P_HEAD;
    p->head_len = 0;
    p->remaining = 0;
    p->digits = 0;
    p->status = 0;
    p->keepalive = false;
    p->body = 0;
    p->err = NULL;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

/* Last transfer coding is "chunked"? */
static bool last_token_is(const char *v, size_t n, const char *tok)
{
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    size_t s = n;
    while (s > 0 && v[s - 1] != ',')
        s--;
    while (s < n && (v[s] == ' ' || v[s] == '\t'))
        s++;
    size_t tl = strlen(tok);
    return n - s == tl && strncasecmp(v + s, tok, tl) == 0;
}

/* 0: final head parsed (p->st set); 1: interim (1xx) response; -1: error. */
static int rp_parse_head(rparser *p)
{
    const char *h = p->head, *end = p->head + p->head_len - 2; /* before the last CRLF */
    if (p->head_len < 14 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ') {
        p->err = "bad status line";
        return -1;
    }
    bool http11 = h[7] == '1';
    if (h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9' ||
        (h[12] != ' ' && h[12] != '\r')) {
        p->err = "bad status code";
        return -1;
    }
    p->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    const char *line = memchr(h, '\n', (size_t)(end - h));
    if (!line) {
        p->err = "bad status line";
        return -1;
    }
    line++;
    bool have_cl = false, chunked = false, conn_close = false, conn_ka = false;
    uint64_t cl = 0;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line) + 1);
        if (!eol) {
            p->err = "bad header line";
            return -1;
        }
        const char *le = eol;
        if (le > line && le[-1] == '\r')
            le--;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (!colon || colon == line) {
            p->err = "bad header line";
            return -1;
        }
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        size_t vl = (size_t)(le - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t x = 0;
            size_t i = 0;
            for (; i < vl && v[i] >= '0' && v[i] <= '9'; i++) {
                if (x > UINT64_MAX / 10 - 10) {
                    p->err = "Content-Length too large";
                    return -1;
                }
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            while (i < vl && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (i == 0 || i != vl || (have_cl && x != cl)) {
                p->err = "bad Content-Length";
                return -1;
            }
            have_cl = true;
            cl = x;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            chunked = last_token_is(v, vl, "chunked");
            if (!chunked) {
                p->err = "unsupported Transfer-Encoding";
                return -1;
            }
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            conn_close |= has_token(v, vl, "close");
            conn_ka |= has_token(v, vl, "keep-alive");
        }
        line = eol + 1;
    }
    if (p->status >= 100 && p->status < 200 && p->status != 101)
        return 1;
    if (p->status == 101) {
        p->err = "unexpected 101";
        return -1;
    }
    p->keepalive = http11 ? !conn_close : (conn_ka && !conn_close);
    if (p->status == 204 || p->status == 304)
        p->st = P_DONE;
    else if (chunked) {
        p->st = P_CHUNK_SIZE;
        p->remaining = 0;
        p->digits = 0;
    } else if (have_cl) {
        p->st = cl == 0 ? P_DONE : P_BODY_CL;
        p->remaining = cl;
    } else {
        p->st = P_BODY_EOF;
        p->keepalive = false;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#define RP_FAIL(msg) do { p->err = (msg); return PR_ERR; } while (0)

/* Feeds n bytes; *used: bytes consumed (all of them unless PR_DONE). */
static int rp_feed(rparser *p, const char *d, size_t n, size_t *used)
{
    size_t i = 0;
    *used = 0;
    while (i < n) {
        switch (p->st) {
        case P_HEAD: {
            size_t old = p->head_len, take = n - i;
            if (take > HEAD_MAX - old)
                take = HEAD_MAX - old;
            memcpy(p->head + old, d + i, take);
            p->head_len += take;
            size_t from = old >= 3 ? old - 3 : 0;
            const char *e = memmem(p->head + from, p->head_len - from, "\r\n\r\n", 4);
            if (!e) {
                if (p->head_len == HEAD_MAX)
                    RP_FAIL("response head too large");
                i += take;
                break;
            }
            size_t hl = (size_t)(e - p->head) + 4;
            i += hl - old;
            p->head_len = hl;
            int r = rp_parse_head(p);
            if (r < 0)
                return PR_ERR;
            if (r == 1) { /* 1xx: the final response follows */
                p->head_len = 0;
                break;
            }
            if (p->st == P_DONE) {
                *used = i;
                return PR_DONE;
            }
            break;
        }
        case P_BODY_CL: {
            uint64_t take = n - i;
            if (take > p->remaining)
                take = p->remaining;
            p->body += take;
            p->remaining -= take;
            i += (size_t)take;
            if (p->remaining == 0) {
                p->st = P_DONE;
                *used = i;
                return PR_DONE;
            }
            break;
        }
        case P_BODY_EOF:
            p->body += n - i;
            i = n;
            break;
        case P_CHUNK_SIZE: {
            char c = d[i++];
            int v = hexval(c);
            if (v >= 0) {
                if (p->digits >= 15)
                    RP_FAIL("chunk size too large");
                p->remaining = p->remaining * 16 + (uint64_t)v;
                p->digits++;
            } else if (p->digits == 0)
                RP_FAIL("bad chunk size");
            else if (c == ';' || c == ' ' || c == '\t')
                p->st = P_CHUNK_EXT;
            else if (c == '\r')
                p->st = P_CHUNK_SIZE_LF;
            else if (c == '\n')
                p->st = p->remaining ? P_CHUNK_DATA : P_TRAILER_START;
            else
                RP_FAIL("bad chunk size");
            break;
        }
        case P_CHUNK_EXT: {
            const char *nl = memchr(d + i, '\n', n - i);
            if (!nl) {
                i = n;
                break;
            }
            i = (size_t)(nl - d) + 1;
            p->st = p->remaining ? P_CHUNK_DATA : P_TRAILER_START;
            break;
        }
        case P_CHUNK_SIZE_LF:
            if (d[i++] != '\n')
                RP_FAIL("bad chunk size line");
            p->st = p->remaining ? P_CHUNK_DATA : P_TRAILER_START;
            break;
        case P_CHUNK_DATA: {
            uint64_t take = n - i;
            if (take > p->remaining)
                take = p->remaining;
            p->body += take;
            p->remaining -= take;
            i += (size_t)take;
            if (p->remaining == 0)
                p->st = P_CHUNK_DATA_CR;
            break;
        }
        case P_CHUNK_DATA_CR: {
            char c = d[i++];
            if (c == '\r')
                p->st = P_CHUNK_DATA_LF;
            else if (c == '\n')
                p->st = P_CHUNK_SIZE, p->digits = 0;
            else
                RP_FAIL("missing CRLF after chunk data");
            break;
        }
        case P_CHUNK_DATA_LF:
            if (d[i++] != '\n')
                RP_FAIL("missing CRLF after chunk data");
            p->st = P_CHUNK_SIZE;
            p->digits = 0;
            p->remaining = 0;
            break;
        case P_TRAILER_START: {
            char c = d[i++];
            if (c == '\r')
                p->st = P_TRAILER_END_LF;
            else if (c == '\n') {
                p->st = P_DONE;
                *used = i;
                return PR_DONE;
            } else
                p->st = P_TRAILER_LINE;
            break;
        }
        case P_TRAILER_LINE: {
            const char *nl = memchr(d + i, '\n', n - i);
            if (!nl) {
                i = n;
                break;
            }
            i = (size_t)(nl - d) + 1;
            p->st = P_TRAILER_START;
            break;
        }
        case P_TRAILER_END_LF:
            if (d[i++] != '\n')
                RP_FAIL("bad end of trailers");
            p->st = P_DONE;
            *used = i;
            return PR_DONE;
        case P_DONE:
        default:
            *used = i;
            return PR_DONE;
        }
    }
    *used = i;
    return PR_MORE;
}

/* ------------------------------------------------------------------------ */
/* Connections and workers                                                  */

enum { C_FREE, C_CONNECTING, C_HANDSHAKE, C_WAIT_RESPONSE, C_HOLD, C_CLOSING, C_RETRY_WAIT, C_PACE, C_DONE };

struct worker;

typedef struct conn {
    struct worker *w;
    int idx;
    int state;
    bool held;           /* idle mode: reached the idle state */
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;    /* request timeout, retry delay, --rate pacing */
    uint64_t t_due;      /* --rate: when this connection may send its next request (us) */
    bool tcp_open;       /* tcp handle initialised and not yet closed */
    bool eof;
    bool closed_with_error;
    bool full_hs;
    bool ssl_ready;
    mbedtls_ssl_context ssl;
    rparser p;
    bool got_bytes;      /* current request has seen response bytes */
    uint64_t t_conn, t_req;
    unsigned reqs_on_conn;
    /* --h2 */
    nghttp2_session *h2;
    struct h2_req *h2_reqs; /* opt.h2_streams slots */
    int h2_open;            /* streams in flight */
    bool h2_first;          /* the first stream uses the request slot_start reserved */
} conn;

/* One HTTP/2 stream in flight (the stream's user data). */
typedef struct h2_req {
    bool used;
    int status;
    uint64_t t, body;
} h2_req;

typedef struct worker {
    int idx;
    uv_loop_t loop;
    uv_timer_t deadline, hold_timer, warm_timer;
    bool warming;
    pthread_t th;
    bool stopping;
    conn *conns;
    int nconns;
    int active;          /* slots that have not finished */
    /* the bytes of the current read callback (drained by mbedTLS or the parser) */
    unsigned char *rbuf;
    size_t r_off, r_len;
    conn *r_owner;
    unsigned char *plain;
    /* TLS */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_config conf_ticket; /* --tls13 --mode resume: conf, and TLS 1.3 tickets signalled */
    bool ticket_conf;                /* conf_ticket was set up */
    mbedtls_x509_crt ca, cert;
    mbedtls_pk_context key;
    mbedtls_ssl_session session;
    bool have_session;
    char ciphersuite[96];
    /* idle mode */
    int idle_next, idle_settled;
    uint64_t t_ready, t_hold0;
    /* timing */
    uint64_t t0, t_end, t_last_done;
    stats st;
} worker;

static int ciphersuites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256, /* --tls13 (a TLS 1.2 client ignores them) */
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};
static const uint16_t groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cg-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static uint64_t now_us(worker *w)
{
    uv_update_time(&w->loop);
    return uv_hrtime() / 1000;
}

static void note_err(worker *w, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note_err(worker *w, int kind, const char *fmt, ...)
{
    w->st.err[kind]++;
    if (w->st.err_msg[kind][0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->st.err_msg[kind], sizeof w->st.err_msg[kind], fmt, ap);
        va_end(ap);
        if (w->st.err_msg[kind][0] == '\0')
            snprintf(w->st.err_msg[kind], sizeof w->st.err_msg[kind], "%s", err_names[kind]);
    }
}

static const char *tls_err(int e, char *buf, size_t n)
{
    mbedtls_strerror(e, buf, n);
    return buf;
}

static void slot_start(conn *c);
static void conn_close(conn *c, bool error);
static void worker_stop(worker *w);
static void send_request(conn *c);
static void next_request(conn *c);
static void h2_feed(conn *c, const unsigned char *d, size_t n);

static void on_hold_done(uv_timer_t *t)
{
    worker_stop(t->data);
}

/* --release-file: the hold ends when the file exists, or after --hold. */
static void on_hold_tick(uv_timer_t *t)
{
    worker *w = t->data;
    if (access(opt.release_file, F_OK) == 0 || now_us(w) - w->t_hold0 >= (uint64_t)(opt.hold * 1e6))
        worker_stop(w);
}

static void start_hold(worker *w)
{
    if (opt.release_file) {
        w->t_hold0 = now_us(w);
        uv_timer_start(&w->hold_timer, on_hold_tick, 50, 50);
    } else
        uv_timer_start(&w->hold_timer, on_hold_done, (uint64_t)(opt.hold * 1000), 0);
}

/* Can this slot begin another request? Reserves it (--requests). */
static bool reserve_request(worker *w)
{
    if (w->stopping)
        return false;
    if (opt.requests == 0)
        return true;
    return atomic_fetch_add(&requests_reserved, 1) < opt.requests;
}

static void slot_finished(conn *c)
{
    worker *w = c->w;
    c->state = C_DONE;
    if (--w->active == 0 && !w->stopping) {
        w->t_end = w->t_last_done ? w->t_last_done : now_us(w);
        worker_stop(w);
    }
}

/* --- writing -------------------------------------------------------------- */

typedef struct {
    uv_write_t req;
    char data[];
} wreq;

static void on_write(uv_write_t *req, int status)
{
    conn *c = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED && c->tcp_open && c->state != C_CLOSING) {
        note_err(c->w, E_IO, "write: %s", uv_strerror(status));
        conn_close(c, true);
    }
}

/* Writes everything: now if the socket takes it, the rest queued. */
static int conn_write(conn *c, const unsigned char *buf, size_t len)
{
    size_t off = 0;
    if (c->tcp.write_queue_size == 0) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r >= 0)
            off = (size_t)r;
        else if (r != UV_EAGAIN && r != UV_ENOSYS)
            return r;
    }
    if (off < len) {
        size_t rem = len - off;
        wreq *wr = malloc(sizeof *wr + rem);
        if (!wr)
            return UV_ENOMEM;
        memcpy(wr->data, buf + off, rem);
        wr->req.data = c;
        uv_buf_t b = uv_buf_init(wr->data, (unsigned)rem);
        int r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (r < 0) {
            free(wr);
            return r;
        }
    }
    c->w->st.bytes_out += len;
    return 0;
}

/* --- mbedTLS BIO ---------------------------------------------------------- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    conn *c = ctx;
    if (!c->tcp_open)
        return MBEDTLS_ERR_NET_CONN_RESET;
    int r = conn_write(c, buf, len);
    if (r < 0)
        return MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    conn *c = ctx;
    worker *w = c->w;
    if (w->r_owner != c || w->r_off == w->r_len)
        return c->eof ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = w->r_len - w->r_off;
    if (n > len)
        n = len;
    memcpy(buf, w->rbuf + w->r_off, n);
    w->r_off += n;
    return (int)n;
}

/* --- responses ------------------------------------------------------------ */

static void response_done(conn *c, bool leftover)
{
    worker *w = c->w;
    uint64_t t = now_us(w);
    uv_timer_stop(&c->timer);
    w->st.responses++;
    w->st.body_bytes += c->p.body;
    int cls = c->p.status / 100;
    w->st.status[cls >= 1 && cls <= 5 ? cls : 0]++;
    if (cls != 2)
        note_err(w, E_STATUS, "HTTP status %d", c->p.status);
    hist_add(&w->st.lat, t - c->t_req);
    w->t_last_done = t;
    c->reqs_on_conn++;
    if (leftover) {
        note_err(w, E_PARSE, "unexpected bytes after the response");
        conn_close(c, true);
        return;
    }
    if (opt.idle > 0) {
        c->state = C_HOLD;
        c->held = true;
        w->st.idle_held++;
        w->idle_settled++;
        /* the next slot */
        if (w->idle_next < w->nconns)
            slot_start(&w->conns[w->idle_next++]);
        if (w->idle_settled == w->nconns && !w->stopping) {
            w->t_ready = t;
            watch_end();
            uv_timer_stop(&w->deadline);
            if (opt.ready_file) {
                char tmp[4096];
                snprintf(tmp, sizeof tmp, "%s.tmp", opt.ready_file);
                FILE *f = fopen(tmp, "w");
                if (f) {
                    fprintf(f, "%" PRIu64 "\n", w->st.idle_held);
                    fclose(f);
                    rename(tmp, opt.ready_file);
                }
            }
            fprintf(stderr, "cg-loadgen: %" PRIu64 " idle connections established, holding %.1f s\n",
                    w->st.idle_held, opt.hold);
            start_hold(w);
        }
        return;
    }
    if (opt.mode == MODE_KEEPALIVE && c->p.keepalive && !w->stopping) {
        next_request(c);
        return;
    }
    conn_close(c, false); /* new/resume: the next request on a new connection */
}

static void feed_plain(conn *c, const unsigned char *d, size_t n)
{
    size_t used;
    if (n > 0)
        c->got_bytes = true;
    int r = rp_feed(&c->p, (const char *)d, n, &used);
    if (r == PR_ERR) {
        note_err(c->w, E_PARSE, "%s", c->p.err ? c->p.err : "parse error");
        conn_close(c, true);
    } else if (r == PR_DONE)
        response_done(c, used < n);
}

static void response_eof(conn *c)
{
    if (c->h2) {
        if (c->h2_open)
            note_err(c->w, E_EOF, "connection closed with %d HTTP/2 streams open", c->h2_open);
        conn_close(c, c->h2_open > 0);
        return;
    }
    if (c->p.st == P_BODY_EOF) {
        c->p.st = P_DONE;
        response_done(c, false);
        return;
    }
    if (!c->got_bytes && c->reqs_on_conn > 0)
        note_err(c->w, E_EOF_IDLE, "reused connection closed before the response");
    else
        note_err(c->w, E_EOF, "connection closed mid-response (%s)", c->got_bytes ? "partial" : "no bytes");
    conn_close(c, true);
}

/* --mode resume: the session of the first full handshake (and of each full
 * one after a failed resumption) is the one every connection resumes. */
static void keep_session(conn *c)
{
    worker *w = c->w;
    if (opt.mode != MODE_RESUME || (w->have_session && !c->full_hs))
        return;
    if (w->have_session)
        mbedtls_ssl_session_free(&w->session);
    mbedtls_ssl_session_init(&w->session);
    w->have_session = mbedtls_ssl_get_session(&c->ssl, &w->session) == 0;
}

/* Drains the current read buffer through mbedTLS into the parser. */
static void read_tls_response(conn *c)
{
    worker *w = c->w;
    for (;;) {
        int n = mbedtls_ssl_read(&c->ssl, w->plain, PLAIN_SIZE);
        if (n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            keep_session(c); /* TLS 1.3 (--tls13 asks mbedTLS to signal them) */
            continue;
        }
        if (n > 0) {
            int st = c->state;
            if (c->h2)
                h2_feed(c, w->plain, (size_t)n);
            else
                feed_plain(c, w->plain, (size_t)n);
            if (c->state != st || c->state != C_WAIT_RESPONSE)
                return; /* done (maybe already sent the next request) or closed */
            /* a new request may have been sent on the same connection: fine */
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || n == MBEDTLS_ERR_SSL_CONN_EOF ||
            n == MBEDTLS_ERR_NET_CONN_RESET) {
            if (n == MBEDTLS_ERR_NET_CONN_RESET) {
                note_err(w, E_IO, "connection reset");
                conn_close(c, true);
                return;
            }
            response_eof(c);
            return;
        }
        char e[128];
        note_err(w, E_TLS, "mbedtls_ssl_read: -0x%04x %s", (unsigned)-n, tls_err(n, e, sizeof e));
        conn_close(c, true);
        return;
    }
}

static void on_timeout(uv_timer_t *t);

/* --- HTTP/2 (--h2) --------------------------------------------------------- */

static void h2_submit(conn *c);

/* Hands what nghttp2 has to send to TLS. */
static bool h2_flush(conn *c)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            note_err(c->w, E_PARSE, "nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
            conn_close(c, true);
            return false;
        }
        if (n == 0)
            return true;
        size_t off = 0;
        while (off < (size_t)n) {
            int r = mbedtls_ssl_write(&c->ssl, data + off, (size_t)n - off);
            if (r < 0) {
                char e[128];
                note_err(c->w, E_TLS, "mbedtls_ssl_write: %s", tls_err(r, e, sizeof e));
                conn_close(c, true);
                return false;
            }
            off += (size_t)r;
        }
    }
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags, (void)user;
    h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (r && f->hd.type == NGHTTP2_HEADERS && nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3)
        r->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
    (void)flags, (void)data, (void)user;
    h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r)
        r->body += len;
    return 0;
}

/* A stream ended: counted like an HTTP/1.1 response; a new one replaces it. */
static int h2_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    conn *c = user;
    worker *w = c->w;
    h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (!r)
        return 0;
    uint64_t t = now_us(w);
    r->used = false;
    c->h2_open--;
    c->got_bytes = false;
    if (error_code != NGHTTP2_NO_ERROR || r->status == 0) {
        note_err(w, E_PARSE, "stream %d reset: %s", (int)id, nghttp2_http2_strerror(error_code));
    } else {
        w->st.responses++;
        w->st.body_bytes += r->body;
        int cls = r->status / 100;
        w->st.status[cls >= 1 && cls <= 5 ? cls : 0]++;
        if (cls != 2)
            note_err(w, E_STATUS, "HTTP status %d", r->status);
        hist_add(&w->st.lat, t - r->t);
        w->t_last_done = t;
        c->reqs_on_conn++;
    }
    uv_timer_start(&c->timer, on_timeout, (uint64_t)(opt.timeout * 1000), 0);
    if (!w->stopping && reserve_request(w))
        h2_submit(c);
    return 0;
}

/* A new stream: GET of the URL's path. */
static void h2_submit(conn *c)
{
    h2_req *r = NULL;
    for (int i = 0; i < opt.h2_streams && !r; i++)
        if (!c->h2_reqs[i].used)
            r = &c->h2_reqs[i];
    if (!r)
        return;
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }
    nghttp2_nv nv[] = {
        NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", opt.authority), NV(":path", opt.path),
        NV("user-agent", "cg-loadgen"), NV("accept", "*/*"),
    };
#undef NV
    *r = (h2_req){ .used = true, .t = now_us(c->w) };
    if (nghttp2_submit_request(c->h2, NULL, nv, sizeof nv / sizeof nv[0], NULL, r) < 0) {
        r->used = false;
        note_err(c->w, E_PARSE, "nghttp2_submit_request failed");
        return;
    }
    c->h2_open++;
}

/* The handshake agreed on h2: the session, and --h2 streams at once (the
 * first on the request slot_start reserved). */
static void h2_start(conn *c)
{
    worker *w = c->w;
    const char *alpn = mbedtls_ssl_get_alpn_protocol(&c->ssl);
    if (!alpn || strcmp(alpn, "h2") != 0) {
        note_err(w, E_HANDSHAKE, "the server did not agree on ALPN h2 (%s)", alpn ? alpn : "no ALPN");
        conn_close(c, true);
        return;
    }
    if (!c->h2_reqs && !(c->h2_reqs = calloc((size_t)opt.h2_streams, sizeof *c->h2_reqs)))
        die("out of memory");
    memset(c->h2_reqs, 0, (size_t)opt.h2_streams * sizeof *c->h2_reqs);
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        die("out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_close);
    int rv = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0)
        die("nghttp2_session_client_new: %s", nghttp2_strerror(rv));
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 8 << 20);
    c->state = C_WAIT_RESPONSE;
    c->h2_open = 0;
    h2_submit(c);
    for (int i = 1; i < opt.h2_streams && reserve_request(w); i++)
        h2_submit(c);
    uv_timer_start(&c->timer, on_timeout, (uint64_t)(opt.timeout * 1000), 0);
    h2_flush(c);
}

/* Plaintext from the server: frames into the session, then what it answers. */
static void h2_feed(conn *c, const unsigned char *d, size_t n)
{
    c->got_bytes = true;
    ssize_t r = nghttp2_session_mem_recv(c->h2, d, n);
    if (r < 0) {
        note_err(c->w, E_PARSE, "nghttp2_session_mem_recv: %s", nghttp2_strerror((int)r));
        conn_close(c, true);
        return;
    }
    if (!h2_flush(c))
        return;
    if (c->h2_open == 0) /* nothing left to ask (--requests reached, or stopping) */
        conn_close(c, false);
    else if (!nghttp2_session_want_read(c->h2)) {
        note_err(c->w, E_EOF, "the server ended the HTTP/2 session (GOAWAY) with %d streams open", c->h2_open);
        conn_close(c, true);
    }
}

static void h2_end(conn *c)
{
    if (c->h2) {
        nghttp2_session_del(c->h2);
        c->h2 = NULL;
    }
    c->h2_open = 0;
}

/* --- requests ------------------------------------------------------------- */

/* The next request on a keep-alive connection. With --rate, every connection
 * sends at most rate/connections requests per second: the request goes when
 * it is due, or the connection waits (C_PACE) until then. A connection that
 * fell behind by more than one interval starts its schedule again rather than
 * catching up in a burst. */
static void next_request(conn *c)
{
    if (opt.rate <= 0) {
        send_request(c);
        return;
    }
    worker *w = c->w;
    uint64_t now = now_us(w);
    uint64_t iv = (uint64_t)(1e6 * (double)opt.connections / opt.rate);
    if (c->t_due == 0 || now > c->t_due + iv)
        c->t_due = now;
    if (now + 100 >= c->t_due) {
        c->t_due += iv;
        send_request(c);
        return;
    }
    c->state = C_PACE;
    uv_timer_start(&c->timer, on_timeout, (c->t_due - now + 999) / 1000, 0);
}

static void send_request(conn *c)
{
    worker *w = c->w;
    if (opt.mode == MODE_KEEPALIVE || opt.idle > 0) {
        if (c->reqs_on_conn > 0 && !reserve_request(w)) {
            conn_close(c, false);
            return;
        }
        c->t_req = now_us(w);
        uv_timer_start(&c->timer, on_timeout, (uint64_t)(opt.timeout * 1000), 0);
    }
    rp_reset(&c->p);
    c->got_bytes = false;
    c->state = C_WAIT_RESPONSE;
    if (opt.tls) {
        size_t off = 0;
        while (off < opt.request_len) {
            int r = mbedtls_ssl_write(&c->ssl, (const unsigned char *)opt.request + off, opt.request_len - off);
            if (r < 0) {
                char e[128];
                note_err(w, E_TLS, "mbedtls_ssl_write: %s", tls_err(r, e, sizeof e));
                conn_close(c, true);
                return;
            }
            off += (size_t)r;
        }
    } else {
        int r = conn_write(c, (const unsigned char *)opt.request, opt.request_len);
        if (r < 0) {
            note_err(w, E_IO, "write: %s", uv_strerror(r));
            conn_close(c, true);
        }
    }
}

/* The server's chain is verified in full handshakes only: a resumed one
 * skips the certificates. */
static int saw_server_chain(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)crt, (void)depth, (void)flags;
    ((conn *)p)->full_hs = true;
    return 0;
}

static void drive_handshake(conn *c)
{
    worker *w = c->w;
    while (!mbedtls_ssl_is_handshake_over(&c->ssl)) {
        int r = mbedtls_ssl_handshake_step(&c->ssl);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (r != 0) {
            char e[128];
            const char *why = r == MBEDTLS_ERR_SSL_CONN_EOF ? "connection closed by the server"
                                                             : tls_err(r, e, sizeof e);
            uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
            if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0) {
                char vb[256];
                mbedtls_x509_crt_verify_info(vb, sizeof vb, "", flags);
                vb[strcspn(vb, "\n")] = '\0';
                note_err(w, E_HANDSHAKE, "server certificate: %s", vb);
            } else
                note_err(w, E_HANDSHAKE, "-0x%04x %s", (unsigned)-r, why);
            conn_close(c, true);
            return;
        }
    }
    uint64_t t = now_us(w);
    hist_add(&w->st.hs_lat, t - c->t_conn);
    if (c->full_hs)
        w->st.hs_full++;
    else
        w->st.hs_resumed++;
    if (w->ciphersuite[0] == '\0')
        snprintf(w->ciphersuite, sizeof w->ciphersuite, "%s", mbedtls_ssl_get_ciphersuite(&c->ssl));
    if (!opt.tls13)
        keep_session(c); /* TLS 1.3: the ticket comes after the handshake (read_tls_response()) */
    if (opt.h2_streams)
        h2_start(c);
    else
        send_request(c);
}

/* --- libuv callbacks ------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    buf->base = (char *)c->w->rbuf;
    buf->len = RBUF_SIZE;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    worker *w = c->w;
    (void)buf;
    if (nread == 0 || c->state == C_CLOSING || !c->tcp_open)
        return;
    if (nread < 0 && nread != UV_EOF) {
        if (c->state == C_HOLD) {
            note_err(w, E_IDLE_LOST, "idle connection lost: %s", uv_strerror((int)nread));
            conn_close(c, true);
        } else {
            note_err(w, c->state == C_HANDSHAKE ? E_HANDSHAKE : E_IO, "read: %s", uv_strerror((int)nread));
            conn_close(c, true);
        }
        return;
    }
    if (nread == UV_EOF) {
        c->eof = true;
        w->r_owner = c;
        w->r_off = w->r_len = 0;
    } else {
        w->st.bytes_in += (uint64_t)nread;
        w->r_owner = c;
        w->r_off = 0;
        w->r_len = (size_t)nread;
    }
    switch (c->state) {
    case C_HANDSHAKE:
        drive_handshake(c);
        if (c->state == C_WAIT_RESPONSE && opt.tls && w->r_off < w->r_len)
            read_tls_response(c);
        break;
    case C_WAIT_RESPONSE:
        if (opt.tls)
            read_tls_response(c);
        else if (c->eof)
            response_eof(c);
        else {
            w->r_off = w->r_len;
            feed_plain(c, w->rbuf, (size_t)nread);
        }
        break;
    case C_PACE:
        if (c->eof) /* the server closed a keep-alive connection between requests */
            conn_close(c, false);
        break;
    case C_HOLD: {
        const char *why = c->eof ? "closed by the server" : "unexpected data";
        if (opt.tls && !c->eof) {
            int n = mbedtls_ssl_read(&c->ssl, w->plain, PLAIN_SIZE);
            if (n == MBEDTLS_ERR_SSL_WANT_READ)
                break; /* a partial record */
            why = n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? "closed by the server (close_notify)"
                : n > 0                                  ? "unexpected data"
                                                         : "TLS error";
        }
        note_err(w, E_IDLE_LOST, "idle connection %s after %.1f s", why,
                 (double)(now_us(w) - c->t_req) / 1e6);
        conn_close(c, true);
        break;
    }
    default:
        break;
    }
    w->r_owner = NULL;
    w->r_off = w->r_len = 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    worker *w = c->w;
    if (status == UV_ECANCELED || c->state != C_CONNECTING)
        return;
    if (status < 0) {
        note_err(w, E_CONNECT, "connect: %s", uv_strerror(status));
        conn_close(c, true);
        return;
    }
    w->st.connects++;
    uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        note_err(w, E_IO, "read_start: %s", uv_strerror(r));
        conn_close(c, true);
        return;
    }
    if (!opt.tls) {
        send_request(c);
        return;
    }
    /* --tls13 --mode resume: the configuration that signals tickets until
     * there is a session to resume (worker_conf()). */
    const mbedtls_ssl_config *conf = w->ticket_conf && !w->have_session ? &w->conf_ticket : &w->conf;
    if (c->ssl_ready && mbedtls_ssl_context_get_config(&c->ssl) != conf) {
        mbedtls_ssl_free(&c->ssl);
        c->ssl_ready = false;
    }
    if (!c->ssl_ready) {
        mbedtls_ssl_init(&c->ssl);
        if ((r = mbedtls_ssl_setup(&c->ssl, conf)) != 0) {
            char e[128];
            die("mbedtls_ssl_setup: %s", tls_err(r, e, sizeof e));
        }
        c->ssl_ready = true;
    } else
        mbedtls_ssl_session_reset(&c->ssl);
    mbedtls_ssl_set_hostname(&c->ssl, opt.server_name);
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_verify(&c->ssl, saw_server_chain, c);
    if (opt.mode == MODE_RESUME && w->have_session)
        mbedtls_ssl_set_session(&c->ssl, &w->session);
    c->full_hs = false;
    c->state = C_HANDSHAKE;
    drive_handshake(c);
}

static void on_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->state == C_RETRY_WAIT) {
        slot_start(c);
        return;
    }
    if (c->state == C_PACE) {
        next_request(c);
        return;
    }
    const char *where = c->state == C_CONNECTING  ? "connecting"
                      : c->state == C_HANDSHAKE   ? "in the TLS handshake"
                      : c->got_bytes              ? "receiving the response"
                                                  : "waiting for the response";
    note_err(c->w, E_TIMEOUT, "no response within %.1f s (%s)", opt.timeout, where);
    conn_close(c, true);
}

static void on_close(uv_handle_t *h)
{
    conn *c = h->data;
    worker *w = c->w;
    bool err = c->closed_with_error;
    h2_end(c);
    c->tcp_open = false;
    c->eof = false;
    if (w->stopping || c->state == C_DONE) {
        c->state = C_DONE;
        return;
    }
    if (opt.idle > 0) { /* no retries in idle mode */
        if (err && !c->held) {
            w->idle_settled++;
            if (w->idle_next < w->nconns)
                slot_start(&w->conns[w->idle_next++]);
            if (w->idle_settled == w->nconns && !w->stopping) {
                fprintf(stderr, "cg-loadgen: only %" PRIu64 " of %d idle connections established\n",
                        w->st.idle_held, w->nconns);
                w->t_ready = now_us(w);
                watch_end();
                uv_timer_stop(&w->deadline);
                start_hold(w);
            }
        }
        c->state = C_DONE;
        return;
    }
    if (err) {
        c->state = C_RETRY_WAIT;
        uv_timer_start(&c->timer, on_timeout, RETRY_MS, 0);
    } else
        slot_start(c);
}

static void conn_close(conn *c, bool error)
{
    if (!c->tcp_open || c->state == C_CLOSING)
        return;
    uv_timer_stop(&c->timer);
    c->closed_with_error = error;
    if (opt.tls && !error && c->ssl_ready && c->state != C_CONNECTING && !c->w->stopping)
        mbedtls_ssl_close_notify(&c->ssl);
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void slot_start(conn *c)
{
    worker *w = c->w;
    /* Every connection begins with a request: reserve it now. */
    if (!reserve_request(w)) {
        slot_finished(c);
        return;
    }
    c->reqs_on_conn = 0;
    c->t_conn = c->t_req = now_us(w);
    int r = uv_tcp_init(&w->loop, &c->tcp);
    if (r < 0)
        die("uv_tcp_init: %s", uv_strerror(r));
    c->tcp.data = c;
    c->tcp_open = true;
    c->eof = false;
    c->state = C_CONNECTING;
    c->creq.data = c;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)(opt.timeout * 1000), 0);
    r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&opt.addr, on_connect);
    if (r < 0) {
        note_err(w, E_CONNECT, "connect: %s", uv_strerror(r));
        conn_close(c, true);
    }
}

static void close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void worker_stop(worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    if (w->t_end == 0)
        w->t_end = now_us(w);
    if (w->idx == 0)
        watch_end();
    close_if_open((uv_handle_t *)&w->deadline);
    close_if_open((uv_handle_t *)&w->warm_timer);
    close_if_open((uv_handle_t *)&w->hold_timer);
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        if (c->state == C_HOLD)
            w->st.idle_open_end++;
        close_if_open((uv_handle_t *)&c->timer);
        if (c->tcp_open && c->state != C_CLOSING) {
            c->state = C_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_close);
        }
    }
}

static void on_deadline(uv_timer_t *t)
{
    worker *w = t->data;
    if (opt.idle > 0 || opt.requests > 0)
        fprintf(stderr, "cg-loadgen: --max-time reached, stopping\n");
    worker_stop(w);
}

/* ------------------------------------------------------------------------ */

/* End of the warm-up: forget everything measured so far. */
static void on_warm_done(uv_timer_t *t)
{
    worker *w = t->data;
    memset(&w->st, 0, sizeof w->st);
    w->t0 = now_us(w);
    w->t_last_done = 0;
    w->warming = false;
    if (w->idx == 0) {
        watch_start();
        getrusage(RUSAGE_SELF, &ru_start);
    }
}

/* The client configuration. A TLS 1.3 ticket arrives after the handshake;
 * with signal_tickets mbedtls_ssl_read() says so (read_tls_response()).
 * Only the connections that need a ticket use that configuration: with
 * mbedTLS 3.6.6, reading on after a signalled ticket failed about one
 * resumed connection in ten with a record MAC error or no response (Python's
 * and OpenSSL's clients resume from certgate without errors). */
static void worker_conf(worker *w, mbedtls_ssl_config *conf, bool signal_tickets)
{
    char e[160];
    int r;
    if ((r = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        die("ssl_config_defaults: %s", tls_err(r, e, sizeof e));
    mbedtls_ssl_protocol_version version = opt.tls13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2;
    mbedtls_ssl_conf_min_tls_version(conf, version);
    mbedtls_ssl_conf_max_tls_version(conf, version);
    if (signal_tickets)
        mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(conf,
                                                                 MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_ciphersuites(conf, ciphersuites);
    mbedtls_ssl_conf_groups(conf, groups);
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(conf, &w->ca, NULL);
    if (opt.cert && (r = mbedtls_ssl_conf_own_cert(conf, &w->cert, &w->key)) != 0)
        die("ssl_conf_own_cert: %s", tls_err(r, e, sizeof e));
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &w->drbg);
    /* "new" measures full handshakes: offer no ticket extension at all, so
     * the server does not spend time issuing tickets nobody uses (TLS 1.2;
     * a TLS 1.3 server may still send one, which is ignored). */
    mbedtls_ssl_conf_session_tickets(conf, opt.mode == MODE_NEW ? MBEDTLS_SSL_SESSION_TICKETS_DISABLED
                                                                 : MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    static const char *h2_alpn[] = { "h2", NULL };
    if (opt.h2_streams && (r = mbedtls_ssl_conf_alpn_protocols(conf, h2_alpn)) != 0)
        die("ssl_conf_alpn_protocols: %s", tls_err(r, e, sizeof e));
}

static void worker_init_tls(worker *w)
{
    char e[160];
    int r;
    mbedtls_entropy_init(&w->entropy);
    mbedtls_ctr_drbg_init(&w->drbg);
    mbedtls_ssl_config_init(&w->conf);
    mbedtls_x509_crt_init(&w->ca);
    mbedtls_x509_crt_init(&w->cert);
    mbedtls_pk_init(&w->key);
    static const char pers[] = "cg-loadgen";
    if ((r = mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &w->entropy, (const unsigned char *)pers,
                                   sizeof pers - 1)) != 0)
        die("ctr_drbg_seed: %s", tls_err(r, e, sizeof e));
    if ((r = mbedtls_x509_crt_parse_file(&w->ca, opt.cacert)) != 0)
        die("--cacert %s: %s", opt.cacert, tls_err(r, e, sizeof e));
    if (opt.cert) {
        if ((r = mbedtls_x509_crt_parse_file(&w->cert, opt.cert)) != 0)
            die("--cert %s: %s", opt.cert, tls_err(r, e, sizeof e));
        if ((r = mbedtls_pk_parse_keyfile(&w->key, opt.key, NULL, mbedtls_ctr_drbg_random, &w->drbg)) != 0)
            die("--key %s: %s", opt.key, tls_err(r, e, sizeof e));
    }
    worker_conf(w, &w->conf, false);
    if (opt.tls13 && opt.mode == MODE_RESUME) {
        mbedtls_ssl_config_init(&w->conf_ticket);
        worker_conf(w, &w->conf_ticket, true);
        w->ticket_conf = true;
    }
}

static void worker_free(worker *w)
{
    for (int i = 0; i < w->nconns; i++) {
        if (w->conns[i].ssl_ready)
            mbedtls_ssl_free(&w->conns[i].ssl);
        h2_end(&w->conns[i]);
        free(w->conns[i].h2_reqs);
        free(w->conns[i].p.head);
    }
    free(w->conns);
    free(w->rbuf);
    free(w->plain);
    if (opt.tls) {
        if (w->have_session)
            mbedtls_ssl_session_free(&w->session);
        mbedtls_ssl_config_free(&w->conf);
        if (w->ticket_conf)
            mbedtls_ssl_config_free(&w->conf_ticket);
        mbedtls_x509_crt_free(&w->ca);
        mbedtls_x509_crt_free(&w->cert);
        mbedtls_pk_free(&w->key);
        mbedtls_ctr_drbg_free(&w->drbg);
        mbedtls_entropy_free(&w->entropy);
    }
    uv_loop_close(&w->loop);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->t0 = now_us(w);
    uint64_t limit_ms = 0;
    if (opt.idle > 0 || opt.requests > 0)
        limit_ms = (uint64_t)(opt.max_time * 1000);
    else
        limit_ms = (uint64_t)((opt.duration + opt.warmup) * 1000);
    uv_timer_start(&w->deadline, on_deadline, limit_ms, 0);
    if (opt.warmup > 0 && opt.duration > 0) {
        w->warming = true;
        uv_timer_start(&w->warm_timer, on_warm_done, (uint64_t)(opt.warmup * 1000), 0);
    } else if (w->idx == 0)
        watch_start();
    if (opt.idle > 0) {
        int par = opt.connections < w->nconns ? opt.connections : w->nconns;
        w->active = w->nconns;
        for (w->idle_next = 0; w->idle_next < par;)
            slot_start(&w->conns[w->idle_next++]);
    } else {
        w->active = w->nconns;
        for (int i = 0; i < w->nconns && !w->stopping; i++)
            slot_start(&w->conns[i]);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void worker_setup(worker *w, int idx, int nconns)
{
    memset(w, 0, sizeof *w);
    w->idx = idx;
    if (uv_loop_init(&w->loop) != 0)
        die("uv_loop_init failed");
    uv_timer_init(&w->loop, &w->deadline);
    uv_timer_init(&w->loop, &w->hold_timer);
    uv_timer_init(&w->loop, &w->warm_timer);
    w->deadline.data = w->hold_timer.data = w->warm_timer.data = w;
    w->rbuf = malloc(RBUF_SIZE);
    w->plain = malloc(PLAIN_SIZE);
    w->conns = calloc((size_t)nconns, sizeof *w->conns);
    if (!w->rbuf || !w->plain || !w->conns)
        die("out of memory");
    w->nconns = nconns;
    for (int i = 0; i < nconns; i++) {
        conn *c = &w->conns[i];
        c->w = w;
        c->idx = i;
        c->state = C_FREE;
        c->p.head = malloc(HEAD_MAX);
        if (!c->p.head)
            die("out of memory");
        uv_timer_init(&w->loop, &c->timer);
        c->timer.data = c;
    }
    if (opt.tls)
        worker_init_tls(w);
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
"usage: cg-loadgen --url URL [options]\n"
"  --url URL            https://127.0.0.1:PORT/path or http://... (loopback only)\n"
"  --cacert FILE        CA certificate(s) that the server certificate chains to (PEM)\n"
"  --cert FILE          client certificate, PEM (may hold the chain after the leaf)\n"
"  --key FILE           client private key, PEM\n"
"  --server-name NAME   SNI and the name the server certificate must match\n"
"                       (default: the URL host, or \"localhost\" if it is an IP address)\n"
"  --connections N      concurrent connections (default 64; 16 for --mode new/resume;\n"
"                       with --idle: connections being set up at once, default 64)\n"
"  --duration SECONDS   run for this long (default 10)\n"
"  --requests N         or: stop after N responses (bounded by --max-time)\n"
"  --mode MODE          keepalive: persistent connections, back-to-back GETs (default)\n"
"                       new:       a new TCP connection and full TLS handshake per request\n"
"                       resume:    a new TCP connection per request, TLS session resumed\n"
"                                  with the ticket from the first handshake\n"
"  --h2 N               HTTP/2 (ALPN h2, https only): N streams in flight on each\n"
"                       keep-alive connection, each answered one replaced at once\n"
"  --idle N             open N connections, one request each, then keep them idle\n"
"  --hold SECONDS       how long --idle holds them (default 10)\n"
"  --ready-file FILE    --idle: write the number established to FILE once all are up\n"
"  --release-file FILE  --idle: end the hold as soon as FILE exists (--hold: at most)\n"
"  --tls13              TLS 1.3 only (default: TLS 1.2 only)\n"
"  --threads N          event-loop threads (default 1; --idle uses 1)\n"
"  --timeout SECONDS    per request, including connect and handshake (default 10)\n"
"  --max-time SECONDS   bound for --requests and --idle runs (default 120, or hold+120)\n"
"  --warmup SECONDS     with --duration: run this long first, unmeasured (default 0)\n"
"  --rate N             keepalive: offer at most N requests/s in all (each connection\n"
"                       N/connections), instead of as fast as the server answers\n"
"  --watch-pid PID      sample this process's CPU time and VmRSS over the measured\n"
"                       interval (--idle: until all connections are up); repeatable\n"
"  --json               print one JSON line on stdout (the summary goes to stderr)\n");
    exit(code);
}

static bool loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

static void parse_url(const char *url)
{
    const char *p;
    if (strncmp(url, "https://", 8) == 0)
        opt.tls = true, p = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        opt.tls = false, p = url + 7;
    else
        die("--url must start with https:// or http://");
    const char *hs = p, *he;
    if (*p == '[') {
        he = strchr(p, ']');
        if (!he)
            die("bad --url: unterminated [");
        hs = p + 1;
        p = he + 1;
    } else {
        p += strcspn(p, ":/");
        he = p;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof opt.host)
        die("bad --url host");
    memcpy(opt.host, hs, hl);
    opt.host[hl] = '\0';
    opt.port = opt.tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            die("bad --url port");
        opt.port = (int)port;
        p = end;
    }
    if (*p == '\0')
        snprintf(opt.path, sizeof opt.path, "/");
    else if (*p == '/') {
        if (strlen(p) >= sizeof opt.path)
            die("--url path too long");
        snprintf(opt.path, sizeof opt.path, "%s", p);
    } else
        die("bad --url");
    const char *ip = strcmp(opt.host, "localhost") == 0 ? "127.0.0.1" : opt.host;
    memset(&opt.addr, 0, sizeof opt.addr);
    if (uv_ip4_addr(ip, opt.port, (struct sockaddr_in *)&opt.addr) != 0 &&
        uv_ip6_addr(ip, opt.port, (struct sockaddr_in6 *)&opt.addr) != 0)
        die("--url host must be a numeric loopback address or \"localhost\", not \"%s\"", opt.host);
    if (!loopback(&opt.addr))
        die("refusing to send load to %s: only loopback targets (127.0.0.0/8, ::1) are allowed", opt.host);
}

static double parse_pos(const char *name, const char *v, bool allow_zero)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || d < 0 || (!allow_zero && d == 0) || d > 1e9)
        die("bad %s: %s", name, v);
    return d;
}

static void parse_args(int argc, char **argv)
{
    enum { O_URL = 256, O_CACERT, O_CERT, O_KEY, O_CONN, O_DUR, O_REQ, O_MODE, O_IDLE, O_HOLD, O_SNI,
           O_THREADS, O_TIMEOUT, O_MAXTIME, O_JSON, O_READY, O_RELEASE, O_WARMUP, O_WATCH, O_RATE, O_H2, O_TLS13,
           O_HELP };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"cacert", required_argument, NULL, O_CACERT},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"connections", required_argument, NULL, O_CONN},
        {"duration", required_argument, NULL, O_DUR},
        {"requests", required_argument, NULL, O_REQ},
        {"mode", required_argument, NULL, O_MODE},
        {"idle", required_argument, NULL, O_IDLE},
        {"hold", required_argument, NULL, O_HOLD},
        {"server-name", required_argument, NULL, O_SNI},
        {"threads", required_argument, NULL, O_THREADS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-time", required_argument, NULL, O_MAXTIME},
        {"ready-file", required_argument, NULL, O_READY},
        {"release-file", required_argument, NULL, O_RELEASE},
        {"rate", required_argument, NULL, O_RATE},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"watch-pid", required_argument, NULL, O_WATCH},
        {"json", no_argument, NULL, O_JSON},
        {"h2", required_argument, NULL, O_H2},
        {"tls13", no_argument, NULL, O_TLS13},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_URL: opt.url = optarg; break;
        case O_CACERT: opt.cacert = optarg; break;
        case O_CERT: opt.cert = optarg; break;
        case O_KEY: opt.key = optarg; break;
        case O_CONN: opt.connections = (int)parse_pos("--connections", optarg, false); break;
        case O_DUR: opt.duration = parse_pos("--duration", optarg, false); break;
        case O_REQ: opt.requests = (uint64_t)parse_pos("--requests", optarg, false); break;
        case O_MODE:
            if (strcmp(optarg, "keepalive") == 0) opt.mode = MODE_KEEPALIVE;
            else if (strcmp(optarg, "new") == 0) opt.mode = MODE_NEW;
            else if (strcmp(optarg, "resume") == 0) opt.mode = MODE_RESUME;
            else die("--mode must be keepalive, new or resume");
            break;
        case O_IDLE: opt.idle = (int)parse_pos("--idle", optarg, false); break;
        case O_HOLD: opt.hold = parse_pos("--hold", optarg, true); break;
        case O_SNI: opt.server_name = optarg; break;
        case O_THREADS: opt.threads = (int)parse_pos("--threads", optarg, false); break;
        case O_TIMEOUT: opt.timeout = parse_pos("--timeout", optarg, false); break;
        case O_MAXTIME: opt.max_time = parse_pos("--max-time", optarg, false); break;
        case O_READY: opt.ready_file = optarg; break;
        case O_RELEASE: opt.release_file = optarg; break;
        case O_RATE: opt.rate = parse_pos("--rate", optarg, false); break;
        case O_WARMUP: opt.warmup = parse_pos("--warmup", optarg, true); break;
        case O_WATCH:
            if (opt.nwatch == MAX_WATCH)
                die("--watch-pid: at most %d", MAX_WATCH);
            opt.watch_pid[opt.nwatch++] = (long)parse_pos("--watch-pid", optarg, false);
            break;
        case O_JSON: opt.json = true; break;
        case O_H2: opt.h2_streams = (int)parse_pos("--h2", optarg, false); break;
        case O_TLS13: opt.tls13 = true; break;
        case 'h': case O_HELP: usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc)
        die("unexpected argument: %s", argv[optind]);
    if (!opt.url)
        usage(2);
    parse_url(opt.url);
    if (opt.tls) {
        if (!opt.cacert)
            die("--cacert is required for https://");
        if ((opt.cert == NULL) != (opt.key == NULL))
            die("--cert and --key go together");
    }
    if (opt.duration > 0 && opt.requests > 0)
        die("--duration and --requests are exclusive");
    if (opt.idle > 0 && (opt.duration > 0 || opt.requests > 0 || opt.mode != MODE_KEEPALIVE))
        die("--idle takes --hold, not --duration/--requests/--mode");
    if (opt.rate > 0 && (opt.mode != MODE_KEEPALIVE || opt.idle > 0))
        die("--rate goes with --mode keepalive");
    if (opt.h2_streams && (!opt.tls || opt.mode != MODE_KEEPALIVE || opt.idle > 0 || opt.rate > 0))
        die("--h2 goes with https:// and --mode keepalive (no --idle, no --rate)");
    if (opt.h2_streams > 1000)
        die("--h2: at most 1000 streams per connection");
    if (opt.warmup > 0 && opt.duration == 0 && opt.idle == 0 && opt.requests > 0)
        die("--warmup goes with --duration");
    if (opt.idle == 0 && opt.duration == 0 && opt.requests == 0)
        opt.duration = 10;
    if (opt.connections == 0)
        opt.connections = opt.idle > 0 ? 64 : opt.mode == MODE_KEEPALIVE ? 64 : 16;
    if (opt.idle > 0)
        opt.threads = 1;
    if (opt.threads > 64)
        die("--threads: at most 64");
    if (opt.idle == 0 && opt.threads > opt.connections)
        opt.threads = opt.connections;
    if (opt.max_time == 0)
        opt.max_time = opt.idle > 0 ? opt.hold + 120 : 120;
    if (opt.idle > 0)
        opt.warmup = 0;
    if (opt.idle > 0 && opt.hold >= opt.max_time)
        die("--hold must be shorter than --max-time");
    if (!opt.server_name) {
        struct sockaddr_storage tmp;
        bool is_ip = uv_ip4_addr(opt.host, 0, (struct sockaddr_in *)&tmp) == 0 ||
                     uv_ip6_addr(opt.host, 0, (struct sockaddr_in6 *)&tmp) == 0;
        opt.server_name = is_ip ? "localhost" : opt.host;
    }
    /* The request: same bytes every time. */
    bool v6 = opt.addr.ss_family == AF_INET6 && strchr(opt.host, ':');
    char hostport[300];
    bool default_port = opt.port == (opt.tls ? 443 : 80);
    if (default_port)
        snprintf(hostport, sizeof hostport, v6 ? "[%s]" : "%s", opt.host);
    else
        snprintf(hostport, sizeof hostport, v6 ? "[%s]:%d" : "%s:%d", opt.host, opt.port);
    snprintf(opt.authority, sizeof opt.authority, "%s", hostport);
    bool close_after = opt.idle == 0 && opt.mode != MODE_KEEPALIVE;
    size_t cap = strlen(opt.path) + 512;
    opt.request = malloc(cap);
    if (!opt.request)
        die("out of memory");
    int n = snprintf(opt.request, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cg-loadgen\r\nAccept: */*\r\n%s\r\n", opt.path,
                     hostport, close_after ? "Connection: close\r\n" : "");
    opt.request_len = (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void fmt_us(char *b, size_t n, uint64_t us)
{
    if (us < 1000)
        snprintf(b, n, "%" PRIu64 " us", us);
    else if (us < 1000000)
        snprintf(b, n, "%.2f ms", (double)us / 1000);
    else
        snprintf(b, n, "%.2f s", (double)us / 1e6);
}

static void fmt_bytes(char *b, size_t n, double v)
{
    if (v < 1024)
        snprintf(b, n, "%.0f B", v);
    else if (v < 1024 * 1024)
        snprintf(b, n, "%.1f KiB", v / 1024);
    else if (v < 1024.0 * 1024 * 1024)
        snprintf(b, n, "%.1f MiB", v / 1024 / 1024);
    else
        snprintf(b, n, "%.2f GiB", v / 1024 / 1024 / 1024);
}

static void report(const stats *s, double elapsed, double cpu_user, double cpu_sys, const char *suite,
                   double ready_s)
{
    uint64_t errors = 0;
    for (int k = 0; k < E_COUNT; k++)
        errors += s->err[k];
    double rps = elapsed > 0 ? (double)s->responses / elapsed : 0;
    FILE *o = opt.json ? stderr : stdout;
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(o, "cg-loadgen %s %s", opt.url, opt.idle ? "idle" : mode_names[opt.mode]);
    if (opt.idle)
        fprintf(o, ": %d connections held %.1f s\n", opt.idle, opt.hold);
    else
        fprintf(o, ", %d connections, %d thread%s, %.2f s%s\n", opt.connections, opt.threads,
                opt.threads == 1 ? "" : "s", elapsed, opt.rate > 0 ? " (paced)" : "");
    if (opt.rate > 0)
        fprintf(o, "  rate:       %.0f/s offered\n", opt.rate);
    if (opt.h2_streams)
        fprintf(o, "  http/2:     %d streams in flight per connection\n", opt.h2_streams);
    if (suite && *suite)
        fprintf(o, "  tls:        %s, server name %s\n", suite, opt.server_name);
    fmt_us(a, sizeof a, hist_q(&s->lat, 0.5));
    fmt_us(b, sizeof b, hist_q(&s->lat, 0.9));
    fmt_us(c, sizeof c, hist_q(&s->lat, 0.99));
    fmt_us(d, sizeof d, s->lat.max);
    fmt_us(e, sizeof e, s->lat.count ? s->lat.sum / s->lat.count : 0);
    fprintf(o, "  requests:   %" PRIu64 " (%.1f/s), errors %" PRIu64 "\n", s->responses, rps, errors);
    fprintf(o, "  latency:    p50 %s  p90 %s  p99 %s  max %s  mean %s\n", a, b, c, d, e);
    if (opt.tls && s->hs_lat.count) {
        fmt_us(a, sizeof a, hist_q(&s->hs_lat, 0.5));
        fmt_us(b, sizeof b, hist_q(&s->hs_lat, 0.99));
        fprintf(o, "  handshakes: %" PRIu64 " full, %" PRIu64 " resumed; connect+handshake p50 %s p99 %s\n",
                s->hs_full, s->hs_resumed, a, b);
    }
    fmt_bytes(a, sizeof a, (double)s->bytes_in);
    fmt_bytes(b, sizeof b, (double)s->body_bytes);
    fmt_bytes(c, sizeof c, elapsed > 0 ? (double)s->body_bytes / elapsed : 0);
    fprintf(o, "  received:   %s on the wire (HTTP), %s of bodies (%s/s); %" PRIu64 " connections\n", a, b, c,
            s->connects);
    fprintf(o, "  status:     2xx %" PRIu64 "  3xx %" PRIu64 "  4xx %" PRIu64 "  5xx %" PRIu64 "  other %" PRIu64
               "\n",
            s->status[2], s->status[3], s->status[4], s->status[5], s->status[0] + s->status[1]);
    for (int k = 0; k < E_COUNT; k++)
        if (s->err[k])
            fprintf(o, "  error %-10s %" PRIu64 " (first: %s)\n", err_names[k], s->err[k], s->err_msg[k]);
    if (opt.idle)
        fprintf(o, "  idle:       %" PRIu64 " of %d established (in %.2f s), %" PRIu64 " still open at the end\n",
                s->idle_held, opt.idle, ready_s, s->idle_open_end);
    fprintf(o, "  own cpu:    %.2f s user + %.2f s sys (%.1f us per request)\n", cpu_user, cpu_sys,
            s->responses ? (cpu_user + cpu_sys) * 1e6 / (double)s->responses : 0.0);
    for (int i = 0; i < opt.nwatch; i++) {
        const watch_sample *ws = &watch[i];
        if (!ws->ok0 || !ws->ok1) {
            fprintf(o, "  pid %ld:  could not be sampled\n", opt.watch_pid[i]);
            continue;
        }
        double cpu = ws->cpu1 - ws->cpu0;
        fprintf(o, "  pid %ld:  cpu %.2f s (%.1f us per request), VmRSS %ld -> %ld KiB", opt.watch_pid[i], cpu,
                s->responses ? cpu * 1e6 / (double)s->responses : 0.0, ws->rss0, ws->rss1);
        if (opt.idle && s->idle_held)
            fprintf(o, " (%.1f KiB per connection)", (double)(ws->rss1 - ws->rss0) / (double)s->idle_held);
        fputc('\n', o);
    }
    if (!opt.json)
        return;
    FILE *j = stdout;
    fprintf(j, "{\"url\":");
    json_str(j, opt.url);
    fprintf(j, ",\"mode\":\"%s\",\"connections\":%d,\"threads\":%d,\"elapsed_s\":%.4f", opt.idle ? "idle" : mode_names[opt.mode],
            opt.idle ? opt.idle : opt.connections, opt.threads, elapsed);
    fprintf(j, ",\"requests\":%" PRIu64 ",\"rps\":%.2f,\"errors\":%" PRIu64 ",\"error_kinds\":{", s->responses, rps,
            errors);
    bool first = true;
    for (int k = 0; k < E_COUNT; k++)
        if (s->err[k]) {
            fprintf(j, "%s\"%s\":%" PRIu64, first ? "" : ",", err_names[k], s->err[k]);
            first = false;
        }
    fprintf(j, "},\"error_first\":{");
    first = true;
    for (int k = 0; k < E_COUNT; k++)
        if (s->err[k]) {
            fprintf(j, "%s\"%s\":", first ? "" : ",", err_names[k]);
            json_str(j, s->err_msg[k]);
            first = false;
        }
    fprintf(j, "},\"status\":{\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64 ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64
               ",\"other\":%" PRIu64 "}",
            s->status[2], s->status[3], s->status[4], s->status[5], s->status[0] + s->status[1]);
    fprintf(j, ",\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64
               ",\"mean\":%" PRIu64 "}",
            hist_q(&s->lat, 0.5), hist_q(&s->lat, 0.9), hist_q(&s->lat, 0.99), s->lat.max,
            s->lat.count ? s->lat.sum / s->lat.count : 0);
    fprintf(j, ",\"handshake_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "},\"handshakes_full\":%" PRIu64
               ",\"handshakes_resumed\":%" PRIu64,
            hist_q(&s->hs_lat, 0.5), hist_q(&s->hs_lat, 0.99), s->hs_full, s->hs_resumed);
    fprintf(j, ",\"connects\":%" PRIu64 ",\"bytes_received\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
               ",\"body_bytes\":%" PRIu64,
            s->connects, s->bytes_in, s->bytes_out, s->body_bytes);
    if (opt.idle)
        fprintf(j, ",\"idle_established\":%" PRIu64 ",\"idle_open_end\":%" PRIu64 ",\"idle_ready_s\":%.3f",
                s->idle_held, s->idle_open_end, ready_s);
    fprintf(j, ",\"watch\":[");
    for (int i = 0; i < opt.nwatch; i++) {
        const watch_sample *ws = &watch[i];
        fprintf(j, "%s{\"pid\":%ld", i ? "," : "", opt.watch_pid[i]);
        if (ws->ok0 && ws->ok1)
            fprintf(j, ",\"cpu_s\":%.4f,\"rss_start_kb\":%ld,\"rss_end_kb\":%ld", ws->cpu1 - ws->cpu0, ws->rss0,
                    ws->rss1);
        fputc('}', j);
    }
    fprintf(j, "],\"h2_streams\":%d,\"warmup_s\":%.3f,\"rate\":%.1f,\"clk_tck\":%ld", opt.h2_streams, opt.warmup, opt.rate, sysconf(_SC_CLK_TCK));
    fprintf(j, ",\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"ciphersuite\":", cpu_user, cpu_sys);
    json_str(j, suite ? suite : "");
    fprintf(j, "}\n");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (psa_crypto_init() != PSA_SUCCESS) {
        fprintf(stderr, "cg-loadgen: psa_crypto_init failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Many connections: take all the descriptors we may. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int total = opt.idle > 0 ? opt.idle : opt.connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)total + 32 > rl.rlim_cur)
        die("%d connections need more file descriptors than the limit (%llu): raise ulimit -n", total,
            (unsigned long long)rl.rlim_cur);

    worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    if (!ws)
        die("out of memory");
    for (int i = 0; i < opt.threads; i++)
        worker_setup(&ws[i], i, total / opt.threads + (i < total % opt.threads ? 1 : 0));

    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru_start);
    uint64_t t0 = uv_hrtime();
    if (opt.threads == 1)
        worker_main(&ws[0]);
    else {
        for (int i = 0; i < opt.threads; i++)
            if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
                die("pthread_create failed");
        for (int i = 0; i < opt.threads; i++)
            pthread_join(ws[i].th, NULL);
    }
    uint64_t t1 = uv_hrtime();
    getrusage(RUSAGE_SELF, &ru1);

    static stats all; /* large: not on the stack */
    double elapsed = 0, ready_s = 0;
    const char *suite = "";
    for (int i = 0; i < opt.threads; i++) {
        worker *w = &ws[i];
        stats *s = &w->st;
        all.responses += s->responses;
        for (int k = 0; k < 6; k++)
            all.status[k] += s->status[k];
        for (int k = 0; k < E_COUNT; k++) {
            all.err[k] += s->err[k];
            if (!all.err_msg[k][0] && s->err_msg[k][0])
                memcpy(all.err_msg[k], s->err_msg[k], sizeof all.err_msg[k]);
        }
        all.bytes_in += s->bytes_in;
        all.bytes_out += s->bytes_out;
        all.body_bytes += s->body_bytes;
        all.connects += s->connects;
        all.hs_full += s->hs_full;
        all.hs_resumed += s->hs_resumed;
        all.idle_held += s->idle_held;
        all.idle_open_end += s->idle_open_end;
        hist_merge(&all.lat, &s->lat);
        hist_merge(&all.hs_lat, &s->hs_lat);
        double e = (double)(w->t_end - w->t0) / 1e6;
        if (e > elapsed)
            elapsed = e;
        if (w->t_ready)
            ready_s = (double)(w->t_ready - w->t0) / 1e6;
        if (w->ciphersuite[0])
            suite = w->ciphersuite;
    }
    if (elapsed <= 0)
        elapsed = (double)(t1 - t0) / 1e9;
    if (opt.idle > 0)
        elapsed = (double)(t1 - t0) / 1e9;
    double cu = tv_s(ru1.ru_utime) - tv_s(ru_start.ru_utime),
           cs = tv_s(ru1.ru_stime) - tv_s(ru_start.ru_stime);
    report(&all, elapsed, cu, cs, suite, ready_s);
    for (int i = 0; i < opt.threads; i++)
        worker_free(&ws[i]);
    free(ws);
    free(opt.request);
    return all.responses == 0 ? 1 : 0;
}
