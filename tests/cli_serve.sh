#!/bin/bash
# boxmine serve and its review page in a real browser: headless Chromium driven by
# tests/browser/review_page.mjs (puppeteer-core, installed from npm into the build folder on
# first use). Checks the server's refusals (token, malformed JSON, unknown ids, sizes), a
# round done by hand with a reload in the middle, the verdicts and seconds in answers.json,
# and that a restarted server resumes. Skips (exit 77) when node, npm or chromium are missing.
set -u
source "$(dirname "$0")/cli_lib.bash"
skip() { echo "cli_serve: SKIPPED: $*"; exit 77; }
command -v node >/dev/null || skip "node is not installed (scripts/install-deps.sh)"
command -v npm >/dev/null || skip "npm is not installed (scripts/install-deps.sh)"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium is not installed (scripts/install-deps.sh)"
NODE_DIR="$(dirname "$BIN")/node"
if [ ! -d "$NODE_DIR/node_modules/puppeteer-core" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent puppeteer-core@23 >/dev/null 2>&1) ||
    skip "npm install puppeteer-core failed (offline?)"
fi
cp "$(dirname "$0")/browser/review_page.mjs" "$(dirname "$0")/browser/review_round.mjs" "$NODE_DIR/"

expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 3 --test 1 --size 128 --seed 5
cat >"$TMP/dets.json" <<'JSON'
[{"image_id": "trainval_000001", "category_id": 1, "bbox": [9, 19, 40, 50], "score": 0.9},
 {"image_id": "trainval_000001", "category_id": 2, "bbox": [69, 9, 40, 40], "score": 0.5},
 {"image_id": "trainval_000002", "category_id": 3, "bbox": [4, 4, 60, 60], "score": 0.95}]
JSON
expect_status 0 "$BIN" review export --data "$TMP/data" --split trainval --dets "$TMP/dets.json" \
  --no-cache --out "$TMP/r"
expect_status 2 "$BIN" serve "$TMP/r" --host not-an-address

start_server() {
  "$BIN" serve "$TMP/r" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  server=$!
  url=
  for _ in $(seq 50); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$TMP/serve.out" || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || fail "serve printed no URL: $(cat "$TMP/serve.out" "$TMP/serve.err")"
}
stop_server() {
  kill -TERM "$server" 2>/dev/null
  wait "$server"
  local rc=$?
  [ "$rc" = 0 ] || fail "serve exited $rc after SIGTERM: $(tail -5 "$TMP/serve.err")"
}

start_server
if [ -n "$url" ]; then
  (cd "$NODE_DIR" && node review_page.mjs "$url" "$CHROMIUM" "$TMP/profile" ${BM_SCREENSHOT:+"$BM_SCREENSHOT"}) \
    >"$TMP/node.out" 2>&1 || fail "browser run: $(tail -20 "$TMP/node.out")"
fi
stop_server
grep -q "stopped" "$TMP/serve.out" || fail "serve did not stop cleanly on SIGTERM: $(cat "$TMP/serve.out")"

# the verdicts: image 1 adjusted + deleted + added (difficult), image 2 accepted, image 3 none
A="$TMP/r/answers.json"
[ -s "$A" ] || fail "no answers.json"
expect() { grep -q -- "$1" "$A" || fail "answers.json lacks $1: $(cat "$A")"; }
expect '{"verdict":"adjusted","machine":0,"class":"tshirt","box":\[10,20,59,79\],"difficult":false}'
expect '{"verdict":"deleted","machine":1,"class":"trouser","box":\[70,10,109,49\],"difficult":false}'
expect '{"verdict":"added","machine":-1,"class":"pullover","box":\[80,80,100,110\],"difficult":true}'
expect '"id":"trainval_000002","source":"page","lead_time":[0-9.]*,"verdicts":\[{"verdict":"accepted","machine":0,'
expect '"id":"trainval_000003","source":"page","lead_time":[0-9.]*,"verdicts":\[\]'
grep -q '"lead_time":null' "$A" && fail "a page answer without its measured seconds"
# every decision is in the database (the sqlite3 program is optional)
[ -s "$TMP/r/review.sqlite" ] || fail "no review.sqlite"
if command -v sqlite3 >/dev/null; then
  n=$(sqlite3 "$TMP/r/review.sqlite" "SELECT count(*) FROM events")
  [ "$n" -ge 8 ] || fail "only $n events stored"
  [ "$(sqlite3 "$TMP/r/review.sqlite" "PRAGMA journal_mode")" = wal ] || fail "not in WAL mode"
fi
# a restarted server knows what is done
start_server
grep -q "3 images (3 done)" "$TMP/serve.out" || fail "restart: $(cat "$TMP/serve.out")"
stop_server

# A mining run's round by hand: mine --oracle human stops for review, the page answers it,
# mine --resume continues with those labels (the first image joins L with the people's boxes).
sed -n '/^cat >"$TMP\/tiny.cfg"/,/^EOF$/p' "$(dirname "$0")/cli_mine.sh" >"$TMP/cfg.sh"
source "$TMP/cfg.sh"
expect_status 0 "$BIN" synth --out "$TMP/pool" --trainval 24 --test 8 --size 64 --seed 3
RUN="$TMP/run"
mine=(--data "$TMP/pool" --cfg "$TMP/tiny.cfg" --init 8 --K 3 --pre-epochs 1 --batch 8 --warmup 4
  --threads 1 --deterministic --seed 4 --strategy topk-slscore --oracle human
  --uncertain-thre 0.001 --max-dets 20 --max-rounds 2)
expect_status 0 "$BIN" mine "${mine[@]}" --out "$RUN"
grep -q "awaiting review: round 1's 3 images" "$TMP/out" || fail "mine did not stop for review: $(cat "$TMP/out")"
"$BIN" serve "$RUN" >"$TMP/serve.out" 2>"$TMP/serve.err" &
server=$!
url=
for _ in $(seq 50); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$TMP/serve.out" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || fail "serve RUN printed no URL: $(cat "$TMP/serve.err")"
(cd "$NODE_DIR" && node review_round.mjs "$url" "$CHROMIUM" "$TMP/profile2" "$TMP/did.json") \
  >"$TMP/node2.out" 2>&1 || fail "browser round: $(tail -5 "$TMP/node2.out")"
stop_server
did=$(cat "$TMP/did.json")
id=$(echo "$did" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
machine=$(echo "$did" | grep -o '"machine":[0-9]*' | cut -d: -f2)
[ -n "$id" ] || fail "the browser round did not report its image: $did"
expect_status 0 "$BIN" mine --out "$RUN" --resume
grep -q "people answered 3 of 3 images" "$TMP/err" || fail "resume: $(tail -3 "$TMP/err")"
# the people's boxes are the image's labels now: machine boxes - 1 deleted + 1 drawn
xml="$RUN/annotations/Annotations/$id.xml"
[ -s "$xml" ] || fail "$id did not join L ($xml missing)"
want=$((machine >= 2 ? machine : machine + 1))
[ "$(grep -c '<object>' "$xml" 2>/dev/null)" = "$want" ] ||
  fail "$id has $(grep -c '<object>' "$xml" 2>/dev/null) boxes, expected $want ($did)"
grep -q '<xmin>5</xmin>' "$xml" && grep -q '<ymax>24</ymax>' "$xml" ||
  fail "the drawn box is not among $id's labels"
if [ "$machine" -ge 1 ]; then
  adj=$(echo "$did" | grep -o '"adjusted":\[[^]]*\]' | sed 's/.*\[//; s/\]//')
  xmax=$(echo "$adj" | cut -d, -f3)
  grep -q "<xmax>$xmax</xmax>" "$xml" || fail "the adjusted box (x2 $xmax) is not among $id's labels"
fi
rec=$(grep '"phase":2' "$RUN/rounds.jsonl" | head -1)
echo "$rec" | grep -q '"human_measured_images":3' || fail "measured seconds not in the record: $rec"
finish cli_serve
