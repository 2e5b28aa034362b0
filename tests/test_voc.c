/* The VOC XML parser on hand-written files: every field, integer and decimal coordinates,
 * empty tags, free child order, attributes on <annotation>, <part> elements that must not
 * shadow the object's own fields, and the errors (malformed or truncated XML with the line,
 * missing or non-numeric fields). Then a write -> parse round trip. */
#include <string.h>

#include "boxmine/bm_data.h"
#include "data/data_internal.h"
#include "testlib.h"

static int parse_text(const char *text, bm_voc_file *out, bm_error *err) {
  return bm_voc_parse_memory("fixture.xml", text, strlen(text), out, err);
}

static void test_fields(void) {
  const char *text =
      "<?xml version=\"1.0\"?>\n"
      "<annotation verified=\"no\">\n"                                  /* line 2 */
      "  <size><depth>3</depth><height>240</height><width>320</width></size>\n"
      "  <object>\n"                                                     /* line 4 */
      "    <bndbox><ymax>80</ymax><xmin>10.5</xmin><ymin>20</ymin><xmax>100.25</xmax></bndbox>\n"
      "    <difficult/>\n"
      "    <name>  dog \n</name>\n"
      "    <truncated>1</truncated>\n"
      "    <part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax>"
      "<ymax>4</ymax></bndbox></part>\n"
      "  </object>\n"
      "  <filename>a b.jpg</filename>\n"
      "  <object><name>cat</name><pose>Frontal</pose><difficult>1</difficult><truncated>"
      "</truncated>\n" /* line 13: the dog's name spans two lines */
      "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>320</xmax><ymax>240</ymax></bndbox>"
      "</object>\n"
      "</annotation>\n";
  bm_voc_file f;
  bm_error err = {{0}};
  int rc = parse_text(text, &f, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(f.filename && !strcmp(f.filename, "a b.jpg"));
  CHECK(f.width == 320 && f.height == 240 && f.depth == 3);
  CHECK(f.n_objects == 2);
  if (f.n_objects == 2) {
    bm_voc_object_raw *dog = &f.objects[0], *cat = &f.objects[1];
    CHECK(!strcmp(dog->name, "dog")); /* trimmed; the part's "head" is not taken */
    CHECK(dog->pose[0] == '\0');
    CHECK(dog->difficult == 0 && dog->truncated == 1);
    CHECK(dog->x1 == 10.5f && dog->y1 == 20.0f && dog->x2 == 100.25f && dog->y2 == 80.0f);
    CHECK(dog->line == 4);
    CHECK(!strcmp(cat->name, "cat") && !strcmp(cat->pose, "Frontal"));
    CHECK(cat->difficult == 1 && cat->truncated == 0);
    CHECK(cat->x1 == 1 && cat->y1 == 1 && cat->x2 == 320 && cat->y2 == 240);
    CHECK(cat->line == 13);
  }
  bm_voc_file_free(&f);

  /* No size, no filename, no objects: valid (size unknown, a negative image). */
  CHECK(parse_text("<annotation><folder>x</folder></annotation>", &f, &err) == 0);
  CHECK(f.filename == NULL && f.width == 0 && f.height == 0 && f.n_objects == 0);
  bm_voc_file_free(&f);
  /* Empty size fields mean 0x0 (unknown). */
  CHECK(parse_text("<annotation><size><width/><height></height><depth/></size></annotation>", &f,
                   &err) == 0);
  CHECK(f.width == 0 && f.height == 0);
  bm_voc_file_free(&f);
}

/* Parsing text must fail with a message containing every one of the needles. */
static void expect_error(const char *text, const char *needle1, const char *needle2) {
  bm_voc_file f;
  bm_error err = {{0}};
  int rc = parse_text(text, &f, &err);
  CHECK_MSG(rc == -1, "accepted: %s", text);
  CHECK_MSG(strstr(err.msg, needle1) != NULL, "'%s' lacks '%s'", err.msg, needle1);
  if (needle2) CHECK_MSG(strstr(err.msg, needle2) != NULL, "'%s' lacks '%s'", err.msg, needle2);
  CHECK(f.n_objects == 0 && f.objects == NULL && f.filename == NULL);
}

static void test_errors(void) {
  /* Mismatched tag on line 3: the message names the file and that line. */
  expect_error("<annotation>\n<filename>a.jpg</filename>\n<object><name>x</nam></object>\n"
               "</annotation>\n",
               "fixture.xml:3:", "malformed");
  /* Truncated file: ends inside an element. */
  expect_error("<annotation>\n<object>\n<name>dog</name>\n<bndbox><xmin>1", "fixture.xml:4:",
               "malformed");
  expect_error("", "fixture.xml", "malformed");
  expect_error("<notvoc/>", "fixture.xml:1:", "expected <annotation>");
  expect_error("<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
               "<ymax>2</ymax></bndbox></object></annotation>",
               "fixture.xml:1:", "no <name>");
  expect_error("<annotation>\n<object><name>cat</name></object></annotation>", "fixture.xml:2:",
               "no <bndbox>");
  expect_error("<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
               "<xmax>2</xmax></bndbox></object></annotation>",
               "no <ymax>", NULL);
  expect_error("<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
               "<xmax>abc</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "'abc', not a decimal number", NULL);
  expect_error("<annotation><object><name>cat</name><bndbox><xmin/><ymin>1</ymin>"
               "<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "<xmin> is empty", NULL);
  expect_error("<annotation><object><name>cat</name><difficult>maybe</difficult><bndbox>"
               "<xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>"
               "</annotation>",
               "'maybe', not a decimal number", NULL);
  expect_error("<annotation><size><width>-3</width></size></annotation>", "not a pixel count",
               NULL);
  /* Issue 16: numbers are decimal and fill the whole field (strtod would take 0x10 as 16,
   * and inf / nan as numbers). */
  const char *not_decimal[] = {"0x10", "0X1p4", "inf", "nan", "-infinity", "1,5", "12abc",
                               "1e", "--3", ".", "1 2"};
  for (size_t k = 0; k < sizeof not_decimal / sizeof not_decimal[0]; k++) {
    char text[400];
    snprintf(text, sizeof text, "<annotation><object><name>cat</name><bndbox><xmin>%s</xmin>"
             "<ymin>1</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>",
             not_decimal[k]);
    expect_error(text, "<xmin>", "not a decimal number");
  }
  expect_error("<annotation><size><width>0x40</width></size></annotation>", "<width>",
               "not a decimal number");
  expect_error("<annotation><object><name>cat</name><difficult>0x1</difficult><bndbox>"
               "<xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>"
               "</annotation>", "<difficult>", "not a decimal number");
  /* ... and a second copy of an element is an error, not silently ignored */
  expect_error("<annotation><object><name>cat</name>\n<bndbox><xmin>1</xmin><ymin>1</ymin>"
               "<xmax>3</xmax><ymax>4</ymax></bndbox>\n<bndbox><xmin>5</xmin><ymin>5</ymin>"
               "<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>",
               "fixture.xml:3:", "second <bndbox>");
  expect_error("<annotation><object><name>cat</name><name>dog</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "second <name>", NULL);
  expect_error("<annotation><object><name>cat</name><bndbox><xmin>1</xmin><xmin>2</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "second <xmin>", NULL);
  expect_error("<annotation><object><name>cat</name><difficult>0</difficult><difficult>1"
               "</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax>"
               "</bndbox></object></annotation>", "second <difficult>", NULL);
  expect_error("<annotation><size><width>5</width></size><size><width>6</width></size>"
               "</annotation>", "second <size>", NULL);
  expect_error("<annotation><size><width>5</width><width>6</width></size></annotation>",
               "second <width>", NULL);
  /* Class names: no control characters (a newline would split the class list of every file
   * written from it), no leading '#' (classes.txt reads it as a comment), no '/' (class names
   * become file names); the error names the file and the line of the <name>. */
  expect_error("<annotation>\n<object>\n<name>foo&#10;bar</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "fixture.xml:3:", "control character");
  expect_error("<annotation><object><name>a&#9;b</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "fixture.xml:1:", "control character");
  expect_error("<annotation><object><name>a&#127;b</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "fixture.xml:1:", "control character");
  expect_error("<annotation>\n\n<object><name>#cat</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "fixture.xml:3:", "'#'");
  expect_error("<annotation><object><name>../../x</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
               "fixture.xml:1:", "'/'");
  /* what stays accepted: decimals, signs, exponents, spaces and '#' inside a name */
  bm_voc_file ok;
  bm_error ok_err = {{0}};
  CHECK_MSG(parse_text("<annotation><object><name>traffic light #2</name><bndbox><xmin>+1.5"
                       "</xmin><ymin>1e1</ymin><xmax>30.</xmax><ymax> 4E+1 </ymax></bndbox>"
                       "</object></annotation>", &ok, &ok_err) == 0, "%s", ok_err.msg);
  if (ok.n_objects == 1) {
    CHECK(!strcmp(ok.objects[0].name, "traffic light #2"));
    CHECK(ok.objects[0].x1 == 1.5f && ok.objects[0].y1 == 10.0f && ok.objects[0].x2 == 30.0f &&
          ok.objects[0].y2 == 40.0f);
  }
  bm_voc_file_free(&ok);

  /* A missing file names the path. */
  bm_voc_file f;
  bm_error err = {{0}};
  CHECK(bm_voc_parse_file("/nonexistent/boxmine/x.xml", &f, &err) == -1);
  CHECK(strstr(err.msg, "/nonexistent/boxmine/x.xml") != NULL);
}

static void test_round_trip(void) {
  char dir[256], path[512];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/rt.xml", dir);
  char *names[] = {"person", "car"};
  bm_object objs[2] = {{.class_id = 1, .x1 = 3, .y1 = 4, .x2 = 50, .y2 = 60, .truncated = 1},
                       {.class_id = 0, .x1 = 7.125f, .y1 = 8.3f, .x2 = 99.9f, .y2 = 100,
                        .difficult = 1}};
  strcpy(objs[1].pose, "Left");
  bm_error err = {{0}};
  CHECK(bm_voc_write_xml(path, "VOC2007", "rt.jpg", 128, 96, 3, objs, 2, names, NULL, &err) == 0);
  bm_voc_file f;
  int rc = bm_voc_parse_file(path, &f, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(!strcmp(f.filename, "rt.jpg") && f.width == 128 && f.height == 96 && f.depth == 3);
  CHECK(f.n_objects == 2);
  for (int i = 0; i < 2 && f.n_objects == 2; i++) {
    CHECK(!strcmp(f.objects[i].name, names[objs[i].class_id]));
    /* exact float equality: the writer prints enough digits */
    CHECK(f.objects[i].x1 == objs[i].x1 && f.objects[i].y1 == objs[i].y1);
    CHECK(f.objects[i].x2 == objs[i].x2 && f.objects[i].y2 == objs[i].y2);
    CHECK(f.objects[i].difficult == objs[i].difficult);
    CHECK(f.objects[i].truncated == objs[i].truncated);
  }
  CHECK(!strcmp(f.objects[1].pose, "Left") && !strcmp(f.objects[0].pose, "Unspecified"));
  bm_voc_file_free(&f);
}

/* Random byte flips and truncations of a valid file: the parser must answer 0 or -1 (with a
 * message naming the file), never crash or leak (the sanitizer build checks that). */
static void test_mutations(void) {
  const char *valid =
      "<annotation verified=\"no\"><filename>m.jpg</filename><size><width>64</width>"
      "<height>48</height><depth>3</depth></size><object><name>cell</name><pose>Left</pose>"
      "<truncated>1</truncated><difficult>0</difficult><bndbox><xmin>1.5</xmin><ymin>2</ymin>"
      "<xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>\n";
  size_t len = strlen(valid);
  char buf[1024];
  bm_rng rng;
  bm_rng_seed(&rng, 7, 1);
  int ok = 0, failed = 0, unnamed = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(buf, valid, len + 1);
    size_t n = len;
    int flips = 1 + (int)bm_rng_below(&rng, 4);
    for (int f = 0; f < flips; f++) buf[bm_rng_below(&rng, (uint32_t)len)] = (char)bm_rng_u32(&rng);
    if (bm_rng_below(&rng, 4) == 0) n = bm_rng_below(&rng, (uint32_t)len);
    bm_voc_file f;
    bm_error err = {{0}};
    int rc = bm_voc_parse_memory("fuzz.xml", buf, n, &f, &err);
    if (rc == 0) ok++, bm_voc_file_free(&f);
    else failed++, unnamed += strstr(err.msg, "fuzz.xml") == NULL;
  }
  CHECK(ok + failed == 3000 && failed > 100 && unnamed == 0);
}

/* Document content never reaches files or the network, and entity bombs stay small: an
 * external entity is not loaded (its file's text never appears), a billion-laughs DTD does
 * not expand into gigabytes. Either case may parse or fail; cleanly and without the secret. */
static void test_entities(const char *dir) {
  char secret[600], text[2048];
  snprintf(secret, sizeof secret, "%s/secret.txt", dir);
  bm_error err = {{0}};
  CHECK(bm_write_file_atomic(secret, "TOPSECRET", 9, &err) == 0);
  snprintf(text, sizeof text,
           "<?xml version=\"1.0\"?><!DOCTYPE annotation [<!ENTITY xxe SYSTEM \"file://%s\">]>"
           "<annotation><filename>&xxe;</filename><object><name>cat&xxe;</name><bndbox>"
           "<xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>"
           "</annotation>", secret);
  bm_voc_file f;
  if (parse_text(text, &f, &err) == 0) {
    CHECK(f.n_objects == 1 && !strstr(f.objects[0].name, "TOPSECRET"));
    CHECK(!f.filename || !strstr(f.filename, "TOPSECRET"));
    bm_voc_file_free(&f);
  } else {
    CHECK(!strstr(err.msg, "TOPSECRET"));
  }
  const char *bomb =
      "<?xml version=\"1.0\"?><!DOCTYPE annotation [<!ENTITY a \"aaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
      "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
      "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
      "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>"
      "<annotation><object><name>&i;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax>"
      "<ymax>4</ymax></bndbox></object></annotation>";
  /* 10^9 bytes if expanded; a hang would hit the suite's time limit */
  int rc = parse_text(bomb, &f, &err);
  if (rc == 0) {
    CHECK(f.n_objects == 1 && strlen(f.objects[0].name) < 1000000);
    bm_voc_file_free(&f);
  }
  CHECK_MSG(rc == 0 || strstr(err.msg, "fixture.xml") != NULL, "%s", err.msg);
}

int main(void) {
  test_fields();
  test_mutations();
  test_errors();
  test_round_trip();
  char dir[512];
  bm_test_tmpdir(dir, sizeof dir);
  test_entities(dir);
  return bm_test_finish("test_voc");
}
