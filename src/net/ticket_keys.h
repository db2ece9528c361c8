/* Session-ticket keys shared by several certgate processes
 * (tls.session_ticket_keys), so a TLS 1.2 session resumes on any instance.
 *
 * The key file: one key per line, the base64 text of 48 random bytes
 * (`certgate ticket-key generate` or `openssl rand -base64 48` writes one);
 * blank lines and lines starting with '#' are ignored. The first 16 bytes of
 * a key are its name, the other 32 an AES-256-GCM key. The FIRST key seals
 * new tickets; every key opens tickets sealed with it (rotation: add a new
 * key at the top, keep the old ones for the ticket lifetime, then drop them).
 *
 * A ticket: name (16) | IV (12) | AES-256-GCM of [issued (8, big-endian
 * seconds) | payload] | tag (16). The additional data is name | IV | a
 * 32-byte context the caller chooses (tls.c: a digest of the listener's
 * name and client-certificate policy), so a ticket opens only where it was
 * sealed for. The key is found by its name in O(1) (a small hash table).
 *
 * cg_ticket_keys: one immutable key set. cg_ticket_keyring: the key set in
 * force for one listener, replaced whole when its file changes (the main
 * thread checks the file; a file that does not load never replaces a good
 * set). Workers seal and open through the ring: one mutex held to copy one
 * key out, the crypto done with a context of their own on the stack. Keys
 * are zeroized when freed and on the stack after use.
 */
#ifndef CG_TICKET_KEYS_H
#define CG_TICKET_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_TICKET_KEY_BYTES 48     /* one key as written in the file */
#define CG_TICKET_NAME_BYTES 16
#define CG_TICKET_MAX_KEYS 32
#define CG_TICKET_CONTEXT_BYTES 32
/* Seconds a ticket may seem to come from the future (another instance's clock). */
#define CG_TICKET_CLOCK_SKEW_S 60
/* The payload is written at buf + CG_TICKET_PAYLOAD_OFFSET; a sealed ticket
 * is CG_TICKET_OVERHEAD bytes longer than its payload. */
#define CG_TICKET_PAYLOAD_OFFSET (CG_TICKET_NAME_BYTES + 12 + 8)
#define CG_TICKET_OVERHEAD (CG_TICKET_PAYLOAD_OFFSET + 16)

typedef enum {
    CG_TICKET_OK = 0,
    CG_TICKET_UNKNOWN_KEY, /* no key of this name: rotated out, or another key file */
    CG_TICKET_INVALID,     /* truncated, altered, or sealed for another context */
    CG_TICKET_EXPIRED,     /* issued more than lifetime seconds ago, or in the future */
    CG_TICKET_NO_ROOM,     /* the output buffer is too small */
    CG_TICKET_FAILED,      /* the random generator or the cipher failed */
} cg_ticket_status;

typedef struct cg_ticket_keys cg_ticket_keys;

/* Parses a key file's text. NULL with a sentence in err ("line 3: ...")
 * when it holds no key, a line that is not a key, a name twice, or more
 * than CG_TICKET_MAX_KEYS keys. */
cg_ticket_keys *cg_ticket_keys_parse(const char *text, size_t len, char *err, size_t cap);
/* Reads and parses path (at most 64 KiB). */
cg_ticket_keys *cg_ticket_keys_load(const char *path, char *err, size_t cap);
void cg_ticket_keys_free(cg_ticket_keys *k);
size_t cg_ticket_keys_count(const cg_ticket_keys *k);
/* The first 4 bytes of key i's name in hex ("1a2b3c4d"): names are public
 * (every ticket carries one), so logs may show them. */
void cg_ticket_keys_id(const cg_ticket_keys *k, size_t i, char out[9]);

/* Seals the n payload bytes found at buf + CG_TICKET_PAYLOAD_OFFSET, in
 * place, with the first key; issued is the time to judge the lifetime by
 * (seconds). *out_len is the ticket's length from buf. rng fills bytes
 * (returns 0 on success). */
typedef int (*cg_ticket_rng)(void *ctx, unsigned char *out, size_t n);
cg_ticket_status cg_ticket_seal(const cg_ticket_keys *k, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                uint64_t issued, cg_ticket_rng rng, void *rng_ctx, unsigned char *buf, size_t cap,
                                size_t n, size_t *out_len);
/* Opens a ticket in place: *payload points into ticket, *payload_len bytes.
 * Expired when now - issued > lifetime_s, or issued is more than
 * CG_TICKET_CLOCK_SKEW_S after now. */
cg_ticket_status cg_ticket_open(const cg_ticket_keys *k, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                uint64_t now, uint32_t lifetime_s, unsigned char *ticket, size_t len,
                                unsigned char **payload, size_t *payload_len);
const char *cg_ticket_status_text(cg_ticket_status st);

/* ---- the key set in force for a listener ---- */

typedef struct cg_ticket_keyring cg_ticket_keyring;

/* Loads path; NULL with a sentence in err when it does not load. */
cg_ticket_keyring *cg_ticket_keyring_new(const char *path, char *err, size_t cap);
/* A ring of this process's own random keys, for a listener without a key
 * file: a new sealing key every rotate_s seconds (the ticket lifetime), the
 * previous one kept to open the tickets it sealed, as mbedTLS's own ticket
 * keys do. Its path is NULL; refreshing it changes nothing. */
cg_ticket_keyring *cg_ticket_keyring_new_random(uint32_t rotate_s, cg_ticket_rng rng, void *rng_ctx, char *err,
                                                size_t cap);
void cg_ticket_keyring_free(cg_ticket_keyring *r);
const char *cg_ticket_keyring_path(const cg_ticket_keyring *r);

typedef enum {
    CG_KEYRING_UNCHANGED,  /* the file looks as it did at the last check */
    CG_KEYRING_REPLACED,   /* a new key set is in force */
    CG_KEYRING_KEPT,       /* the file changed but does not load: err says why; the keys in force stay */
} cg_keyring_result;

/* Main thread: when the file's identity, size or times changed since the
 * last check (or force), loads it and puts the new set in force. A file
 * that fails is reported once per change. *nkeys: keys now in force. */
cg_keyring_result cg_ticket_keyring_refresh(cg_ticket_keyring *r, bool force, size_t *nkeys, char *err, size_t cap);

/* Workers: the same as cg_ticket_seal / cg_ticket_open with the set in force. */
cg_ticket_status cg_ticket_keyring_seal(cg_ticket_keyring *r, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                        uint64_t issued, cg_ticket_rng rng, void *rng_ctx, unsigned char *buf,
                                        size_t cap, size_t n, size_t *out_len);
cg_ticket_status cg_ticket_keyring_open(cg_ticket_keyring *r, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                        uint64_t now, uint32_t lifetime_s, unsigned char *ticket, size_t len,
                                        unsigned char **payload, size_t *payload_len);

#endif
