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
# finish NAME: the exit status of the test.
finish() {
  if [ "$failures" != 0 ]; then
    echo "$1: $failures failure(s)"
    exit 1
  fi
  echo "$1: ok"
  exit 0
}
