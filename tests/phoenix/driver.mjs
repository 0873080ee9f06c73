// Drives phoenix.js sockets for crates/rig/tests/phoenix.rs: one JSON command
// per stdin line, one JSON answer per stdout line. Every wait is bounded.
//
//   {"op":"connect","id":"a","lib":"phoenix12"|"phoenix","url":"ws://.../socket","token":"...","transport":"websocket"|"longpoll"}
//   {"op":"join","id":"a","topic":"user:alice"}          -> {"status":"ok"|"error"|"timeout","response":...}
//   {"op":"next","id":"a","topic":"user:alice","event":"message"} -> {"payload":...} | {"timeout":true}
//   {"op":"joins","id":"a","topic":"user:alice","count":2} -> {"joins":n} once n >= count (rejoined)
//   {"op":"closed","id":"a"}                            -> {"closes":n} once the socket closed at least once
//   {"op":"none","id":"a","topic":"...","event":"..."}  -> {"queued":n}: what is queued now, without waiting
//   {"op":"heartbeats","id":"a","count":3}             -> {"heartbeats":n} once n heartbeat replies came
//   {"op":"presence","id":"a","topic":"user:alice","expect":{"alice":2}}
//        -> {"presence":{"alice":2}} once the library's own Presence (1.2's syncState/syncDiff,
//           1.8's Presence class) lists exactly these keys with these numbers of metas
//   {"op":"leave","id":"a","topic":"user:alice"}        -> {"status":"ok"}
//   {"op":"disconnect","id":"a"}                        -> {"ok":true}
import { createRequire } from "node:module";
import readline from "node:readline";
import WebSocket from "ws";

const require = createRequire(import.meta.url);
globalThis.window = globalThis;
globalThis.WebSocket = WebSocket;
const libs = { phoenix12: require("phoenix12"), phoenix: require("phoenix") };
const WAIT_MS = Number(process.env.PHX_WAIT_MS || 20000);

const sockets = new Map();

function waitFor(check) {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() - started > WAIT_MS) return resolve({ timeout: true });
      setTimeout(tick, 20);
    };
    tick();
  });
}

function connect(cmd) {
  const { Socket, LongPoll } = libs[cmd.lib];
  const opts = { params: { token: cmd.token }, reconnectAfterMs: () => 200, rejoinAfterMs: () => 200 };
  if (cmd.transport === "longpoll") opts.transport = LongPoll;
  if (cmd.lib === "phoenix12") opts.transport = opts.transport || WebSocket;
  if (cmd.vsn) opts.vsn = cmd.vsn;
  // phoenix.js 1.8 speaks objects (serializer 1.0.0) only with its own encode/decode.
  if (cmd.vsn === "1.0.0") {
    opts.encode = (msg, callback) => callback(JSON.stringify(msg));
    opts.decode = (raw, callback) => callback(JSON.parse(raw));
  }
  if (cmd.heartbeatMs) opts.heartbeatIntervalMs = cmd.heartbeatMs;
  const socket = new Socket(cmd.url, opts);
  const s = { socket, lib: cmd.lib, channels: new Map(), opens: 0, closes: 0, errors: 0 };
  socket.onOpen(() => s.opens++);
  socket.onClose(() => s.closes++);
  socket.onError(() => s.errors++);
  s.heartbeats = 0;
  socket.onMessage((m) => { if (m.topic === "phoenix" && m.event === "phx_reply" && m.payload.status === "ok") s.heartbeats++; });
  sockets.set(cmd.id, s);
  socket.connect();
  return waitFor(() => (s.opens > 0 ? { ok: true } : s.errors + s.closes > 0 ? { ok: false, errors: s.errors, closes: s.closes } : undefined));
}

function channel(s, topic) {
  let c = s.channels.get(topic);
  if (!c) {
    const ch = s.socket.channel(topic, {});
    c = { ch, queue: [], joins: 0, last: null };
    for (const event of ["message", "presence_state", "presence_diff"]) ch.on(event, (payload) => c.queue.push({ event, payload }));
    // Presence as each library keeps it: 1.2 has static sync functions, 1.8 a class bound to the channel.
    const { Presence } = libs[s.lib];
    if (s.lib === "phoenix12") {
      c.pstate = {};
      ch.on("presence_state", (st) => { c.pstate = Presence.syncState(c.pstate, st); });
      ch.on("presence_diff", (diff) => { c.pstate = Presence.syncDiff(c.pstate, diff); });
      c.list = () => Presence.list(c.pstate, (key, p) => [key, p.metas.length]);
    } else {
      const p = new Presence(ch);
      c.list = () => p.list((key, pres) => [key, pres.metas.length]);
    }
    s.channels.set(topic, c);
  }
  return c;
}

async function run(cmd) {
  const s = sockets.get(cmd.id);
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "join": {
      const c = channel(s, cmd.topic);
      c.last = null;
      c.ch
        .join()
        .receive("ok", (response) => { c.joins++; c.last = { status: "ok", response }; })
        .receive("error", (response) => { c.last = { status: "error", response }; })
        .receive("timeout", () => { c.last = { status: "timeout" }; });
      const got = await waitFor(() => c.last || undefined);
      // A refused channel would retry its join forever; stop it (a later join makes a new one).
      if (got.status !== "ok") {
        c.ch.leave();
        s.channels.delete(cmd.topic);
      }
      return got;
    }
    case "next": {
      const c = channel(s, cmd.topic);
      return waitFor(() => {
        const i = c.queue.findIndex((m) => m.event === cmd.event);
        return i < 0 ? undefined : c.queue.splice(i, 1)[0];
      });
    }
    case "none": {
      const c = channel(s, cmd.topic);
      return { queued: c.queue.filter((m) => m.event === cmd.event).length };
    }
    case "joins": {
      const c = channel(s, cmd.topic);
      return waitFor(() => (c.joins >= cmd.count ? { joins: c.joins } : undefined));
    }
    case "heartbeats":
      return waitFor(() => (s.heartbeats >= cmd.count ? { heartbeats: s.heartbeats } : undefined));
    case "closed":
      return waitFor(() => (s.closes > 0 ? { closes: s.closes } : undefined));
    case "presence": {
      const c = channel(s, cmd.topic);
      const want = JSON.stringify(Object.entries(cmd.expect).sort());
      let seen = null;
      const got = await waitFor(() => {
        seen = Object.fromEntries(c.list());
        return JSON.stringify(Object.entries(seen).sort()) === want ? { presence: seen } : undefined;
      });
      return got.timeout ? { timeout: true, seen } : got;
    }
    case "leave": {
      const c = channel(s, cmd.topic);
      let got = null;
      c.ch.leave().receive("ok", () => { got = { status: "ok" }; });
      s.channels.delete(cmd.topic);
      return waitFor(() => got || undefined);
    }
    case "disconnect":
      s.socket.disconnect();
      return { ok: true };
    default:
      return { error: `unknown op ${cmd.op}` };
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (e) {
    answer = { error: String(e && e.stack || e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
process.exit(0);
