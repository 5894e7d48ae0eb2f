/* pipe.c: the ordered pipeline of the passes over strips (zonal statistics, the scene pass).
 * Workers take items as they come free, at most nslots ahead of the merge; the calling thread
 * merges in item order. Declared in internal.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/internal.h"

typedef struct pipe_sched {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    const sm__pipe_ops *ops;
    size_t n, next, merged, nslots;
    int stop;
    struct pipe_slot {
        int done, worker;
        sm_status status;
    } *slots; /* item m uses slots[m % nslots] */
} pipe_sched;

typedef struct pipe_worker {
    pipe_sched *q;
    int index;
} pipe_worker;

size_t sm__pipe_slots(int threads)
{
    return threads > 1 ? 2 * (size_t)threads : 1;
}

static void *worker_main(void *arg)
{
    pipe_worker *pw = arg;
    pipe_sched *q = pw->q;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->stop && q->next < q->n && q->next >= q->merged + q->nslots)
            pthread_cond_wait(&q->work_cv, &q->mu);
        if (q->stop || q->next >= q->n) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        size_t m = q->next++;
        pthread_mutex_unlock(&q->mu);
        size_t k = m % q->nslots;
        sm_status st = q->ops->work(q->ops->arg, pw->index, m, k);
        pthread_mutex_lock(&q->mu);
        q->slots[k].status = st;
        q->slots[k].worker = pw->index;
        q->slots[k].done = 1;
        pthread_cond_broadcast(&q->done_cv);
        pthread_mutex_unlock(&q->mu);
        if (st != SM_OK)
            return NULL; /* its context keeps the message */
    }
}

sm_status sm__pipe_run(sm_context *ctx, size_t n, int threads, const sm__pipe_ops *ops)
{
    sm_status st = SM_OK;
    if (threads <= 1) {
        for (size_t m = 0; m < n; m++) {
            if ((st = ops->work(ops->arg, 0, m, 0)) != SM_OK)
                return sm_error(ctx, st, "%s", sm_context_message(ops->worker_ctx(ops->arg, 0)));
            if ((st = ops->merge(ops->arg, ctx, m, 0)) != SM_OK)
                return st;
        }
        return SM_OK;
    }
    pipe_sched q;
    memset(&q, 0, sizeof q);
    q.ops = ops;
    q.n = n;
    q.nslots = sm__pipe_slots(threads);
    q.slots = calloc(q.nslots, sizeof *q.slots);
    pipe_worker *pws = calloc((size_t)threads, sizeof *pws);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!q.slots || !pws || !tids) {
        free(q.slots);
        free(pws);
        free(tids);
        return sm_error(ctx, SM_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.work_cv, NULL);
    pthread_cond_init(&q.done_cv, NULL);
    int started = 0;
    for (; started < threads; started++) {
        pws[started] = (pipe_worker){&q, started};
        if (pthread_create(&tids[started], NULL, worker_main, &pws[started]) != 0)
            break;
    }
    if (started == 0)
        st = sm_error(ctx, SM_ERR_INTERNAL, "cannot start a worker thread");
    for (size_t m = 0; st == SM_OK && m < n; m++) {
        struct pipe_slot *sl = &q.slots[m % q.nslots];
        pthread_mutex_lock(&q.mu);
        while (!sl->done)
            pthread_cond_wait(&q.done_cv, &q.mu);
        pthread_mutex_unlock(&q.mu);
        if (sl->status != SM_OK) {
            st = sm_error(ctx, sl->status, "%s", sm_context_message(ops->worker_ctx(ops->arg, sl->worker)));
            break;
        }
        st = ops->merge(ops->arg, ctx, m, m % q.nslots);
        pthread_mutex_lock(&q.mu);
        sl->done = 0;
        q.merged = m + 1;
        pthread_cond_broadcast(&q.work_cv);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_mutex_lock(&q.mu);
    q.stop = 1;
    pthread_cond_broadcast(&q.work_cv);
    pthread_mutex_unlock(&q.mu);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_cond_destroy(&q.done_cv);
    pthread_cond_destroy(&q.work_cv);
    pthread_mutex_destroy(&q.mu);
    free(q.slots);
    free(pws);
    free(tids);
    return st;
}

/* The strips item k crosses: a .. b (empty when b < a). */
static void strip_span(const sm__rowspan *it, int64_t strip, int64_t nstrips, int64_t *a, int64_t *b)
{
    *a = it->row0 / strip;
    *b = (it->row1 - 1) / strip;
    if (*a < 0)
        *a = 0;
    if (*b >= nstrips)
        *b = nstrips - 1;
}

sm_status sm__strip_lists(sm_context *ctx, const sm__rowspan *items, size_t n, int64_t strip, int64_t nstrips,
                          size_t **bstart_out, size_t **bucket_out)
{
    *bstart_out = *bucket_out = NULL;
    size_t *bstart = calloc((size_t)nstrips + 1, sizeof *bstart);
    size_t *fill = malloc(((size_t)nstrips + 1) * sizeof *fill);
    size_t *bucket = NULL, nentries = 0;
    int64_t a, b;
    if (!bstart || !fill)
        goto nomem;
    for (size_t k = 0; k < n; k++) {
        strip_span(&items[k], strip, nstrips, &a, &b);
        for (int64_t q = a; q <= b; q++)
            bstart[q + 1]++;
        nentries += b >= a ? (size_t)(b - a + 1) : 0;
    }
    for (int64_t q = 0; q < nstrips; q++)
        bstart[q + 1] += bstart[q];
    if (!(bucket = malloc((nentries ? nentries : 1) * sizeof *bucket)))
        goto nomem;
    memcpy(fill, bstart, ((size_t)nstrips + 1) * sizeof *fill);
    for (size_t k = 0; k < n; k++) {
        strip_span(&items[k], strip, nstrips, &a, &b);
        for (int64_t q = a; q <= b; q++)
            bucket[fill[q]++] = items[k].idx;
    }
    free(fill);
    *bstart_out = bstart;
    *bucket_out = bucket;
    return SM_OK;
nomem:
    free(bstart);
    free(fill);
    free(bucket);
    return sm_error(ctx, SM_ERR_NOMEM, "out of memory for the strips' lists of %zu items", n);
}
