/* enospc.c - an LD_PRELOAD write-failure interposer for the full-disk test.
 *
 *   SEGA_FAULT_WRITE_LIMIT=N   bytes that writes to matching files may add up to; the write that
 *                              reaches the limit is cut short (as a filling disk does) and every
 *                              later one fails with ENOSPC. Unset: nothing is changed.
 *   SEGA_FAULT_PATH=TEXT       only files whose path contains TEXT count and fail (default: every
 *                              regular file; pipes, terminals and sockets are never touched).
 *
 * write, pwrite and writev are interposed (what sega's atomic writer and the C library's stdio
 * end in) and forwarded to the next definition (dlsym RTLD_NEXT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long used;

static long long limit_bytes(void) {
    const char *s = getenv("SEGA_FAULT_WRITE_LIMIT");
    return s && *s ? atoll(s) : -1;
}

/* A regular file whose path contains SEGA_FAULT_PATH (if set). */
static int targeted(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    const char *pattern = getenv("SEGA_FAULT_PATH");
    if (!pattern || !*pattern) return 1;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = 0;
    return strstr(path, pattern) != NULL;
}

/* How many of n bytes this write may put on the "disk": n, fewer at the limit, -1 (ENOSPC) past it. */
static ssize_t allowed(int fd, size_t n) {
    long long limit = limit_bytes();
    if (limit < 0 || n == 0 || !targeted(fd)) return (ssize_t)n;
    pthread_mutex_lock(&lock);
    long long room = limit - used;
    ssize_t k = room <= 0 ? -1 : (long long)n < room ? (ssize_t)n : (ssize_t)room;
    if (k > 0) used += k;
    pthread_mutex_unlock(&lock);
    if (k < 0) errno = ENOSPC;
    return k;
}

static ssize_t real_write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    return real(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n) {
    ssize_t k = allowed(fd, n);
    return k < 0 ? -1 : real_write(fd, buf, (size_t)k);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    ssize_t k = allowed(fd, n);
    return k < 0 ? -1 : real(fd, buf, (size_t)k, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    static ssize_t (*real)(int, const struct iovec *, int);
    if (!real) real = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    size_t n = 0;
    for (int i = 0; i < cnt; i++) n += iov[i].iov_len;
    ssize_t k = allowed(fd, n);
    if (k < 0) return -1;
    if ((size_t)k == n) return real(fd, iov, cnt);
    /* Cut short: the first k bytes, in order, as a filling disk would take them. */
    ssize_t done = 0;
    for (int i = 0; i < cnt && done < k; i++) {
        size_t part = iov[i].iov_len < (size_t)(k - done) ? iov[i].iov_len : (size_t)(k - done);
        ssize_t r = real_write(fd, iov[i].iov_base, part);
        if (r < 0) return done ? done : -1;
        done += r;
        if ((size_t)r < part) break;
    }
    return done;
}
