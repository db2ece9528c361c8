/* The public header of the cli wing: the operator tools besides run and check.
 *
 * Every other wing includes this header and no other of this wing
 * (scripts/check-tree); what is not reachable from here is private to the wing.
 */
#ifndef CG_CLI_WING_H
#define CG_CLI_WING_H

#include "commands.h"

#endif
