// Headless-browser end-to-end test: Debian's chromium, driven by playwright-core,
// opens page.html, which connects to a real gateway with the browser's own
// EventSource, WebSocket and fetch (long-polling). Events are published from
// node over HTTP and must show up on the page through all three transports.
//
// Run with tests/browser/run.sh, or: RIG_BIN=target/debug/rig node --test tests/browser/e2e.test.mjs

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const resultsDir = path.join(here, "results");
const rigBin = path.resolve(
  process.env.RIG_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "rig"),
);
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const TRANSPORTS = ["sse", "ws", "lp"];
const GREETING = "Hello from RIG";
const STARTUP_TIMEOUT_MS = 20_000;
const SUBSCRIBE_TIMEOUT_MS = 15_000;
const DELIVERY_TIMEOUT_MS = 15_000;

let pageServer;
let pageOrigin;
let gateway; // { child, publicUrl, internalUrl, log: string[] }
let browser;

// --- the page server ----------------------------------------------------------

async function startPageServer() {
  const html = await readFile(path.join(here, "page.html"));
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    if (req.method === "GET" && (pathname === "/" || pathname === "/page.html")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(html);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return server;
}

// --- the gateway --------------------------------------------------------------

const LISTENING = /^rig: listening on (\S+) \(public\) and (\S+) \(internal\)/;

function startGateway(corsOrigin) {
  const child = spawn(rigBin, [], {
    env: {
      ...process.env,
      INBOUND_PORT: "0",
      API_HTTP_PORT: "0",
      RIG_BIND_ADDRESS: "127.0.0.1",
      CORS: corsOrigin,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log = [];
  const gw = { child, log, exited: null };
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve((gw.exited = { code, signal }))));
  gw.exitedPromise = exited;

  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      err ? reject(err) : resolve(value);
    };
    const timer = setTimeout(
      () => finish(new Error(`gateway printed no "rig: listening on" line within ${STARTUP_TIMEOUT_MS} ms:\n${log.join("\n")}`)),
      STARTUP_TIMEOUT_MS,
    );
    child.once("error", (e) => finish(new Error(`cannot run ${rigBin}: ${e.message}`)));
    exited.then(({ code, signal }) =>
      finish(new Error(`gateway exited (code ${code}, signal ${signal}) before listening:\n${log.join("\n")}`)),
    );
    // Keep reading stderr for the whole run, so the gateway never blocks on a full pipe.
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      const m = LISTENING.exec(line);
      if (m) {
        gw.publicUrl = `http://${m[1]}`;
        gw.internalUrl = `http://${m[2]}`;
        finish(null, gw);
      }
    });
  });
}

async function stopGateway(gw) {
  if (!gw || gw.exited) return;
  gw.child.kill("SIGTERM");
  let timer;
  const killed = await Promise.race([gw.exitedPromise, new Promise((r) => (timer = setTimeout(() => r(null), 5_000)))]);
  clearTimeout(timer);
  if (!killed) {
    gw.child.kill("SIGKILL");
    await gw.exitedPromise;
  }
}

// Last resort if the runner dies without running `after`.
process.on("exit", () => {
  if (gateway && !gateway.exited) gateway.child.kill("SIGKILL");
});

// --- helpers ------------------------------------------------------------------

async function publish(event) {
  const response = await fetch(`${gateway.publicUrl}/_rig/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify(event),
  });
  const body = await response.text();
  assert.equal(response.status, 202, `POST /_rig/v1/events answered ${response.status}: ${body}`);
  return body;
}

function cloudEvent(type, message) {
  return { specversion: "0.2", type, id: randomUUID(), source: "browser-test", data: { message } };
}

/** What the page shows, per transport. */
function pageState(page) {
  return page.evaluate((transports) => {
    const text = (id) => document.getElementById(id).textContent;
    return Object.fromEntries(
      transports.map((t) => [t, { status: text(`${t}-status`), greeting: text(`${t}-greeting`), log: text(`${t}-log`) }]),
    );
  }, TRANSPORTS);
}

/** Waits until `predicate(state)` holds for the page's state; fails with the state and browser log otherwise. */
async function waitForPage(page, what, predicate, timeout, consoleLog) {
  const deadline = Date.now() + timeout;
  let state;
  for (;;) {
    state = await pageState(page);
    if (predicate(state)) return state;
    if (Date.now() >= deadline) break;
    await page.waitForTimeout(50);
  }
  assert.fail(
    `timed out after ${timeout} ms waiting for ${what}\npage state: ${JSON.stringify(state, null, 2)}\n` +
      `browser console:\n${consoleLog.join("\n")}\ngateway log (last 40 lines):\n${gateway.log.slice(-40).join("\n")}`,
  );
}

/** Opens page.html in a fresh browser context (own cookies) and waits until all three transports are subscribed. */
async function openSubscribedPage(t) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 420 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const consoleLog = [];
  page.on("console", (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLog.push(`[pageerror] ${e.message}`));
  await page.goto(`${pageOrigin}/page.html?gw=${encodeURIComponent(gateway.publicUrl)}`);
  await waitForPage(
    page,
    "all three transports to be subscribed",
    (s) => TRANSPORTS.every((tr) => s[tr].status === "subscribed"),
    SUBSCRIBE_TIMEOUT_MS,
    consoleLog,
  );
  return { page, consoleLog };
}

async function screenshot(page, name) {
  await mkdir(resultsDir, { recursive: true });
  await page.screenshot({ path: path.join(resultsDir, name), fullPage: true });
}

// --- set-up and tear-down -----------------------------------------------------

before(async () => {
  assert.ok(existsSync(rigBin), `gateway binary not found at ${rigBin} (run cargo build, or set RIG_BIN)`);
  assert.ok(existsSync(chromiumPath), `chromium not found at ${chromiumPath} (apt-get install chromium)`);
  pageServer = await startPageServer();
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  // Long-polling sends cookies, so CORS must name the page's origin, not "*".
  gateway = await startGateway(pageOrigin);
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
});

after(async () => {
  await Promise.allSettled([
    browser?.close(),
    stopGateway(gateway),
    pageServer && new Promise((resolve) => { pageServer.closeAllConnections(); pageServer.close(resolve); }),
  ]);
});

// Waits until every transport's greeting cell shows something.
function waitForGreetingEverywhere(page, consoleLog) {
  return waitForPage(
    page,
    `"${GREETING}" on all three transports`,
    (s) => TRANSPORTS.every((tr) => s[tr].greeting !== ""),
    DELIVERY_TIMEOUT_MS,
    consoleLog,
  );
}

// --- the tests ----------------------------------------------------------------

test("a published greeting reaches the page over SSE, WebSocket and long-polling", { timeout: 60_000 }, async (t) => {
  const { page, consoleLog } = await openSubscribedPage(t);
  try {
    await publish(cloudEvent("greeting", GREETING));
    const state = await waitForGreetingEverywhere(page, consoleLog);
    for (const tr of TRANSPORTS) {
      assert.equal(state[tr].greeting, GREETING, `${tr} greeting`);
      assert.equal(state[tr].status, "subscribed", `${tr} status`);
    }
  } finally {
    await screenshot(page, "screenshot.png");
  }
});

test("an event of an unsubscribed type does not reach the page", { timeout: 60_000 }, async (t) => {
  const { page, consoleLog } = await openSubscribedPage(t);
  try {
    // Published first: each transport delivers in order, so once the greeting
    // is shown, a leaked "other" event would already have arrived.
    await publish(cloudEvent("other", "must not be delivered"));
    await publish(cloudEvent("greeting", GREETING));
    const state = await waitForGreetingEverywhere(page, consoleLog);
    for (const tr of TRANSPORTS) {
      assert.equal(state[tr].greeting, GREETING, `${tr} greeting shows only the greeting`);
      const types = state[tr].log.split(", ");
      assert.ok(!types.includes("other"), `${tr} received the unsubscribed "other" event: ${state[tr].log}`);
      assert.deepEqual(types, ["rig.connection.create", "rig.subscriptions_set", "greeting"], `${tr} event types`);
    }
  } finally {
    await screenshot(page, "screenshot-filtering.png");
  }
});

test("the status page shows live connections, users and sources", { timeout: 60_000 }, async (t) => {
  // Three live connections from another page, so the status page has something to count.
  const { page: clients } = await openSubscribedPage(t);
  const context = await browser.newContext();
  t.after(() => context.close());
  const status = await context.newPage();
  await status.goto(`${gateway.internalUrl}/status`);
  await status.waitForFunction(
    () => document.body.dataset.ready === "true" && Number(document.getElementById("sse").textContent) >= 1,
    null,
    { timeout: DELIVERY_TIMEOUT_MS },
  );
  const count = async (id) => Number(await status.locator(`#${id}`).textContent());
  // Long-polling sessions of earlier tests outlive their pages (they expire after an idle hour).
  for (const id of ["sse", "ws", "lp"]) assert.ok((await count(id)) >= 1, `${id} connections shown`);
  assert.match(await status.locator("#node").textContent(), /^rig@/);
  assert.match(await status.locator("#nodes").textContent(), /rig@/);
  await screenshot(status, "status.png");
  assert.ok(clients);
});
