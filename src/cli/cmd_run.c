/* cmd_run.c: `sinkmap run JOB.ini` and `sinkmap validate JOB.ini`.
 * Parses the options, loads the job, and hands it to the pipeline; progress is printed
 * when stderr is a terminal or --progress is given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sinkmap/job.h"
#include "sinkmap/pipeline.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: sinkmap run JOB.ini [-o DIR] [--threads N] [--progress | --quiet]\n\n"
            "Runs the seasonal job: per scene land cover (landcover_<scene>.tif), per-parcel\n"
            "coverage-weighted statistics, stock and carbon by two methods, and the sink between\n"
            "the job's dates (parcels.gpkg, parcels.csv, summary.csv, run.json).\n\n"
            "  -o, --output DIR  output folder (default: the job's [job] output)\n"
            "  --threads N       worker threads (default: all cores); 1 runs everything on\n"
            "                    one core (inputs hashed and tiles compressed in turn)\n"
            "  --progress        show progress even when stderr is not a terminal\n"
            "  --quiet           no progress\n\n"
            "The output folder is replaced only when the run succeeds.\n");
}

static void validate_usage(FILE *out)
{
    fprintf(out, "usage: sinkmap validate JOB.ini\n\n"
                 "Checks the job file and every input it names (files, CRSs, overlap, fields,\n"
                 "species parameter rows) without computing anything. Exit 0 when all is well.\n");
}

static int parse_threads(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > 1024)
        return -1;
    *out = (int)v;
    return 0;
}

int sm_cmd_run(int argc, char **argv)
{
    const char *job_path = NULL, *output = NULL;
    int threads = 0, progress = isatty(2), i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (sm_cli_is_help(a)) {
            run_usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (++i == argc)
                return sm_cli_usage_error("%s needs a folder", a);
            output = argv[i];
        } else if (strcmp(a, "--threads") == 0) {
            if (++i == argc || parse_threads(argv[i], &threads))
                return sm_cli_usage_error("--threads needs a number from 0 to 1024");
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            progress = 0;
        } else if (a[0] == '-') {
            return sm_cli_usage_error("run: unknown option '%s' (see sinkmap run --help)", a);
        } else if (!job_path) {
            job_path = a;
        } else {
            return sm_cli_usage_error("run: one job file at a time ('%s' is extra)", a);
        }
    }
    if (!job_path) {
        run_usage(stderr);
        return 2;
    }
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    if (progress)
        sm_context_set_progress(ctx, sm_cli_progress, NULL);
    sm_job *job = NULL;
    sm_status st = sm_job_load(&job, ctx, job_path);
    if (st == SM_OK) {
        sm_run_options opt = SM_RUN_OPTIONS_INIT;
        opt.output = output;
        opt.threads = threads;
        opt.argv0 = argv[0];
        st = sm_run(ctx, job, &opt);
    }
    int code = st == SM_OK ? 0 : sm_cli_fail(ctx, st);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
    return code;
}

int sm_cmd_validate(int argc, char **argv)
{
    const char *job_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (sm_cli_is_help(argv[i])) {
            validate_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            return sm_cli_usage_error("validate: unknown option '%s'", argv[i]);
        } else if (!job_path) {
            job_path = argv[i];
        } else {
            return sm_cli_usage_error("validate: one job file at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!job_path) {
        validate_usage(stderr);
        return 2;
    }
    sm_context *ctx = sm_context_create();
    if (!ctx)
        return 1;
    sm_job *job = NULL;
    sm_status st = sm_job_load(&job, ctx, job_path);
    if (st == SM_OK)
        st = sm_validate(ctx, job);
    int code = 0;
    if (st == SM_OK)
        printf("%s: valid (%zu scenes, %zu drone rasters)\n", job_path, job->nscenes, job->ndrones);
    else
        code = sm_cli_fail(ctx, st);
    sm_job_destroy(job);
    sm_context_destroy(ctx);
    return code;
}
