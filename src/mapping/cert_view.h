/* A client certificate as the mapping rules see it (docs/mapping.md): the
 * subject's and issuer's attributes and the SAN's UPN, e-mail, DNS and URI
 * entries, decoded from DER once per mapping, on the stack (dn.h decodes
 * the string types). A value that does not decode to UTF-8 free of control
 * characters is kept with its problem: it never matches and never goes into
 * a principal. Also the names rules and templates use for the fields
 * (subject.CN, san.upn ...) and the attribute types of distinguished names.
 * Part of the certificate mapping (mapping.h).
 */
#ifndef CG_CERT_VIEW_H
#define CG_CERT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

/* Bounds. Each is far beyond real use; past them the input is a mistake or
 * an attack, and a fixed bound keeps mapping free of allocation. */
#define CG_VIEW_MAX_VALUES 64      /* attributes in subject + issuer + SAN entries */
#define CG_VIEW_TEXT       8192    /* their decoded text */
#define CG_DN_MAX          1024    /* a canonical DN (strong keys) */
#define CG_SKI_MAX         64      /* bytes of a subject key identifier */

typedef struct cg_sb cg_sb; /* mapping_text.h */

/* The sub-fields rules and templates can name. A slot is a (field,
 * sub-field) pair: subject.CN, issuer.O, san.upn ... */
enum { SUB_CN, SUB_O, SUB_OU, SUB_L, SUB_ST, SUB_C, SUB_DC, SUB_UID, SUB_EMAIL, SUB_SERIALNUMBER,
       N_DN_SUBS };
enum { SAN_UPN, SAN_EMAIL, SAN_DNS, SAN_URI, N_SAN_SUBS };
enum { FIELD_SUBJECT, FIELD_ISSUER, FIELD_SAN, N_FIELDS };
#define N_SLOTS    (2 * N_DN_SUBS + N_SAN_SUBS)
#define SLOT_OTHER 0xFF

/* Attribute types of distinguished names: the rule sub-fields and the other
 * common ones (shown by name and accepted in DN text). Others are shown and
 * compared as dotted OIDs. */
typedef struct cg_attr_type {
    const char *name;   /* as shown (RFC 4514 / OpenSSL short name) */
    const char *canon;  /* as compared in canonical DNs */
    const char *oid;    /* DER content of the OID */
    size_t oid_len;
    int sub;            /* SUB_* or -1 */
} cg_attr_type;

/* Why a value cannot be used (VP_OK: it can). */
typedef enum {
    VP_OK, VP_NUL, VP_CONTROL, VP_UTF8, VP_CHARSET, VP_NOT_STRING, VP_ROOM, VP_MALFORMED
} cg_vproblem;

typedef struct cg_value {
    const char *s;           /* decoded UTF-8 (not NUL-terminated); valid when problem == VP_OK */
    uint16_t len;
    uint8_t field;           /* FIELD_* */
    uint8_t slot;            /* SLOT_OTHER when no rule can name it */
    uint8_t problem;         /* cg_vproblem */
    bool rdn_more;           /* DN: the next value belongs to the same RDN */
    uint32_t detail;         /* for the problem's message */
    int16_t next;            /* next value in the same slot, -1 */
    const unsigned char *oid; /* DN attribute type (DER content); NULL for SAN */
    size_t oid_len;
    uint8_t tag;             /* the value's DER tag, for "#hex" display */
    const unsigned char *raw; /* the value's DER content */
    size_t raw_len;
} cg_value;

/* Keys for the one-to-one table, computed on demand. */
typedef struct cg_view_keys {
    bool sha256_done, serial_done, ski_done, sha1pk_done, issuer_done, subject_done;
    bool has_ski, issuer_ok, subject_ok;
    char sha256[65];
    char serial[2 * MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN + 1];
    char ski[2 * CG_SKI_MAX + 1];
    char sha1pk[41];
    char issuer[CG_DN_MAX];
    char subject[CG_DN_MAX];
} cg_view_keys;

/* Everything the mapper reads from a certificate, decoded once per
 * mapping, on the stack: mapping never allocates. */
typedef struct cg_view {
    const mbedtls_x509_crt *crt;
    cg_value v[CG_VIEW_MAX_VALUES];
    uint16_t n;
    uint16_t dn_begin[2], dn_end[2]; /* value ranges of subject and issuer */
    int16_t first[N_SLOTS];
    uint8_t count[N_SLOTS];
    uint32_t present;   /* slots with at least one value */
    uint32_t tainted;   /* slots with an undecodable value (or all, on overflow) */
    bool overflow;      /* some values did not fit: every slot is suspect */
    bool san_malformed; /* the SAN extension could not be read */
    const unsigned char *ski; /* subject key identifier, NULL if none */
    size_t ski_len;
    char text[CG_VIEW_TEXT];
    size_t used;
    cg_view_keys keys;
} cg_view;

/* ---- fields and sub-fields ---- */

extern const char *const cg_field_names[N_FIELDS]; /* "subject", "issuer", "san" */
int cg_slot_of(int field, int sub);
/* "subject.CN" */
const char *cg_slot_name(int slot, char *buf, size_t cap);
/* FIELD_*, ASCII case-insensitive; -1 if unknown. */
int cg_field_by_name(const char *s, size_t n);
/* SUB_* or SAN_* of field, ASCII case-insensitive, with the aliases Windows
 * uses (S for ST, E for emailAddress); -1 if unknown. */
int cg_sub_by_name(int field, const char *s, size_t n);
/* The canonical spelling of a rule sub-field of field (subject, issuer or
 * san), accepting other cases and Windows' S and E; NULL if there is none. */
const char *cg_mapping_sub_field(const char *field, const char *sub);

/* ---- attribute types ---- */

extern const cg_attr_type cg_attr_types[];
extern const size_t cg_attr_type_count;
const cg_attr_type *cg_attr_by_oid(const unsigned char *oid, size_t len);
/* By name or alias, ASCII case-insensitively. */
const cg_attr_type *cg_attr_by_name(const char *s, size_t len);

/* ---- values ---- */

/* "contains a NUL character", "is not valid UTF-8 (byte 3)" ... */
void cg_vproblem_text(cg_vproblem p, uint32_t detail, char *out, size_t cap);
/* Whether s is UTF-8 without control characters (C0, DEL, C1). */
bool cg_mapping_text_ok(const char *s, size_t len);

/* ---- the view ---- */

void cg_view_init(cg_view *v, const mbedtls_x509_crt *crt);
/* The subject or issuer as RFC 4514 text (dn.h), appended to b. */
void cg_view_dn_text(const cg_view *v, int field, cg_sb *b);
/* Decoded RFC 4514 text of the subject or issuer ("CN=alice,OU=Sales,..."):
 * values decoded from DER, special characters escaped as RFC 4514 says and
 * values that cannot be decoded in "#hex" form. */
void cg_mapping_cert_dn(const mbedtls_x509_crt *crt, bool issuer, char *out, size_t cap);

#endif
