// Browser test of the examples a new user starts from: Debian's chromium
// (playwright-core) opens examples/sse.html as served from its own origin,
// connects to the gateway without and with a JWT, and must show a published
// event.
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
const SECRET = "examples-browser-secret";
const WAIT_MS = 15_000;

let server, origin, gateway, browser;

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims });
  return `${head}.${body}.${createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url")}`;
}

before(async () => {
  const page = await readFile(path.join(repo, "examples/sse.html"));
  server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    if (pathname === "/sse.html") res.writeHead(200, { "content-type": "text/html" }).end(page);
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

async function publish(id) {
  const event = { specversion: "1.0", type: "greeting", source: "/examples", id, data: { hello: id } };
  const r = await fetch(`${gateway.url}/_rig/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify(event),
  });
  assert.equal(r.status, 202);
}

for (const withJwt of [false, true]) {
  test(`examples/sse.html receives an event ${withJwt ? "with" : "without"} a JWT`, async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/sse.html`);
    await page.fill("#rig", gateway.url);
    if (withJwt) await page.fill("#jwt", jwt({ sub: "example-user" }));
    await page.click("#go");
    await page.waitForFunction(() => document.getElementById("log").textContent.includes("subscribed"), null, { timeout: WAIT_MS });
    const id = `example-${withJwt ? "jwt" : "anon"}`;
    await publish(id);
    await page.waitForFunction((id) => document.getElementById("log").textContent.includes(id), id, { timeout: WAIT_MS });
    assert.match(await page.textContent("#log"), new RegExp(`event: .*"${id}"`));
    await page.close();
  });
}
