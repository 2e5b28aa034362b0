/* File helpers: atomic writes (temporary file, fsync, rename), whole-file reads, mkdir -p. */
#include "boxmine/bm_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fsync_parent_dir(const char *path) {
  char *dir = bm_strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  bm_free(dir);
  if (fd < 0) return -1;
  fsync(fd); /* best effort: some file systems refuse fsync on directories */
  close(fd);
  return 0;
}

int bm_write_file_atomic(const char *path, const void *data, size_t len, bm_error *err) {
  size_t plen = strlen(path);
  char *tmp = bm_malloc(plen + 16);
  if (!tmp) return bm_fail(err, "%s: out of memory", path);
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int saved = errno;
    bm_free(tmp);
    return bm_fail(err, "%s: cannot create temporary file: %s", path, strerror(saved));
  }
  const char *bytes = data;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, bytes + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      close(fd);
      unlink(tmp);
      bm_free(tmp);
      return bm_fail(err, "%s: write failed: %s", path, strerror(saved));
    }
    done += (size_t)n;
  }
  fchmod(fd, 0644);
  if (fsync(fd) != 0 || close(fd) != 0) {
    int saved = errno;
    unlink(tmp);
    bm_free(tmp);
    return bm_fail(err, "%s: fsync/close failed: %s", path, strerror(saved));
  }
  if (rename(tmp, path) != 0) {
    int saved = errno;
    unlink(tmp);
    bm_free(tmp);
    return bm_fail(err, "%s: rename failed: %s", path, strerror(saved));
  }
  bm_free(tmp);
  fsync_parent_dir(path);
  return 0;
}

/* O_NONBLOCK makes open() of a FIFO without a writer return at once (a plain open blocks
 * until someone writes); fstat then tells what was opened, and anything but a regular file
 * is refused before a single read. The flag is cleared again for the real reads. */
FILE *bm_open_regular(const char *path, bm_error *err) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    bm_fail(err, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    bm_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    const char *kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                    : "a special file";
    bm_fail(err, "%s: not a regular file (%s)", path, kind);
    close(fd);
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    bm_fail(err, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}

int bm_read_file(const char *path, char **data, size_t *len, bm_error *err) {
  *data = NULL;
  if (len) *len = 0;
  FILE *f = bm_open_regular(path, err);
  if (!f) return -1;
  size_t cap = 1 << 16, used = 0;
  char *buf = bm_malloc(cap + 1);
  if (!buf) {
    fclose(f);
    return bm_fail(err, "%s: out of memory", path);
  }
  for (;;) {
    if (used == cap) {
      char *grown = bm_realloc(buf, cap * 2 + 1);
      if (!grown) {
        bm_free(buf);
        fclose(f);
        return bm_fail(err, "%s: out of memory", path);
      }
      buf = grown;
      cap *= 2;
    }
    size_t n = fread(buf + used, 1, cap - used, f);
    used += n;
    if (n == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    bm_free(buf);
    return bm_fail(err, "%s: read error", path);
  }
  buf[used] = '\0';
  *data = buf;
  if (len) *len = used;
  return 0;
}

int bm_read_text_file(const char *path, char **text, bm_error *err) {
  size_t len;
  if (bm_read_file(path, text, &len, err)) return -1;
  const char *nul = memchr(*text, '\0', len);
  if (nul) {
    size_t at = (size_t)(nul - *text);
    bm_free(*text);
    *text = NULL;
    return bm_fail(err, "%s: not a text file (NUL byte at offset %zu)", path, at);
  }
  return 0;
}

int bm_mkdir_p(const char *path, bm_error *err) {
  char *copy = bm_strdup(path);
  if (!copy) return bm_fail(err, "%s: out of memory", path);
  for (char *p = copy + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char saved = *p;
      *p = '\0';
      if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        bm_fail(err, "%s: cannot create directory: %s", copy, strerror(e));
        bm_free(copy);
        return -1;
      }
      *p = saved;
      if (saved == '\0') break;
    }
  }
  bm_free(copy);
  if (!bm_is_dir(path)) return bm_fail(err, "%s: exists and is not a directory", path);
  return 0;
}

int bm_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int bm_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *bm_path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la > 1 && a[la - 1] == '/') la--;
  char *out = bm_malloc(la + lb + 2);
  if (!out) return NULL;
  memcpy(out, a, la);
  out[la] = '/';
  memcpy(out + la + 1, b, lb + 1);
  return out;
}

double bm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
