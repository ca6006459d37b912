/*
 * CImageIO: libpng / libjpeg(-turbo) wrapped so that every library error comes back as a return
 * code and a message (setjmp/longjmp here, never abort/exit/print). See include/imageio.h.
 */
#include "imageio.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

// MARK: - Shared helpers

static void set_err(char *err, size_t errcap, const char *fmt, ...) {
    if (!err || errcap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* Refuse before any allocation: the pixel count must be within the caller's limit and the
   float buffer (3 planes of 4 bytes) must be addressable. */
static int check_pixels(uint64_t w, uint64_t h, uint64_t max_pixels, char *err, size_t errcap) {
    uint64_t n = w * h; /* w, h < 2^32 each: no overflow in 64 bits */
    if (w == 0 || h == 0) {
        set_err(err, errcap, "image has zero size (%llu x %llu)", (unsigned long long)w, (unsigned long long)h);
        return SIO_ERR_FORMAT;
    }
    if (n > max_pixels || n > (uint64_t)(SIZE_MAX / (3 * sizeof(float)))) {
        set_err(err, errcap, "image is %llu x %llu = %llu pixels, above the limit of %llu pixels",
                (unsigned long long)w, (unsigned long long)h, (unsigned long long)n,
                (unsigned long long)max_pixels);
        return SIO_ERR_TOO_LARGE;
    }
    return SIO_OK;
}

void sio_free(void *p) { free(p); }

const char *sio_libpng_version(void) { return png_get_libpng_ver(NULL); }

int sio_libjpeg_version(void) { return JPEG_LIB_VERSION; }

// MARK: - PNG decode

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    char *err;
    size_t errcap;
    int code;            /* first error wins; later messages do not overwrite it */
} png_ctx;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_ctx *c = (png_ctx *)png_get_error_ptr(png);
    if (c->code == SIO_OK) {
        c->code = SIO_ERR_FORMAT;
        set_err(c->err, c->errcap, "invalid PNG: %s", msg);
    }
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (bad ancillary chunks etc.) are not fatal and not printed */
}

static void png_mem_read(png_structp png, png_bytep out, size_t n) {
    png_ctx *c = (png_ctx *)png_get_io_ptr(png);
    if (n > c->size - c->pos) {
        if (c->code == SIO_OK) {
            c->code = SIO_ERR_FORMAT;
            set_err(c->err, c->errcap, "truncated PNG: the data ends after %zu bytes", c->size);
        }
        png_error(png, "truncated");
    }
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

/* One decoded row (8- or 16-bit, 1..4 channels) into the three float planes. */
static void png_row_to_planes(const uint8_t *row, int ch, int sixteen, uint32_t w, float *r, float *g, float *b) {
    for (uint32_t x = 0; x < w; x++) {
        float v[4];
        for (int k = 0; k < ch; k++) {
            size_t i = (size_t)x * ch + k;
            v[k] = sixteen ? (float)((row[2 * i] << 8) | row[2 * i + 1]) / 65535.0f
                           : (float)row[i] / 255.0f;
        }
        if (ch <= 2) { r[x] = v[0]; g[x] = v[0]; b[x] = v[0]; }  /* gray (+ alpha, dropped) */
        else { r[x] = v[0]; g[x] = v[1]; b[x] = v[2]; }          /* RGB (+ alpha, dropped) */
    }
}

/* Read every row (all passes of an interlaced image into `rows`, which then holds the whole
 * image; else one row at a time through `rows`) into the three planes of `out`. Errors longjmp
 * to the caller's setjmp. */
static void png_read_planes(png_structp png, uint8_t *rows, int passes, size_t rowbytes, int ch, int wide,
                            png_uint_32 w, png_uint_32 h, float *out) {
    size_t plane = (size_t)w * h;
    float *R = out, *G = out + plane, *B = out + 2 * plane;
    if (passes > 1) {
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++) png_read_row(png, rows + (size_t)y * rowbytes, NULL);
        for (png_uint_32 y = 0; y < h; y++)
            png_row_to_planes(rows + (size_t)y * rowbytes, ch, wide, w, R + (size_t)y * w, G + (size_t)y * w, B + (size_t)y * w);
    } else {
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, rows, NULL);
            png_row_to_planes(rows, ch, wide, w, R + (size_t)y * w, G + (size_t)y * w, B + (size_t)y * w);
        }
    }
}

int sio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                   float **pixels, int *width, int *height, char *err, size_t errcap) {
    if (!pixels || !width || !height) return SIO_ERR_ARGUMENT;
    *pixels = NULL;
    *width = *height = 0;
    if (!data && size) return SIO_ERR_ARGUMENT;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_err(err, errcap, "not a PNG file (bad signature)");
        return SIO_ERR_FORMAT;
    }
    png_ctx c = {data, size, 0, err, errcap, SIO_OK};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_err_fn, png_warn_fn);
    if (!png) { set_err(err, errcap, "out of memory (libpng)"); return SIO_ERR_NOMEM; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_err(err, errcap, "out of memory (libpng)");
        return SIO_ERR_NOMEM;
    }
    /* Written after setjmp and read after longjmp: volatile. */
    float *volatile out = NULL;
    uint8_t *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(out);
        png_destroy_read_struct(&png, &info, NULL);
        return c.code == SIO_OK ? SIO_ERR_FORMAT : c.code;
    }
    png_set_read_fn(png, &c, png_mem_read);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    int rc = check_pixels(w, h, max_pixels, err, errcap);
    if (rc != SIO_OK) { c.code = rc; png_longjmp(png, 1); }

    /* Palette -> RGB (a tRNS chunk becomes an alpha channel, dropped below); low-depth gray -> 8 bit. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    int odepth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (ch < 1 || ch > 4 || (odepth != 8 && odepth != 16) || rowbytes != (size_t)w * ch * (odepth / 8)) {
        c.code = SIO_ERR_FORMAT;
        set_err(err, errcap, "unsupported PNG layout (%d channels, %d bits)", ch, odepth);
        png_longjmp(png, 1);
    }
    size_t plane = (size_t)w * h;
    out = (float *)malloc(3 * plane * sizeof(float));
    /* Interlaced images need the whole image for the passes to fill in; others one row. */
    rows = (uint8_t *)malloc(passes > 1 ? rowbytes * h : rowbytes);
    if (!out || !rows) {
        c.code = SIO_ERR_NOMEM;
        set_err(err, errcap, "out of memory decoding a %u x %u PNG", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    png_read_planes(png, rows, passes, rowbytes, ch, odepth == 16, w, h, out);
    /* Read through IEND: a file cut after the image data is still reported as truncated. */
    png_read_end(png, NULL);
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return SIO_OK;
}

// MARK: - JPEG decode

typedef struct {
    struct jpeg_error_mgr pub;  /* first member: libjpeg hands us a pointer to it */
    jmp_buf jump;
    char *err;
    size_t errcap;
    int code;
    char *warn;                 /* the first warning's text (NULL: not wanted) */
    size_t warncap;
} jpeg_ctx;

static void jpeg_fail(j_common_ptr cinfo, const char *prefix) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    if (c->code == SIO_OK) {
        char buf[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, buf);
        c->code = SIO_ERR_FORMAT;
        set_err(c->err, c->errcap, "%s: %s", prefix, buf);
    }
    longjmp(c->jump, 1);
}

static void jpeg_error_exit_fn(j_common_ptr cinfo) { jpeg_fail(cinfo, "invalid JPEG"); }

/* A premature end of data is an error: libjpeg would pad the image with gray, we report the
   file as truncated instead. Other warnings (corrupt data libjpeg decoded around) are counted
   and the first one's text kept for the caller, who decides whether to report or refuse. */
static void jpeg_emit_message_fn(j_common_ptr cinfo, int level) {
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo, "truncated JPEG");
        jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
        if (cinfo->err->num_warnings == 0 && c->warn && c->warncap > 0) {
            char buf[JMSG_LENGTH_MAX];
            (*cinfo->err->format_message)(cinfo, buf);
            if (strncmp(buf, "Corrupt JPEG data", 17) == 0) buf[0] = 'c';
            set_err(c->warn, c->warncap, "%s", buf);
        }
        cinfo->err->num_warnings++;
    }
}

static void jpeg_output_message_fn(j_common_ptr cinfo) { (void)cinfo; }

/* Every scanline, as RGB, into the three float planes of `out` (row: one scanline's buffer). */
static void jpeg_read_planes(struct jpeg_decompress_struct *cinfo, jpeg_ctx *c, float *out, uint8_t *row) {
    uint32_t w = cinfo->output_width;
    size_t plane = (size_t)w * cinfo->output_height;
    float *R = out, *G = out + plane, *B = out + 2 * plane;
    while (cinfo->output_scanline < cinfo->output_height) {
        size_t y = cinfo->output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(cinfo, &rp, 1) != 1) {
            c->code = SIO_ERR_FORMAT;
            set_err(c->err, c->errcap, "truncated JPEG: no data for row %zu", y);
            longjmp(c->jump, 1);
        }
        for (uint32_t x = 0; x < w; x++) {
            R[y * w + x] = (float)row[3 * x] / 255.0f;
            G[y * w + x] = (float)row[3 * x + 1] / 255.0f;
            B[y * w + x] = (float)row[3 * x + 2] / 255.0f;
        }
    }
}

int sio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    float **pixels, int *width, int *height, char *err, size_t errcap) {
    return sio_jpeg_decode_warn(data, size, max_pixels, pixels, width, height, err, errcap, NULL, 0, NULL);
}

int sio_jpeg_decode_warn(const uint8_t *data, size_t size, uint64_t max_pixels,
                         float **pixels, int *width, int *height, char *err, size_t errcap,
                         char *warn, size_t warncap, int *warnings) {
    if (warn && warncap) warn[0] = 0;
    if (warnings) *warnings = 0;
    if (!pixels || !width || !height) return SIO_ERR_ARGUMENT;
    *pixels = NULL;
    *width = *height = 0;
    if (!data && size) return SIO_ERR_ARGUMENT;
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        set_err(err, errcap, "not a JPEG file (bad signature)");
        return SIO_ERR_FORMAT;
    }
    if (size > (size_t)(unsigned long)-1) { set_err(err, errcap, "JPEG data too large"); return SIO_ERR_TOO_LARGE; }
    struct jpeg_decompress_struct cinfo;
    jpeg_ctx c;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errcap = errcap;
    c.code = SIO_OK;
    c.warn = warn;
    c.warncap = warncap;
    cinfo.err = jpeg_std_error(&c.pub);
    c.pub.error_exit = jpeg_error_exit_fn;
    c.pub.emit_message = jpeg_emit_message_fn;
    c.pub.output_message = jpeg_output_message_fn;
    float *volatile out = NULL;
    uint8_t *volatile row = NULL;
    if (setjmp(c.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(out);
        return c.code == SIO_OK ? SIO_ERR_FORMAT : c.code;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    uint32_t w = cinfo.image_width, h = cinfo.image_height;
    int rc = check_pixels(w, h, max_pixels, err, errcap);
    if (rc != SIO_OK) { c.code = rc; longjmp(c.jump, 1); }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        c.code = SIO_ERR_FORMAT;
        set_err(err, errcap, "CMYK/YCCK JPEG is not supported (convert it to RGB first)");
        longjmp(c.jump, 1);
    }
    /* libjpeg defaults as PIL uses them: islow IDCT, fancy upsampling. */
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3 || cinfo.output_width != w || cinfo.output_height != h) {
        c.code = SIO_ERR_FORMAT;
        set_err(err, errcap, "unexpected JPEG output (%d components)", cinfo.output_components);
        longjmp(c.jump, 1);
    }
    size_t plane = (size_t)w * h;
    out = (float *)malloc(3 * plane * sizeof(float));
    row = (uint8_t *)malloc((size_t)w * 3);
    if (!out || !row) {
        c.code = SIO_ERR_NOMEM;
        set_err(err, errcap, "out of memory decoding a %u x %u JPEG", (unsigned)w, (unsigned)h);
        longjmp(c.jump, 1);
    }
    jpeg_read_planes(&cinfo, &c, out, row);
    jpeg_finish_decompress(&cinfo);
    if (warnings) *warnings = (int)c.pub.num_warnings;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return SIO_OK;
}

// MARK: - PNG encode

typedef struct {
    png_ctx errors;     /* first member: the error callback reads it */
    uint8_t *buf;
    size_t len, cap;
} png_sink;

static void png_mem_write(png_structp png, png_bytep d, size_t n) {
    png_sink *s = (png_sink *)png_get_io_ptr(png);
    if (n > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap - s->len < n) {
            if (cap > SIZE_MAX / 2) png_error(png, "PNG too large");
            cap *= 2;
        }
        uint8_t *nb = (uint8_t *)realloc(s->buf, cap);
        if (!nb) {
            if (s->errors.code == SIO_OK) {
                s->errors.code = SIO_ERR_NOMEM;
                set_err(s->errors.err, s->errors.errcap, "out of memory encoding a PNG");
            }
            png_error(png, "out of memory");
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, d, n);
    s->len += n;
}

static void png_mem_flush(png_structp png) { (void)png; }

int sio_png_encode_rgb8(const uint8_t *rgb, int width, int height,
                        uint8_t **out, size_t *outsize, char *err, size_t errcap) {
    if (!out || !outsize) return SIO_ERR_ARGUMENT;
    *out = NULL;
    *outsize = 0;
    if (!rgb || width <= 0 || height <= 0) {
        set_err(err, errcap, "cannot write a %d x %d image", width, height);
        return SIO_ERR_ARGUMENT;
    }
    png_sink s;
    memset(&s, 0, sizeof s);
    s.errors.err = err;
    s.errors.errcap = errcap;
    s.errors.code = SIO_OK;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s.errors, png_err_fn, png_warn_fn);
    if (!png) { set_err(err, errcap, "out of memory (libpng)"); return SIO_ERR_NOMEM; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_err(err, errcap, "out of memory (libpng)");
        return SIO_ERR_NOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(s.buf);
        return s.errors.code == SIO_OK ? SIO_ERR_FORMAT : s.errors.code;
    }
    png_set_write_fn(png, &s, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, rgb + (size_t)y * width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = s.buf;
    *outsize = s.len;
    return SIO_OK;
}
