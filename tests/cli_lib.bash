# Shared by command-line tests (source it; not a test itself: CTest runs tests/cli_*.sh):
# BIN, a temporary folder TMP removed on exit, fail, expect_status and finish.
BIN=${BM_BINARY:?BM_BINARY not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect_status WANT COMMAND...: runs COMMAND with its output in $TMP/out and $TMP/err.
expect_status() {
  local want=$1
  shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want: $(tail -3 "$TMP/err")"
}
# need_shared REL: skips the test visibly (CTest shows it as skipped: exit 77) when
# ../shared/REL is not there, as in a clone of the project on its own.
need_shared() {
  if [ ! -e "${BM_SHARED_DIR:-../shared}/$1" ]; then
    echo "skipped: needs ../shared/$1 (not in a lone clone)"
    exit 77
  fi
}
# write_tiny_cfg FILE: a 3-layer detector for 48x48 synth images (10 classes), small enough
# for tests that train and mine many times (cli_kill.sh, cli_hostile.sh).
write_tiny_cfg() {
  cat >"$1" <<'CFG'
[net]
width=48
height=48
channels=3
batch=4

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

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
ignore_thresh=0.5
CFG
}
# finish NAME: the exit status of the test.
finish() {
  if [ "$failures" != 0 ]; then
    echo "$1: $failures failure(s)"
    exit 1
  fi
  echo "$1: ok"
  exit 0
}
