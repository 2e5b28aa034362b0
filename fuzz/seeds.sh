#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into OUT/<target>/ from the test data: a tiny
# synthesised data set (XML, JPEG), the repository's cfg files and report fixtures, a
# checkpoint and .weights file of a one-epoch training run, hand-written detections.
# usage: fuzz/seeds.sh BOXMINE_BINARY OUT
set -euo pipefail
bin=$1
out=$2
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"/{fuzz_voc,fuzz_cfg,fuzz_weights,fuzz_ckpt,fuzz_image,fuzz_detections,fuzz_json}

"$bin" synth --out "$work/data" --trainval 6 --test 2 --size 48 --seed 3 --max-objects 3 >/dev/null 2>&1
cp $(ls "$work/data/Annotations"/*.xml | head -3) "$out/fuzz_voc/"
cat >"$out/fuzz_voc/parts.xml" <<'EOF'
<annotation verified="no"><folder>VOC2007</folder><filename>000001.jpg</filename>
<size><width>353</width><height>500</height><depth>3</depth></size>
<object><name>person</name><pose>Left</pose><truncated>1</truncated><difficult/>
<bndbox><xmin>8.5</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox>
<part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></part>
</object></annotation>
EOF
cp $(ls "$work/data/JPEGImages"/*.jpg | head -2) "$out/fuzz_image/"
python3 - "$out/fuzz_image/tiny.png" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + bytes(v for x in range(6) for v in (x * 40, y * 40, 90)) for y in range(5))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 5, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF

cp "$src"/cfg/*.cfg "$out/fuzz_cfg/"
cat >"$work/small.cfg" <<'EOF'
[net]
width=32
height=32
channels=3
batch=2

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=45
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=8,8, 14,14, 22,24
classes=10
num=3
EOF
cp "$work/small.cfg" "$out/fuzz_cfg/"
"$bin" train --data "$work/data" --cfg "$work/small.cfg" --out "$work/run" --epochs 1 --batch 2 \
  --threads 1 --seed 5 --checkpoint-minutes 0 --eval-every 0 >/dev/null 2>&1
cp "$work/run/last.ckpt" "$out/fuzz_ckpt/"
# .weights for fuzz_weights' own network: darknet header (0.2.0, seen) + 4 BN vectors of 4,
# 108 conv weights, 21 biases, 84 weights
python3 - "$out/fuzz_weights/small.weights" <<'EOF'
import struct, sys
values = [0.1 * ((i * 7) % 13 - 6) for i in range(4 * 4 + 108 + 21 + 84)]
values[8:12] = [0.0] * 4  # running means
values[12:16] = [1.0] * 4  # running variances
open(sys.argv[1], "wb").write(struct.pack("<iiiQ", 0, 2, 0, 640) + struct.pack("<%df" % len(values), *values))
EOF
printf '000001 0.9 10 10 50 40\nimg_2 0.5 1 1 20 20.5\nx 1e-3 0 0 499 299\n' >"$out/fuzz_detections/voc.txt"
printf '[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.5},\n {"image_id": "img_2", "category_id": 2, "bbox": [0.5, 0, 10, 10], "score": 1e-2}]\n' \
  >"$out/fuzz_detections/coco.json"
cp "$out/fuzz_detections/coco.json" "$out/fuzz_json/"
cp "$work/data/synth.json" "$out/fuzz_json/"
for f in "$src"/tests/fixtures/report/*/summary.json; do cp "$f" "$out/fuzz_json/$(basename "$(dirname "$f")").json"; done
head -1 "$src/tests/fixtures/report/random/rounds.jsonl" >"$out/fuzz_json/round.json"
printf '{"a": [1, -2.5e3, true, false, null, "\\u00e9\\ud83d\\ude00"], "b": {}}' >"$out/fuzz_json/escapes.json"
echo "seeds: $(find "$out" -type f | wc -l) files in $out"
