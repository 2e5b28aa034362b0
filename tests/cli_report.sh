#!/bin/bash
# boxmine report on the hand-made runs in tests/fixtures/report: exit statuses, the page
# written atomically into a new folder, its charts and table, warnings for an unfinished run.
set -u
BIN=${BM_BINARY:?BM_BINARY not set}
FIX=${BM_SOURCE_DIR:?BM_SOURCE_DIR not set}/tests/fixtures/report
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_status() { # expected command...
  local want=$1
  shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want: $(cat "$TMP/err")"
}

expect_status 0 "$BIN" report --help
grep -q -- '--out DIR' "$TMP/out" || fail "--help does not document --out"
grep -q -- '--title' "$TMP/out" || fail "--help does not document --title"
expect_status 2 "$BIN" report
expect_status 2 "$BIN" report "$FIX/slscore"
grep -q -- '--out' "$TMP/err" || fail "missing --out not explained"
expect_status 2 "$BIN" report "$FIX/slscore" --out "$TMP/x" --colour red
expect_status 2 "$BIN" report "$FIX/slscore" --out
expect_status 1 "$BIN" report "$TMP/no-such-run" --out "$TMP/x"
grep -q 'no-such-run/rounds.jsonl' "$TMP/err" || fail "missing run not named: $(cat "$TMP/err")"
[ ! -e "$TMP/x/index.html" ] || fail "a page was written for a failed report"

# a bad line in the middle of rounds.jsonl: exit 1, the line named
mkdir -p "$TMP/bad"
printf '{"round":1}\n{"round":"two"}\n' >"$TMP/bad/rounds.jsonl"
expect_status 1 "$BIN" report "$TMP/bad" --out "$TMP/x"
grep -q 'rounds.jsonl: line 2' "$TMP/err" || fail "bad line not named: $(cat "$TMP/err")"

# the real thing: three runs into a folder that does not exist yet
out=$TMP/deep/new/report
expect_status 0 "$BIN" report "$FIX/slscore" "$FIX/random" "$FIX/trust" --out "$out" --title "Fixture runs"
page=$out/index.html
[ -s "$page" ] || fail "no index.html"
grep -q "wrote $page (3 runs, 13 round records" "$TMP/out" || fail "summary line: $(cat "$TMP/out")"
# trust has no summary.json and a cut-off last line: two warnings, not errors
[ "$(grep -c 'warning' "$TMP/err")" = 2 ] || fail "expected 2 warnings: $(cat "$TMP/err")"
grep -q 'line 3 is incomplete' "$TMP/err" || fail "cut-off line not reported"
[ "$(ls -A "$out")" = "index.html" ] || fail "leftover files in $out: $(ls -A "$out")"
[ "$(grep -o '<svg' "$page" | wc -l)" = 7 ] || fail "expected 7 charts"
grep -q '<title>Fixture runs</title>' "$page" || fail "title"
for text in 'mAP@0.5 against human labelling time' 'mAP@0.5 against boxes drawn by people' \
  'Images per mining round' 'Boxes per mining round' 'Training loss per round' \
  'Learning rate per round' 'human labelling time (hours)' 'Final numbers' \
  'slscore: topk-slscore (verify)' 'random: random (verify)'; do
  grep -qF "$text" "$page" || fail "page lacks '$text'"
done
# random's final numbers: 3600 boxes drawn, 27600 s = 7 h 40 min
grep -q '<td>3600</td>' "$page" || fail "random's drawn boxes"
grep -q '7 h 40 min' "$page" || fail "random's human time"
if grep -qE '(src|href)=' "$page"; then fail "page refers to external files"; fi

# rerunning replaces the page
expect_status 0 "$BIN" report "$FIX/random" --out "$out"
[ "$(grep -o '<svg' "$page" | wc -l)" = 7 ] || fail "rewritten page"
grep -qF 'slscore' "$page" && fail "old page content survived"

echo "cli_report: $failures failure(s)"
[ "$failures" = 0 ]
