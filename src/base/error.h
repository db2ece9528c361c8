/* Errors as values.
 *
 * Two kinds:
 *  - cg_refusal: why a client request was refused. Stable code, HTTP status
 *    and IIS-style sub-status, a title, and a sentence written for the
 *    operator (detail: cause and fix) that always goes to the log line.
 *    Each kind also has words for the person in front of the browser
 *    (cg_refusal_user): what happened and what they can do. The page
 *    (error_page.h) shows those; the operator sentence only to operators,
 *    since it names files, rules, backends and accounts.
 *  - cg_diag: a problem in a configuration file, with file:line:column.
 */
#ifndef CG_ERROR_H
#define CG_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* Every refusal certgate can produce. The enum order is not stable; the
 * string code (cg_refusal_code) is, and is what logs and pages carry. */
typedef enum cg_refusal_kind {
    CG_REFUSE_NONE = 0,
    CG_REFUSE_BAD_REQUEST,           /* 400      malformed or ambiguous request   */
    CG_REFUSE_HEAD_TOO_LARGE,        /* 431      request head over the limits     */
    CG_REFUSE_HEADER_TIMEOUT,        /* 408      request head not received in time */
    CG_REFUSE_BODY_TIMEOUT,          /* 408      request body stalled             */
    CG_REFUSE_BODY_TOO_LARGE,        /* 413      request body over max_request_body */
    CG_REFUSE_CERT_MISSING,          /* 403.7    no client certificate            */
    CG_REFUSE_CERT_UNTRUSTED,        /* 403.16   untrusted or invalid             */
    CG_REFUSE_CERT_EKU,              /* 403.16   no Client Authentication EKU     */
    CG_REFUSE_CERT_EXPIRED,          /* 403.17   expired                          */
    CG_REFUSE_CERT_NOT_YET_VALID,    /* 403.17   not yet valid                    */
    CG_REFUSE_CERT_REVOKED,          /* 403.13   revoked                          */
    CG_REFUSE_REVOCATION_UNKNOWN,    /* 403.13   no valid CRL obtainable (fail closed) */
    CG_REFUSE_MAP_DENIED,            /* 403.12   a deny mapping matched           */
    CG_REFUSE_MAP_NONE,              /* 401.2    no mapping matched               */
    CG_REFUSE_MAP_NONE_403,          /* 403      no mapping matched (configured)  */
    CG_REFUSE_KDC_UNREACHABLE,       /* 503      the KDC did not answer           */
    CG_REFUSE_PRINCIPAL_UNKNOWN,     /* 403      user not found in the realm      */
    CG_REFUSE_REALM_UNKNOWN,         /* 403      the user's realm is not served   */
    CG_REFUSE_DELEGATION_DENIED,     /* 502      proxy may not delegate to the SPN */
    CG_REFUSE_NOT_FORWARDABLE,       /* 502      S4U2Self ticket not forwardable  */
    CG_REFUSE_DELEGATION_FAILED,     /* 502      any other Kerberos failure       */
    CG_REFUSE_NO_ROUTE,              /* 404      no route for the path            */
    CG_REFUSE_METHOD,                /* 501      method not supported (CONNECT, upgrade) */
    CG_REFUSE_BACKEND_UNREACHABLE,   /* 502      connect failed                   */
    CG_REFUSE_BACKEND_BAD_RESPONSE,  /* 502      backend sent something invalid    */
    CG_REFUSE_BACKEND_TIMEOUT,       /* 504      backend did not answer in time   */
    CG_REFUSE_OVERLOADED,            /* 503      connection limit reached         */
    CG_REFUSE_RATE_LIMITED,          /* 429      over the listener's rate_limit   */
    CG_REFUSE_SHUTTING_DOWN,         /* 503      server is stopping               */
    /* The exact diagnoses of KDC answers (kdc_errors.h) and of a backend
     * that refuses the token's size. */
    CG_REFUSE_ACCOUNT_DISABLED,      /* 403      user account disabled or locked  */
    CG_REFUSE_ACCOUNT_EXPIRED,       /* 403      user account or password expired */
    CG_REFUSE_USER_NOT_DELEGABLE,    /* 403      user marked sensitive / Protected Users */
    CG_REFUSE_ENCTYPE_MISMATCH,      /* 502      keytab and account share no enctype */
    CG_REFUSE_KEYTAB_STALE,          /* 502      keytab key is not the account's (kvno) */
    CG_REFUSE_CLOCK_SKEW,            /* 502      this host's clock is off          */
    CG_REFUSE_TOKEN_TOO_LARGE,       /* 502      backend refused the token's size  */
    CG_REFUSE_CERT_TOO_LARGE,        /* 403      certificate headers over forward_client_cert_der.max_size */
    /* An https backend's TLS handshake (net's tls_client.h). */
    CG_REFUSE_BACKEND_TLS_UNTRUSTED, /* 502      backend certificate not trusted / not valid */
    CG_REFUSE_BACKEND_TLS_NAME,      /* 502      backend certificate for another name */
    CG_REFUSE_BACKEND_TLS_HANDSHAKE, /* 502      alert or protocol error with the backend */
    CG_REFUSE_KIND_COUNT
} cg_refusal_kind;

typedef struct cg_refusal {
    cg_refusal_kind kind;
    char detail[768]; /* the operator sentence: what happened, what to fix */
} cg_refusal;

/* What a refusal means to the user: no names of anything inside the
 * service, the same for every request of a kind. */
typedef struct cg_refusal_words {
    const char *title; /* "Your certificate was not accepted" */
    const char *what;  /* what happened, in the user's terms */
    const char *todo;  /* what the person can do about it */
} cg_refusal_words;

int         cg_refusal_status(cg_refusal_kind k);    /* HTTP status, e.g. 403 */
int         cg_refusal_substatus(cg_refusal_kind k); /* IIS sub-status or 0    */
const char *cg_refusal_code(cg_refusal_kind k);      /* stable, e.g. "client_cert_expired" */
const char *cg_refusal_title(cg_refusal_kind k);     /* short title, for operators */
/* The user's words for k (never NULL; an unknown kind gets generic ones). */
const cg_refusal_words *cg_refusal_user(cg_refusal_kind k);
/* "403.16", or "503" without a sub-status, into out (16 bytes are enough). */
const char *cg_refusal_status_text(cg_refusal_kind k, char *out, size_t cap);
/* "Forbidden" for 403 and so on. */
const char *cg_http_reason_phrase(int status);

/* Fills r with kind and a printf-formatted detail sentence. */
void cg_refuse(cg_refusal *r, cg_refusal_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- configuration diagnostics ---- */

typedef enum { CG_DIAG_ERROR, CG_DIAG_WARNING } cg_diag_severity;

typedef struct cg_diag_item {
    cg_diag_severity severity;
    char *file;   /* may be NULL when the problem is not tied to a file */
    int line;     /* 1-based; 0 when unknown */
    int column;   /* 1-based; 0 when unknown */
    char *message;
} cg_diag_item;

typedef struct cg_diag {
    cg_diag_item *items;
    size_t count, cap;
    size_t errors, warnings;
} cg_diag;

void cg_diag_init(cg_diag *d);
void cg_diag_free(cg_diag *d);
void cg_diag_add(cg_diag *d, cg_diag_severity sev, const char *file, int line, int column,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "file:line:column: error: message" (the form compilers use), one per line. */
void cg_diag_print(const cg_diag *d, void *stdio_file);
/* Sorts the items from index from on by file position (line, then column;
 * stable), so a load's problems read in file order. */
void cg_diag_sort(cg_diag *d, size_t from);

#endif
