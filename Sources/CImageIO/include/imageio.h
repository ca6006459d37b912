#ifndef SEGA_IMAGEIO_H
#define SEGA_IMAGEIO_H
/*
 * CImageIO: a small shim over libpng and libjpeg(-turbo) for sega's image I/O.
 *
 * Every libpng/libjpeg error is caught with setjmp/longjmp inside this file and turned into a
 * return code plus a message; neither library is ever allowed to print, abort or exit. Decoders
 * work on an in-memory copy of the file and check width*height against `max_pixels` before any
 * pixel buffer is allocated (libpng: right after png_get_IHDR; libjpeg: after jpeg_read_header).
 *
 * Decoded pixels are RGB float32 in [0,1], planar [3][height][width]:
 *   8-bit samples / 255, 16-bit samples / 65535; gray is replicated into R, G, B; palette entries
 *   are looked up; alpha (an alpha channel or a tRNS chunk) is dropped, not composited (like
 *   PIL's Image.convert('RGB')); gAMA/iCCP/sBIT are ignored (as PIL does).
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. */
enum {
    SIO_OK = 0,
    SIO_ERR_FORMAT = 1,     /* corrupt, truncated or unsupported data */
    SIO_ERR_TOO_LARGE = 2,  /* width*height above max_pixels */
    SIO_ERR_NOMEM = 3,      /* allocation failed */
    SIO_ERR_ARGUMENT = 4    /* bad arguments (caller bug) */
};

/* Decode a PNG held in memory. On SIO_OK, *pixels is a malloc'ed block of 3*width*height floats
   (free with sio_free). On failure *pixels is NULL and `err` holds a NUL-terminated reason. */
int sio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                   float **pixels, int *width, int *height, char *err, size_t errcap);

/* Decode a baseline or progressive JPEG held in memory (gray, YCbCr or RGB; CMYK is refused).
   Same contract as sio_png_decode. A truncated stream is an error, not a gray-padded image. */
int sio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    float **pixels, int *width, int *height, char *err, size_t errcap);

/* sio_jpeg_decode that also reports libjpeg's warnings (corrupt data it decoded around, such as
   "corrupt JPEG data: 3 extraneous bytes before marker 0xd9"): on SIO_OK, *warnings is their
   count and `warn` holds the first one's text ("" when there was none). Either may be NULL. */
int sio_jpeg_decode_warn(const uint8_t *data, size_t size, uint64_t max_pixels,
                         float **pixels, int *width, int *height, char *err, size_t errcap,
                         char *warn, size_t warncap, int *warnings);

/* Encode interleaved 8-bit RGB (row-major, 3 bytes per pixel) as a non-interlaced 8-bit RGB PNG.
   On SIO_OK, *out is a malloc'ed block of *outsize bytes (free with sio_free). */
int sio_png_encode_rgb8(const uint8_t *rgb, int width, int height,
                        uint8_t **out, size_t *outsize, char *err, size_t errcap);

void sio_free(void *p);

/* Version strings of the linked libraries (for `sega models` / diagnostics). */
const char *sio_libpng_version(void);
int sio_libjpeg_version(void);

#ifdef __cplusplus
}
#endif
#endif
