/* The public header of the x509 wing: the verdict on a client certificate, the verified-chain cache, bounded
 * handshake work, distinguished names.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_X509_WING_H
#define CG_X509_WING_H

#include "chain_cache.h"
#include "chain_limits.h"
#include "dn.h"
#include "verify.h"

#endif
