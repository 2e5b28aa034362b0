// Drives boxmine's review page in headless Chromium (puppeteer-core): the security checks
// of the server, then a person's round: adjust, delete, draw (with a reload in the middle),
// accept, undo, finish. Usage: node review_page.mjs URL CHROMIUM PROFILE_DIR [SCREENSHOT]
// Exits non-zero with a message on the first failed check.
import puppeteer from "puppeteer-core";

const [url, chromium, profile, screenshot] = process.argv.slice(2);
const base = url.replace(/\/\?token=.*$/, "");
const token = new URL(url).searchParams.get("token");
let failures = 0;
function check(ok, what) {
  if (!ok) {
    failures++;
    console.log("FAIL: " + what);
  }
}

// ---- the server refuses what it must ----
async function status(path, init) {
  const r = await fetch(base + path, init);
  return r.status;
}
check(await status("/") === 403, "no token must give 403");
check(await status("/?token=" + "0".repeat(32)) === 403, "a wrong token must give 403");
check(await status("/api/queue?token=" + token) === 200, "the queue with the token");
check(await status("/img/..%2f..%2fetc%2fpasswd?token=" + token) === 404, "a path is no image id");
check(await status("/img/3?token=" + token) === 404, "an image past the queue");
const post = body => ({method: "POST", body: body, headers: {"Content-Type": "application/json"}});
check(await status("/api/save?token=" + token, post("{\"id\": ")) === 400, "malformed JSON: 400");
check(await status("/api/save?token=" + token,
                   post(JSON.stringify({id: "trainval_000001", action: "x", seconds: 1, done: false,
                                        boxes: [{machine: 7, class: 0, box: [1, 1, 2, 2],
                                                 difficult: false, origin: "prediction"}]}))) === 400,
      "a machine box that does not exist: 400");
check(await status("/api/save?token=" + token,
                   post(JSON.stringify({id: "nope", action: "x", seconds: 1, done: false, boxes: []}))) === 404,
      "an unknown image: 404");
check(await status("/api/save?token=" + token, post("x".repeat(2 << 20))) === 413, "2 MiB body: 413");
const first = await (await fetch(base + "/api/image/0?token=" + token)).json();
check(first.saved === null, "refused requests changed nothing");

// ---- a person's round ----
const browser = await puppeteer.launch({
  executablePath: chromium, headless: true, userDataDir: profile,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage"]});
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1100, height: 760});
  page.on("pageerror", e => check(false, "page error: " + e.message));
  const ready = async () => {
    await page.waitForFunction(() => window.bm && window.bm.ready && !window.bm.pending);
  };
  const settle = () => page.waitForFunction(() => !window.bm.pending);
  const at = (x, y) => page.evaluate((x, y) => window.bm.screenOf(x, y), x, y);
  const click = async (x, y) => { const [sx, sy] = await at(x, y); await page.mouse.click(sx, sy); };
  await page.goto(url);
  await ready();
  let s = await page.evaluate(() => ({index: bm.index, n: bm.boxes.length}));
  check(s.index === 0 && s.n === 2, "image 1 opens with its 2 machine boxes: " + JSON.stringify(s));
  // adjust: select machine box 0 ([10,20,49,69]) and drag its bottom-right corner by (10, 10)
  await click(30, 40);
  const [cx, cy] = await at(49, 69), [tx, ty] = await at(59, 79);
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(tx, ty, {steps: 5});
  await page.mouse.up();
  await settle();
  // delete machine box 1 ([70,10,109,49])
  await click(90, 30);
  await page.keyboard.press("x");
  await settle();
  // draw a pullover (class 3) from (80,80) to (100,110)
  await page.keyboard.press("3");
  await page.keyboard.press("b");
  await click(80, 80);
  await click(100, 110);
  await settle();
  if (screenshot) await page.screenshot({path: screenshot});
  // reload in the middle: everything is still there
  await page.reload();
  await ready();
  s = await page.evaluate(() => ({index: bm.index, boxes: bm.boxes, seconds: bm.seconds0}));
  check(s.index === 0, "the reload resumes on image 1");
  check(JSON.stringify(s.boxes.map(b => [b.machine, b.class, b.box, b.origin])) ===
        JSON.stringify([[0, 0, [10, 20, 59, 79], "prediction-changed"],
                        [-1, 2, [80, 80, 100, 110], "manual"]]),
        "saved boxes after the reload: " + JSON.stringify(s.boxes));
  check(s.seconds > 0, "the time spent so far is stored");
  // mark the drawn box difficult, then next
  await click(90, 95);
  await page.keyboard.press("d");
  await settle();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => bm.index === 1 && !bm.pending);
  // image 2: accept as it is
  await page.keyboard.press("a");
  await page.waitForFunction(() => bm.index === 2 && !bm.pending);
  // image 3: draw a box, undo it, accept (nothing)
  await page.keyboard.press("b");
  await click(10, 10);
  await click(40, 40);
  await settle();
  check(await page.evaluate(() => bm.boxes.length) === 1, "a box was drawn on image 3");
  await page.keyboard.press("z");
  await settle();
  check(await page.evaluate(() => bm.boxes.length) === 0, "undo removed it");
  await page.keyboard.press("a");
  await page.waitForFunction(() => document.getElementById("done-all").style.display === "block");
  await settle();
} finally {
  await browser.close();
}
if (failures) {
  console.log(failures + " browser check(s) failed");
  process.exit(1);
}
console.log("browser checks passed");
