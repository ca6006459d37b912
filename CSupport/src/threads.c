// threads.c - fixed thread pool: nthreads-1 workers created once, the caller is thread 0.
// A run publishes (fn, ctx, count) under the mutex and bumps a generation counter; workers
// wait on `start` until the generation changes, run their static share of indices
// (t, t+T, t+2T, ...), and the last one to finish signals `done`. Nothing is allocated
// and no thread is created after sega_pool_create.
#include "sega_threads.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct sega_worker_arg {
    struct sega_pool *pool;
    int tid;
} sega_worker_arg;

struct sega_pool {
    int nthreads;
    int nworkers;             // threads actually started (nthreads - 1 on success)
    pthread_t *threads;
    sega_worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t start;
    pthread_cond_t done;
    unsigned long generation; // bumped once per run
    int pending;              // workers that have not finished the current run
    int shutdown;
    sega_task_fn fn;
    void *ctx;
    int count;
};

static void sega_pool_do_share(sega_task_fn fn, void *ctx, int count, int tid, int nthreads) {
    for (int i = tid; i < count; i += nthreads) fn(ctx, i, count);
}

static void *sega_pool_worker(void *p) {
    sega_worker_arg *arg = (sega_worker_arg *)p;
    struct sega_pool *pool = arg->pool;
    const int tid = arg->tid;
    // The generation is 0 when the pool is created; a run published before this thread first
    // takes the mutex must still be seen as new, so start from 0, not from the current value.
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->shutdown) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->shutdown) break;
        seen = pool->generation;
        sega_task_fn fn = pool->fn;
        void *ctx = pool->ctx;
        const int count = pool->count;
        pthread_mutex_unlock(&pool->mu);

        sega_pool_do_share(fn, ctx, count, tid, pool->nthreads);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

static void sega_pool_stop(struct sega_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    p->nworkers = 0;
}

sega_status sega_pool_create(int nthreads, sega_pool **out) {
    if (!out) return SEGA_ERR_INVALID_ARG;
    *out = NULL;
    if (nthreads < 1 || nthreads > 1024) return SEGA_ERR_INVALID_ARG;
    struct sega_pool *p = (struct sega_pool *)calloc(1, sizeof(*p));
    if (!p) return SEGA_ERR_NOMEM;
    p->nthreads = nthreads;
    if (nthreads > 1) {
        p->threads = (pthread_t *)calloc((size_t)(nthreads - 1), sizeof(pthread_t));
        p->args = (sega_worker_arg *)calloc((size_t)(nthreads - 1), sizeof(sega_worker_arg));
        if (!p->threads || !p->args) {
            free(p->threads);
            free(p->args);
            free(p);
            return SEGA_ERR_NOMEM;
        }
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->threads); free(p->args); free(p);
        return SEGA_ERR_THREADS;
    }
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < nthreads - 1; i++) {
        p->args[i].pool = p;
        p->args[i].tid = i + 1;
        if (pthread_create(&p->threads[i], NULL, sega_pool_worker, &p->args[i]) != 0) {
            sega_pool_stop(p);
            pthread_cond_destroy(&p->start);
            pthread_cond_destroy(&p->done);
            pthread_mutex_destroy(&p->mu);
            free(p->threads); free(p->args); free(p);
            return SEGA_ERR_THREADS;
        }
        p->nworkers = i + 1;
    }
    *out = p;
    return SEGA_OK;
}

void sega_pool_destroy(sega_pool *p) {
    if (!p) return;
    sega_pool_stop(p);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p);
}

int sega_pool_threads(const sega_pool *p) { return p ? p->nthreads : 1; }

void sega_pool_run(sega_pool *p, sega_task_fn fn, void *ctx, int count) {
    if (!fn || count <= 0) return;
    if (!p || p->nthreads == 1 || count == 1) {
        for (int i = 0; i < count; i++) fn(ctx, i, count);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    p->pending = p->nworkers;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    sega_pool_do_share(fn, ctx, count, 0, p->nthreads);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
