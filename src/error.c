#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int status, substatus;
    const char *code, *title;
} refusals[CG_REFUSE_KIND_COUNT] = {
    [CG_REFUSE_NONE]                 = { 200, 0, "ok", "OK" },
    [CG_REFUSE_BAD_REQUEST]          = { 400, 0, "bad_request", "Bad request" },
    [CG_REFUSE_HEAD_TOO_LARGE]       = { 431, 0, "request_head_too_large", "Request header fields too large" },
    [CG_REFUSE_HEADER_TIMEOUT]       = { 408, 0, "request_header_timeout", "Request header timeout" },
    [CG_REFUSE_BODY_TIMEOUT]         = { 408, 0, "request_body_timeout", "Request body timeout" },
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
    [CG_REFUSE_DELEGATION_DENIED]    = { 502, 0, "delegation_denied", "Delegation to the backend not allowed" },
    [CG_REFUSE_NOT_FORWARDABLE]      = { 502, 0, "s4u2self_not_forwardable", "Protocol transition not allowed" },
    [CG_REFUSE_DELEGATION_FAILED]    = { 502, 0, "delegation_failed", "Kerberos delegation failed" },
    [CG_REFUSE_NO_ROUTE]             = { 404, 0, "no_route", "No route for this path" },
    [CG_REFUSE_METHOD]               = { 501, 0, "not_implemented", "Not implemented" },
    [CG_REFUSE_BACKEND_UNREACHABLE]  = { 502, 0, "backend_unreachable", "Backend unreachable" },
    [CG_REFUSE_BACKEND_BAD_RESPONSE] = { 502, 0, "backend_bad_response", "Invalid response from the backend" },
    [CG_REFUSE_BACKEND_TIMEOUT]      = { 504, 0, "backend_timeout", "Backend timeout" },
    [CG_REFUSE_OVERLOADED]           = { 503, 0, "overloaded", "Too many connections" },
    [CG_REFUSE_SHUTTING_DOWN]        = { 503, 0, "shutting_down", "Server shutting down" },
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

void cg_refuse(cg_refusal *r, cg_refusal_kind k, const char *fmt, ...)
{
    r->kind = k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* Appends s HTML-escaped; returns the new length (never past cap - 1). */
static size_t put_escaped(char *out, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        }
        if (rep) {
            size_t n = strlen(rep);
            memcpy(out + len, rep, n);
            len += n;
        } else {
            out[len++] = *s;
        }
    }
    out[len] = '\0';
    return len;
}

static size_t put_raw(char *out, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (len + n >= cap)
        n = cap - 1 - len;
    memcpy(out + len, s, n);
    len += n;
    out[len] = '\0';
    return len;
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

size_t cg_refusal_page(const cg_refusal *r, const char *request_id, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    char status[32];
    cg_refusal_status_text(r->kind, status, sizeof status);

    size_t n = 0;
    out[0] = '\0';
    n = put_raw(out, n, cap, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    n = put_raw(out, n, cap, status);
    n = put_raw(out, n, cap, " ");
    n = put_escaped(out, n, cap, cg_refusal_title(r->kind));
    n = put_raw(out, n, cap, "</title></head>\n<body>\n<h1>");
    n = put_raw(out, n, cap, status);
    n = put_raw(out, n, cap, " &mdash; ");
    n = put_escaped(out, n, cap, cg_refusal_title(r->kind));
    n = put_raw(out, n, cap, "</h1>\n<p>");
    n = put_escaped(out, n, cap, r->detail);
    n = put_raw(out, n, cap, "</p>\n<p>Error code: <code>");
    n = put_raw(out, n, cap, cg_refusal_code(r->kind));
    n = put_raw(out, n, cap, "</code><br>\nRequest id: <code>");
    n = put_escaped(out, n, cap, request_id ? request_id : "-");
    n = put_raw(out, n, cap, "</code> (the server log line for this request carries the same id)</p>\n"
                             "<hr><address>certgate</address>\n</body></html>\n");
    return n;
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
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        cg_diag_item *items = realloc(d->items, cap * sizeof *items);
        if (!items)
            return;
        d->items = items;
        d->cap = cap;
    }

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
