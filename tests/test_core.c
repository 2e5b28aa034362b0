/* Core helpers: RNG reproducibility and range, checksums against published check values,
 * atomic writes, JSON escaping. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxmine/bm_core.h"
#include "testlib.h"

static void test_rng(void) {
  bm_rng a, b;
  bm_rng_seed(&a, 42, 7);
  bm_rng_seed(&b, 42, 7);
  for (int i = 0; i < 1000; i++) CHECK(bm_rng_u32(&a) == bm_rng_u32(&b));
  bm_rng_seed(&b, 43, 7);
  int same = 0;
  for (int i = 0; i < 100; i++) same += bm_rng_u32(&a) == bm_rng_u32(&b);
  CHECK(same < 5);
  double sum = 0;
  int counts[10] = {0};
  for (int i = 0; i < 100000; i++) {
    float u = bm_rng_uniform(&a);
    CHECK(u >= 0.0f && u < 1.0f);
    sum += u;
    counts[bm_rng_below(&a, 10)]++;
  }
  CHECK_NEAR(sum / 100000, 0.5, 0.01);
  for (int k = 0; k < 10; k++) CHECK(counts[k] > 9500 && counts[k] < 10500);
  int values[50];
  for (int i = 0; i < 50; i++) values[i] = i;
  bm_rng_shuffle(&a, values, 50);
  int seen[50] = {0};
  for (int i = 0; i < 50; i++) seen[values[i]]++;
  for (int i = 0; i < 50; i++) CHECK(seen[i] == 1);
}

static void test_checksums(void) {
  /* CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720 / iSCSI). */
  CHECK(bm_crc32c(0, "123456789", 9) == 0xE3069283u);
  /* Incremental equals one-shot. */
  CHECK(bm_crc32c(bm_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
  /* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c. */
  CHECK(bm_fnv64(BM_FNV64_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
}

static void test_files(void) {
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/a/b/c", dir);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(path, &err) == 0);
  CHECK(bm_is_dir(path));
  snprintf(path, sizeof path, "%s/a/file.txt", dir);
  CHECK(bm_write_file_atomic(path, "hello", 5, &err) == 0);
  CHECK(bm_write_file_atomic(path, "world!", 6, &err) == 0);
  char *data = NULL;
  size_t len = 0;
  CHECK(bm_read_file(path, &data, &len, &err) == 0);
  CHECK(len == 6 && data && !strcmp(data, "world!"));
  bm_free(data);
  snprintf(path, sizeof path, "%s/missing", dir);
  CHECK(bm_read_file(path, &data, &len, &err) == -1);
  CHECK(strstr(err.msg, "missing") != NULL);
  /* A file cannot be created under a regular file: the error names the path. */
  snprintf(path, sizeof path, "%s/a/file.txt/x", dir);
  CHECK(bm_write_file_atomic(path, "x", 1, &err) == -1);
  CHECK(strstr(err.msg, "file.txt/x") != NULL);
}

/* Special files are refused at once (issue 16): a FIFO with no writer would block a plain
 * open() forever, a directory would read as "read error". Every reader goes through
 * bm_read_file or bm_open_regular, so these two cover images, XML, cfg, weights, checkpoints
 * and lists. alarm() turns a hang into a failed test instead of a stuck suite. */
static void test_special_files(void) {
  char dir[512], fifo[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(fifo, sizeof fifo, "%s/pipe.jpg", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  alarm(20);
  bm_error err = {{0}};
  char *data = NULL;
  size_t len = 0;
  CHECK(bm_read_file(fifo, &data, &len, &err) == -1);
  CHECK_MSG(strstr(err.msg, "pipe.jpg") && strstr(err.msg, "not a regular file"), "%s", err.msg);
  CHECK(data == NULL);
  err.msg[0] = '\0';
  CHECK(bm_read_file(dir, &data, &len, &err) == -1);
  CHECK_MSG(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
  FILE *f = bm_open_regular(fifo, &err);
  CHECK(f == NULL);
  CHECK_MSG(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
  if (f) fclose(f);
  /* A regular file still opens and reads from its start. */
  char path[600];
  snprintf(path, sizeof path, "%s/plain.txt", dir);
  CHECK(bm_write_file_atomic(path, "abc", 3, &err) == 0);
  f = bm_open_regular(path, &err);
  CHECK(f != NULL);
  if (f) {
    char got[4] = {0};
    CHECK(fread(got, 1, 3, f) == 3 && !strcmp(got, "abc"));
    fclose(f);
  }
  alarm(0);
  unlink(fifo);
  /* text readers refuse a NUL byte instead of stopping at it */
  CHECK(bm_write_file_atomic(path, "[net]\0width=1\n", 14, &err) == 0);
  char *text = NULL;
  CHECK(bm_read_text_file(path, &text, &err) == -1 && text == NULL);
  CHECK_MSG(strstr(err.msg, "plain.txt: not a text file (NUL byte at offset 5)") != NULL, "%s", err.msg);
  CHECK(bm_write_file_atomic(path, "[net]\n", 6, &err) == 0);
  CHECK(bm_read_text_file(path, &text, &err) == 0 && text && !strcmp(text, "[net]\n"));
  bm_free(text);
}

static void test_buf(void) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_json_string(&buf, "a\"b\\c\n\x01");
  CHECK(!strcmp(buf.data, "\"a\\\"b\\\\c\\n\\u0001\""));
  bm_buf_free(&buf);
  bm_buf_init(&buf);
  bm_buf_json_number(&buf, 3);
  bm_buf_puts(&buf, ",");
  bm_buf_json_number(&buf, 0.25);
  bm_buf_puts(&buf, ",");
  bm_buf_json_number(&buf, NAN);
  CHECK(!strcmp(buf.data, "3,0.25,null"));
  for (int i = 0; i < 1000; i++) bm_buf_printf(&buf, "%d", i % 10);
  CHECK(buf.len == 11 + 1000);
  bm_buf_free(&buf);
  /* appending a failed buffer's NULL data marks this one failed (found by scripts/
   * alloc_fail.sh: tfevents passed a failed buffer on, UBSan: memcpy from NULL) */
  bm_buf_init(&buf);
  bm_buf_append(&buf, NULL, 0);
  CHECK(!buf.failed && buf.len == 0);
  bm_buf_append(&buf, NULL, 5);
  CHECK(buf.failed && buf.len == 0);
  bm_buf_free(&buf);
  /* floats: the fewest digits that read back, and whole numbers as integers (10, not 1e+01) */
  bm_buf_init(&buf);
  const float floats[] = {10.0f, 40.0f, -3.0f, 0.3f, 38.4f, 1234567.0f, 1e8f};
  for (int i = 0; i < 7; i++) {
    if (i) bm_buf_puts(&buf, ",");
    bm_buf_json_float(&buf, floats[i]);
  }
  CHECK_MSG(!strcmp(buf.data, "10,40,-3,0.3,38.4,1234567,1e+08"), "%s", buf.data);
  bm_buf_free(&buf);
}

int main(void) {
  test_rng();
  test_checksums();
  test_files();
  test_special_files();
  test_buf();
  return bm_test_finish("test_core");
}
