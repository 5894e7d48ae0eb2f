/* cmd_ledger.c: `sinkmap ledger verify DB` and `sinkmap ledger export DB [--period P] -o OUT.csv`.
 * Opens an existing ledger (never creates one) and calls sm_ledger_verify() or sm_ledger_export();
 * entries are written by `sinkmap run`, not here. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/ledger.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: sinkmap ledger verify DB\n"
        "       sinkmap ledger export DB [--period START/END] -o OUT.csv\n\n"
        "The carbon ledger is an append-only SQLite file: one entry per parcel x period x pool\n"
        "(stocks at both dates in t C, the sink over the whole period in t CO2e with its 95%%\n"
        "interval, method, parameter and input hashes, run id, tool version, time), each\n"
        "chained to the one before by SHA-256. A changed re-run adds entries that supersede\n"
        "the old ones; nothing is ever updated or deleted.\n\n"
        "  verify     recompute every entry's hash and check every link; prints\n"
        "             \"DB: N entries, chain intact\" and the last entry's hash (keep it: a\n"
        "             chain cut short at its end can only be detected against it), or names\n"
        "             the first broken entry and exits 2\n"
        "  export     write the current entries (superseded ones left out) as CSV, UTF-8\n"
        "             with BOM, full-precision numbers; only from an intact chain\n"
        "  --period START/END   export that period only (YYYY-MM-DD/YYYY-MM-DD)\n"
        "  -o OUT.csv           the file to write (replaced only when complete)\n\n"
        "exit codes: 0 success, 1 internal error, 2 bad usage, a missing or broken ledger\n");
}

int sm_cmd_ledger(int argc, char **argv)
{
    const char *action = NULL, *db = NULL, *period = NULL, *out = NULL;
    int progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--period") == 0 || strcmp(a, "-o") == 0 ||
                   strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return sm_cli_usage_error("%s needs a value", a);
            if (strcmp(a, "--period") == 0)
                period = argv[++i];
            else
                out = argv[++i];
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            progress = 0;
        } else if (a[0] == '-' && a[1]) {
            return sm_cli_usage_error("ledger: unknown option '%s' (see sinkmap ledger --help)", a);
        } else if (!action) {
            action = a;
        } else if (!db) {
            db = a;
        } else {
            return sm_cli_usage_error("ledger: unexpected argument '%s'", a);
        }
    }
    if (!action || !db) {
        usage(stderr);
        return 2;
    }
    int verify = strcmp(action, "verify") == 0;
    if (!verify && strcmp(action, "export") != 0)
        return sm_cli_usage_error("ledger: unknown action '%s' (expected verify or export)",
                                  action);
    if (verify && (period || out))
        return sm_cli_usage_error("ledger verify takes no --period or -o");
    if (!verify && !out)
        return sm_cli_usage_error("ledger export needs -o OUT.csv");

    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    if (progress)
        sm_context_set_progress(ctx, sm_cli_progress, NULL);
    sm_ledger *l = NULL;
    size_t n = 0;
    long long head_id = 0;
    char head[65];
    sm_status st = sm_ledger_open(&l, ctx, db, 0);
    if (st == SM_OK && verify) {
        st = sm_ledger_verify(l, ctx, &n);
        if (st == SM_OK)
            st = sm_ledger_head(l, ctx, &head_id, head);
        if (st == SM_OK) {
            printf("%s: %zu entries, chain intact\n", db, n);
            if (head_id > 0)
                printf("%s: last entry %lld, entry_hash %s\n", db, head_id, head);
        }
    } else if (st == SM_OK) {
        st = sm_ledger_export(l, ctx, period, out, &n);
        if (st == SM_OK)
            printf("%s: %zu current entries written to %s\n", db, n, out);
    }
    int code = st == SM_OK ? 0 : sm_cli_fail(ctx, st);
    sm_ledger_close(l);
    sm_context_destroy(ctx);
    return code;
}
