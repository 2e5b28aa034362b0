/* TensorBoard event files: scalars as Event protocol buffers in TFRecord framing.
 *
 * Record:  u64 length | u32 masked CRC-32C of the 8 length bytes | data | u32 masked CRC of data
 * masked crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8, all little-endian.
 * Event fields used: 1 wall_time (double), 2 step (int64), 3 file_version (string),
 * 5 summary (Summary: 1 value (Value: 1 tag (string), 2 simple_value (float))). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boxmine/bm_train.h"

struct bm_tfevents {
  FILE *file;
  char *path;
};

double bm_wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- protocol buffer encoding --------------------------------------------------------- */
static void put_varint(bm_buf *out, uint64_t value) {
  unsigned char bytes[10];
  int n = 0;
  while (value >= 0x80) {
    bytes[n++] = (unsigned char)(value | 0x80);
    value >>= 7;
  }
  bytes[n++] = (unsigned char)value;
  bm_buf_append(out, bytes, (size_t)n);
}

static void put_key(bm_buf *out, int field, int wire_type) {
  put_varint(out, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

static void put_le(bm_buf *out, uint64_t value, int n_bytes) {
  unsigned char bytes[8];
  for (int i = 0; i < n_bytes; i++) bytes[i] = (unsigned char)(value >> (8 * i));
  bm_buf_append(out, bytes, (size_t)n_bytes);
}

static void put_double(bm_buf *out, int field, double value) {
  uint64_t bits;
  memcpy(&bits, &value, sizeof bits);
  put_key(out, field, 1); /* 64-bit */
  put_le(out, bits, 8);
}

static void put_float(bm_buf *out, int field, float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  put_key(out, field, 5); /* 32-bit */
  put_le(out, bits, 4);
}

static void put_bytes(bm_buf *out, int field, const void *data, size_t len) {
  put_key(out, field, 2); /* length-delimited */
  put_varint(out, len);
  bm_buf_append(out, data, len);
}

/* ---- TFRecord framing ------------------------------------------------------------------ */
static uint32_t masked_crc(const void *data, size_t len) {
  uint32_t crc = bm_crc32c(0, data, len);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static int write_record(bm_tfevents *w, const bm_buf *event, bm_error *err) {
  if (event->failed) return bm_fail(err, "%s: out of memory", w->path);
  bm_buf record;
  bm_buf_init(&record);
  put_le(&record, (uint64_t)event->len, 8);
  if (record.failed) return bm_fail(err, "%s: out of memory", w->path);
  put_le(&record, masked_crc(record.data, 8), 4);
  bm_buf_append(&record, event->data, event->len);
  put_le(&record, masked_crc(event->data, event->len), 4);
  int status = 0;
  if (record.failed) status = bm_fail(err, "%s: out of memory", w->path);
  else if (fwrite(record.data, 1, record.len, w->file) != record.len || fflush(w->file) != 0)
    status = bm_fail(err, "%s: write failed: %s", w->path, strerror(errno));
  bm_buf_free(&record);
  return status;
}

/* ---- writer ----------------------------------------------------------------------------- */
/* Opens dir/events.out.tfevents.<seconds>.<host>[.k] that does not exist yet. */
static int create_new_file(bm_tfevents *w, const char *dir, double wall_time, bm_error *err) {
  char host[256];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  for (char *c = host; *c; c++)
    if (*c == '/') *c = '_';
  char name[400];
  for (int attempt = 0; attempt < 1000; attempt++) {
    int len = snprintf(name, sizeof name, "events.out.tfevents.%lld.%s", (long long)wall_time,
                       host);
    if (attempt > 0) snprintf(name + len, sizeof name - (size_t)len, ".%d", attempt);
    w->path = bm_path_join(dir, name);
    if (!w->path) return bm_fail(err, "%s: out of memory", dir);
    int fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      if ((w->file = fdopen(fd, "wb")) != NULL) return 0;
      close(fd);
      return bm_fail(err, "%s: cannot open: %s", w->path, strerror(errno));
    }
    if (errno != EEXIST) return bm_fail(err, "%s: cannot create: %s", w->path, strerror(errno));
    bm_free(w->path);
    w->path = NULL;
  }
  return bm_fail(err, "%s: 1000 event files named %s[.k] already exist", dir, name);
}

bm_tfevents *bm_tfevents_open(const char *dir, double wall_time, bm_error *err) {
  if (bm_mkdir_p(dir, err) != 0) return NULL;
  bm_tfevents *w = bm_calloc(1, sizeof *w);
  if (!w) {
    bm_fail(err, "%s: out of memory", dir);
    return NULL;
  }
  if (create_new_file(w, dir, wall_time, err) != 0) {
    bm_tfevents_close(w, NULL);
    return NULL;
  }
  bm_buf event;
  bm_buf_init(&event);
  put_double(&event, 1, wall_time);
  put_bytes(&event, 3, "brain.Event:2", 13);
  int status = write_record(w, &event, err);
  bm_buf_free(&event);
  if (status != 0) {
    bm_tfevents_close(w, NULL);
    return NULL;
  }
  return w;
}

int bm_tfevents_scalar(bm_tfevents *w, const char *tag, int64_t step, float value,
                       double wall_time, bm_error *err) {
  bm_buf summary_value, summary, event;
  bm_buf_init(&summary_value);
  bm_buf_init(&summary);
  bm_buf_init(&event);
  put_bytes(&summary_value, 1, tag, strlen(tag));
  put_float(&summary_value, 2, value);
  put_bytes(&summary, 1, summary_value.data, summary_value.len);
  put_double(&event, 1, wall_time);
  put_key(&event, 2, 0);
  put_varint(&event, (uint64_t)step); /* negative steps take 10 bytes, as protobuf says */
  put_bytes(&event, 5, summary.data, summary.len);
  if (summary_value.failed || summary.failed) event.failed = 1;
  int status = write_record(w, &event, err);
  bm_buf_free(&summary_value);
  bm_buf_free(&summary);
  bm_buf_free(&event);
  return status;
}

const char *bm_tfevents_path(const bm_tfevents *w) {
  return w->path;
}

int bm_tfevents_close(bm_tfevents *w, bm_error *err) {
  if (!w) return 0;
  int status = 0;
  if (w->file && fclose(w->file) != 0)
    status = bm_fail(err, "%s: close failed: %s", w->path, strerror(errno));
  bm_free(w->path);
  bm_free(w);
  return status;
}
