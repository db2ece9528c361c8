/* placeholder: being written */
#include <stdio.h>

#include "commands.h"

int cg_cmd_import_iis(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "certgate: this command is not available in this build yet\n");
    return 2;
}
