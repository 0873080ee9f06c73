// Browser test of the examples a new user starts from: Debian's chromium
// (playwright-core) opens examples/sse.html as served from its own origin,
// connects to the gateway without and with a JWT, and must show a published
// event.
//
// Run with tests/browser/run.sh.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { hs256, launchChromium, repo, serve, startGateway, WAIT_MS } from "./harness.mjs";

const SECRET = "examples-browser-secret";

let server, origin, gateway, browser;

const jwt = (claims) => hs256(SECRET, claims);

before(async () => {
  const page = await readFile(path.join(repo, "examples/sse.html"));
  ({ server, origin } = await serve({ "/sse.html": ["text/html", page] }));

  gateway = await startGateway({ JWT_SECRET_KEY: SECRET });
  browser = await launchChromium();
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
