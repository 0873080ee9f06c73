// Browser test of RIG 1.x frontends: Debian's chromium (playwright-core) opens
// phoenix-page.html, which loads phoenix.js (npm `phoenix`, from tests/phoenix),
// connects to the gateway's /socket and joins its user channel; a channel message
// published over HTTP must show up on the page.
//
// Run with tests/browser/run.sh.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { hs256, launchChromium, repo, serve, startGateway, WAIT_MS } from "./harness.mjs";

const SECRET = "phoenix-browser-secret";

let server, origin, gateway, browser;

const jwt = (claims) => hs256(SECRET, claims);

before(async () => {
  const page = await readFile(path.join(repo, "tests/browser/phoenix-page.html"));
  const phoenixJs = await readFile(path.join(repo, "tests/phoenix/node_modules/phoenix/priv/static/phoenix.min.js"));
  ({ server, origin } = await serve({ "/": ["text/html", page], "/phoenix.js": ["text/javascript", phoenixJs] }));

  gateway = await startGateway({ JWT_SECRET_KEY: SECRET });
  browser = await launchChromium();
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
