/* Image files: JPEG (libjpeg-turbo) and PNG (libpng) decoded to 8-bit RGB, and written back.
 *
 * The format comes from the file's first bytes, never from its name. Both libraries report
 * fatal errors through a callback that must not return; ours longjmp back to the decoding
 * function, whose state lives in a per-call struct (no globals), so a corrupt file becomes
 * a bm_error naming the file instead of exit().
 *
 * Policy on damaged files:
 *  - JPEG: fatal libjpeg errors fail. libjpeg treats a truncated or corrupt entropy stream as
 *    a warning and pads the picture with grey; we fail on those warnings too (premature end
 *    of file, premature end of segment, bad Huffman/arithmetic code, lost restart marker),
 *    because a half-grey training image is silently wrong. Harmless warnings (extraneous
 *    bytes between markers, unknown JFIF revision, bad ICC profile) are ignored.
 *  - PNG: any libpng error (bad CRC, truncated data) fails; warnings are ignored.
 *  - PNG alpha is dropped (the colour channels are kept as stored), as stb_image and PIL's
 *    convert("RGB") do, so boxmine sees the same pixels as other tools.
 */
#include "boxmine/bm_data.h"

#include <png.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jpeglib.h needs size_t and FILE declared first */
#include <jpeglib.h>
#include <jerror.h> /* after jpeglib.h: its message list depends on jconfig.h */

/* Refuse absurd headers before allocating: 2^27 pixels is a 384 MiB RGB buffer. */
#define BM_IMAGE_MAX_SIDE 65535
#define BM_IMAGE_MAX_PIXELS (1L << 27)

typedef enum { FORMAT_UNKNOWN, FORMAT_JPEG, FORMAT_PNG } image_format;

static image_format detect_format(const unsigned char *head, size_t len) {
  static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff) return FORMAT_JPEG;
  if (len >= 8 && memcmp(head, png_magic, 8) == 0) return FORMAT_PNG;
  return FORMAT_UNKNOWN;
}

static int check_dimensions(const char *path, long width, long height, bm_error *err) {
  if (width <= 0 || height <= 0 || width > BM_IMAGE_MAX_SIDE || height > BM_IMAGE_MAX_SIDE ||
      width * height > BM_IMAGE_MAX_PIXELS)
    return bm_fail(err, "%s: unsupported image size %ldx%ld", path, width, height);
  return 0;
}

/* ---- JPEG ---------------------------------------------------------------------------- */

/* libjpeg's error manager extended with where to jump and why. */
typedef struct jpeg_error_ctx {
  struct jpeg_error_mgr pub; /* must be first: libjpeg hands us a pointer to it */
  jmp_buf jump;
  int fatal_warning; /* a warning that means the pixels are damaged */
  char message[JMSG_LENGTH_MAX];
  unsigned char *encoded; /* writing: libjpeg's memory destination */
  unsigned long encoded_len;
} jpeg_error_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_error_ctx *ctx = (jpeg_error_ctx *)cinfo->err;
  cinfo->err->format_message(cinfo, ctx->message);
  longjmp(ctx->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int msg_level) {
  jpeg_error_ctx *ctx = (jpeg_error_ctx *)cinfo->err;
  if (msg_level != -1) return; /* trace messages */
  int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
      code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC) {
    if (!ctx->fatal_warning) cinfo->err->format_message(cinfo, ctx->message);
    ctx->fatal_warning = 1;
  }
}

static void jpeg_error_init(jpeg_error_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
  jpeg_std_error(&ctx->pub);
  ctx->pub.error_exit = jpeg_on_error;
  ctx->pub.emit_message = jpeg_on_message;
}

/* CMYK rows to RGB. Adobe applications (and libjpeg when it writes CMYK, since it adds an
 * Adobe marker) store CMYK inverted: 255 means no ink. Without the marker, 0 means no ink. */
static void cmyk_row_to_rgb(const unsigned char *cmyk, unsigned char *rgb, int width,
                            int inverted) {
  for (int x = 0; x < width; x++) {
    int c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
    if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
    /* now each value is the fraction of light kept, 0..255 */
    rgb[3 * x] = (unsigned char)((c * k + 127) / 255);
    rgb[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
    rgb[3 * x + 2] = (unsigned char)((y * k + 127) / 255);
  }
}

static int decode_jpeg(const unsigned char *data, size_t len, const char *path, bm_image *img,
                       bm_error *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_error_ctx ectx;
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile cmyk_row = NULL;
  jpeg_error_init(&ectx);
  cinfo.err = &ectx.pub;
  if (setjmp(ectx.jump)) {
    jpeg_destroy_decompress(&cinfo);
    bm_free(pixels);
    bm_free(cmyk_row);
    return bm_fail(err, "%s: cannot decode JPEG: %s", path, ectx.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB; /* libjpeg-turbo expands grey */
  jpeg_start_decompress(&cinfo);
  int width = (int)cinfo.output_width, height = (int)cinfo.output_height;
  if (check_dimensions(path, width, height, err)) {
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  pixels = bm_malloc((size_t)width * height * 3);
  if (is_cmyk) cmyk_row = bm_malloc((size_t)width * 4);
  if (!pixels || (is_cmyk && !cmyk_row)) {
    jpeg_destroy_decompress(&cinfo);
    bm_free(pixels);
    bm_free(cmyk_row);
    return bm_fail(err, "%s: out of memory for a %dx%d image", path, width, height);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    unsigned char *dst = pixels + (size_t)cinfo.output_scanline * width * 3;
    JSAMPROW row = is_cmyk ? cmyk_row : dst;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (is_cmyk) cmyk_row_to_rgb(cmyk_row, dst, width, cinfo.saw_Adobe_marker);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  bm_free(cmyk_row);
  if (ectx.fatal_warning) {
    bm_free(pixels);
    return bm_fail(err, "%s: damaged JPEG: %s", path, ectx.message);
  }
  img->width = width;
  img->height = height;
  img->channels = 3;
  img->pixels = pixels;
  return 0;
}

static int jpeg_header_size(FILE *file, const char *path, int *width, int *height,
                            bm_error *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_error_ctx ectx;
  jpeg_error_init(&ectx);
  cinfo.err = &ectx.pub;
  if (setjmp(ectx.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return bm_fail(err, "%s: cannot read JPEG header: %s", path, ectx.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, file);
  jpeg_read_header(&cinfo, TRUE);
  *width = (int)cinfo.image_width;
  *height = (int)cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return check_dimensions(path, *width, *height, err);
}

/* ---- PNG ----------------------------------------------------------------------------- */

typedef struct png_ctx {
  jmp_buf jump;
  char message[256];
  const unsigned char *data; /* reading: the whole file and a cursor */
  size_t len, pos;
  bm_buf out; /* writing: the encoded file */
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_ctx *ctx = png_get_error_ptr(png);
  snprintf(ctx->message, sizeof ctx->message, "%s", msg);
  longjmp(ctx->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void png_read_from_memory(png_structp png, png_bytep dst, size_t count) {
  png_ctx *ctx = png_get_io_ptr(png);
  if (count > ctx->len - ctx->pos) png_error(png, "file is truncated");
  memcpy(dst, ctx->data + ctx->pos, count);
  ctx->pos += count;
}

static int decode_png(const unsigned char *data, size_t len, const char *path, bm_image *img,
                      bm_error *err) {
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.data = data;
  ctx.len = len;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error,
                                           png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return bm_fail(err, "%s: out of memory starting the PNG decoder", path);
  }
  unsigned char *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(ctx.jump)) {
    png_destroy_read_struct(&png, &info, NULL);
    bm_free(pixels);
    bm_free(rows);
    return bm_fail(err, "%s: cannot decode PNG: %s", path, ctx.message);
  }
  png_set_read_fn(png, &ctx, png_read_from_memory);
  png_read_info(png, info);
  png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  if (check_dimensions(path, (long)width, (long)height, err)) {
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  /* Normalise every colour type and depth to 8-bit RGB. */
  int color_type = png_get_color_type(png, info);
  png_set_expand(png); /* palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha */
  png_set_scale_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
    png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)width * 3)
    png_error(png, "unexpected row size after conversion to RGB");
  pixels = bm_malloc((size_t)width * height * 3);
  rows = bm_malloc(sizeof(png_bytep) * height);
  if (!pixels || !rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  bm_free(rows);
  img->width = (int)width;
  img->height = (int)height;
  img->channels = 3;
  img->pixels = pixels;
  return 0;
}

/* PNG's first chunk is IHDR: 8-byte signature, 4-byte length, "IHDR", width, height (big
 * endian). Reading those 24 bytes is enough for the size. */
static int png_header_size(const unsigned char *head, size_t len, const char *path, int *width,
                           int *height, bm_error *err) {
  if (len < 24 || memcmp(head + 12, "IHDR", 4) != 0)
    return bm_fail(err, "%s: PNG file has no IHDR chunk at its start", path);
  long w = ((long)head[16] << 24) | ((long)head[17] << 16) | ((long)head[18] << 8) | head[19];
  long h = ((long)head[20] << 24) | ((long)head[21] << 16) | ((long)head[22] << 8) | head[23];
  if (check_dimensions(path, w, h, err)) return -1;
  *width = (int)w;
  *height = (int)h;
  return 0;
}

/* ---- public: reading ------------------------------------------------------------------- */

int bm_image_load(const char *path, bm_image *img, bm_error *err) {
  memset(img, 0, sizeof *img);
  char *data;
  size_t len;
  if (bm_read_file(path, &data, &len, err)) return -1;
  const unsigned char *bytes = (const unsigned char *)data;
  int rc;
  switch (detect_format(bytes, len)) {
  case FORMAT_JPEG: rc = decode_jpeg(bytes, len, path, img, err); break;
  case FORMAT_PNG: rc = decode_png(bytes, len, path, img, err); break;
  default:
    rc = bm_fail(err, "%s: not a JPEG or PNG file (%s)", path,
                 len == 0 ? "empty file" : "unrecognised first bytes");
  }
  bm_free(data);
  return rc;
}

int bm_image_size(const char *path, int *width, int *height, bm_error *err) {
  FILE *file = bm_open_regular(path, err);
  if (!file) return -1;
  unsigned char head[24];
  size_t len = fread(head, 1, sizeof head, file);
  int rc;
  switch (detect_format(head, len)) {
  case FORMAT_JPEG:
    rewind(file);
    rc = jpeg_header_size(file, path, width, height, err);
    break;
  case FORMAT_PNG: rc = png_header_size(head, len, path, width, height, err); break;
  default:
    rc = bm_fail(err, "%s: not a JPEG or PNG file (%s)", path,
                 len == 0 ? "empty file" : "unrecognised first bytes");
  }
  fclose(file);
  return rc;
}

void bm_image_free(bm_image *img) {
  if (!img) return;
  bm_free(img->pixels);
  img->pixels = NULL;
  img->width = img->height = img->channels = 0;
}

/* ---- public: writing ------------------------------------------------------------------- */

static int check_writable(const char *path, const bm_image *img, bm_error *err) {
  if (!img || !img->pixels || (img->channels != 1 && img->channels != 3))
    return bm_fail(err, "%s: can only write 1- or 3-channel images", path);
  return check_dimensions(path, img->width, img->height, err);
}

static void png_write_to_buf(png_structp png, png_bytep src, size_t count) {
  png_ctx *ctx = png_get_io_ptr(png);
  bm_buf_append(&ctx->out, src, count);
  if (ctx->out.failed) png_error(png, "out of memory");
}

static void png_flush_nothing(png_structp png) { (void)png; }

int bm_image_save_png(const char *path, const bm_image *img, bm_error *err) {
  if (check_writable(path, img, err)) return -1;
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  bm_buf_init(&ctx.out);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error,
                                            png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return bm_fail(err, "%s: out of memory starting the PNG encoder", path);
  }
  if (setjmp(ctx.jump)) {
    png_destroy_write_struct(&png, &info);
    bm_buf_free(&ctx.out);
    return bm_fail(err, "%s: cannot encode PNG: %s", path, ctx.message);
  }
  png_set_write_fn(png, &ctx, png_write_to_buf, png_flush_nothing);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
               img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  size_t stride = (size_t)img->width * img->channels;
  for (int y = 0; y < img->height; y++) png_write_row(png, img->pixels + (size_t)y * stride);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  int rc = bm_write_file_atomic(path, ctx.out.data, ctx.out.len, err);
  bm_buf_free(&ctx.out);
  return rc;
}

int bm_image_save_jpeg(const char *path, const bm_image *img, int quality, bm_error *err) {
  if (check_writable(path, img, err)) return -1;
  if (quality < 1 || quality > 100)
    return bm_fail(err, "%s: JPEG quality %d is outside [1, 100]", path, quality);
  struct jpeg_compress_struct cinfo;
  jpeg_error_ctx ectx;
  jpeg_error_init(&ectx);
  cinfo.err = &ectx.pub;
  if (setjmp(ectx.jump)) {
    jpeg_destroy_compress(&cinfo);
    free(ectx.encoded); /* libjpeg allocates the memory destination with malloc */
    return bm_fail(err, "%s: cannot encode JPEG: %s", path, ectx.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &ectx.encoded, &ectx.encoded_len);
  cinfo.image_width = (JDIMENSION)img->width;
  cinfo.image_height = (JDIMENSION)img->height;
  cinfo.input_components = img->channels;
  cinfo.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  size_t stride = (size_t)img->width * img->channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = img->pixels + (size_t)cinfo.next_scanline * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  int rc = bm_write_file_atomic(path, ectx.encoded, ectx.encoded_len, err);
  free(ectx.encoded);
  return rc;
}
