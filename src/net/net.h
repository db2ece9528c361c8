/* The public header of the net wing: one worker's loop and one client socket (socket <-> TLS <->
 * plaintext), reaching what runs above it only through the connection handler table.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_NET_WING_H
#define CG_NET_WING_H

#include "admission.h"
#include "conn.h"
#include "ticket_keys.h"
#include "tls.h"
#include "tls_client.h"
#include "tls_trim.h"
#include "worker.h"

#endif
