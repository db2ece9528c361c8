/* The public header of the http wing: one request: the pipeline (admit), the HTTP/1.1 exchange,
 * the backend pool.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_HTTP_WING_H
#define CG_HTTP_WING_H

#include "backend.h"
#include "http1.h"
#include "http1_scan.h"
#include "http_proxy.h"
#include "ratelimit.h"
#include "token_size.h"

#endif
