#!/bin/bash
# Hostile inputs and concurrent runs against the command line (issue 16, docs/RELIABILITY.md):
# special files in place of images, cfg files and checkpoints (refused at once, never a hang);
# class names that no class list can hold; a cfg with a NUL byte (the same refusal from every
# command); mine evaluating on its own pool (a warning). Each case gives a clean error naming
# the file, or the documented warning. `timeout` turns a hang into a failure.
set -u
source "$(dirname "$0")/cli_lib.bash"
export XDG_CACHE_HOME=$TMP/cache
run() { timeout 60 "$@"; } # 124 = hung
T=$TMP

write_tiny_cfg "$T/tiny.cfg"
expect_status 0 "$BIN" synth --out "$T/data" --trainval 12 --test 4 --size 64 --seed 3
TRAIN=(train --data "$T/data" --cfg "$T/tiny.cfg" --batch 4 --threads 1 --seed 5 --checkpoint-minutes 0 --eval-every 0)

# ---- special files: a FIFO with no writer where a regular file belongs ------------------------
cp -r "$T/data" "$T/fifo"
img=$(ls "$T/fifo/JPEGImages" | grep '^trainval' | head -1)
rm "$T/fifo/JPEGImages/$img"
mkfifo "$T/fifo/JPEGImages/$img"
expect_status 1 run "$BIN" info --data "$T/fifo" --check-images
grep -q "$img: not a regular file (a FIFO)" "$T/err" || fail "info: FIFO image: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" "${TRAIN[@]/$T\/data/$T/fifo}" --out "$T/r-fifo" --epochs 1
grep -q "$img: not a regular file" "$T/err" || fail "train: FIFO image: $(tail -2 "$T/err")"
mkfifo "$T/pipe.cfg" "$T/pipe.ckpt" "$T/pipe.jpg"
expect_status 1 run "$BIN" "${TRAIN[@]}" --cfg "$T/pipe.cfg" --out "$T/r-pipecfg" --epochs 1
grep -q "pipe.cfg: not a regular file" "$T/err" || fail "train: FIFO cfg: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" detect --weights "$T/pipe.ckpt" --image "$T/data/JPEGImages/test_000001.jpg" --out "$T/d1"
grep -q "pipe.ckpt: not a regular file" "$T/err" || fail "detect: FIFO checkpoint: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" bench --cfg "$T/pipe.cfg"
grep -q "pipe.cfg: not a regular file" "$T/err" || fail "bench: FIFO cfg: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" info --data "$T/data" --split "$T/pipe.cfg"
grep -q "pipe.cfg: not a regular file" "$T/err" || fail "info: FIFO split list: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" info --data "$T/data" --classes "$T/pipe.cfg"
grep -q "pipe.cfg: not a regular file" "$T/err" || fail "info: FIFO class list: $(tail -2 "$T/err")"

# ---- a trained run to detect with (also used below) ---------------------------------------------
expect_status 0 run "$BIN" "${TRAIN[@]}" --out "$T/run" --epochs 1
expect_status 1 run "$BIN" detect --weights "$T/run/last.ckpt" --image "$T/pipe.jpg" --out "$T/d2"
grep -q "pipe.jpg: not a regular file" "$T/err" || fail "detect: FIFO image: $(tail -2 "$T/err")"

# ---- class names no class list could hold --------------------------------------------------------
bad_name() { # label name-xml expected-words
  rm -rf "$T/names"
  cp -r "$T/data" "$T/names"
  rm -f "$T/names/classes.txt"
  local xml
  xml=$(ls "$T/names/Annotations" | grep '^trainval' | head -1)
  local line
  line=$(grep -n '<name>' "$T/names/Annotations/$xml" | head -1 | cut -d: -f1)
  sed -i "${line}s|<name>[^<]*</name>|<name>$2</name>|" "$T/names/Annotations/$xml"
  expect_status 1 run "$BIN" "${TRAIN[@]/$T\/data/$T/names}" --out "$T/r-names-$1" --epochs 1
  grep -q "$xml:$line: class name .*$3" "$T/err" || fail "train: class name $1: $(tail -2 "$T/err")"
  [ ! -e "$T/r-names-$1/last.ckpt" ] || fail "train: class name $1: a checkpoint was written"
  expect_status 1 run "$BIN" info --data "$T/names"
  grep -q "$xml:$line: class name" "$T/err" || fail "info: class name $1: $(tail -2 "$T/err")"
}
bad_name newline 'foo\&#10;bar' "control character"
bad_name hash '#shirt' "starts with '#'"
bad_name slash '..\/..\/x' "'/'"

# ---- a cfg with a NUL byte: refused the same way by train, mine and bench -----------------------
{ head -c 20 "$T/tiny.cfg"; printf '\0'; tail -c +21 "$T/tiny.cfg"; } >"$T/nul.cfg"
want="nul.cfg: not a text file (NUL byte at offset 20)"
expect_status 1 run "$BIN" "${TRAIN[@]}" --cfg "$T/nul.cfg" --out "$T/r-nul" --epochs 1
grep -q "$want" "$T/err" || fail "train: NUL cfg: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" bench --cfg "$T/nul.cfg"
grep -q "$want" "$T/err" || fail "bench: NUL cfg: $(tail -2 "$T/err")"
expect_status 1 run "$BIN" mine --data "$T/data" --cfg "$T/nul.cfg" --out "$T/m-nul" --init 4 --K 4
grep -q "$want" "$T/err" || fail "mine: NUL cfg: $(tail -2 "$T/err")"

# ---- mine evaluating on the pool it mines: a warning, the run goes on --------------------------
MINE=(mine --data "$T/data" --cfg "$T/tiny.cfg" --init 4 --K 4 --pre-epochs 1 --batch 4 --threads 1 --seed 4 --max-rounds 1)
expect_status 0 run "$BIN" "${MINE[@]}" --out "$T/m-same" --test-split trainval
grep -q "warning: the test set (--test-split) shares 12 of its 12 images with the pool" "$T/err" ||
  fail "mine --test-split = --split: no warning: $(tail -2 "$T/err")"
expect_status 0 run "$BIN" "${MINE[@]}" --out "$T/m-apart"
grep -q "shares .* images with the pool" "$T/err" && fail "mine with a separate test split warned"

finish cli_hostile.sh
