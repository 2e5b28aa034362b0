#!/bin/bash
# boxmine convert on BCCD (read-only source) to VOC, COCO and YOLO. The COCO and YOLO numbers
# are checked against the original XML files by an independent Python reading (xml.etree),
# using the documented conventions; the VOC output is reloaded with boxmine info.
set -u
BIN=${BM_BINARY:?BM_BINARY not set}
BCCD=${BM_SHARED_DIR:?BM_SHARED_DIR not set}/data/BCCD
if [ ! -d "$BM_SHARED_DIR/data/BCCD" ]; then
  echo "skipped: needs ../shared/data/BCCD (not in a lone clone)"
  exit 77
fi
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
row() { grep -E "^$2 +[0-9]" "$1" | head -1 | awk '{print $NF}'; }
snapshot() { (cd "$BCCD" && find . -printf '%p %s %T@ %m\n' | sort | md5sum); }
before=$(snapshot)

OUT=$TMP/out
"$BIN" convert --data "$BCCD" --out "$OUT" --format voc,coco,yolo --image-mode symlink \
  >"$TMP/log.txt" 2>"$TMP/err.txt" || fail "convert exited $?: $(cat "$TMP/err.txt")"
cat "$TMP/log.txt"
grep -q 'converted 364 images, 4886 boxes, 3 classes' "$TMP/log.txt" || fail "summary line"
grep -q 'train (205 images)' "$TMP/log.txt" || fail "train list"

# ---- COCO and YOLO against the source XML ------------------------------------------------
$PY - "$BCCD" "$OUT" <<'EOF' || fail "python cross-check"
import json, os, sys, xml.etree.ElementTree as ET
bccd, out = sys.argv[1], sys.argv[2]
ann_dir = os.path.join(bccd, "Annotations")
boxes = {}  # id -> list of (name, xmin, ymin, xmax, ymax, difficult, truncated), zero-area removed
for f in sorted(os.listdir(ann_dir)):
    root = ET.parse(os.path.join(ann_dir, f)).getroot()
    items = []
    for o in root.findall("object"):
        b = o.find("bndbox")
        x1, y1, x2, y2 = (float(b.find(t).text) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 <= x1 or y2 <= y1:
            continue
        items.append((o.find("name").text.strip(), x1, y1, x2, y2,
                      int(o.find("difficult").text or 0), int(o.find("truncated").text or 0)))
    boxes[f[:-4]] = items
classes = sorted({b[0] for v in boxes.values() for b in v})
errors = []
coco = json.load(open(os.path.join(out, "coco", "instances_all.json")))
cats = {c["id"]: c["name"] for c in coco["categories"]}
if [cats[k] for k in sorted(cats)] != classes:
    errors.append("categories %s" % cats)
images = {im["id"]: im for im in coco["images"]}
if len(images) != 364:
    errors.append("%d images" % len(images))
got = {}
for a in coco["annotations"]:
    im = images[a["image_id"]]
    got.setdefault(im["file_name"][:-4], []).append(a)
total = 0
for img_id, items in boxes.items():
    anns = got.get(img_id, [])
    if len(anns) != len(items):
        errors.append("%s: %d vs %d boxes" % (img_id, len(anns), len(items)))
        continue
    for (name, x1, y1, x2, y2, diff, trunc), a in zip(items, anns):
        want = [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1]
        if a["bbox"] != want or cats[a["category_id"]] != name:
            errors.append("%s: %s %s vs %s %s" % (img_id, a["bbox"], cats[a["category_id"]], want, name))
        if a["area"] != want[2] * want[3] or a["iscrowd"] != diff or a["ignore"] != diff:
            errors.append("%s: area/iscrowd/ignore %s" % (img_id, a))
        if a["image_id"] != img_id:  # BCCD ids spell no numbers: COCO ids are the id strings
            errors.append("%s: image_id %r" % (img_id, a["image_id"]))
        total += 1
    # YOLO: class cx cy w h normalised by 640x480
    lines = open(os.path.join(out, "yolo", "labels", img_id + ".txt")).read().split("\n")[:-1]
    if len(lines) != len(items):
        errors.append("yolo %s: %d lines" % (img_id, len(lines)))
        continue
    for (name, x1, y1, x2, y2, diff, trunc), line in zip(items, lines):
        c, cx, cy, w, h = line.split()
        want = ((x1 - 1 + x2) / 2 / 640, (y1 - 1 + y2) / 2 / 480, (x2 - x1 + 1) / 640, (y2 - y1 + 1) / 480)
        if classes[int(c)] != name or any(abs(float(g) - e) > 1e-6 for g, e in zip((cx, cy, w, h), want)):
            errors.append("yolo %s: %s vs %s %s" % (img_id, line, name, want))
if total != 4886:
    errors.append("%d COCO boxes, expected 4888 - 2 zero-area = 4886" % total)
train = json.load(open(os.path.join(out, "coco", "instances_train.json")))
ids = [l.strip() for l in open(os.path.join(bccd, "ImageSets", "Main", "train.txt")) if l.strip()]
if sorted(im["file_name"][:-4] for im in train["images"]) != sorted(ids):
    errors.append("train images differ from train.txt")
if len(train["annotations"]) != sum(len(boxes[i]) for i in ids):
    errors.append("train annotations count")
for e in errors[:20]:
    print("python:", e)
sys.exit(1 if errors else 0)
EOF
[ "$(cat "$OUT/yolo/obj.names")" = "$(printf 'Platelets\nRBC\nWBC')" ] || fail "obj.names"
[ "$(wc -l <"$OUT/yolo/val.txt")" = 87 ] || fail "yolo val list"
[ -L "$OUT/yolo/images/BloodImage_00000.jpg" ] || fail "symlink mode should link"
cmp -s "$OUT/coco/images/BloodImage_00100.jpg" "$BCCD/JPEGImages/BloodImage_00100.jpg" ||
  fail "linked image differs"

# ---- --boxes-as-written: every box of the val XML files, zero-area ones included -----------
"$BIN" convert --data "$BCCD" --split val --out "$TMP/asis" --format coco --image-mode none \
  --boxes-as-written >/dev/null 2>"$TMP/asis.err" || fail "--boxes-as-written exited $?"
grep -q "zero-area box (504,337)-(504,337) of class 'RBC'; kept as written" "$TMP/asis.err" ||
  fail "--boxes-as-written: zero-area box warned and kept"
$PY - "$BCCD" "$TMP/asis/coco/instances_val.json" <<'EOF' || fail "--boxes-as-written cross-check"
import json, os, sys, xml.etree.ElementTree as ET
bccd, path = sys.argv[1], sys.argv[2]
ids = [l.strip() for l in open(os.path.join(bccd, "ImageSets", "Main", "val.txt")) if l.strip()]
want = []
for i in ids:
    for o in ET.parse(os.path.join(bccd, "Annotations", i + ".xml")).getroot().findall("object"):
        b = o.find("bndbox")
        x1, y1, x2, y2 = (float(b.find(t).text) for t in ("xmin", "ymin", "xmax", "ymax"))
        want.append((i, [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1]))
coco = json.load(open(path))
got = [(a["image_id"], a["bbox"]) for a in coco["annotations"]]
ones = [g for g in got if g[1][2] == 1 and g[1][3] == 1]
print("val as written: %d boxes, %d of 1x1 pixel" % (len(got), len(ones)))
sys.exit(0 if got == want and len(ones) == 1 else 1)  # val has one: BloodImage_00338
EOF

# ---- VOC: reload and compare with the source's statistics ---------------------------------
"$BIN" info --data "$OUT/voc" --split trainval >"$TMP/voc.txt" 2>"$TMP/voc.err" || fail "info on output"
"$BIN" info --data "$BCCD" --split trainval >"$TMP/src.txt" 2>/dev/null
[ -s "$TMP/voc.err" ] && fail "the converted VOC should load without warnings: $(cat "$TMP/voc.err")"
[ "$(row "$TMP/voc.txt" 'boxes kept')" = "$(row "$TMP/src.txt" 'boxes kept')" ] || fail "VOC boxes"
[ "$(row "$TMP/voc.txt" images)" = 292 ] || fail "VOC trainval images"
diff <(sed -n '/^class  /,/^$/p' "$TMP/voc.txt") <(sed -n '/^class  /,/^$/p' "$TMP/src.txt") ||
  fail "per-class table differs after VOC round trip"
cmp -s "$OUT/voc/ImageSets/Main/test.txt" "$BCCD/ImageSets/Main/test.txt" || fail "test list differs"

# ---- a split only, copies; refusals and usage -----------------------------------------------
"$BIN" convert --data "$BCCD" --split val --out "$TMP/val" --format coco >/dev/null 2>&1 || fail "val"
ls "$TMP/val/coco" | grep -q '^instances_val.json$' || fail "instances_val.json"
[ "$(ls "$TMP/val/coco/images" | wc -l)" = 87 ] || fail "87 copied images"
[ -L "$TMP/val/coco/images/BloodImage_00000.jpg" ] && fail "copy mode made a link"
"$BIN" convert --data "$BCCD" --split val --out "$TMP/val" --format coco 2>"$TMP/e.txt"
[ $? = 1 ] || fail "non-empty output should fail"
grep -q 'not empty' "$TMP/e.txt" || fail "non-empty message"
"$BIN" convert --data "$BCCD" --split val --out "$TMP/val" --format coco --force >/dev/null 2>&1 ||
  fail "--force"
"$BIN" convert --data "$BCCD" --out "$BCCD/converted" --format voc 2>"$TMP/e.txt"
[ $? = 1 ] || fail "output inside the dataset should fail"
grep -q 'overlap' "$TMP/e.txt" || fail "overlap message"
"$BIN" convert --help | grep -q -- '--image-mode' || fail "--help"
"$BIN" convert --data "$BCCD" --out "$TMP/x" 2>/dev/null; [ $? = 2 ] || fail "no --format exit 2"
"$BIN" convert --data "$BCCD" --format voc 2>/dev/null; [ $? = 2 ] || fail "no --out exit 2"
"$BIN" convert --data "$BCCD" --out "$TMP/x" --format tfrecord 2>/dev/null; [ $? = 2 ] ||
  fail "bad format exit 2"
"$BIN" convert --data "$BCCD" --out "$TMP/x" --format voc --image-mode hard 2>/dev/null
[ $? = 2 ] || fail "bad image mode exit 2"

[ "$(snapshot)" = "$before" ] || fail "BCCD was modified"
if [ "$failures" -ne 0 ]; then echo "cli_convert: $failures failures"; exit 1; fi
echo "cli_convert: ok"
