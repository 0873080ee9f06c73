// What the browser tests of single pages share (phoenix.test.mjs,
// examples.test.mjs): the gateway binary started on free ports, a static
// origin for the page under test, Debian's chromium, and HS256 tokens.

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const WAIT_MS = 15_000;
const rigBin = path.resolve(
  process.env.RIG_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "rig"),
);
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/// An HS256 JWT signed with `secret`, valid for an hour.
export function hs256(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims });
  return `${head}.${body}.${createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url")}`;
}

/// Serves `files` (path -> [content-type, bytes]) on a free loopback port; 404 otherwise.
export async function serve(files) {
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, "http://x").pathname];
    if (file) res.writeHead(200, { "content-type": file[0] }).end(file[1]);
    else res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/// Starts the gateway with `env` on free loopback ports; resolves once it listens.
export function startGateway(env) {
  const child = spawn(rigBin, [], {
    env: { ...process.env, INBOUND_PORT: "0", API_HTTP_PORT: "0", RIG_BIND_ADDRESS: "127.0.0.1", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
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
}

export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}
