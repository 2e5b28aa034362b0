/* boxmine serve: the review page (docs/REVIEW.md). A small HTTP server (libmicrohttpd, one
 * internal thread) shows a round's queue image by image; every decision the page sends is
 * stored at once in SQLite (WAL) beside the round's manifest, and every finished image is
 * turned into verdicts in the round's answers.json, as an import would.
 *
 * Security: binds 127.0.0.1 unless --host says otherwise; every request must carry the random
 * token printed with the URL; images are named by their position in the manifest, never by a
 * path; request bodies are bounded; a malformed request gets 400 and changes nothing. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"
#include "cli/cli.h"
#include "cli/review_dir.h"

extern const unsigned char bm_review_page_html[];
extern const size_t bm_review_page_html_len;

enum { MAX_BODY = 1 << 20, MAX_BOXES = 1000, MAX_IMAGE_BYTES = 64 << 20 };

typedef struct serve_ctx {
  bm_review_queue q;
  char *dir;
  char *answers_path;
  sqlite3 *db;
  char token[33];
} serve_ctx;

typedef struct upload {
  bm_buf body;
  int too_big;
} upload;

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine serve DIR [--host ADDR] [--port N]\n\n"
          "Serves the review page for a round exported for review: DIR is a review folder (with\n"
          "manifest.json) or a mining run (its newest RUN/review/round-R/). Open the printed URL\n"
          "(it holds a random token every request must carry). The page shows the queue image\n"
          "by image with the machine's boxes: accept all, delete, drag a corner to adjust, draw\n"
          "a new box, class hotkeys, difficult, undo, next. Every decision is saved at once in\n"
          "DIR/review.sqlite (SQLite, WAL) with its time; a finished image becomes verdicts in\n"
          "DIR/answers.json (as 'boxmine review import' writes them), with the seconds spent on\n"
          "it. Stop with Ctrl-C; run it again to resume where it stopped.\n\n"
          "options:\n"
          "  --host ADDR   IPv4 address to listen on (127.0.0.1; 0.0.0.0 exposes the page to\n"
          "                the network: anyone with the URL can label)\n"
          "  --port N      TCP port (0, the default: any free port)\n"
          "  -h, --help    this help\n");
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int random_token(char out[33]) {
  unsigned char bytes[16];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t got = read(fd, bytes, sizeof bytes);
  close(fd);
  if (got != (ssize_t)sizeof bytes) return -1;
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
  return 0;
}

/* Constant-time comparison of the request's token with ours. */
static int token_ok(const serve_ctx *s, const char *given) {
  if (!given || strlen(given) != 32) return 0;
  unsigned diff = 0;
  for (int i = 0; i < 32; i++) diff |= (unsigned char)given[i] ^ (unsigned char)s->token[i];
  return diff == 0;
}

/* ---- responses ---------------------------------------------------------------------------- */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const void *data, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'none'; img-src 'self'; connect-src 'self'; "
                          "script-src 'unsafe-inline'; style-src 'unsafe-inline'");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const bm_buf *b) {
  if (b->failed) return respond(c, 500, "text/plain", "out of memory", 13);
  return respond(c, status, "application/json", b->data ? b->data : "", b->len);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg) {
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_puts(&b, "{\"error\":");
  bm_buf_json_string(&b, msg);
  bm_buf_puts(&b, "}");
  enum MHD_Result r = respond_json(c, status, &b);
  bm_buf_free(&b);
  return r;
}

/* ---- the database ------------------------------------------------------------------------- */
static int db_exec(sqlite3 *db, const char *sql, bm_error *err) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    bm_fail(err, "SQLite: %s (%s)", msg ? msg : "error", sql);
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static int db_open(serve_ctx *s, bm_error *err) {
  char *path = bm_path_join(s->dir, "review.sqlite");
  if (!path) return bm_fail(err, "out of memory");
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK) {
    bm_fail(err, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    bm_free(path);
    return -1;
  }
  sqlite3_busy_timeout(s->db, 5000);
  int status = db_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
  if (status == 0)
    status = db_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS state(image TEXT PRIMARY KEY, boxes TEXT NOT NULL,"
                     " seconds REAL NOT NULL, done INTEGER NOT NULL, first_at REAL NOT NULL,"
                     " updated_at REAL NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " image TEXT NOT NULL, at REAL NOT NULL, action TEXT NOT NULL,"
                     " seconds REAL NOT NULL, done INTEGER NOT NULL, boxes TEXT NOT NULL);",
                     err);
  /* the database belongs to one round: refuse another's */
  if (status == 0) {
    sqlite3_stmt *st = NULL;
    char round[32];
    snprintf(round, sizeof round, "%d", s->q.round);
    sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='round'", -1, &st, NULL);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
      const char *have = (const char *)sqlite3_column_text(st, 0);
      if (!have || strcmp(have, round) != 0)
        status = bm_fail(err, "%s belongs to round %s, the manifest is round %s", path,
                         have ? have : "?", round);
    } else if (st) {
      sqlite3_finalize(st);
      st = NULL;
      sqlite3_prepare_v2(s->db, "INSERT INTO meta(key, value) VALUES('round', ?)", -1, &st, NULL);
      if (st) sqlite3_bind_text(st, 1, round, -1, SQLITE_TRANSIENT);
      if (!st || sqlite3_step(st) != SQLITE_DONE)
        status = bm_fail(err, "%s: %s", path, sqlite3_errmsg(s->db));
    }
    if (st) sqlite3_finalize(st);
  }
  bm_free(path);
  return status;
}

/* The saved state of an image: boxes JSON text (bm_free), seconds, done; 0 when none. */
static int db_state(serve_ctx *s, const char *id, char **boxes, double *seconds, int *done) {
  sqlite3_stmt *st = NULL;
  *boxes = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT boxes, seconds, done FROM state WHERE image=?", -1, &st,
                         NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  int found = 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    *boxes = bm_strdup((const char *)sqlite3_column_text(st, 0));
    *seconds = sqlite3_column_double(st, 1);
    *done = sqlite3_column_int(st, 2);
    found = *boxes ? 1 : -1;
  }
  sqlite3_finalize(st);
  return found;
}

/* ---- a box list as the page sends it (validated) ------------------------------------------- */
typedef struct page_box {
  bm_review_returned r;
} page_box;

static int origin_parse(const char *s) {
  if (!strcmp(s, "prediction")) return BM_REVIEW_ORIGIN_PREDICTION;
  if (!strcmp(s, "prediction-changed")) return BM_REVIEW_ORIGIN_CHANGED;
  if (!strcmp(s, "manual")) return BM_REVIEW_ORIGIN_MANUAL;
  return -1;
}

static const char *origin_name(int o) {
  return o == BM_REVIEW_ORIGIN_PREDICTION ? "prediction"
         : o == BM_REVIEW_ORIGIN_CHANGED  ? "prediction-changed"
                                          : "manual";
}

/* Reads the page's boxes; on failure err says which field is wrong. */
static int parse_boxes(const serve_ctx *s, const bm_review_image *img, const bm_json *arr,
                       bm_review_returned **out, int *n_out, bm_error *err) {
  *out = NULL;
  *n_out = 0;
  if (!arr || arr->type != BM_JSON_ARRAY) return bm_fail(err, "'boxes' must be an array");
  int n = bm_json_len(arr);
  if (n > MAX_BOXES) return bm_fail(err, "more than %d boxes", MAX_BOXES);
  bm_review_returned *boxes = n ? bm_calloc((size_t)n, sizeof *boxes) : NULL;
  if (n && !boxes) return bm_fail(err, "out of memory");
  for (int i = 0; i < n; i++) {
    const bm_json *b = bm_json_at(arr, i);
    long machine, cls;
    int difficult;
    const char *origin;
    bm_review_returned *r = &boxes[i];
    if (b->type != BM_JSON_OBJECT || bm_json_get_int(b, "machine", -1, img->n_boxes - 1, &machine, err) != 0 ||
        bm_json_get_int(b, "class", 0, s->q.n_classes - 1, &cls, err) != 0 ||
        bm_json_get_bool(b, "difficult", &difficult, err) != 0 ||
        bm_json_get_string(b, "origin", &origin, err) != 0) {
      if (b->type != BM_JSON_OBJECT) bm_fail(err, "box %d is not an object", i);
      bm_free(boxes);
      return -1;
    }
    const bm_json *xy = bm_json_get(b, "box");
    double v[4];
    int ok = xy && xy->type == BM_JSON_ARRAY && bm_json_len(xy) == 4;
    for (int k = 0; ok && k < 4; k++) {
      const bm_json *e = bm_json_at(xy, k);
      ok = e->type == BM_JSON_NUMBER && isfinite(e->number) && fabs(e->number) < 1e6;
      v[k] = ok ? e->number : 0;
    }
    if (!ok || v[2] < v[0] || v[3] < v[1]) {
      bm_free(boxes);
      return bm_fail(err, "box %d: 'box' must be [x1, y1, x2, y2] with x1 <= x2, y1 <= y2", i);
    }
    r->origin = origin_parse(origin);
    if (r->origin < 0) {
      bm_free(boxes);
      return bm_fail(err, "box %d: unknown origin '%s'", i, origin);
    }
    if ((r->origin == BM_REVIEW_ORIGIN_MANUAL) != (machine < 0)) {
      bm_free(boxes);
      return bm_fail(err, "box %d: origin '%s' with machine %ld", i, origin, machine);
    }
    r->machine = (int)machine;
    r->class_id = (int)cls;
    r->difficult = difficult;
    r->x1 = (float)v[0];
    r->y1 = (float)v[1];
    r->x2 = (float)v[2];
    r->y2 = (float)v[3];
  }
  *out = boxes;
  *n_out = n;
  return 0;
}

static void boxes_json(const bm_review_returned *boxes, int n, bm_buf *out) {
  bm_buf_puts(out, "[");
  for (int i = 0; i < n; i++) {
    const bm_review_returned *r = &boxes[i];
    bm_buf_printf(out, "%s{\"machine\":%d,\"class\":%d,\"box\":[", i ? "," : "", r->machine,
                  r->class_id);
    bm_buf_json_float(out, r->x1);
    bm_buf_puts(out, ",");
    bm_buf_json_float(out, r->y1);
    bm_buf_puts(out, ",");
    bm_buf_json_float(out, r->x2);
    bm_buf_puts(out, ",");
    bm_buf_json_float(out, r->y2);
    bm_buf_printf(out, "],\"difficult\":%s,\"origin\":\"%s\"}", r->difficult ? "true" : "false",
                  origin_name(r->origin));
  }
  bm_buf_puts(out, "]");
}

/* ---- answers.json from the finished images ------------------------------------------------- */
static int write_answers(serve_ctx *s, bm_error *err) {
  bm_review_answers all = {0}, page = {0};
  if (bm_file_exists(s->answers_path) &&
      bm_review_answers_load(s->answers_path, &s->q, &all, err) != 0)
    return -1;
  sqlite3_stmt *st = NULL;
  int status = 0;
  if (sqlite3_prepare_v2(s->db, "SELECT image, boxes, seconds FROM state WHERE done=1", -1, &st,
                         NULL) != SQLITE_OK)
    status = bm_fail(err, "SQLite: %s", sqlite3_errmsg(s->db));
  while (status == 0 && sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *text = (const char *)sqlite3_column_text(st, 1);
    int pos = id ? bm_review_queue_find(&s->q, id) : -1;
    if (pos < 0 || !text) continue; /* cannot happen: only known ids are stored */
    bm_json root;
    if (bm_json_parse(text, strlen(text), &root, err) != 0) {
      status = bm_fail_prefix(err, "stored boxes of '%s'", id);
      break;
    }
    bm_review_returned *boxes;
    int n;
    status = parse_boxes(s, &s->q.images[pos], &root, &boxes, &n, err);
    bm_json_free(&root);
    if (status != 0) break;
    bm_review_answer ans;
    status = bm_review_match(&s->q.images[pos], boxes, n, &ans, err);
    bm_free(boxes);
    if (status != 0) break;
    ans.source = BM_REVIEW_FROM_PAGE;
    ans.lead_time = sqlite3_column_double(st, 2);
    bm_review_answers cur = {1, 1, &ans};
    status = bm_review_answers_merge(&page, &cur, err);
    bm_free(ans.id);
    bm_free(ans.verdicts);
  }
  if (st) sqlite3_finalize(st);
  if (status == 0) status = bm_review_answers_merge(&all, &page, err);
  if (status == 0) {
    bm_buf text;
    bm_buf_init(&text);
    bm_review_answers_json(&s->q, &all, &text);
    status = text.failed ? bm_fail(err, "out of memory")
                         : bm_write_file_atomic(s->answers_path, text.data, text.len, err);
    bm_buf_free(&text);
  }
  bm_review_answers_free(&all);
  bm_review_answers_free(&page);
  return status;
}

/* ---- handlers ----------------------------------------------------------------------------- */
static enum MHD_Result get_queue(serve_ctx *s, struct MHD_Connection *c) {
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_printf(&b, "{\"round\":%d,\"model_version\":", s->q.round);
  bm_buf_json_string(&b, s->q.model_version);
  bm_buf_puts(&b, ",\"classes\":[");
  for (int k = 0; k < s->q.n_classes; k++) {
    if (k) bm_buf_puts(&b, ",");
    bm_buf_json_string(&b, s->q.class_names[k]);
  }
  bm_buf_puts(&b, "],\"images\":[");
  for (int i = 0; i < s->q.n_images; i++) {
    char *boxes;
    double seconds = 0;
    int done = 0;
    int found = db_state(s, s->q.images[i].id, &boxes, &seconds, &done);
    bm_free(boxes);
    bm_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
    bm_buf_json_string(&b, s->q.images[i].id);
    bm_buf_printf(&b, ",\"done\":%s}", found > 0 && done ? "true" : "false");
  }
  bm_buf_puts(&b, "]}");
  enum MHD_Result r = respond_json(c, 200, &b);
  bm_buf_free(&b);
  return r;
}

/* "/prefix/N" with N a position in the queue, else -1. */
static int url_position(const serve_ctx *s, const char *url, const char *prefix) {
  size_t n = strlen(prefix);
  if (strncmp(url, prefix, n) != 0) return -1;
  const char *p = url + n;
  if (!*p || strlen(p) > 9) return -1;
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') return -1;
  long pos = strtol(p, NULL, 10);
  return pos < s->q.n_images ? (int)pos : -1;
}

static enum MHD_Result get_image(serve_ctx *s, struct MHD_Connection *c, int pos) {
  const bm_review_image *img = &s->q.images[pos];
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_printf(&b, "{\"index\":%d,\"id\":", pos);
  bm_buf_json_string(&b, img->id);
  bm_buf_printf(&b, ",\"width\":%d,\"height\":%d,\"machine\":[", img->width, img->height);
  for (int k = 0; k < img->n_boxes; k++) {
    const bm_review_box *m = &img->boxes[k];
    bm_buf_printf(&b, "%s{\"class\":%d,\"score\":", k ? "," : "", m->class_id);
    bm_buf_json_float(&b, m->score);
    bm_buf_puts(&b, ",\"box\":[");
    bm_buf_json_float(&b, m->x1);
    bm_buf_puts(&b, ",");
    bm_buf_json_float(&b, m->y1);
    bm_buf_puts(&b, ",");
    bm_buf_json_float(&b, m->x2);
    bm_buf_puts(&b, ",");
    bm_buf_json_float(&b, m->y2);
    bm_buf_puts(&b, "]}");
  }
  char *boxes;
  double seconds = 0;
  int done = 0;
  int found = db_state(s, img->id, &boxes, &seconds, &done);
  if (found < 0) {
    bm_buf_free(&b);
    return respond_error(c, 500, "cannot read the saved state");
  }
  bm_buf_puts(&b, "],\"saved\":");
  if (found) {
    bm_buf_puts(&b, "{\"boxes\":");
    bm_buf_puts(&b, boxes);
    bm_buf_printf(&b, ",\"done\":%s}", done ? "true" : "false");
  } else {
    bm_buf_puts(&b, "null");
  }
  bm_buf_puts(&b, ",\"seconds\":");
  bm_buf_json_number(&b, found ? seconds : 0);
  bm_buf_puts(&b, "}");
  bm_free(boxes);
  enum MHD_Result r = respond_json(c, 200, &b);
  bm_buf_free(&b);
  return r;
}

static enum MHD_Result get_pixels(serve_ctx *s, struct MHD_Connection *c, int pos) {
  char *data;
  size_t len;
  bm_error err;
  if (bm_read_file(s->q.images[pos].file, &data, &len, &err) != 0)
    return respond_error(c, 404, "the image file cannot be read");
  const char *type = "application/octet-stream";
  if (len >= 8 && !memcmp(data, "\x89PNG", 4)) type = "image/png";
  else if (len >= 3 && (unsigned char)data[0] == 0xFF && (unsigned char)data[1] == 0xD8) type = "image/jpeg";
  enum MHD_Result r = len > MAX_IMAGE_BYTES ? respond_error(c, 413, "image too large")
                                            : respond(c, 200, type, data, len);
  bm_free(data);
  return r;
}

static enum MHD_Result post_save(serve_ctx *s, struct MHD_Connection *c, const upload *up) {
  bm_error err = {{0}};
  bm_json root;
  if (bm_json_parse(up->body.data ? up->body.data : "", up->body.len, &root, &err) != 0)
    return respond_error(c, 400, err.msg);
  const char *id = NULL, *action = NULL;
  double seconds = 0;
  int done = 0;
  unsigned status = 400;
  bm_review_returned *boxes = NULL;
  int n = 0, pos = -1;
  if (root.type != BM_JSON_OBJECT) {
    bm_fail(&err, "the body must be a JSON object");
    goto reply;
  }
  if (bm_json_get_string(&root, "id", &id, &err) != 0 ||
      bm_json_get_string(&root, "action", &action, &err) != 0 ||
      bm_json_get_number(&root, "seconds", &seconds, &err) != 0 ||
      bm_json_get_bool(&root, "done", &done, &err) != 0)
    goto reply;
  if (strlen(action) == 0 || strlen(action) > 32) {
    bm_fail(&err, "'action' must hold 1 to 32 characters");
    goto reply;
  }
  if (!(seconds >= 0 && seconds < 1e7)) {
    bm_fail(&err, "'seconds' must be a duration");
    goto reply;
  }
  pos = bm_review_queue_find(&s->q, id);
  if (pos < 0) {
    status = 404;
    bm_fail(&err, "image '%s' is not in the queue", id);
    goto reply;
  }
  if (parse_boxes(s, &s->q.images[pos], bm_json_get(&root, "boxes"), &boxes, &n, &err) != 0)
    goto reply;
  /* valid: store the event and the state in one transaction */
  bm_buf text;
  bm_buf_init(&text);
  boxes_json(boxes, n, &text);
  double now = wall_now();
  sqlite3_stmt *ev = NULL, *stt = NULL;
  int ok = !text.failed && db_exec(s->db, "BEGIN IMMEDIATE", &err) == 0;
  if (ok) {
    ok = sqlite3_prepare_v2(s->db,
                            "INSERT INTO events(image, at, action, seconds, done, boxes) "
                            "VALUES(?, ?, ?, ?, ?, ?)", -1, &ev, NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(s->db,
                            "INSERT INTO state(image, boxes, seconds, done, first_at, updated_at) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(image) DO UPDATE SET "
                            "boxes=?2, seconds=?3, done=?4, updated_at=?5", -1, &stt,
                            NULL) == SQLITE_OK;
    if (ok) {
      sqlite3_bind_text(ev, 1, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_double(ev, 2, now);
      sqlite3_bind_text(ev, 3, action, -1, SQLITE_TRANSIENT);
      sqlite3_bind_double(ev, 4, seconds);
      sqlite3_bind_int(ev, 5, done);
      sqlite3_bind_text(ev, 6, text.data, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stt, 1, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stt, 2, text.data, -1, SQLITE_TRANSIENT);
      sqlite3_bind_double(stt, 3, seconds);
      sqlite3_bind_int(stt, 4, done);
      sqlite3_bind_double(stt, 5, now);
      ok = sqlite3_step(ev) == SQLITE_DONE && sqlite3_step(stt) == SQLITE_DONE;
    }
    if (!ok) bm_fail(&err, "SQLite: %s", sqlite3_errmsg(s->db));
    if (ev) sqlite3_finalize(ev);
    if (stt) sqlite3_finalize(stt);
    bm_error ignore;
    if (ok) ok = db_exec(s->db, "COMMIT", &err) == 0;
    else db_exec(s->db, "ROLLBACK", &ignore);
  }
  bm_buf_free(&text);
  if (!ok) {
    status = 500;
    goto reply;
  }
  if (done && write_answers(s, &err) != 0) {
    status = 500;
    goto reply;
  }
  status = 200;
reply:
  bm_json_free(&root);
  bm_free(boxes);
  if (status != 200) return respond_error(c, status, err.msg);
  return respond(c, 200, "application/json", "{\"ok\":true}", 11);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  serve_ctx *s = cls;
  (void)version;
  if (!*con_cls) {
    upload *up = bm_calloc(1, sizeof *up);
    if (!up) return MHD_NO;
    bm_buf_init(&up->body);
    *con_cls = up;
    return MHD_YES;
  }
  upload *up = *con_cls;
  if (*upload_size > 0) {
    if (up->body.len + *upload_size > MAX_BODY) up->too_big = 1;
    else bm_buf_append(&up->body, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  const char *given = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
  if (!given) given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Boxmine-Token");
  if (!token_ok(s, given)) return respond_error(c, 403, "missing or wrong token");
  int is_get = !strcmp(method, "GET"), is_post = !strcmp(method, "POST");
  if (up->too_big) return respond_error(c, 413, "request body larger than 1 MiB");
  if (!strcmp(url, "/")) {
    if (!is_get) return respond_error(c, 405, "GET only");
    return respond(c, 200, "text/html; charset=utf-8", bm_review_page_html,
                   bm_review_page_html_len);
  }
  if (!strcmp(url, "/api/queue")) {
    if (!is_get) return respond_error(c, 405, "GET only");
    return get_queue(s, c);
  }
  if (!strcmp(url, "/api/save")) {
    if (!is_post) return respond_error(c, 405, "POST only");
    return post_save(s, c, up);
  }
  int pos = url_position(s, url, "/api/image/");
  if (pos >= 0) return is_get ? get_image(s, c, pos) : respond_error(c, 405, "GET only");
  pos = url_position(s, url, "/img/");
  if (pos >= 0) return is_get ? get_pixels(s, c, pos) : respond_error(c, 405, "GET only");
  return respond_error(c, 404, "no such page");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  upload *up = *con_cls;
  if (!up) return;
  bm_buf_free(&up->body);
  bm_free(up);
  *con_cls = NULL;
}

int cmd_serve(int argc, char **argv) {
  const char *dir_arg = NULL, *host = "127.0.0.1";
  int port = 0;
  const cli_number_opt numbers[] = {CLI_INT_OPT("--port", 0, 65535, &port)};
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      usage(stdout);
      return 0;
    }
    int r = cli_number_arg(numbers, 1, argc, argv, &i, NULL);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!strcmp(arg, "--host")) {
      if (i + 1 >= argc) return cli_error("--host needs a value"), 2;
      host = argv[++i];
    } else if (arg[0] == '-' && arg[1]) {
      cli_error("unknown option '%s' (boxmine serve --help)", arg);
      return 2;
    } else if (dir_arg) {
      cli_error("one DIR only");
      return 2;
    } else {
      dir_arg = arg;
    }
  }
  if (!dir_arg) {
    usage(stderr);
    return 2;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    cli_error("--host %s: not an IPv4 address", host);
    return 2;
  }
  serve_ctx s;
  memset(&s, 0, sizeof s);
  bm_error err = {{0}};
  int status = 1;
  s.dir = cli_find_review_dir(dir_arg);
  if (!s.dir) {
    cli_error("%s: no manifest.json there nor in %s/review/round-*/ (nothing was exported for "
              "review)", dir_arg, dir_arg);
    return 1;
  }
  char *manifest = bm_path_join(s.dir, "manifest.json");
  s.answers_path = bm_path_join(s.dir, "answers.json");
  if (!manifest || !s.answers_path) {
    cli_error("out of memory");
    goto done;
  }
  if (bm_review_manifest_load(manifest, &s.q, &err) != 0 || db_open(&s, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (random_token(s.token) != 0) {
    cli_error("cannot read /dev/urandom for the access token");
    goto done;
  }
  /* counted before the server thread starts: the database is then its alone */
  int n_done = 0;
  for (int i = 0; i < s.q.n_images; i++) {
    char *boxes;
    double seconds;
    int done_flag = 0;
    if (db_state(&s, s.q.images[i].id, &boxes, &seconds, &done_flag) > 0 && done_flag) n_done++;
    bm_free(boxes);
  }
  /* the signals are taken by sigwait below; the server's thread inherits the mask */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, &s,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
      NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024, MHD_OPTION_END);
  if (!d) {
    cli_error("cannot listen on %s:%d (in use, or not an address of this machine)", host, port);
    goto done;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  int bound = info ? info->port : port;
  printf("boxmine serve: round %d, %d images (%d done), decisions in %s/review.sqlite\n"
         "open http://%s:%d/?token=%s\n(Ctrl-C stops; run again to resume)\n",
         s.q.round, s.q.n_images, n_done, s.dir, host, bound, s.token);
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d);
  printf("boxmine serve: stopped (%s)\n", sig == SIGINT ? "interrupt" : "terminated");
  status = 0;
done:
  if (s.db) sqlite3_close(s.db);
  bm_review_queue_free(&s.q);
  bm_free(manifest);
  bm_free(s.answers_path);
  bm_free(s.dir);
  return status;
}
