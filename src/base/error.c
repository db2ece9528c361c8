#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

static const struct {
    int status, substatus;
    const char *code, *title;
} refusals[CG_REFUSE_KIND_COUNT] = {
    [CG_REFUSE_NONE]                 = { 200, 0, "ok", "OK" },
    [CG_REFUSE_BAD_REQUEST]          = { 400, 0, "bad_request", "Bad request" },
    [CG_REFUSE_HEAD_TOO_LARGE]       = { 431, 0, "request_head_too_large", "Request header fields too large" },
    [CG_REFUSE_HEADER_TIMEOUT]       = { 408, 0, "request_header_timeout", "Request header timeout" },
    [CG_REFUSE_BODY_TIMEOUT]         = { 408, 0, "request_body_timeout", "Request body timeout" },
    /* IIS's request filtering says 404.13 for this; 413 is what HTTP clients
     * understand (RFC 9110 15.5.14), so no sub-status (docs/errors.md). */
    [CG_REFUSE_BODY_TOO_LARGE]       = { 413, 0, "request_body_too_large", "Request body too large" },
    [CG_REFUSE_CERT_MISSING]         = { 403, 7, "client_cert_missing", "Client certificate required" },
    [CG_REFUSE_CERT_UNTRUSTED]       = { 403, 16, "client_cert_untrusted", "Client certificate untrusted or invalid" },
    [CG_REFUSE_CERT_EKU]             = { 403, 16, "client_cert_eku", "Client certificate not valid for client authentication" },
    [CG_REFUSE_CERT_EXPIRED]         = { 403, 17, "client_cert_expired", "Client certificate has expired" },
    [CG_REFUSE_CERT_NOT_YET_VALID]   = { 403, 17, "client_cert_not_yet_valid", "Client certificate is not yet valid" },
    [CG_REFUSE_CERT_REVOKED]         = { 403, 13, "client_cert_revoked", "Client certificate revoked" },
    [CG_REFUSE_REVOCATION_UNKNOWN]   = { 403, 13, "revocation_status_unknown", "Revocation status unknown" },
    [CG_REFUSE_MAP_DENIED]           = { 403, 12, "mapper_denied", "Mapper denied access" },
    [CG_REFUSE_MAP_NONE]             = { 401, 2, "no_mapping", "Logon failed due to server configuration" },
    [CG_REFUSE_MAP_NONE_403]         = { 403, 0, "no_mapping", "No account mapped to this certificate" },
    [CG_REFUSE_KDC_UNREACHABLE]      = { 503, 0, "kdc_unreachable", "KDC unreachable" },
    [CG_REFUSE_PRINCIPAL_UNKNOWN]    = { 403, 0, "principal_unknown", "Principal not found in realm" },
    /* 403, not 502: the gateway works for everyone else; this account's
     * domain is not one it serves, and trying again will not help. */
    [CG_REFUSE_REALM_UNKNOWN]        = { 403, 0, "realm_unknown", "Realm not served" },
    [CG_REFUSE_DELEGATION_DENIED]    = { 502, 0, "delegation_denied", "Delegation to the backend not allowed" },
    [CG_REFUSE_NOT_FORWARDABLE]      = { 502, 0, "s4u2self_not_forwardable", "Protocol transition not allowed" },
    [CG_REFUSE_DELEGATION_FAILED]    = { 502, 0, "delegation_failed", "Kerberos delegation failed" },
    [CG_REFUSE_NO_ROUTE]             = { 404, 0, "no_route", "No route for this path" },
    [CG_REFUSE_METHOD]               = { 501, 0, "not_implemented", "Not implemented" },
    [CG_REFUSE_BACKEND_UNREACHABLE]  = { 502, 0, "backend_unreachable", "Backend unreachable" },
    [CG_REFUSE_BACKEND_BAD_RESPONSE] = { 502, 0, "backend_bad_response", "Invalid response from the backend" },
    [CG_REFUSE_BACKEND_TIMEOUT]      = { 504, 0, "backend_timeout", "Backend timeout" },
    [CG_REFUSE_OVERLOADED]           = { 503, 0, "overloaded", "Too many connections" },
    [CG_REFUSE_RATE_LIMITED]         = { 429, 0, "rate_limited", "Too many requests" },
    [CG_REFUSE_SHUTTING_DOWN]        = { 503, 0, "shutting_down", "Server shutting down" },
    [CG_REFUSE_ACCOUNT_DISABLED]     = { 403, 0, "account_disabled", "User account disabled or locked" },
    [CG_REFUSE_ACCOUNT_EXPIRED]      = { 403, 0, "account_expired", "User account or password expired" },
    [CG_REFUSE_USER_NOT_DELEGABLE]   = { 403, 0, "user_not_delegable", "User account cannot be delegated" },
    [CG_REFUSE_ENCTYPE_MISMATCH]     = { 502, 0, "enctype_mismatch", "No encryption type shared by the keytab and the account" },
    [CG_REFUSE_KEYTAB_STALE]         = { 502, 0, "keytab_stale", "Keytab key does not match the KDC's" },
    [CG_REFUSE_CLOCK_SKEW]           = { 502, 0, "clock_skew", "Clock skew with the KDC" },
    [CG_REFUSE_TOKEN_TOO_LARGE]      = { 502, 0, "backend_token_too_large", "Kerberos token too large for the backend" },
    /* 403, not 502: it is this certificate that is too large to pass on,
     * and every request with it would be refused the same. */
    [CG_REFUSE_CERT_TOO_LARGE]       = { 403, 0, "client_cert_too_large", "Client certificate too large to forward" },
    [CG_REFUSE_BACKEND_TLS_UNTRUSTED] = { 502, 0, "backend_tls_untrusted", "Backend TLS certificate not trusted" },
    [CG_REFUSE_BACKEND_TLS_NAME]     = { 502, 0, "backend_tls_name_mismatch", "Backend TLS certificate for another name" },
    [CG_REFUSE_BACKEND_TLS_HANDSHAKE] = { 502, 0, "backend_tls_handshake", "TLS handshake with the backend failed" },
};

/* The user's side of each refusal. Written for someone who knows nothing
 * of certgate: no setting, file, backend or account names (those are in
 * the operator sentence), and an action they can take. "The request id
 * below" refers to the id every page shows. */
#define HELP_DESK "contact the help desk and give them the request id shown below."
#define CHOOSE_AGAIN                                                                                       \
    "Close every window of your browser, open the site again and choose another certificate when asked; " \
    "if you have no other, " HELP_DESK
#define NOT_YOU "This is not caused by you or your certificate. Try again later; if it keeps happening, " HELP_DESK
static const cg_refusal_words user_words[CG_REFUSE_KIND_COUNT] = {
    [CG_REFUSE_NONE] = { "OK", "The request succeeded.", "Nothing." },
    [CG_REFUSE_BAD_REQUEST] = {
        "Bad request",
        "Your browser or program sent a request this site could not understand.",
        "Reload the page, or start again from the site's home page. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_HEAD_TOO_LARGE] = {
        "Request too large",
        "Your browser sent more header data than this site accepts, usually because of too many or too large "
        "cookies.",
        "Delete this site's cookies in your browser's settings and try again." },
    [CG_REFUSE_HEADER_TIMEOUT] = {
        "Request timed out",
        "Your request did not arrive in time.",
        "Check your network connection and try again." },
    [CG_REFUSE_BODY_TIMEOUT] = {
        "Upload timed out",
        "The data your browser was sending stopped arriving.",
        "Check your network connection and send it again." },
    [CG_REFUSE_BODY_TOO_LARGE] = {
        "Upload too large",
        "The data your browser tried to send (a file or a form) is larger than this site accepts.",
        "Send a smaller file, or split it into several. If you need to send larger ones, " HELP_DESK },
    [CG_REFUSE_CERT_MISSING] = {
        "Certificate required",
        "This site signs you in with a personal certificate (on a smart card or installed in your browser), and "
        "your browser did not send one.",
        "Insert your smart card or install your certificate, close every window of your browser, then open the "
        "site again and choose your certificate when asked. If you are not asked, " HELP_DESK },
    [CG_REFUSE_CERT_UNTRUSTED] = {
        "Your certificate was not accepted",
        "The certificate your browser sent was not issued by an authority this site trusts, or it is not valid.",
        CHOOSE_AGAIN },
    [CG_REFUSE_CERT_EKU] = {
        "Your certificate was not accepted",
        "The certificate your browser sent is not meant for signing in to websites.",
        CHOOSE_AGAIN },
    [CG_REFUSE_CERT_EXPIRED] = {
        "Your certificate has expired",
        "The certificate your browser sent, or the authority that issued it, is past its expiry date.",
        "Renew your certificate, or ask the help desk for a new one, then choose it when your browser asks. "
        "If you think it is still valid, " HELP_DESK },
    [CG_REFUSE_CERT_NOT_YET_VALID] = {
        "Your certificate is not valid yet",
        "The certificate your browser sent is not valid yet: it may be brand new, or a clock may be wrong.",
        "Check the date and time of your computer, then try again later. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_CERT_REVOKED] = {
        "Your certificate has been revoked",
        "The authority that issued the certificate your browser sent has withdrawn it.",
        CHOOSE_AGAIN },
    [CG_REFUSE_REVOCATION_UNKNOWN] = {
        "Your certificate could not be checked",
        "This site could not check whether your certificate is still valid.",
        "Try again in a few minutes. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_MAP_DENIED] = {
        "Access denied",
        "Your certificate is valid, but it does not give access to this site.",
        "If you need access, " HELP_DESK },
    [CG_REFUSE_MAP_NONE] = {
        "Not authorised",
        "Your certificate is valid, but no account of this site is linked to it.",
        "If you have another certificate, choose it instead (close every window of your browser and open the site "
        "again); otherwise " HELP_DESK },
    [CG_REFUSE_MAP_NONE_403] = {
        "Not authorised",
        "Your certificate is valid, but no account of this site is linked to it.",
        "If you have another certificate, choose it instead (close every window of your browser and open the site "
        "again); otherwise " HELP_DESK },
    [CG_REFUSE_KDC_UNREACHABLE] = {
        "Service unavailable",
        "The sign-in service this site relies on is not answering right now.",
        "Try again in a few minutes. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_PRINCIPAL_UNKNOWN] = {
        "Your account cannot be used",
        "Your certificate is linked to an account that does not exist.",
        "Contact the help desk and give them the request id shown below." },
    [CG_REFUSE_REALM_UNKNOWN] = {
        "Your account's domain is not served here",
        "Your certificate is linked to an account in a domain that this site does not serve.",
        "Contact the help desk and give them the request id shown below." },
    [CG_REFUSE_DELEGATION_DENIED] = {
        "Sign-in to the application failed",
        "This site is not allowed to sign you in to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_NOT_FORWARDABLE] = {
        "Sign-in to the application failed",
        "This site is not allowed to sign people in to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_DELEGATION_FAILED] = {
        "Sign-in to the application failed",
        "This site could not sign you in to the application behind it.",
        "Try again later. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_NO_ROUTE] = {
        "Page not found",
        "There is nothing at this address.",
        "Check the address, or start again from the site's home page." },
    [CG_REFUSE_METHOD] = {
        "Not supported",
        "Your browser or program asked for something this site does not support.",
        "Use a standard web browser. If you think this is a mistake, " HELP_DESK },
    [CG_REFUSE_BACKEND_UNREACHABLE] = {
        "Service unavailable",
        "The application behind this site is not answering right now.",
        "Try again in a few minutes. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_BACKEND_BAD_RESPONSE] = {
        "Application error",
        "The application behind this site sent an answer that could not be used.",
        "Try again. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_BACKEND_TIMEOUT] = {
        "Application timed out",
        "The application behind this site took too long to answer.",
        "Try again in a few minutes. If it keeps happening, " HELP_DESK },
    [CG_REFUSE_OVERLOADED] = {
        "Server busy",
        "This site is handling too many connections right now.",
        "Wait a minute, then try again." },
    [CG_REFUSE_RATE_LIMITED] = {
        "Too many requests",
        "Your browser or program sent more requests in a short time than this site accepts from one user.",
        "Slow down: wait a few seconds, then try again. If a program of yours sends these requests, make it "
        "wait as long as the Retry-After header of this answer says." },
    [CG_REFUSE_SHUTTING_DOWN] = {
        "Server restarting",
        "This site is restarting.",
        "Try again in a minute." },
    [CG_REFUSE_ACCOUNT_DISABLED] = {
        "Your account is disabled or locked",
        "Your certificate is linked to an account that is disabled or locked.",
        "If you recently mistyped your password several times, wait a while and try again; otherwise " HELP_DESK },
    [CG_REFUSE_ACCOUNT_EXPIRED] = {
        "Your account has expired",
        "Your certificate is linked to an account that has expired, or whose password has expired.",
        "If you can, change your password; otherwise " HELP_DESK },
    [CG_REFUSE_USER_NOT_DELEGABLE] = {
        "Your account cannot be used here",
        "Your account is protected: it may not be used to sign in to applications through this site.",
        "If you need this application, " HELP_DESK },
    [CG_REFUSE_ENCTYPE_MISMATCH] = {
        "Sign-in to the application failed",
        "This site's sign-in setup has a problem, so it could not sign you in to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_KEYTAB_STALE] = {
        "Sign-in to the application failed",
        "This site's sign-in setup has a problem, so it could not sign you in to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_CLOCK_SKEW] = {
        "Sign-in to the application failed",
        "This site's clock is wrong, so it could not sign you in to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_TOKEN_TOO_LARGE] = {
        "Sign-in data too large",
        "Your sign-in data (it grows with the number of groups your account belongs to) is larger than the "
        "application behind this site accepts.",
        "This is not caused by your browser or your certificate: " HELP_DESK },
    [CG_REFUSE_CERT_TOO_LARGE] = {
        "Your certificate is too large",
        "Your certificate, with the certificates of its issuers, is larger than this site can pass on to the "
        "application behind it.",
        CHOOSE_AGAIN },
    /* The same words for the three: the user can do nothing about which. */
    [CG_REFUSE_BACKEND_TLS_UNTRUSTED] = {
        "Application unavailable",
        "This site could not open a secure connection to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_BACKEND_TLS_NAME] = {
        "Application unavailable",
        "This site could not open a secure connection to the application behind it.",
        NOT_YOU },
    [CG_REFUSE_BACKEND_TLS_HANDSHAKE] = {
        "Application unavailable",
        "This site could not open a secure connection to the application behind it.",
        NOT_YOU },
};

static const cg_refusal_words unknown_words = {
    "Error", "This site could not handle your request.", "Try again later. If it keeps happening, " HELP_DESK,
};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Error";
    }
}

static int kind_ok(cg_refusal_kind k) { return k >= 0 && k < CG_REFUSE_KIND_COUNT; }

int cg_refusal_status(cg_refusal_kind k) { return kind_ok(k) ? refusals[k].status : 500; }
int cg_refusal_substatus(cg_refusal_kind k) { return kind_ok(k) ? refusals[k].substatus : 0; }
const char *cg_refusal_code(cg_refusal_kind k) { return kind_ok(k) ? refusals[k].code : "internal"; }
const char *cg_refusal_title(cg_refusal_kind k) { return kind_ok(k) ? refusals[k].title : "Internal error"; }
const char *cg_http_reason_phrase(int status) { return reason_phrase(status); }
const cg_refusal_words *cg_refusal_user(cg_refusal_kind k)
{
    return kind_ok(k) && user_words[k].title ? &user_words[k] : &unknown_words;
}

void cg_refuse(cg_refusal *r, cg_refusal_kind k, const char *fmt, ...)
{
    r->kind = k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

const char *cg_refusal_status_text(cg_refusal_kind k, char *out, size_t cap)
{
    int st = cg_refusal_status(k), sub = cg_refusal_substatus(k);
    if (sub)
        snprintf(out, cap, "%d.%d", st, sub);
    else
        snprintf(out, cap, "%d", st);
    return out;
}

/* ---- diagnostics ---- */

void cg_diag_init(cg_diag *d) { memset(d, 0, sizeof *d); }

void cg_diag_free(cg_diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}

void cg_diag_add(cg_diag *d, cg_diag_severity sev, const char *file, int line, int column,
                 const char *fmt, ...)
{
    /* Counted first: even if the message cannot be stored, a load with an
     * error must never look clean. */
    if (sev == CG_DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (!cg_vec_reserve(d->items, d->cap, d->count + 1, 8))
        return;

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    cg_diag_item *it = &d->items[d->count++];
    it->severity = sev;
    it->file = file ? strdup(file) : NULL;
    it->line = line;
    it->column = column;
    it->message = strdup(msg);
}

void cg_diag_print(const cg_diag *d, void *stdio_file)
{
    FILE *f = stdio_file;
    for (size_t i = 0; i < d->count; i++) {
        const cg_diag_item *it = &d->items[i];
        const char *sev = it->severity == CG_DIAG_ERROR ? "error" : "warning";
        if (it->file && it->line)
            fprintf(f, "%s:%d:%d: %s: %s\n", it->file, it->line, it->column, sev, it->message);
        else if (it->file)
            fprintf(f, "%s: %s: %s\n", it->file, sev, it->message);
        else
            fprintf(f, "%s: %s\n", sev, it->message);
    }
}

void cg_diag_sort(cg_diag *d, size_t from)
{
    /* Insertion sort: a load reports a handful of problems, mostly in order. */
    for (size_t i = from + 1; i < d->count; i++) {
        cg_diag_item it = d->items[i];
        size_t j = i;
        while (j > from && (d->items[j - 1].line > it.line ||
                            (d->items[j - 1].line == it.line && d->items[j - 1].column > it.column))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = it;
    }
}
