// Drives docpipe's page in headless Chromium (Debian's, through playwright-core) against a
// running pipeline, as a new user would, and screenshots each step. Prints one JSON line: what
// it saw. Exits non-zero on the first thing that is not as it should be.
//
//   node tests/web/page.mjs <base url> <fixtures dir> <screenshots dir>
// The API key is read from DOCPIPE_KEY; the pipeline holds 22 documents already. The fixtures
// directory holds the files it uploads:
// lighthouses.pdf, lighthouses.docx, harbour.md, large.txt, broken.pdf, and the XSS payloads
// (xss-name.txt, xss.md, xss.html).
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, fixtures, shots] = process.argv.slice(2);
const key = process.env.DOCPIPE_KEY;
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
fs.mkdirSync(shots, { recursive: true });
const report = { steps: [] };
const timeout = 120_000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

async function session(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  // Nothing from a document may open a dialog or run: any dialog fails the run.
  page.on("dialog", async (dialog) => {
    report.dialogs = (report.dialogs ?? 0) + 1;
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => {
    report.page_errors = [...(report.page_errors ?? []), String(error)];
  });
  page.on("console", (message) => {
    if (message.type() === "error") report.console_errors = [...(report.console_errors ?? []), message.text()];
  });
  return { context, page };
}

async function shot(page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  report.steps.push(name);
}

const rowOf = (page, filename) => page.locator("#documents tbody tr").filter({ has: page.getByRole("button", { name: filename, exact: true }) });

async function statusOf(page, filename) {
  return rowOf(page, filename).locator(".badge").textContent();
}

async function waitForStatus(page, filename, wanted) {
  await page.waitForFunction(
    ([name, status]) =>
      [...document.querySelectorAll("#documents tbody tr")].some(
        (tr) => tr.querySelector("button.link")?.textContent === name && tr.querySelector(".badge")?.textContent === status,
      ),
    [filename, wanted],
    { timeout, polling: 200 },
  );
}

const { page } = await session({ width: 1280, height: 900 });
// On any failure: a screenshot of where it stood, and what the list and uploads showed.
process.on("uncaughtException", async (error) => {
  console.error(error);
  try {
    await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true });
    console.error(await page.locator("#uploads").textContent());
    console.error(await page.locator("#documents tbody").textContent());
  } finally {
    process.exit(1);
  }
});

// The page, with its security headers.
const answer = await page.goto(base + "/");
check(answer.status() === 200, `/ answered ${answer.status()}`);
const csp = answer.headers()["content-security-policy"] ?? "";
check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'"), `CSP: ${csp}`);
report.csp = csp;
await shot(page, "01-sign-in");

// A wrong key is refused with the API's words; the right one signs in.
await page.fill("#api-key", "dp_not_a_key");
await page.click("#sign-in-form button");
await page.locator("#sign-in-error").waitFor({ state: "visible" });
report.wrong_key = await page.locator("#sign-in-error").textContent();
await page.fill("#api-key", key);
await page.click("#sign-in-form button");
await page.locator("#app").waitFor({ state: "visible" });
check(!page.url().includes(key), "the key is in the URL");
check(await page.evaluate(() => localStorage.length) === 0, "something went to localStorage");

// Paging: the list shows 20, and older documents on request (the runner uploaded 22 first).
await page.locator("#more").waitFor({ state: "visible" });
const firstPage = await page.locator("#documents tbody tr").count();
await page.click("#more");
await page.waitForFunction((n) => document.querySelectorAll("#documents tbody tr").length > n, firstPage);
report.paging = { first_page: firstPage, after_more: await page.locator("#documents tbody tr").count() };
check(firstPage === 20 && report.paging.after_more === 22, `paging: ${JSON.stringify(report.paging)}`);
check(await page.locator("#more").isHidden(), "more pages offered after the last");

// Three formats, each summarized.
const three = ["lighthouses.pdf", "lighthouses.docx", "harbour.md"];
await page.setInputFiles("#files", three.map((name) => path.join(fixtures, name)));
for (const name of three) await waitForStatus(page, name, "succeeded");
await shot(page, "02-three-summaries");
report.summarized = three;

// A large file goes up in parts, its bar moving; one part is cut off and resumed.
let patches = 0;
let cut = false;
await page.route("**/v1/uploads/*", async (route) => {
  if (route.request().method() === "PATCH") {
    patches += 1;
    if (patches === 2 && !cut) {
      cut = true;
      return route.abort("connectionreset");
    }
  }
  return route.continue();
});
await page.setInputFiles("#files", path.join(fixtures, "large.txt"));
const seen = new Set();
const started = Date.now();
let midShot = false;
while (Date.now() - started < timeout) {
  const state = await page.evaluate(() => {
    const item = [...document.querySelectorAll("#uploads li")].find((li) => li.querySelector(".name").textContent === "large.txt");
    const bar = item?.querySelector("progress");
    return bar ? { value: bar.value, max: bar.max, done: item.dataset.state ?? null } : null;
  });
  if (state) {
    seen.add(state.value);
    if (!midShot && state.value > 0 && state.value < state.max) {
      midShot = true;
      await shot(page, "03-large-upload-progress");
    }
    if (state.done) {
      check(state.done === "uploaded", `large.txt: ${state.done}`);
      break;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const size = fs.statSync(path.join(fixtures, "large.txt")).size;
const between = [...seen].filter((v) => v > 0 && v < size);
check(between.length >= 2, `the bar did not move: ${[...seen].join(", ")}`);
check(cut && patches >= 2, `no part was cut off (${patches} PATCHes)`);
report.large = { bytes: size, progress_values: between.length, patches, resumed_after_cut: cut };
await page.unroute("**/v1/uploads/*");
await waitForStatus(page, "large.txt", "succeeded");

// Search, with highlighted snippets, and open a hit.
// A file dropped on the drop zone, and a broken one whose failure reads in the list.
const dropped = await page.evaluateHandle(() => {
  const transfer = new DataTransfer();
  transfer.items.add(new File(["Dropped notes. The pier was rebuilt in stone."], "dropped.txt", { type: "text/plain" }));
  return transfer;
});
await page.dispatchEvent("#drop", "drop", { dataTransfer: dropped });
await page.setInputFiles("#files", path.join(fixtures, "broken.pdf"));
await waitForStatus(page, "dropped.txt", "succeeded");
await waitForStatus(page, "broken.pdf", "failed");
await page.waitForFunction(() =>
  [...document.querySelectorAll("#documents tbody tr")].some(
    (tr) => tr.querySelector("button.link")?.textContent === "broken.pdf" && tr.querySelector(".failure")?.textContent.length > 0,
  ),
);
report.broken_error = await rowOf(page, "broken.pdf").locator(".failure").textContent();

await page.fill("#q", "lighthouse");
await page.click("#search-form button");
await page.locator("#hits li mark").first().waitFor();
report.hits = await page.locator("#hits li").count();
await shot(page, "04-search");
// The view the README shows: the window as a user sees it.
await page.locator("#search-title").scrollIntoViewIfNeeded();
await page.screenshot({ path: path.join(shots, "overview.png") });
await page.locator("#hits li button.link").first().click();
await page.locator("#document[open]").waitFor();
await page.locator("#document-summary p").first().waitFor();
await page.locator("#document-text > *").first().waitFor();
const meta = await page.locator("#document-meta").textContent();
check(meta.includes("Summarized by") && meta.includes("extractive"), `meta: ${meta}`);
await shot(page, "05-document");
// Reprocess: a new job, which the list follows to its end.
await page.click("#reprocess");
await page.locator("#document-message", { hasText: "Reprocessing" }).waitFor();
report.reprocessed = await page.locator("#document-meta dd").nth(3).textContent();
await page.click("#close");

// Delete one: it leaves the list, and the API no longer has it.
await rowOf(page, "harbour.md").getByRole("button").click();
await page.locator("#document-summary p").first().waitFor();
const deletedId = await page.locator("#document-meta dd").nth(3).textContent();
await page.click("#delete");
await page.click("#delete");
await page.locator("#document").waitFor({ state: "hidden" });
check((await rowOf(page, "harbour.md").count()) === 0, "harbour.md still listed");
const gone = await page.evaluate(
  async ([id, k]) => (await fetch(`/v1/documents/${id}`, { headers: { Authorization: `Bearer ${k}` } })).status,
  [deletedId, key],
);
check(gone === 404, `deleted document answers ${gone}`);
report.deleted = deletedId;
await shot(page, "06-deleted");

// Untrusted names and contents stay text.
const hostile = ["xss-name.txt", "xss.md", "xss.html"].map((name) => path.join(fixtures, name));
// The name itself is a payload.
const payloadName = '<img src=x onerror="window.__pwned=1;alert(1)">.txt';
fs.copyFileSync(hostile[0], path.join(fixtures, payloadName));
await page.setInputFiles("#files", [path.join(fixtures, payloadName), hostile[1], hostile[2]]);
for (const name of [payloadName, "xss.md", "xss.html"]) {
  await page.waitForFunction(
    (n) =>
      [...document.querySelectorAll("#documents tbody tr")].some(
        (tr) => tr.querySelector("button.link")?.textContent === n && ["succeeded", "failed"].includes(tr.querySelector(".badge")?.textContent),
      ),
    name,
    { polling: 200 },
  );
}
for (const name of [payloadName, "xss.md", "xss.html"]) {
  await rowOf(page, name).getByRole("button").click();
  await page.locator("#document-text > *").first().waitFor();
  await page.waitForTimeout(300);
  if (name === "xss.html") {
    // The page's text arrives as Markdown with its markup characters escaped; it shows as
    // the characters, without the escapes.
    const shown = await page.locator("#document-text").textContent();
    check(shown.includes("<script>alert(7)</script>") && !shown.includes("\\<"), `xss.html shown as ${shown}`);
  }
  await page.click("#close");
}
await page.fill("#q", "payload");
await page.click("#search-form button");
await page.locator("#hits li").first().waitFor();
await page.waitForTimeout(500);
const injected = await page.evaluate(() => ({
  pwned: window.__pwned ?? null,
  images: document.querySelectorAll("main img").length,
  scripts: [...document.scripts].map((s) => s.src),
  iframes: document.querySelectorAll("iframe").length,
  links: document.querySelectorAll("main a").length,
  nameShown: [...document.querySelectorAll("#documents button.link")].some((b) => b.textContent.startsWith("<img src=x")),
}));
check(injected.pwned === null, "a payload ran");
check(injected.images === 0 && injected.iframes === 0 && injected.links === 0, `payload markup became elements: ${JSON.stringify(injected)}`);
check(injected.scripts.length === 1 && injected.scripts[0].endsWith("/app.js"), `scripts: ${injected.scripts}`);
check(injected.nameShown, "the hostile name is not shown as text");
check(!report.dialogs, `${report.dialogs} dialog(s) opened`);
report.xss = injected;
await shot(page, "07-xss-as-text");

// A narrow window: nothing wider than the screen but the table, which scrolls.
const narrow = await session({ width: 375, height: 740 });
await narrow.page.goto(base + "/");
await narrow.page.fill("#api-key", key);
await narrow.page.click("#sign-in-form button");
await narrow.page.locator("#documents tbody tr").first().waitFor();
const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
check(overflow <= 0, `the narrow page scrolls sideways by ${overflow}px`);
await shot(narrow.page, "08-narrow");
await narrow.page.locator("#documents tbody tr button.link").first().click();
await narrow.page.locator("#document-summary > *").first().waitFor();
await shot(narrow.page, "09-narrow-document");

check(!report.page_errors, `page errors: ${report.page_errors}`);
await browser.close();
console.log(JSON.stringify(report));
