#!/bin/bash
# boxmine eval against the reference evaluators (tests/eval_reference.py) on real data: BCCD's
# trainval split, whose ground truth has two zero-area RBC boxes (single-pixel clicks) that
# the VOC devkit and pycocotools evaluate as written. Run twice: with the reference's own COCO
# ground truth, and with the COCO files boxmine convert --boxes-as-written writes (read as
# pycocotools reads them). tests/eval_crosscheck_bccd.py exits 1 beyond 1e-9.
set -u
BIN=${BM_BINARY:?BM_BINARY not set}
SRC=${BM_SOURCE_DIR:?BM_SOURCE_DIR not set}
export BM_SHARED_DIR=${BM_SHARED_DIR:?BM_SHARED_DIR not set} # the script reads BCCD there
if [ ! -d "$BM_SHARED_DIR/data/BCCD" ]; then
  echo "skipped: needs ../shared/data/BCCD (not in a lone clone)"
  exit 77
fi
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
fail=0
for mode in "" --via-convert; do
  if ! "$PY" "$SRC/tests/eval_crosscheck_bccd.py" "$BIN" trainval $mode 2>"$TMP/err"; then
    echo "FAIL: cross-check trainval $mode"
    cat "$TMP/err"
    fail=1
  fi
done
exit $fail
