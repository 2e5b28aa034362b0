#!/bin/bash
# boxmine synth from the command line: help, usage errors, missing package files, the VOC
# layout, and byte-identical output for equal seeds and thread counts.
set -u
BIN=${BM_BINARY:?BM_BINARY must point to the boxmine program}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "cli_synth: FAIL: $*" >&2; failures=$((failures + 1)); }
expect_status() { # expected-status description command...
  local want=$1 what=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, expected $want ($(head -c 300 "$TMP/err"))"
}

expect_status 0 "--help" "$BIN" synth --help
grep -q -- "--mnist-dir" "$TMP/out" || fail "--help does not list --mnist-dir"
grep -q -- "--seed" "$TMP/out" || fail "--help does not list --seed"
expect_status 2 "no --out" "$BIN" synth
expect_status 2 "bad number" "$BIN" synth --out "$TMP/x" --trainval many
expect_status 2 "unknown option" "$BIN" synth --out "$TMP/x" --colour blue
expect_status 2 "min > max" "$BIN" synth --out "$TMP/x" --min-objects 5 --max-objects 2
expect_status 2 "missing value" "$BIN" synth --out
expect_status 1 "missing package files" "$BIN" synth --out "$TMP/y" --mnist-dir "$TMP/nothing" --trainval 2 --test 0
grep -q "$TMP/nothing/train-images-idx3-ubyte.gz" "$TMP/err" || fail "error does not name the missing file"
grep -q "dataset-fashion-mnist" "$TMP/err" || fail "error does not name the Debian package"

MNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$MNIST/train-images-idx3-ubyte.gz" ]; then
  echo "cli_synth: $MNIST missing; dataset checks skipped"
else
  expect_status 0 "small run" env OMP_NUM_THREADS=2 "$BIN" synth --out "$TMP/a" --trainval 24 --test 8 --seed 5
  grep -q "trainval: 24 images" "$TMP/out" || fail "summary does not report 24 trainval images"
  for f in classes.txt synth.json ImageSets/Main/trainval.txt ImageSets/Main/test.txt \
           JPEGImages/trainval_000024.jpg Annotations/test_000008.xml; do
    [ -s "$TMP/a/$f" ] || fail "missing $f"
  done
  [ "$(wc -l <"$TMP/a/ImageSets/Main/trainval.txt")" -eq 24 ] || fail "trainval.txt should list 24 ids"
  [ "$(wc -l <"$TMP/a/classes.txt")" -eq 10 ] || fail "classes.txt should list 10 classes"
  [ "$(ls "$TMP/a/JPEGImages" | wc -l)" -eq 32 ] || fail "expected 32 images"
  head -c 3 "$TMP/a/JPEGImages/trainval_000001.jpg" | od -An -tx1 | grep -q "ff d8 ff" || fail "images are not JPEG"

  expect_status 0 "same seed, one thread" env OMP_NUM_THREADS=1 "$BIN" synth --out "$TMP/b" --trainval 24 --test 8 --seed 5
  diff -r "$TMP/a" "$TMP/b" >/dev/null || fail "same seed gave different files (2 threads vs 1)"
  expect_status 0 "other seed" "$BIN" synth --out "$TMP/c" --trainval 24 --test 8 --seed 6
  cmp -s "$TMP/a/JPEGImages/trainval_000001.jpg" "$TMP/c/JPEGImages/trainval_000001.jpg" &&
    fail "different seeds gave the same image"
  expect_status 1 "non-empty folder" "$BIN" synth --out "$TMP/a" --trainval 2 --test 1
  grep -q "not empty" "$TMP/err" || fail "non-empty folder error unclear"
  expect_status 0 "--force" "$BIN" synth --out "$TMP/a" --trainval 2 --test 1 --force --seed 5
  [ "$(ls "$TMP/a/JPEGImages" | wc -l)" -eq 3 ] || fail "--force left stale images"
  cmp -s "$TMP/a/JPEGImages/trainval_000002.jpg" "$TMP/b/JPEGImages/trainval_000002.jpg" ||
    fail "image 2 depends on the number of images"
fi

if [ "$failures" -ne 0 ]; then
  echo "cli_synth: $failures failures"
  exit 1
fi
echo "cli_synth: all checks passed"
