/* The PROXY protocol (HAProxy's specification, versions 1 and 2): the header
 * a layer-4 load balancer sends before the client's bytes, naming the client
 * the balancer accepted. Parsing only, over bytes: no socket, no allocation.
 * conn.c reads the header of a connection from a trusted balancer with a
 * cg_pp_reader, before TLS; what follows the header is the ClientHello.
 *
 * Accepted (strictly):
 *  - v1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" (addresses of the
 *    family, ports 0-65535 without leading zeros, single spaces, printable
 *    ASCII, at most 107 bytes CRLF included), and "PROXY UNKNOWN ...\r\n";
 *  - v2: the 12-byte signature, version 2, command LOCAL or PROXY; with
 *    PROXY, TCP over IPv4 (0x11) or IPv6 (0x21), or UNSPEC (0x00); the
 *    TLVs after the addresses must be well framed and are otherwise ignored
 *    (CRC32C is not checked). At most CG_PP_V2_MAX_PAYLOAD bytes after the
 *    16-byte fixed part.
 * Refused: anything else, UDP and AF_UNIX included (certgate serves TCP
 * clients: an AF_UNIX "client" would have no address to account for).
 *
 * v2 LOCAL (the balancer's own health checks), v2 UNSPEC and v1 UNKNOWN name
 * no client: the result is `local`, and the connection's own addresses stand.
 */
#ifndef CG_PROXY_PROTOCOL_H
#define CG_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define CG_PP_V1_MAX 107          /* the whole v1 line, CRLF included (the spec's bound) */
#define CG_PP_V2_FIXED 16         /* signature, version/command, family, length */
/* Addresses and TLVs of a v2 header: the spec allows 65535; balancers send
 * tens of bytes (AWS NLB: the VPC endpoint id; HAProxy: at most a few
 * hundred with unique-id and SSL TLVs). Above this the header is refused. */
#define CG_PP_V2_MAX_PAYLOAD 2048
#define CG_PP_MAX (CG_PP_V2_FIXED + CG_PP_V2_MAX_PAYLOAD)

typedef enum {
    CG_PP_MORE = 0, /* a valid beginning: more bytes are needed */
    CG_PP_DONE,     /* a whole header */
    CG_PP_BAD,      /* not a valid header: the connection is to be refused */
} cg_pp_status;

typedef struct cg_pp_header {
    uint8_t version;                  /* 1 or 2 */
    bool local;                       /* names no client: the connection's own addresses stand */
    struct sockaddr_storage src, dst; /* when !local: AF_INET or AF_INET6, ports included */
    unsigned tlvs;                    /* v2 TLVs seen (ignored) */
} cg_pp_header;

/* Parses the header at the start of p[0..n). DONE: *out is the header and
 * *len its length (the client's stream starts at p + *len). MORE: p is the
 * valid beginning of a header (fails as early as a byte shows it cannot
 * be). BAD: why (cap bytes) is a sentence for the operator's log. Never
 * reads past p + n nor past CG_PP_MAX bytes. */
cg_pp_status cg_pp_parse(const uint8_t *p, size_t n, cg_pp_header *out, size_t *len, char *why, size_t cap);

/* A header arriving in pieces: each piece is fed as it is read. */
typedef struct cg_pp_reader {
    size_t len;
    uint8_t buf[CG_PP_MAX];
} cg_pp_reader;

/* Takes from p[0..n) the bytes of the header and never one past its end:
 * *used of them; the rest (DONE) is the client's stream. Statuses as
 * cg_pp_parse; after DONE or BAD the reader is not to be fed again. */
cg_pp_status cg_pp_reader_feed(cg_pp_reader *r, const uint8_t *p, size_t n, size_t *used, cg_pp_header *out,
                               char *why, size_t cap);

/* Numeric text of an address of the header ("192.0.2.7", "2001:db8::1")
 * and its port; false for anything but AF_INET / AF_INET6. */
bool cg_pp_address_text(const struct sockaddr_storage *sa, char *ip, size_t cap, unsigned *port);

#endif
