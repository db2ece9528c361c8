/* Distinguished names as text: the one renderer for every place that shows
 * a certificate's subject or issuer (identity headers, log lines, refusal
 * sentences, `certgate explain`, mapping diagnostics), and the decoder of
 * the ASN.1 string types that the mapper compares (docs/mapping.md).
 *
 * The text is the RFC 4514 string representation:
 *   - RDNs in RFC 4514 order, the reverse of the DER order (most specific
 *     first: "CN=alice,O=Example,C=US"), separated by ',' without spaces;
 *     the values of a multi-valued RDN joined by '+' in DER order;
 *   - attribute types by name for the usual ones (CN, O, OU, L, ST, C,
 *     STREET, DC, UID, emailAddress, serialNumber, SN, GN, title, ...: the
 *     names the mapping language accepts), dotted OIDs otherwise;
 *   - values decoded from their string type: UTF8String (valid UTF-8),
 *     PrintableString / IA5String / NumericString / VisibleString (ASCII),
 *     BMPString (UCS-2 big endian), UniversalString (UCS-4 big endian),
 *     TeletexString only when it is ASCII (its other bytes mean different
 *     characters to different software: Latin-1, T.61 diacritics, UTF-8).
 *     A value that does not decode (invalid UTF-8, a surrogate, an odd
 *     length, a non-ASCII byte in an ASCII type, another tag) is written as
 *     '#' and the hex of its whole DER encoding, never guessed;
 *   - escapes: '\' before " + , ; < > \ = and before a leading '#' or space
 *     and a trailing space; "\XX" (hex of the UTF-8 bytes) for C0 controls
 *     (NUL included), DEL and C1 controls, and for the invisible characters
 *     that reorder or break displayed text (bidi marks and overrides, line
 *     and paragraph separators, the BOM). With CG_DN_ASCII every byte of a
 *     non-ASCII character is escaped too, so the text is printable ASCII.
 * The result never contains a control byte and is valid UTF-8; decoding the
 * escapes gives back the exact values: two different names never render
 * the same. Every length renders: there is no truncation here.
 */
#ifndef CG_DN_H
#define CG_DN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_DN_ASCII 1u /* non-ASCII characters as \XX escapes of their UTF-8 bytes */

/* cg_dn_format()'s answer for bytes that are not a DER Name. */
#define CG_DN_MALFORMED ((size_t)-1)

/* Renders the DER Name (the whole SEQUENCE OF RelativeDistinguishedName) at
 * der. Returns the length of the full text (NUL not counted), like
 * snprintf, or CG_DN_MALFORMED; out (cap bytes, may be NULL when cap is 0)
 * gets as much of it as fits, cut only between characters or escapes, and
 * always NUL-terminated when cap > 0. Pure: no allocation, no state. */
size_t cg_dn_format(const unsigned char *der, size_t len, unsigned flags, char *out, size_t cap);

/* The whole text in a buffer of exactly its size (free() it); a malformed
 * name gives "(malformed name)". NULL only when out of memory. */
char *cg_dn_text(const unsigned char *der, size_t len, unsigned flags);

/* Bounded text for sentences: as much as fits in cap, ending in "..." when
 * cut; "(malformed name)" for bytes that are not a Name. Returns out. */
char *cg_dn_text_into(const unsigned char *der, size_t len, char *out, size_t cap);

/* ---- values ---- */

typedef enum {
    CG_DN_VALUE_OK,
    CG_DN_VALUE_UTF8,        /* a UTF8String that is not valid UTF-8 */
    CG_DN_VALUE_CHARSET,     /* a character its string type does not allow (or an odd length) */
    CG_DN_VALUE_NOT_STRING,  /* a tag that is not a character string type */
    CG_DN_VALUE_ROOM,        /* out is too small */
} cg_dn_value_status;

/* Decodes the content (p, len) of a DER string with tag into UTF-8 at out
 * (not NUL-terminated): the decoding described above, control characters
 * included as they are. *olen gets the length; *bad_at the byte offset of
 * the first invalid UTF-8 byte (CG_DN_VALUE_UTF8). 4 * len bytes of out
 * are always enough. */
cg_dn_value_status cg_dn_value_decode(int tag, const unsigned char *p, size_t len, char *out, size_t cap,
                                      size_t *olen, size_t *bad_at);

/* Length (1-4) of the well-formed UTF-8 sequence at s, 0 when there is
 * none (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t cg_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 (1-4 bytes); returns the length. */
size_t cg_utf8_put(uint32_t cp, char *out);

/* ---- attribute types ---- */

typedef struct cg_dn_type {
    const char *name;    /* as shown (RFC 4514 / OpenSSL short name) */
    const char *oid;     /* DER content of the OID */
    size_t oid_len;
} cg_dn_type;

/* The types shown by name, NULL for others (shown as dotted OIDs). */
const cg_dn_type *cg_dn_type_by_oid(const unsigned char *oid, size_t len);

/* The dotted form of a DER OID's content ("2.5.4.3") into out; false when
 * it is not a well-formed OID or does not fit. */
bool cg_dn_oid_dotted(const unsigned char *oid, size_t len, char *out, size_t cap);

#endif
