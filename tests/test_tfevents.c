/* TensorBoard event files, read back by a decoder written here from the formats' definitions
 * (TFRecord framing with masked CRC-32C, protocol buffer varints and wire types), not from
 * src/train/tfevents.c. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_train.h"
#include "testlib.h"

/* ---- an independent reader ----------------------------------------------------------- */
/* CRC-32C, bit by bit: reflected Castagnoli polynomial 0x82F63B78, init and final xor ~0. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

/* TFRecord's mask: rotate right by 15 bits, add a constant. */
static uint32_t tf_mask(uint32_t crc) {
  uint32_t rotated = (crc >> 15) | (crc << 17);
  return rotated + 0xa282ead8u;
}

static uint64_t read_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

typedef struct {
  const unsigned char *p, *end;
  int bad;
} cursor;

static uint64_t varint(cursor *c) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (c->p >= c->end) break;
    unsigned char byte = *c->p++;
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  c->bad = 1;
  return 0;
}

typedef struct {
  double wall_time;
  int64_t step;
  char file_version[64];
  char tag[128];
  float simple_value;
  int has_version, has_summary, n_values;
} event;

static void parse_value(cursor c, event *e) {
  while (c.p < c.end && !c.bad) {
    uint64_t key = varint(&c);
    if (key == ((1 << 3) | 2)) { /* tag */
      uint64_t n = varint(&c);
      if (n >= sizeof e->tag || n > (uint64_t)(c.end - c.p)) { c.bad = 1; break; }
      memcpy(e->tag, c.p, n);
      e->tag[n] = '\0';
      c.p += n;
    } else if (key == ((2 << 3) | 5)) { /* simple_value, fixed32 */
      if (c.end - c.p < 4) { c.bad = 1; break; }
      uint32_t bits = (uint32_t)read_le(c.p, 4);
      memcpy(&e->simple_value, &bits, 4);
      c.p += 4;
    } else {
      c.bad = 1;
    }
  }
  CHECK(!c.bad);
}

static int parse_event(const unsigned char *data, size_t len, event *e) {
  memset(e, 0, sizeof *e);
  cursor c = {data, data + len, 0};
  while (c.p < c.end && !c.bad) {
    uint64_t key = varint(&c);
    int field = (int)(key >> 3), wire = (int)(key & 7);
    if (field == 1 && wire == 1) {
      if (c.end - c.p < 8) return -1;
      uint64_t bits = read_le(c.p, 8);
      memcpy(&e->wall_time, &bits, 8);
      c.p += 8;
    } else if (field == 2 && wire == 0) {
      e->step = (int64_t)varint(&c);
    } else if ((field == 3 || field == 5) && wire == 2) {
      uint64_t n = varint(&c);
      if (n > (uint64_t)(c.end - c.p)) return -1;
      if (field == 3) {
        if (n >= sizeof e->file_version) return -1;
        memcpy(e->file_version, c.p, n);
        e->has_version = 1;
      } else { /* Summary: repeated field 1 = Value */
        cursor s = {c.p, c.p + n, 0};
        e->has_summary = 1;
        while (s.p < s.end && !s.bad) {
          if (varint(&s) != ((1 << 3) | 2)) return -1;
          uint64_t m = varint(&s);
          if (m > (uint64_t)(s.end - s.p)) return -1;
          cursor v = {s.p, s.p + m, 0};
          parse_value(v, e);
          e->n_values++;
          s.p += m;
        }
        if (s.bad) return -1;
      }
      c.p += n;
    } else {
      return -1;
    }
  }
  return c.bad ? -1 : 0;
}

/* Reads every record of a file; fails the test on any framing or CRC problem. */
static int read_events(const char *path, event *events, int max_events) {
  char *file = NULL;
  size_t len = 0;
  if (bm_read_file(path, &file, &len, NULL) != 0) return -1;
  const unsigned char *p = (const unsigned char *)file, *end = p + len;
  int n = 0;
  while (p < end) {
    CHECK_MSG(end - p >= 12, "record header cut at byte %td", p - (const unsigned char *)file);
    if (end - p < 12) break;
    uint64_t data_len = read_le(p, 8);
    CHECK(read_le(p + 8, 4) == tf_mask(crc32c_bitwise(p, 8)));
    CHECK((uint64_t)(end - p - 12) >= data_len + 4);
    if ((uint64_t)(end - p - 12) < data_len + 4) break;
    const unsigned char *data = p + 12;
    CHECK(read_le(data + data_len, 4) == tf_mask(crc32c_bitwise(data, data_len)));
    CHECK(n < max_events);
    if (n >= max_events) break;
    CHECK_MSG(parse_event(data, data_len, &events[n]) == 0, "event %d does not parse", n);
    n++;
    p = data + data_len + 4;
  }
  bm_free(file);
  return n;
}

/* ---- tests ---------------------------------------------------------------------------- */
static void test_mask(void) {
  /* CRC-32C check value; and the mask worked by hand for crc = 0:
   * rotate(0) = 0, + 0xa282ead8 = 0xa282ead8; for crc = 0x8000 (bit 15): rotated to bit 0 = 1,
   * + 0xa282ead8 = 0xa282ead9. */
  CHECK(crc32c_bitwise((const unsigned char *)"123456789", 9) == 0xE3069283u);
  CHECK(bm_crc32c(0, "123456789", 9) == 0xE3069283u);
  CHECK(tf_mask(0) == 0xa282ead8u);
  CHECK(tf_mask(0x8000u) == 0xa282ead9u);
}

static int count_event_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) n += strstr(entry->d_name, "tfevents") != NULL;
  closedir(d);
  return n;
}

static void test_write_and_read_back(void) {
  char tmp[512], dir[600];
  bm_test_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/runs/exp1", tmp); /* created by open */
  const double t0 = 1700000000.25;
  bm_error err = {{0}};
  bm_tfevents *w = bm_tfevents_open(dir, t0, &err);
  CHECK_MSG(w != NULL, "%s", err.msg);
  if (!w) return;
  char host[256] = "", expected[1024];
  gethostname(host, sizeof host);
  snprintf(expected, sizeof expected, "%s/events.out.tfevents.1700000000.%s", dir, host);
  CHECK_MSG(strcmp(bm_tfevents_path(w), expected) == 0, "path %s", bm_tfevents_path(w));

  const char *tags[3] = {"train/loss", "val/AP50", "lr"};
  const float values[3] = {2.5f, 0.125f, 1e-3f};
  for (int i = 0; i < 30; i++)
    CHECK(bm_tfevents_scalar(w, tags[i % 3], i / 3, values[i % 3] * (float)(i + 1), t0 + i,
                             &err) == 0);
  CHECK(bm_tfevents_scalar(w, "edge/negative_step", -1, -0.0f, t0, &err) == 0);
  CHECK(bm_tfevents_scalar(w, "edge/big_step", 1LL << 40, 3.0e38f, t0, &err) == 0);

  /* Flushed: readable before close. */
  event events[40];
  int n = read_events(bm_tfevents_path(w), events, 40);
  CHECK(n == 33);
  CHECK(events[0].has_version && strcmp(events[0].file_version, "brain.Event:2") == 0);
  CHECK(events[0].wall_time == t0 && !events[0].has_summary);
  for (int i = 0; i < 30 && i + 1 < n; i++) {
    const event *e = &events[i + 1];
    CHECK(e->has_summary && e->n_values == 1 && !e->has_version);
    CHECK(strcmp(e->tag, tags[i % 3]) == 0);
    CHECK(e->step == i / 3);
    CHECK(e->simple_value == values[i % 3] * (float)(i + 1));
    CHECK(e->wall_time == t0 + i);
  }
  if (n == 33) {
    CHECK(strcmp(events[31].tag, "edge/negative_step") == 0 && events[31].step == -1);
    CHECK(events[32].step == (1LL << 40) && events[32].simple_value == 3.0e38f);
  }
  char first_path[1024];
  snprintf(first_path, sizeof first_path, "%s", bm_tfevents_path(w));
  CHECK(bm_tfevents_close(w, &err) == 0);

  /* A resumed run in the same second gets a new file; the old one is untouched. */
  char *before = NULL, *after = NULL;
  size_t before_len = 0, after_len = 0;
  CHECK(bm_read_file(first_path, &before, &before_len, NULL) == 0);
  bm_tfevents *resumed = bm_tfevents_open(dir, t0, &err);
  CHECK_MSG(resumed != NULL, "%s", err.msg);
  if (resumed) {
    char second[1100];
    snprintf(second, sizeof second, "%s.1", first_path);
    CHECK(strcmp(bm_tfevents_path(resumed), second) == 0);
    CHECK(bm_tfevents_scalar(resumed, "train/loss", 10, 1.0f, t0 + 100, &err) == 0);
    CHECK(bm_tfevents_close(resumed, &err) == 0);
    n = read_events(second, events, 40);
    CHECK(n == 2 && events[1].step == 10 && events[1].simple_value == 1.0f);
  }
  CHECK(bm_read_file(first_path, &after, &after_len, NULL) == 0);
  CHECK(before_len == after_len && memcmp(before, after, before_len) == 0);
  CHECK(count_event_files(dir) == 2);
  bm_free(before);
  bm_free(after);

  /* A directory that cannot be created: a clear error, no writer. */
  char blocked[700];
  snprintf(blocked, sizeof blocked, "%s/file", first_path);
  CHECK(bm_tfevents_open(blocked, t0, &err) == NULL);
  CHECK_MSG(strstr(err.msg, first_path) != NULL, "%s", err.msg);
  CHECK(bm_tfevents_close(NULL, NULL) == 0);

  /* bm_wall_time is Unix time: after 2023-11-14 (1.7e9 s) and before 2100 (4.1e9 s). */
  double now = bm_wall_time();
  CHECK(now > 1.7e9 && now < 4.1e9);
}

int main(void) {
  test_mask();
  test_write_and_read_back();
  return bm_test_finish("test_tfevents");
}
