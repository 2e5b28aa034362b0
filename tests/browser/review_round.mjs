// A mining run's round done by hand in boxmine's review page (headless Chromium via
// puppeteer-core), whatever boxes the run's detector found: on the first image the first
// machine box gets its bottom-right corner dragged by 2 pixels, the second (if any) is deleted,
// a box is drawn at (5,5)-(20,24); the page is reloaded in the middle; every other image is
// accepted as it is. Writes what it did as JSON (for the shell test's expectations).
// Usage: node review_round.mjs URL CHROMIUM PROFILE_DIR OUT_JSON
import fs from "node:fs";
import puppeteer from "puppeteer-core";

const [url, chromium, profile, out] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: chromium, headless: true, userDataDir: profile,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage"]});
let failed = null;
const did = {};
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1100, height: 760});
  page.on("pageerror", e => { failed = failed || "page error: " + e.message; });
  const ready = () => page.waitForFunction(() => window.bm && window.bm.ready && !window.bm.pending);
  const settle = () => page.waitForFunction(() => !window.bm.pending);
  const at = (x, y) => page.evaluate((x, y) => window.bm.screenOf(x, y), x, y);
  const click = async (x, y) => { const [sx, sy] = await at(x, y); await page.mouse.click(sx, sy); };
  await page.goto(url);
  await ready();
  const first = await page.evaluate(() => ({id: bm.image.id, w: bm.image.width, h: bm.image.height,
                                            machine: bm.image.machine, n: bm.queue.images.length}));
  did.id = first.id;
  did.images = first.n;
  did.machine = first.machine.length;
  if (first.machine.length >= 1) {
    await page.keyboard.press("Tab"); // selects box 0
    const b = first.machine[0].box;
    // pull the corner 2 pixels inwards when the box is large enough, else outwards
    const step = (lo, hi) => (hi - lo > 6 ? -2 : 2);
    const to = [Math.round(b[2]) + step(b[0], b[2]), Math.round(b[3]) + step(b[1], b[3])];
    const [cx, cy] = await at(b[2], b[3]), [tx, ty] = await at(to[0], to[1]);
    await page.mouse.move(cx - 1, cy - 1); // inside the canvas even when the corner is on its edge
    await page.mouse.down();
    await page.mouse.move(tx, ty, {steps: 4});
    await page.mouse.up();
    await settle();
    did.adjusted = [b[0], b[1], to[0], to[1]];
  }
  if (first.machine.length >= 2) {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab"); // box 1
    await page.keyboard.press("x");
    await settle();
    did.deleted = 1;
  }
  await page.keyboard.press("Escape");
  await page.keyboard.press("1");
  await page.keyboard.press("b");
  await click(5, 5);
  await click(20, 24);
  await settle();
  did.added = [5, 5, 20, 24];
  await page.reload();
  await ready();
  did.after_reload = await page.evaluate(() => ({index: bm.index, n: bm.boxes.length}));
  await page.keyboard.press("Enter");
  for (let i = 1; i < first.n; i++) {
    await page.waitForFunction(i => bm.index === i && !bm.pending, {}, i);
    await page.keyboard.press("a");
  }
  await page.waitForFunction(() => document.getElementById("done-all").style.display === "block");
  await settle();
} catch (e) {
  failed = failed || String(e);
} finally {
  await browser.close();
}
fs.writeFileSync(out, JSON.stringify(did));
if (failed) {
  console.log("FAIL: " + failed);
  process.exit(1);
}
