/* The public header of the base wing: errors as values, logs, text, files, buffers, lists, arrays,
 * hashes, and the pure helpers every other wing uses. Includes nothing above it.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_BASE_WING_H
#define CG_BASE_WING_H

#include "base64.h"
#include "buf.h"
#include "cidr.h"
#include "digest_table.h"
#include "dns_name.h"
#include "error.h"
#include "error_page.h"
#include "file.h"
#include "header_names.h"
#include "http_excerpt.h"
#include "keyed_hash.h"
#include "list.h"
#include "log.h"
#include "log_format.h"
#include "oid.h"
#include "prom.h"
#include "sha256.h"
#include "spares.h"
#include "stats.h"
#include "target.h"
#include "text.h"
#include "vec.h"

#endif
