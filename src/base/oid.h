/* Object identifiers as text: the dotted form of a DER OID, for messages,
 * explain and the mapping's attribute types. (Future wing: src/base/ or
 * src/x509/.)
 */
#ifndef CG_OID_H
#define CG_OID_H

#include <stddef.h>

/* "2.5.4.3" for the DER content bytes oid[0..len) into out; `fallback`
 * when they are not an OID or do not fit. Returns out. */
const char *cg_oid_text(const unsigned char *oid, size_t len, char *out, size_t cap, const char *fallback);

#endif
