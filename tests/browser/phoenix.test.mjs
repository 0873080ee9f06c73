// Browser test of RIG 1.x frontends: Debian's chromium (playwright-core) opens
// phoenix-page.html, which loads phoenix.js (npm `phoenix`, from tests/phoenix),
// connects to the gateway's /socket and joins its user channel; a channel message
// published over HTTP must show up on the page.
//
// Run with tests/browser/run.sh.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const rigBin = path.resolve(
  process.env.RIG_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "rig"),
);
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SECRET = "phoenix-browser-secret";
const WAIT_MS = 15_000;

let server, origin, gateway, browser;

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims });
  return `${head}.${body}.${createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url")}`;
}

before(async () => {
  const page = await readFile(path.join(here, "phoenix-page.html"));
  const phoenixJs = await readFile(path.join(repo, "tests/phoenix/node_modules/phoenix/priv/static/phoenix.min.js"));
  server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    if (pathname === "/") res.writeHead(200, { "content-type": "text/html" }).end(page);
    else if (pathname === "/phoenix.js") res.writeHead(200, { "content-type": "text/javascript" }).end(phoenixJs);
    else res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;

  const child = spawn(rigBin, [], {
    env: { ...process.env, INBOUND_PORT: "0", API_HTTP_PORT: "0", RIG_BIND_ADDRESS: "127.0.0.1", JWT_SECRET_KEY: SECRET },
    stdio: ["ignore", "ignore", "pipe"],
  });
  gateway = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway did not start")), WAIT_MS);
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
    createInterface({ input: child.stderr }).on("line", (line) => {
      const m = /^rig: listening on (\S+) \(public\)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://${m[1]}` });
      }
    });
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  gateway?.child.kill("SIGTERM");
  server?.close();
});

test("a phoenix.js page joins its user channel at /socket and receives a message", async () => {
  const page = await browser.newPage();
  const token = jwt({ user: "alice", roles: [], jti: "browser-1" });
  const params = new URLSearchParams({ rig: gateway.url.replace("http", "ws"), token, user: "alice" });
  await page.goto(`${origin}/?${params}`);
  await page.waitForFunction(() => window.joined !== null, null, { timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => window.joined), "ok");
  const event = { specversion: "1.0", type: "rig.phoenix/user:alice", source: "/browser", id: "b-1", data: { text: "hi" } };
  const r = await fetch(`${gateway.url}/_rig/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify(event),
  });
  assert.equal(r.status, 202);
  await page.waitForFunction(() => window.received.length > 0, null, { timeout: WAIT_MS });
  assert.deepEqual(await page.evaluate(() => window.received), [{ text: "hi" }]);
});
