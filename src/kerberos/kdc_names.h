/* Which Kerberos name certgate asks the KDC for, given the principal a
 * certificate mapping gives, the way Active Directory reads names:
 *
 *   alice                      alice@DEFAULT            (the proxy's realm)
 *   alice@example.test         alice@EXAMPLE.TEST       a configured realm, matched without regard to
 *                                                       case (AD CS writes UPN suffixes in lower
 *                                                       case); the realm's configured spelling
 *   carol@corp.example.com     carol\@corp.example.com@REALM   an enterprise name (a UPN,
 *                                                       KRB5_NT_ENTERPRISE_PRINCIPAL), asked in the
 *                                                       realm listing corp.example.com in its
 *                                                       upn_suffixes, else in the proxy's realm; the
 *                                                       KDC's canonical name is used from then on
 *
 * The request name is written as MIT's krb5_unparse_name writes it: an
 * enterprise name is the one whose single component holds an '@' (escaped
 * as "\@"); cg_kdc_request_principal() turns it back into a krb5 principal.
 * Pure: no KDC, no krb5 context except in cg_kdc_request_principal.
 */
#ifndef CG_KDC_NAMES_H
#define CG_KDC_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include <krb5.h>

#include "config/config.h"

/* The realms a proxy serves: its own (the default) and kerberos.realms. */
typedef struct cg_kdc_realm_view {
    const char *default_realm;
    const cg_kerberos_realm_cfg *realms;
    size_t nrealms;
} cg_kdc_realm_view;

typedef enum {
    CG_KDC_NAME_PRINCIPAL,   /* user@REALM, REALM a configured realm */
    CG_KDC_NAME_ENTERPRISE,  /* a UPN whose suffix is not a configured realm */
} cg_kdc_name_kind;

typedef struct cg_kdc_user {
    cg_kdc_name_kind kind;
    char name[512];          /* the request name: "alice@EXAMPLE.TEST", "carol\@corp.example.com@AD.EXAMPLE.TEST" */
    char realm[256];         /* the realm asked (the name's realm) */
    char suffix[256];        /* enterprise: the UPN suffix as mapped ("corp.example.com") */
    bool suffix_listed;      /* enterprise: suffix is in a realm's upn_suffixes */
} cg_kdc_user;

/* The mapped principal -> what to ask. Refused (false, a sentence in err):
 * empty, control characters or spaces, a backslash, more than one '@', an
 * empty user or realm part, a '/' (a service or instance principal is never
 * impersonated), no realm anywhere, too long. */
bool cg_kdc_user_resolve(const char *mapped, const cg_kdc_realm_view *v, cg_kdc_user *out, char *err,
                         size_t errcap);

/* A request name (cg_kdc_user.name, or a canonical name) read back: its
 * kind, realm and UPN suffix. false when it has no realm. */
bool cg_kdc_user_from_request(const char *name, const cg_kdc_realm_view *v, cg_kdc_user *out);

/* The configured realm named s without regard to case (its configured
 * spelling), or NULL. The default realm counts. */
const char *cg_kdc_realm_find(const cg_kdc_realm_view *v, const char *s, size_t len);

/* The request name back as a krb5 principal: enterprise type when its one
 * component holds an '@'. */
krb5_error_code cg_kdc_request_principal(krb5_context ctx, const char *name, krb5_principal *out);

/* A request or canonical name as people write it, for logs and sentences:
 * an enterprise name is its UPN ("carol@corp.example.com"), any other name
 * itself. */
const char *cg_kdc_name_display(const char *name, char *out, size_t cap);

/* The realm part of a request or canonical name ("" when none): after the
 * last unescaped '@'. */
const char *cg_kdc_name_realm(const char *name);

#endif
