/* The idx format of (Fashion-)MNIST: a big-endian header (magic 0x00000803 for 3-D unsigned
 * byte arrays, 0x00000801 for 1-D ones, then one 32-bit size per dimension) followed by the
 * bytes. Debian ships the files gzipped; zlib's gz* functions read gzipped and plain files
 * alike. */
#include "boxmine/bm_synth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_UBYTE_1D 0x00000801u
#define IDX_UBYTE_3D 0x00000803u

/* Reads exactly len bytes or fails naming what was expected. */
static int gz_read_exact(gzFile file, void *dst, size_t len, const char *path, const char *what,
                         bm_error *err) {
  unsigned char *p = dst;
  while (len > 0) {
    unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
    int got = gzread(file, p, chunk);
    if (got <= 0) {
      int zerr;
      const char *msg = gzerror(file, &zerr);
      return bm_fail(err, "%s: truncated or unreadable while reading %s (%s)", path, what,
                     zerr != Z_OK && msg ? msg : "end of file");
    }
    p += got;
    len -= (size_t)got;
  }
  return 0;
}

static uint32_t big_endian_u32(const unsigned char *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Opens path and reads its header: magic and n_dims sizes. */
static gzFile open_idx(const char *path, uint32_t magic, int n_dims, uint32_t *dims,
                       bm_error *err) {
  FILE *plain = bm_open_regular(path, err); /* refuses FIFOs and devices like every reader */
  if (!plain) return NULL;
  int fd = dup(fileno(plain));
  fclose(plain);
  gzFile file = fd >= 0 ? gzdopen(fd, "rb") : NULL;
  if (!file) {
    if (fd >= 0) close(fd);
    bm_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    return NULL;
  }
  unsigned char header[16];
  if (gz_read_exact(file, header, 4 + 4 * (size_t)n_dims, path, "the idx header", err)) {
    gzclose(file);
    return NULL;
  }
  uint32_t got = big_endian_u32(header);
  if (got != magic) {
    bm_fail(err, "%s: not an idx file of the expected kind (magic 0x%08x, expected 0x%08x)",
            path, got, magic);
    gzclose(file);
    return NULL;
  }
  for (int d = 0; d < n_dims; d++) dims[d] = big_endian_u32(header + 4 + 4 * d);
  return file;
}

int bm_mnist_load(const char *images_path, const char *labels_path, bm_mnist *mnist,
                  bm_error *err) {
  memset(mnist, 0, sizeof *mnist);
  uint32_t idims[3], ldims[1];
  gzFile images = open_idx(images_path, IDX_UBYTE_3D, 3, idims, err);
  if (!images) return -1;
  gzFile labels = open_idx(labels_path, IDX_UBYTE_1D, 1, ldims, err);
  if (!labels) {
    gzclose(images);
    return -1;
  }
  int rc = -1;
  if (idims[0] == 0 || idims[0] > 10000000u || idims[1] == 0 || idims[1] > 1024 ||
      idims[2] == 0 || idims[2] > 1024) {
    bm_fail(err, "%s: implausible idx dimensions %u x %u x %u", images_path, idims[0], idims[1],
            idims[2]);
    goto done;
  }
  if (ldims[0] != idims[0]) {
    bm_fail(err, "%s has %u labels but %s has %u images", labels_path, ldims[0], images_path,
            idims[0]);
    goto done;
  }
  size_t n_pixels = (size_t)idims[0] * idims[1] * idims[2];
  mnist->images = bm_malloc(n_pixels);
  mnist->labels = bm_malloc(idims[0]);
  if (!mnist->images || !mnist->labels) {
    bm_fail(err, "%s: out of memory for %u images", images_path, idims[0]);
    goto done;
  }
  if (gz_read_exact(images, mnist->images, n_pixels, images_path, "the pixels", err)) goto done;
  if (gz_read_exact(labels, mnist->labels, idims[0], labels_path, "the labels", err)) goto done;
  for (uint32_t i = 0; i < idims[0]; i++)
    if (mnist->labels[i] >= BM_SYNTH_N_CLASSES) {
      bm_fail(err, "%s: label %u of item %u is not a class 0..%d", labels_path,
              mnist->labels[i], i, BM_SYNTH_N_CLASSES - 1);
      goto done;
    }
  mnist->n = (int)idims[0];
  mnist->rows = (int)idims[1];
  mnist->cols = (int)idims[2];
  rc = 0;
done:
  gzclose(images);
  gzclose(labels);
  if (rc) bm_mnist_free(mnist);
  return rc;
}

int bm_mnist_load_split(const char *dir, int train, bm_mnist *mnist, bm_error *err) {
  const char *prefix = train ? "train" : "t10k";
  char images[4096], labels[4096];
  snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
  snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  const char *paths[2] = {images, labels};
  for (int i = 0; i < 2; i++)
    if (!bm_file_exists(paths[i]))
      return bm_fail(err,
                     "%s: not found. It comes with Debian's package dataset-fashion-mnist "
                     "(apt-get install dataset-fashion-mnist); or pass --mnist-dir with the "
                     "folder holding the four Fashion-MNIST .gz files",
                     paths[i]);
  return bm_mnist_load(images, labels, mnist, err);
}

void bm_mnist_free(bm_mnist *mnist) {
  if (!mnist) return;
  bm_free(mnist->images);
  bm_free(mnist->labels);
  memset(mnist, 0, sizeof *mnist);
}
