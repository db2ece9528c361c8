/* The keys of one-to-one entries (docs/mapping.md): the certificate's
 * SHA-256, and the AD-style strong keys (issuer + serial, subject key
 * identifier, SHA-1 of the public key, issuer + subject, RFC 822 name),
 * computed from a certificate view on demand; and the canonical form of
 * distinguished names those keys compare, from a certificate or from the
 * RFC 4514 text operators write in issuer: and subject:. Part of the
 * certificate mapping (mapping.h).
 */
#ifndef CG_CERT_KEY_H
#define CG_CERT_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "cert_view.h"

/* What identifies the certificate of a one-to-one entry. Strong keys (as
 * AD's altSecurityIdentities) are one-to-one entries too: exact keys,
 * looked up in the same table, under the same precedence. */
typedef enum { K_SHA256, K_ISSUER_SERIAL, K_SKI, K_SHA1PK, K_ISSUER_SUBJECT, K_RFC822, N_KINDS } cg_kind;

/* One attribute of a DN, in RFC 4514 order (most specific RDN first). */
typedef struct cg_dn_attr {
    const char *type;  /* canonical type: upper-case name or dotted OID */
    const char *val;   /* decoded value */
    size_t len;
    bool rdn_more;     /* the next attribute is in the same (multi-valued) RDN */
} cg_dn_attr;

typedef struct cg_dn_parse {
    cg_dn_attr attrs[CG_VIEW_MAX_VALUES];
    size_t n;
    char vals[CG_DN_MAX];      /* unescaped values */
    size_t used;
    char oids[CG_VIEW_MAX_VALUES][64];
    bool x500_order;           /* looks like "C=..,O=..,CN=.." (most general first) */
} cg_dn_parse;

extern const char *const cg_kind_names[N_KINDS];

/* Builds the certificate's key of kind k (not rfc822) into key; false when
 * the certificate has none (no SKI); *undecodable when it cannot be
 * computed because a name does not decode. */
bool cg_view_key(cg_view *v, cg_kind k, char *key, size_t cap, bool *undecodable);
const char *cg_view_key_sha256(cg_view *v);
/* NULL when the certificate has no subject key identifier. */
const char *cg_view_key_ski(cg_view *v);
const char *cg_view_key_sha1pk(cg_view *v);

/* The canonical form strong keys compare; false when it does not fit. */
bool cg_dn_canon(const cg_dn_attr *a, size_t n, char *out, size_t cap);
/* RFC 4514 text -> attributes; false with the reason in why. */
bool cg_dn_parse_text(cg_dn_parse *d, const char *s, size_t len, char *why, size_t wcap);
/* The attributes in reverse RDN order, as text (for "write it this way"). */
void cg_dn_reverse_text(const cg_dn_parse *d, char *out, size_t cap);
/* The canonical form of an RFC 4514 distinguished name as strong keys
 * compare it; false (with a reason in why) when dn is not a valid DN. */
bool cg_dn_canonical(const char *dn, char *out, size_t cap, char *why, size_t why_cap);

#endif
