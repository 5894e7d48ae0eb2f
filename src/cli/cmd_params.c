/* cmd_params.c: `sinkmap params check [--data DIR]`: loads the parameter tables and lists every
 * row not marked verified, so that an analyst checks them before figures go to the ledger.
 * The rows go to stdout as CSV (table,key,path:line,source); the count goes to stderr. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "sinkmap/bamboo.h"
#include "sinkmap/carbon.h"
#include "sinkmap/job.h"
#include "sinkmap/table.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sinkmap params check [--data DIR]\n\n"
            "Loads the parameter tables (species_groups.csv, species_map.csv,\n"
            "growth_richards.csv, landcover_legend.csv, dilei_landcover.csv, pools_invest.csv,\n"
            "and bamboo_culms.csv when the folder has it)\n"
            "from DIR (default: the data folder sinkmap was built with), checks every row, and\n"
            "lists each row whose 'verified' column is not yes, one per line on stdout as CSV:\n\n"
            "  table,key,path:line,source\n\n"
            "(a source holding commas is quoted). A last line on stderr gives the count:\n"
            "  \"N rows unverified: check them before figures go to the ledger\".\n\n"
            "  --data DIR  the folder of the tables\n\n"
            "exit codes: 0 the tables load (even with unverified rows), 2 a table fails to\n"
            "load (the message names the file, line, column and value), 1 internal error\n");
}

static int check(const char *data_dir)
{
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    sm_params *p = NULL;
    sm_csv_writer *w = NULL;
    sm_bamboo_table *bt = NULL;
    if (!data_dir)
        data_dir = sm_job_data_dir(NULL); /* the folder a run would use ($SINKMAP_DATA or the built-in one) */
    sm_status st = sm_params_load(&p, ctx, data_dir);
    if (st == SM_OK) {
        /* bamboo_culms.csv is optional in a user's data folder (only field.culms needs it) */
        const char *dir = data_dir;
        char path[4096];
        snprintf(path, sizeof path, "%s/bamboo_culms.csv", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            fclose(f);
            st = sm_bamboo_table_load(&bt, ctx, dir);
        }
    }
    if (st == SM_OK)
        st = sm_csv_writer_stream(&w, ctx, stdout, "stdout", 0);
    size_t n = 0;
    if (st == SM_OK) {
        const sm_param_row *rows;
        n = sm_params_unverified(p, &rows);
        for (size_t i = 0; i < n && st == SM_OK; i++) {
            char where[4096];
            snprintf(where, sizeof where, "%s:%ld", rows[i].path, rows[i].line);
            if ((st = sm_csv_writer_text(w, rows[i].table)) ||
                (st = sm_csv_writer_text(w, rows[i].key)) || (st = sm_csv_writer_text(w, where)) ||
                (st = sm_csv_writer_text(w, rows[i].source)))
                break;
            st = sm_csv_writer_end_row(w);
        }
        for (size_t i = 0; bt && i < sm_bamboo_count(bt) && st == SM_OK; i++) {
            const sm_bamboo_species *b = sm_bamboo_at(bt, i);
            if (b->verified)
                continue;
            char where[4096];
            snprintf(where, sizeof where, "%s:%ld", sm_bamboo_table_path(bt), b->line);
            if ((st = sm_csv_writer_text(w, "bamboo_culms")) || (st = sm_csv_writer_text(w, b->key)) ||
                (st = sm_csv_writer_text(w, where)) || (st = sm_csv_writer_text(w, b->source)))
                break;
            st = sm_csv_writer_end_row(w);
            n++;
        }
        sm_status cst = sm_csv_writer_close(w);
        if (st == SM_OK)
            st = cst;
    }
    int code = 0;
    if (st != SM_OK) {
        code = sm_cli_fail(ctx, st);
    } else if (n == 0) {
        fprintf(stderr, "0 rows unverified: every parameter row is marked verified\n");
    } else {
        fprintf(stderr, "%zu row%s unverified: check them before figures go to the ledger\n", n,
                n == 1 ? "" : "s");
    }
    sm_params_destroy(p);
    sm_bamboo_table_destroy(bt);
    sm_context_destroy(ctx);
    return code;
}

int sm_cmd_params(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (sm_cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "check") != 0)
        return sm_cli_usage_error("params: unknown subcommand '%s' (expected check; see sinkmap "
                                  "params --help)",
                                  argv[1]);
    const char *data = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--data") == 0) {
            if (i + 1 >= argc)
                return sm_cli_usage_error("--data needs a folder");
            data = argv[++i];
        } else if (a[0] == '-') {
            return sm_cli_usage_error("params check: unknown option '%s'", a);
        } else {
            return sm_cli_usage_error("params check: unexpected argument '%s'", a);
        }
    }
    return check(data);
}
