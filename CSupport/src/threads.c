// threads.c - fixed thread pool: nthreads-1 workers created once, the caller is thread 0.
// A run publishes (fn, ctx, count), sets `pending` and then bumps the atomic generation counter
// (release) under the mutex. Workers wait until the generation differs from the last one they
// ran: first by spinning a bounded number of pause iterations on the atomic (short gaps between
// consecutive runs cost no futex wake/sleep), then on the `start` condition variable, rechecking
// under the mutex (the bump happens under the same mutex, so no wake-up is lost). Each worker
// runs its static share of indices (t, t+T, t+2T, ...) and decrements `pending`; the one that
// brings it to zero signals `done` under the mutex. The caller, after its own share, spins on
// `pending` the same way before sleeping on `done`. Nothing is allocated and no thread is
// created after sega_pool_create.
#include "sega_threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEGA_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SEGA_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SEGA_CPU_RELAX() ((void)0)
#endif

#define SEGA_POOL_SPIN 4000   // pause iterations before sleeping (tens of microseconds)

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
    atomic_ulong generation;  // bumped once per run (under mu, release)
    atomic_int pending;       // workers that have not finished the current run
    atomic_int shutdown;
    // Run parameters: written by the caller before the release bump of `generation`, read by
    // workers after an acquire load that sees the new generation.
    sega_task_fn fn;
    void *ctx;
    int count;
    // Profiling (sega_pool_set_profiling): task time of the workers, waiting time of the caller.
    atomic_int profiling;
    atomic_ullong busy_ns, wait_ns;
};

static uint64_t pool_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sega_pool_do_share(sega_task_fn fn, void *ctx, int count, int tid, int nthreads) {
    for (int i = tid; i < count; i += nthreads) fn(ctx, i, count);
}

static void *sega_pool_worker(void *p) {
    sega_worker_arg *arg = (sega_worker_arg *)p;
    struct sega_pool *pool = arg->pool;
    const int tid = arg->tid;
    // The generation is 0 when the pool is created; a run published before this thread first
    // looks must still be seen as new, so start from 0, not from the current value.
    unsigned long seen = 0;
    for (;;) {
        unsigned long gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        for (int spin = 0; gen == seen && spin < SEGA_POOL_SPIN; spin++) {
            if (atomic_load_explicit(&pool->shutdown, memory_order_relaxed)) break;
            SEGA_CPU_RELAX();
            gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool->mu);
            while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&pool->shutdown, memory_order_relaxed))
                pthread_cond_wait(&pool->start, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (gen == seen) break;   // shutdown with no new run
        seen = gen;
        const int prof = atomic_load_explicit(&pool->profiling, memory_order_relaxed);
        const uint64_t t0 = prof ? pool_now_ns() : 0;
        sega_pool_do_share(pool->fn, pool->ctx, pool->count, tid, pool->nthreads);
        if (prof) atomic_fetch_add_explicit(&pool->busy_ns, pool_now_ns() - t0, memory_order_relaxed);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            // Last one out: wake the caller if it sleeps. Taking the mutex orders this signal
            // after the caller's check of `pending` under the same mutex.
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

static void sega_pool_stop(struct sega_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->shutdown, 1, memory_order_relaxed);
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
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    atomic_store_explicit(&p->pending, p->nworkers, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    sega_pool_do_share(fn, ctx, count, 0, p->nthreads);

    const int prof = atomic_load_explicit(&p->profiling, memory_order_relaxed);
    const uint64_t t0 = prof ? pool_now_ns() : 0;
    int done = 0;
    for (int spin = 0; spin < SEGA_POOL_SPIN && !done; spin++) {
        done = atomic_load_explicit(&p->pending, memory_order_acquire) == 0;
        if (!done) SEGA_CPU_RELAX();
    }
    if (!done) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    if (prof) atomic_fetch_add_explicit(&p->wait_ns, pool_now_ns() - t0, memory_order_relaxed);
}

void sega_pool_set_profiling(sega_pool *p, int on) {
    if (!p) return;
    atomic_store_explicit(&p->busy_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&p->wait_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&p->profiling, on != 0, memory_order_relaxed);
}

void sega_pool_profile(const sega_pool *p, uint64_t *worker_busy_ns, uint64_t *caller_wait_ns) {
    uint64_t b = 0, w = 0;
    if (p) {
        b = atomic_load_explicit(&((struct sega_pool *)p)->busy_ns, memory_order_relaxed);
        w = atomic_load_explicit(&((struct sega_pool *)p)->wait_ns, memory_order_relaxed);
    }
    if (worker_busy_ns) *worker_busy_ns = b;
    if (caller_wait_ns) *caller_wait_ns = w;
}
