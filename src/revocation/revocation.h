/* The public header of the revocation wing: CRLs parsed, stored, fetched without blocking, and one
 * chain's revocation verdict.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_REVOCATION_WING_H
#define CG_REVOCATION_WING_H

#include "crl_check.h"
#include "crl_fetch.h"
#include "crl_store.h"

#endif
