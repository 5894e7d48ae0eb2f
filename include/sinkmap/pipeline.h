/* sinkmap/pipeline.h: a job turned into passes over the data, and the passes run.
 * sm_plan validates a job against its inputs without computing anything; sm_run runs it
 * and writes every output into a staging folder that replaces the output folder only at
 * the end, so a failed or cancelled run leaves the previous outputs untouched. */
#ifndef SINKMAP_PIPELINE_H
#define SINKMAP_PIPELINE_H

#include "sinkmap/context.h"
#include "sinkmap/job.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_run_options {
    int version;
    const char *output; /* overrides the job's output folder when not NULL */
    int threads;        /* 0: the job's setting, else all cores */
    const char *argv0;  /* recorded in run.json */
} sm_run_options;
#define SM_RUN_OPTIONS_INIT {1, NULL, 0, NULL}

/* Opens every input the job names and checks it (files exist and are readable, CRSs known,
 * parcels overlap the imagery, mapped fields exist, species have parameter rows). Prints
 * nothing; the first problem is returned as SM_ERR_INPUT with a message. */
sm_status sm_validate(sm_context *ctx, const sm_job *job);

/* Runs the whole job. */
sm_status sm_run(sm_context *ctx, const sm_job *job, const sm_run_options *opt);

#ifdef __cplusplus
}
#endif
#endif
