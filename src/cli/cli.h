/* cli.h: the sinkmap command line: one function per subcommand, shared helpers.
 * Commands parse arguments and call the library; they hold no logic the library lacks.
 * Exit codes: 0 ok, 1 internal error, 2 bad usage or input, 3 cancelled. */
#ifndef SINKMAP_CLI_H
#define SINKMAP_CLI_H

#include "sinkmap/context.h"

int sm_cli_exit_code(sm_status st);
/* Prints "sinkmap: error: MSG" for the context's message and returns the exit code. */
int sm_cli_fail(sm_context *ctx, sm_status st);
/* Prints "sinkmap: error: MSG" (usage errors) and returns 2. */
int sm_cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* A terminal progress printer in GDALProgressFunc's shape. */
int sm_cli_progress(double complete, const char *message, void *arg);
/* 1 if s is "-h" or "--help". */
int sm_cli_is_help(const char *s);

int sm_cmd_run(int argc, char **argv);
int sm_cmd_validate(int argc, char **argv);
int sm_cmd_zonal(int argc, char **argv);
int sm_cmd_pools(int argc, char **argv);
int sm_cmd_params(int argc, char **argv);
int sm_cmd_area(int argc, char **argv);
int sm_cmd_ledger(int argc, char **argv);
int sm_cmd_classify(int argc, char **argv);
int sm_cmd_accuracy(int argc, char **argv);

#endif
