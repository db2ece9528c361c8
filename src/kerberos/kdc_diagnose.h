/* The questions certgate asks the KDC only after a Kerberos step failed, to
 * tell apart situations the KDC answers with the same code (kdc_errors.h's
 * hints): does the KDC give the proxy forwardable S4U2Self tickets at all
 * (protocol transition), and which enctypes do the keytab and the proxy's
 * account have. Then the catalogue's refusal.
 *
 * Each probe is one or a few KDC round trips and blocks: call these on a
 * thread pool (delegation.c) or in `certgate doctor` (doctor.c). They
 * never run on a successful exchange.
 */
#ifndef CG_KDC_DIAGNOSE_H
#define CG_KDC_DIAGNOSE_H

#include <krb5.h>

#include "base/base.h"
#include "kdc_errors.h"

/* The refusal for rc in phase, after the probes that phase and code call
 * for (a refused S4U2Proxy of non-forwardable evidence: does the proxy get
 * forwardable tickets for others; a key failure of the AS exchange: the
 * enctypes). ccname holds the proxy's TGT (NULL: no TGS probe);
 * evidence is the S4U2Self ticket, when there is one. n->known, when set,
 * is the starting point. */
void cg_kdc_diagnose(krb5_context ctx, const char *ccname, cg_kdc_phase phase, krb5_error_code rc,
                     const krb5_creds *evidence, const cg_kdc_names *n, cg_refusal *out);

/* Whether the KDC gives the proxy (the TGT in ccname) a forwardable
 * S4U2Self ticket for a reference principal that is not the user: the
 * backend's SPN (MIT), the proxy itself (AD, by account name), then the
 * keytab's other principals without an instance (the sAMAccountName that
 * samba-tool exports beside the SPN). At most 3 TGS requests; UNKNOWN when
 * no reference could be asked. */
cg_kdc_answer cg_kdc_probe_transition(krb5_context ctx, const char *ccname, const cg_kdc_names *n);

/* The proxy's enctypes in the keytab and on the KDC (an AS request without
 * preauthentication per candidate enctype: no key is used), and whether the
 * keytab holds a key of the enctype the KDC picks for the account, into k. */
void cg_kdc_probe_enctypes(krb5_context ctx, const char *keytab, const char *proxy, cg_kdc_known *k);

#endif
