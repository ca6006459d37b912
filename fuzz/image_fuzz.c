// image_fuzz.c - libFuzzer harness for sega's libpng/libjpeg wrapper (Sources/CImageIO):
// sio_png_decode / sio_jpeg_decode on untrusted bytes. The decoder is picked by the magic bytes
// (PNG signature, JPEG SOI); anything else goes to both, which must refuse it. A small pixel
// limit makes decompression bombs come back as SIO_ERR_TOO_LARGE before any allocation.
// Checked: no crash/leak/UB (sanitizers); on SIO_OK a pixel block of 3*w*h floats in [0,1]
// with 0 < w*h <= limit; on failure no pixel block, zero size and a NUL-terminated message.
// libpng and libjpeg are the (uninstrumented) system libraries; the wrapper is instrumented.
//
// fuzz-sources: Sources/CImageIO/imageio.c
// fuzz-cflags: -ISources/CImageIO/include
// fuzz-libs: -lpng -ljpeg
#include "imageio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS ((uint64_t)1 << 20)

static void check(int ok) {
    if (!ok) abort();
}

static void run(int (*decode)(const uint8_t *, size_t, uint64_t, float **, int *, int *, char *, size_t),
                const uint8_t *data, size_t size, int small_err) {
    float *px = (float *)(uintptr_t)1;  // must be overwritten
    int w = -1, h = -1;
    char err[256];
    // A tiny message buffer exercises truncation in set_err; its last byte must stay a NUL.
    const size_t cap = small_err ? 5 : sizeof err;
    memset(err, 'x', sizeof err);
    const int rc = decode(data, size, MAX_PIXELS, &px, &w, &h, err, cap);
    check(rc >= 0 && rc <= 4 && rc != 4);  // SIO_ERR_ARGUMENT would be a harness bug
    if (rc == 0) {
        check(px != NULL && w > 0 && h > 0);
        const uint64_t n = (uint64_t)w * (uint64_t)h;
        check(n <= MAX_PIXELS);
        // Touch every sample (ASan: the block really has 3*w*h floats; all were written).
        for (uint64_t i = 0; i < 3 * n; i++) check(px[i] >= 0.0f && px[i] <= 1.0f);
        sio_free(px);
    } else {
        check(px == NULL && w == 0 && h == 0);
        check(memchr(err, 0, cap) != NULL && err[0] != 0);
        for (size_t i = cap; i < sizeof err; i++) check(err[i] == 'x');  // no write past errcap
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    // The message-buffer size is derived from the input length, so either variant is replayable.
    const int small_err = (size % 7) == 3;
    if (size >= 8 && memcmp(data, png_sig, 8) == 0) {
        run(sio_png_decode, data, size, small_err);
    } else if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        run(sio_jpeg_decode, data, size, small_err);
    } else {
        run(sio_png_decode, data, size, small_err);
        run(sio_jpeg_decode, data, size, small_err);
    }
    return 0;
}
