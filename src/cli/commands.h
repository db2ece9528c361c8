/* The command-line tools besides `run` and `check`, one file each. Each
 * takes the arguments after the command name and returns the exit status. */
#ifndef CG_COMMANDS_H
#define CG_COMMANDS_H

int cg_cmd_explain(int argc, char **argv);    /* cmd_explain.c: certgate explain --cert FILE ... */
int cg_cmd_import_iis(int argc, char **argv); /* cmd_import_iis.c: certgate import-iis FILE */
int cg_cmd_doctor(int argc, char **argv);     /* cmd_doctor.c: certgate doctor ... */
int cg_cmd_reload(int argc, char **argv);     /* cmd_signal.c: certgate reload [-c FILE] [--pid PID] */
int cg_cmd_flush_tickets(int argc, char **argv); /* cmd_signal.c: certgate flush-tickets ... */
int cg_cmd_ticket_key(int argc, char **argv);    /* cmd_ticket_key.c: certgate ticket-key generate */

#endif
