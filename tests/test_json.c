/* JSON parser: values and getters, escapes and UTF-8, error positions, limits, and a crude
 * fuzz (random mutations and every truncation of a valid document must fail cleanly). */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_json.h"
#include "testlib.h"

static int parse(const char *text, bm_json *root, bm_error *err) {
  return bm_json_parse(text, strlen(text), root, err);
}

/* Parses text expecting failure whose message starts with the given position. */
static void expect_error(const char *text, size_t len, const char *position, const char *words) {
  bm_json root;
  bm_error err = {{0}};
  int status = bm_json_parse(text, len, &root, &err);
  CHECK_MSG(status == -1, "accepted: %.60s", text);
  CHECK_MSG(strncmp(err.msg, position, strlen(position)) == 0, "%s: got '%s', want '%s'", text,
            err.msg, position);
  if (words) CHECK_MSG(strstr(err.msg, words) != NULL, "'%s' lacks '%s'", err.msg, words);
  CHECK(root.type == BM_JSON_NULL && root.items == NULL && root.string == NULL);
  bm_json_free(&root);
}
#define EXPECT_ERROR(text, position, words) expect_error(text, strlen(text), position, words)

static void test_values(void) {
  const char *text =
      "{\"name\": \"voc\", \"n\": 12, \"ratio\": -0.5e2, \"ok\": true, \"no\": false,\n"
      " \"nothing\": null, \"list\": [1, [2, 3], {}], \"empty\": [], \"obj\": {\"a\": {\"b\": 7}}}";
  bm_json root;
  bm_error err = {{0}};
  CHECK(parse(text, &root, &err) == 0);
  CHECK(root.type == BM_JSON_OBJECT && bm_json_len(&root) == 9);
  CHECK(!strcmp(bm_json_key_at(&root, 0), "name") && !strcmp(bm_json_key_at(&root, 8), "obj"));
  CHECK(!strcmp(bm_json_string(bm_json_get(&root, "name")), "voc"));
  CHECK(bm_json_number(bm_json_get(&root, "n"), 0) == 12);
  CHECK(bm_json_number(bm_json_get(&root, "ratio"), 0) == -50);
  CHECK(bm_json_get(&root, "ok")->boolean == 1 && bm_json_get(&root, "no")->boolean == 0);
  CHECK(bm_json_get(&root, "nothing")->type == BM_JSON_NULL);
  CHECK(bm_json_get(&root, "missing") == NULL);
  const bm_json *list = bm_json_get(&root, "list");
  CHECK(bm_json_len(list) == 3);
  CHECK(bm_json_number(bm_json_at(bm_json_at(list, 1), 1), 0) == 3);
  CHECK(bm_json_at(list, 3) == NULL && bm_json_at(list, -1) == NULL);
  CHECK(bm_json_at(list, 2)->type == BM_JSON_OBJECT && bm_json_len(bm_json_at(list, 2)) == 0);
  CHECK(bm_json_len(bm_json_get(&root, "empty")) == 0);
  CHECK(bm_json_number(bm_json_get(bm_json_get(bm_json_get(&root, "obj"), "a"), "b"), 0) == 7);
  /* Navigation tolerates NULL and wrong types. */
  CHECK(bm_json_get(NULL, "x") == NULL && bm_json_get(list, "x") == NULL);
  CHECK(bm_json_len(bm_json_get(&root, "n")) == 0 && bm_json_string(list) == NULL);
  CHECK(bm_json_number(bm_json_get(&root, "name"), -1) == -1);
  /* Positions: "list" value starts on line 2. " \"nothing\": null, \"list\": [" is 26 bytes. */
  CHECK(list->line == 2 && list->column == 27);
  CHECK(bm_json_get(&root, "name")->line == 1 && bm_json_get(&root, "name")->column == 10);

  /* Checked getters. */
  double number;
  long integer;
  const char *string;
  int flag;
  CHECK(bm_json_get_number(&root, "ratio", &number, &err) == 0 && number == -50);
  CHECK(bm_json_get_int(&root, "n", 0, 100, &integer, &err) == 0 && integer == 12);
  CHECK(bm_json_get_int(&root, "n", 0, 10, &integer, &err) == -1 && strstr(err.msg, "outside"));
  CHECK(bm_json_get_int(&root, "ratio", -100, 100, &integer, &err) == 0 && integer == -50);
  CHECK(bm_json_get_string(&root, "name", &string, &err) == 0 && !strcmp(string, "voc"));
  CHECK(bm_json_get_bool(&root, "ok", &flag, &err) == 0 && flag == 1);
  CHECK(bm_json_get_number(&root, "name", &number, &err) == -1);
  CHECK_MSG(!strcmp(err.msg, "line 1, column 10: field 'name' must be a number, not string"), "%s",
            err.msg);
  CHECK(bm_json_get_string(&root, "absent", &string, &err) == -1);
  CHECK_MSG(!strcmp(err.msg, "line 1, column 1: object has no field 'absent'"), "%s", err.msg);
  CHECK(bm_json_get_typed(list, "x", BM_JSON_ARRAY, &err) == NULL &&
        strstr(err.msg, "found array"));
  CHECK(bm_json_get_typed(&root, "list", BM_JSON_ARRAY, &err) == list);
  bm_json_free(&root);
  CHECK(root.type == BM_JSON_NULL);
  bm_json_free(&root); /* freeing twice is harmless */

  /* A scalar at the top level, whitespace around it, a BOM before it. */
  CHECK(parse(" \t\r\n 3.25 \n", &root, &err) == 0 && root.number == 3.25);
  CHECK(parse("\xEF\xBB\xBF\"x\"", &root, &err) == 0 && !strcmp(root.string, "x"));
  bm_json_free(&root);
  /* The text need not be NUL-terminated: only len bytes are read. */
  CHECK(bm_json_parse("123", 2, &root, &err) == 0 && root.number == 12);
  /* Duplicate keys: the last one wins, as in Python. */
  CHECK(parse("{\"a\": 1, \"a\": 2}", &root, &err) == 0 && bm_json_len(&root) == 2);
  CHECK(bm_json_number(bm_json_get(&root, "a"), 0) == 2);
  bm_json_free(&root);
}

static void test_numbers(void) {
  bm_json root;
  bm_error err = {{0}};
  CHECK(parse("0", &root, &err) == 0 && root.number == 0);
  CHECK(parse("-0", &root, &err) == 0 && root.number == 0);
  CHECK(parse("1E3", &root, &err) == 0 && root.number == 1000);
  CHECK(parse("2.5e-1", &root, &err) == 0 && root.number == 0.25);
  CHECK(parse("1e+2", &root, &err) == 0 && root.number == 100);
  CHECK(parse("0.1", &root, &err) == 0 && root.number == 0.1);
  CHECK(parse("1e-400", &root, &err) == 0 && root.number == 0); /* underflow rounds to 0 */
  CHECK(parse("123456789012345678", &root, &err) == 0 && root.number == 123456789012345678.0);
  /* A number longer than the parser's stack copy. */
  char longnum[300];
  memset(longnum, '1', 299);
  longnum[299] = '\0';
  CHECK(parse(longnum, &root, &err) == 0 && root.number > 1.1e298 && root.number < 1.2e298);
  EXPECT_ERROR("1e400", "line 1, column 1:", "range");
  EXPECT_ERROR("01", "line 1, column 1:", "leading zeros");
  EXPECT_ERROR("1.", "line 1, column 1:", "'.'");
  EXPECT_ERROR(".5", "line 1, column 1:", "expected a value");
  EXPECT_ERROR("-", "line 1, column 1:", "invalid number");
  EXPECT_ERROR("+1", "line 1, column 1:", NULL);
  EXPECT_ERROR("1e", "line 1, column 1:", "exponent");
  EXPECT_ERROR("[NaN]", "line 1, column 2:", "NaN");
  EXPECT_ERROR("[Infinity]", "line 1, column 2:", "NaN");
  EXPECT_ERROR("[-Infinity]", "line 1, column 2:", "invalid number");
  EXPECT_ERROR("0x10", "line 1, column 2:", "after the JSON value");
}

static void test_strings(void) {
  bm_json root;
  bm_error err = {{0}};
  CHECK(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &root, &err) == 0);
  CHECK(root.string && !strcmp(root.string, "a\"b\\c/d\b\f\n\r\t"));
  bm_json_free(&root);
  /* U+00E9 is C3 A9, U+20AC is E2 82 AC, U+1F600 (pair D83D DE00) is F0 9F 98 80. */
  CHECK(parse("\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\"", &root, &err) == 0);
  CHECK(root.string && !strcmp(root.string,
                               "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                               "A"));
  bm_json_free(&root);
  /* Raw UTF-8 passes through unchanged. */
  CHECK(parse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"", &root, &err) == 0);
  CHECK(root.string && !strcmp(root.string, "caf\xC3\xA9 \xF0\x9F\x98\x80"));
  bm_json_free(&root);
  CHECK(parse("\"\"", &root, &err) == 0 && root.string && root.string[0] == '\0');
  bm_json_free(&root);

  EXPECT_ERROR("\"abc", "line 1, column 1:", "unterminated");
  EXPECT_ERROR("\"abc\\\"", "line 1, column 1:", "unterminated");
  EXPECT_ERROR("[\"a\\q\"]", "line 1, column 4:", "unknown escape");
  EXPECT_ERROR("\"\\u12\"", "line 1, column 2:", "four hex digits");
  EXPECT_ERROR("\"\\u12", "line 1, column 1:", "unterminated");
  EXPECT_ERROR("\"\\ud800\"", "line 1, column 2:", "surrogate");
  EXPECT_ERROR("\"\\ud800\\u0041\"", "line 1, column 2:", "surrogate");
  EXPECT_ERROR("\"\\udc00\"", "line 1, column 2:", "surrogate");
  EXPECT_ERROR("\"\\u0000\"", "line 1, column 2:", "\\u0000");
  EXPECT_ERROR("\"a\tb\"", "line 1, column 3:", "control character");
  EXPECT_ERROR("\"a\nb\"", "line 1, column 3:", "control character");
  EXPECT_ERROR("\"\xC0\x80\"", "line 1, column 2:", "UTF-8");         /* overlong NUL */
  EXPECT_ERROR("\"\xED\xA0\x80\"", "line 1, column 2:", "UTF-8");     /* encoded surrogate */
  EXPECT_ERROR("\"\xF4\x90\x80\x80\"", "line 1, column 2:", "UTF-8"); /* above U+10FFFF */
  EXPECT_ERROR("\"ab\xE2\x82\"", "line 1, column 4:", "UTF-8");       /* cut short */
  EXPECT_ERROR("\"\xFF\"", "line 1, column 2:", "UTF-8");
  EXPECT_ERROR("'a'", "line 1, column 1:", "expected a value");
}

static void test_errors(void) {
  /* Line 3 is `  "b": tru`; the bad word starts in column 8. */
  EXPECT_ERROR("{\n  \"a\": 1,\n  \"b\": tru\n}", "line 3, column 8:", "expected a value");
  EXPECT_ERROR("{\"a\": 1,}", "line 1, column 9:", "member name");
  EXPECT_ERROR("[1, 2,]", "line 1, column 7:", "expected a value");
  EXPECT_ERROR("[1 2]", "line 1, column 4:", "',' or ']'");
  EXPECT_ERROR("{\"a\" 1}", "line 1, column 6:", "':'");
  EXPECT_ERROR("{\"a\": 1 \"b\": 2}", "line 1, column 9:", "',' or '}'");
  EXPECT_ERROR("{a: 1}", "line 1, column 2:", "member name");
  EXPECT_ERROR("", "line 1, column 1:", "end of input");
  EXPECT_ERROR("   \n  ", "line 2, column 3:", "end of input");
  EXPECT_ERROR("[1, 2", "line 1, column 6:", "',' or ']'");
  EXPECT_ERROR("{} {}", "line 1, column 4:", "after the JSON value");
  EXPECT_ERROR("[1] // comment", "line 1, column 5:", "after the JSON value");
  EXPECT_ERROR("nul", "line 1, column 1:", "expected a value");
  EXPECT_ERROR("truex", "line 1, column 5:", "after the JSON value");
  /* Windows line ends: \r is whitespace, \n starts the line. */
  EXPECT_ERROR("[1,\r\n 2,\r\n x]", "line 3, column 2:", "expected a value");

  /* Depth: BM_JSON_MAX_DEPTH nested arrays are fine, one more is an error. */
  int depth = BM_JSON_MAX_DEPTH;
  char *deep = malloc(2 * (size_t)depth + 3);
  memset(deep, '[', (size_t)depth);
  memset(deep + depth, ']', (size_t)depth);
  bm_json root;
  bm_error err = {{0}};
  CHECK(bm_json_parse(deep, 2 * (size_t)depth, &root, &err) == 0);
  bm_json_free(&root);
  memset(deep, '[', (size_t)depth + 1);
  memset(deep + depth + 1, ']', (size_t)depth + 1);
  expect_error(deep, 2 * (size_t)depth + 2, "line 1, column 513:", "nesting");
  /* A long run of '[' with nothing else must fail on depth, not on the stack. */
  free(deep);
  deep = malloc(100000);
  memset(deep, '[', 100000);
  expect_error(deep, 100000, "line 1, column 513:", "nesting");
  free(deep);
}

static void test_file(void) {
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/bad.json", dir);
  bm_error err = {{0}};
  CHECK(bm_write_file_atomic(path, "{\n\"x\": [1,,2]}", 14, &err) == 0);
  bm_json root;
  CHECK(bm_json_parse_file(path, &root, &err) == -1);
  char want[700];
  snprintf(want, sizeof want, "%s: line 2, column 9:", path);
  CHECK_MSG(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/missing.json", dir);
  CHECK(bm_json_parse_file(path, &root, &err) == -1 && root.type == BM_JSON_NULL);
  snprintf(path, sizeof path, "%s/good.json", dir);
  CHECK(bm_write_file_atomic(path, "[{\"k\": \"v\"}]", 12, &err) == 0);
  CHECK(bm_json_parse_file(path, &root, &err) == 0);
  CHECK(!strcmp(bm_json_string(bm_json_get(bm_json_at(&root, 0), "k")), "v"));
  bm_json_free(&root);
}

/* The test's own UTF-8 encoder, for round trips through bm_buf_json_string. */
static int put_utf8(unsigned long code, char *out) {
  if (code < 0x80) return out[0] = (char)code, 1;
  if (code < 0x800)
    return out[0] = (char)(0xC0 | code >> 6), out[1] = (char)(0x80 | (code & 63)), 2;
  if (code < 0x10000) {
    out[0] = (char)(0xE0 | code >> 12);
    out[1] = (char)(0x80 | ((code >> 6) & 63));
    out[2] = (char)(0x80 | (code & 63));
    return 3;
  }
  out[0] = (char)(0xF0 | code >> 18);
  out[1] = (char)(0x80 | ((code >> 12) & 63));
  out[2] = (char)(0x80 | ((code >> 6) & 63));
  out[3] = (char)(0x80 | (code & 63));
  return 4;
}

static void test_round_trip_and_fuzz(void) {
  bm_rng rng;
  bm_rng_seed(&rng, 2024, 1);
  /* Random strings of random code points survive bm_buf_json_string + parse. */
  for (int trial = 0; trial < 200; trial++) {
    char text[400];
    int n = 0, len = (int)bm_rng_below(&rng, 60);
    for (int i = 0; i < len; i++) {
      unsigned long code;
      do {
        int range = (int)bm_rng_below(&rng, 4);
        code = range == 0   ? 1 + bm_rng_below(&rng, 0x7F)
               : range == 1 ? bm_rng_below(&rng, 0x800)
               : range == 2 ? bm_rng_below(&rng, 0x10000)
                            : 0x10000 + bm_rng_below(&rng, 0x100000);
      } while (code == 0 || (code >= 0xD800 && code <= 0xDFFF));
      n += put_utf8(code, text + n);
    }
    text[n] = '\0';
    bm_buf buf;
    bm_buf_init(&buf);
    bm_buf_puts(&buf, "{\"s\": ");
    bm_buf_json_string(&buf, text);
    bm_buf_puts(&buf, "}");
    bm_json root;
    bm_error err = {{0}};
    CHECK_MSG(bm_json_parse(buf.data, buf.len, &root, &err) == 0, "%s", err.msg);
    const char *back = bm_json_string(bm_json_get(&root, "s"));
    CHECK(back && !strcmp(back, text));
    bm_json_free(&root);
    bm_buf_free(&buf);
  }

  /* Every proper prefix of an object document is an error; the whole is not. */
  const char *doc =
      "{\"images\": [{\"id\": 1, \"file\": \"a\\u00e9.jpg\", \"w\": 3.5e2}], \"flag\": false, "
      "\"none\": null, \"s\": \"\\ud83d\\ude00\"}";
  size_t doc_len = strlen(doc);
  for (size_t cut = 0; cut < doc_len; cut++) {
    bm_json root;
    bm_error err = {{0}};
    char *copy = malloc(cut + 1); /* exact size, so ASan sees any read past len */
    memcpy(copy, doc, cut);
    CHECK_MSG(bm_json_parse(copy, cut, &root, &err) == -1, "prefix %zu accepted", cut);
    bm_json_free(&root);
    free(copy);
  }
  /* Random byte mutations: must never crash or leak (checked under ASan); results vary. */
  int accepted = 0;
  for (int trial = 0; trial < 3000; trial++) {
    char *copy = malloc(doc_len);
    memcpy(copy, doc, doc_len);
    int n_mutations = 1 + (int)bm_rng_below(&rng, 4);
    for (int m = 0; m < n_mutations; m++) {
      static const char alphabet[] = "{}[]\",:\\u0123456789eE.-+ \ntfnalsd\x80\xC3\xFF";
      copy[bm_rng_below(&rng, (uint32_t)doc_len)] =
          alphabet[bm_rng_below(&rng, (uint32_t)(sizeof alphabet - 1))];
    }
    bm_json root;
    bm_error err = {{0}};
    if (bm_json_parse(copy, doc_len, &root, &err) == 0) accepted++;
    else CHECK(strncmp(err.msg, "line ", 5) == 0);
    bm_json_free(&root);
    free(copy);
  }
  CHECK(accepted < 3000);
}

int main(void) {
  test_values();
  test_numbers();
  test_strings();
  test_errors();
  test_file();
  test_round_trip_and_fuzz();
  return bm_test_finish("test_json");
}
