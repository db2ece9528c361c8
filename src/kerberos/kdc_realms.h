/* The realms certgate serves and how libkrb5 learns their KDCs.
 *
 * Built at load and at reload (never per request), then immutable and
 * shared by reference: a copy of kerberos.realm and kerberos.realms (the
 * names kdc_names.h resolves against) and a krb5 profile in memory that
 * answers "[realms] NAME kdc" for every configured realm with kdcs and
 * hands every other question to the krb5.conf in force (kerberos.krb5_config
 * or KRB5_CONFIG). Each KDC exchange makes its context from that profile
 * (cg_kdc_realms_context), so no file is written and no environment
 * variable changes while threads run.
 */
#ifndef CG_KDC_REALMS_H
#define CG_KDC_REALMS_H

#include <stddef.h>

#include <krb5.h>

#include "config/config.h"
#include "base/base.h"
#include "kdc_names.h"

typedef struct cg_kdc_realms cg_kdc_realms;

/* NULL with a sentence in err when the krb5 configuration cannot be read. */
cg_kdc_realms *cg_kdc_realms_new(const cg_kerberos_cfg *cfg, char *err, size_t errcap);
cg_kdc_realms *cg_kdc_realms_ref(cg_kdc_realms *r);
void cg_kdc_realms_unref(cg_kdc_realms *r);

const cg_kdc_realm_view *cg_kdc_realms_view(const cg_kdc_realms *r);

/* A new krb5 context whose profile knows the configured KDCs. */
krb5_error_code cg_kdc_realms_context(cg_kdc_realms *r, krb5_context *out);

/* "127.0.0.1:88, dc2.corp:88" for realm, "" when it has none configured. */
const char *cg_kdc_realms_kdcs(const cg_kdc_realms *r, const char *realm, char *out, size_t cap);

/* An S4U2Self error that means the user's realm or UPN suffix is not served
 * here: a realm_unknown refusal for this user only (true), naming the realm
 * or suffix and the key to add. false: not such an error (kdc_errors.h
 * words it). */
bool cg_kdc_realm_refusal(const cg_kdc_realms *r, const cg_kdc_user *u, krb5_error_code code, const char *krb_msg,
                          cg_refusal *out);

#endif
