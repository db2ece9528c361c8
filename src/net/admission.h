/* Fair admission: per-address connection limits, across all workers.
 *
 * One client address (an IPv4 address, or an IPv6 prefix: /64 by default,
 * since one host commonly owns a whole /64) may hold at most
 * limits.max_handshakes_per_address connections that have not finished their
 * TLS handshake, and at most limits.max_connections_per_address open
 * connections. A connection over either is closed at once, before any TLS
 * work, so silent connections from one address cannot use up the process's
 * connection limit (or the handshake timeout's worth of slots) for everyone.
 *
 * One table for the process, behind one mutex held for a hash probe at accept,
 * at the end of a handshake and at close. An entry lives only while its
 * address has a connection open, so the table never holds more entries than
 * there are open connections (bounded by limits.max_connections plus the few
 * closed at once); it grows by doubling and does not shrink. Keys are hashed
 * with a per-process random seed, so addresses cannot be chosen to collide.
 */
#ifndef CG_ADMISSION_H
#define CG_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

typedef struct cg_admission cg_admission;

/* An address as counted: IPv4, or the IPv6 prefix. */
typedef struct cg_admission_key {
    uint8_t bytes[16];
    uint8_t family; /* 4 or 6; 0: not counted (unknown address) */
} cg_admission_key;

typedef struct cg_admission_limits {
    uint32_t max_handshakes; /* per address; 0: no limit */
    uint32_t max_open;       /* per address; 0: no limit */
} cg_admission_limits;

typedef enum {
    CG_ADMIT_OK = 0,
    CG_ADMIT_HANDSHAKES, /* the address has max_handshakes connections in their handshake */
    CG_ADMIT_OPEN,       /* the address has max_open connections open */
    CG_ADMIT_NO_MEMORY,  /* the table could not grow: not counted, so not admitted */
} cg_admit_result;

/* What a refusal should log: the address's first refusal in log_every_ms,
 * with how many were refused since the last line (this one included). */
typedef struct cg_admit_log {
    bool log;
    uint64_t refused;        /* since the last line */
    uint32_t handshakes, open;
} cg_admit_log;

cg_admission *cg_admission_new(void);
void cg_admission_free(cg_admission *a);

/* The key of sa: IPv4 as is (also when mapped into IPv6), IPv6 cut to its
 * first ipv6_prefix bits (1 to 128). */
cg_admission_key cg_admission_key_of(const struct sockaddr *sa, unsigned ipv6_prefix);
/* "192.0.2.7" or "2001:db8:1:2::/64", for logs. */
void cg_admission_key_format(const cg_admission_key *k, unsigned ipv6_prefix, char *out, size_t cap);

/* Counts a new connection (open and handshaking) of k, or refuses it
 * (nothing counted); now_ms (a monotonic clock) and log_every_ms decide
 * whether the refusal is to be logged (*lg). Thread-safe. */
cg_admit_result cg_admission_acquire(cg_admission *a, const cg_admission_key *k, const cg_admission_limits *lim,
                                     uint64_t now_ms, uint64_t log_every_ms, cg_admit_log *lg);
/* The connection finished its handshake (once, after a successful acquire). */
void cg_admission_handshake_done(cg_admission *a, const cg_admission_key *k);
/* The connection closed; handshaking: it had not finished its handshake. */
void cg_admission_release(cg_admission *a, const cg_admission_key *k, bool handshaking);

/* For tests and stats: the counts of k (0, 0 if absent), the entries in use
 * and the table's capacity. */
void cg_admission_counts(cg_admission *a, const cg_admission_key *k, uint32_t *handshakes, uint32_t *open);
void cg_admission_size(cg_admission *a, size_t *entries, size_t *capacity);

#endif
