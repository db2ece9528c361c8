/* Request targets: the one canonical form that routes are matched against
 * and that the backend receives. Pure functions over bytes; no I/O, no
 * allocation.
 *
 * Why: a route protects a path only if certgate and the backend agree on
 * what the path is. "//admin", "/./admin", "/x/../admin", "/%61dmin" and
 * "/ADMIN" (case-insensitive IIS) all name the backend's /admin, so
 * certgate computes one canonical target per request, matches routes on
 * it and sends exactly it to the backend. What cannot be made unambiguous
 * is refused. The rules, with examples, are in docs/proxy.md ("Request
 * targets").
 *
 * Path (up to the first '?'), in one pass:
 *   - %XX of an unreserved character (ALPHA DIGIT - . _ ~) is decoded;
 *     every other %XX stays encoded, with uppercase hex;
 *   - runs of '/' become one '/';
 *   - "." and ".." segments are removed (RFC 3986 5.2.4);
 *   - refused (400): %2F, %5C and raw '\'; a segment that is "." or ".."
 *     only once its %2E are decoded; ".." above the root; raw or encoded
 *     NUL and other control characters (TAB, CR, LF, DEL ...); raw SP; raw
 *     bytes >= 0x80; '#'; '%' not followed by two hex digits; %C0, %C1 and
 *     the overlong three- and four-byte UTF-8 leads (%E0%80-%E0%9F,
 *     %F0%80-%F0%8F: the encodings of '.', '/' and '\' that old IIS
 *     decoded).
 *   - refused on every listener: a raw ';' (Java servers read "/admin;x"
 *     as "/admin": what follows ';' is a path parameter to them; %3B is
 *     kept, as it names a ';' in a file name everywhere).
 *   - refused with CG_TARGET_WINDOWS (windows_paths, the default: the
 *     Windows file system resolves these aliases behind IIS), checked on
 *     each canonical segment: one ending in '.' or in a space (%20)
 *     ("admin." and "admin%20" are "admin"); one holding ':', raw or %3A
 *     (NTFS streams: "admin::$DATA" is "admin"); one holding '~' followed
 *     by a digit (8.3 short names: "ADMINI~1" may be "administration").
 * Query (from the first '?'): kept byte for byte; refused when it holds a
 * control character, SP, a byte >= 0x80 or '#'.
 * "*" (OPTIONS *) is kept as it is.
 */
#ifndef CG_TARGET_H
#define CG_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

typedef struct cg_target {
    cg_slice target; /* canonical path, then "?query" as sent when there was one */
    cg_slice path;   /* the canonical path: target up to '?' ("*" for OPTIONS *) */
    bool changed;    /* target differs from the bytes sent */
} cg_target;

/* The backend's path semantics, per listener: which file-system aliases
 * the normalizer refuses on top of the rules every listener has. */
enum {
    CG_TARGET_POSIX = 0,        /* windows_paths: false */
    CG_TARGET_WINDOWS = 1 << 0, /* windows_paths: true (IIS on NTFS) */
};

/* Normalizes the request target in[0..n) into out, which has room for n
 * bytes: the canonical target is never longer than the one sent. out may
 * be in (normalized in place): every byte is read before its place in out
 * is written. rules: CG_TARGET_POSIX or CG_TARGET_WINDOWS. On success t's
 * slices point into out. On refusal, why is a 400 (CG_REFUSE_BAD_REQUEST)
 * whose sentence names the refused bytes (for a Windows alias: the
 * canonical segment) and their offset in the target as sent, and out holds
 * garbage. */
bool cg_target_normalize(const char *in, size_t n, char *out, unsigned rules, cg_target *t, cg_refusal *why);

/* Whether route prefix (canonical, starts with '/') covers path: on a
 * segment boundary, so "/admin" covers "/admin", "/admin/" and
 * "/admin/x" but not "/administrator"; a prefix that ends with '/'
 * covers everything below it. nocase: ASCII letters compare equal in
 * either case (case-insensitive backends such as IIS). */
bool cg_target_route_covers(cg_slice prefix, cg_slice path, bool nocase);

/* Whether p (NUL-terminated) is usable as a route path: it starts with
 * '/', is its own canonical form (so that some request can match it) and
 * holds only unreserved characters, '/' and %XX of characters that have no
 * raw form in a path (e.g. %20). A raw sub-delimiter, ':' or '@' is
 * refused: IIS decodes %2B and '+' alike while the canonical form keeps
 * them apart, so a route written with one could be walked around with the
 * other. Nor may it be a path that rules refuse in every request (with
 * CG_TARGET_WINDOWS: "/a.", "/a~1"): it could never match. Otherwise
 * writes why (a sentence fragment, and the canonical form when there is
 * one) into why[0..cap). */
bool cg_target_route_path_ok(const char *p, unsigned rules, char *why, size_t cap);

#endif
