/* The public header of the kerberos wing: S4U2Self + S4U2Proxy on the thread pool, the per-(user,
 * SPN) ticket cache, realms, and the diagnosis of every KDC answer.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_KERBEROS_WING_H
#define CG_KERBEROS_WING_H

#include "deleg_model.h"
#include "delegation.h"
#include "kdc_diagnose.h"
#include "kdc_errors.h"
#include "kdc_steps.h"

#endif
