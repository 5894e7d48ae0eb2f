/* main.c: the sinkmap program's entry: global options and dispatch to subcommands.
 * Each subcommand lives in its own cmd_*.c; shared error and progress printing is here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/context.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"run", sm_cmd_run, "run a seasonal job: land cover, per-parcel statistics, stock, carbon, sink"},
    {"validate", sm_cmd_validate, "check a job and its inputs without running it"},
    {"ledger", sm_cmd_ledger, "verify or export the carbon ledger (append-only, hash-chained)"},
    {"zonal", sm_cmd_zonal, "coverage-weighted statistics of a raster per parcel (csv or gpkg)"},
    {"pools", sm_cmd_pools, "carbon storage maps from a lucode raster and pools table (InVEST)"},
    {"params", sm_cmd_params, "check the parameter tables and list the rows not verified"},
    {"area-estimate", sm_cmd_area, "accuracy, error-adjusted area and sample size (Olofsson 2014)"},
    {"classify", sm_cmd_classify, "supervised land cover: random forest or maximum likelihood"},
    {"accuracy", sm_cmd_accuracy, "error matrix and error-adjusted areas of a map vs reference"},
};

int sm_cli_exit_code(sm_status st)
{
    switch (st) {
    case SM_OK:
        return 0;
    case SM_ERR_INPUT:
        return 2;
    case SM_ERR_CANCELLED:
        return 3;
    default:
        return 1;
    }
}

int sm_cli_fail(sm_context *ctx, sm_status st)
{
    const char *msg = sm_context_message(ctx);
    fprintf(stderr, "sinkmap: error: %s\n", (msg && msg[0]) ? msg : "failed");
    return sm_cli_exit_code(st);
}

int sm_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sinkmap: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int sm_cli_is_help(const char *s) { return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0; }

int sm_cli_progress(double complete, const char *message, void *arg)
{
    (void)arg;
    int pct = (int)(complete * 100.0 + 0.5);
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    fprintf(stderr, "\r[%3d%%] %-60.60s", pct, message ? message : "");
    if (complete >= 1.0)
        fputc('\n', stderr);
    fflush(stderr);
    return 1;
}

static void usage(FILE *out)
{
    fprintf(out, "sinkmap %s: land cover, forest stock and carbon sinks per inventory parcel\n\n",
            sm_version());
    fprintf(out, "usage: sinkmap COMMAND [ARGS]   (sinkmap COMMAND --help for details)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\noptions:\n  --version  print the version\n  --help     this text\n\n"
                 "exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 cancelled\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("sinkmap %s\n", sm_version());
        return 0;
    }
    if (sm_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sinkmap: error: unknown command '%s' (try sinkmap --help)\n", argv[1]);
    return 2;
}
