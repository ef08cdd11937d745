// Starts a real kefu server for browser tests, behind a TCP proxy that the test can cut:
// closing an open WebSocket needs the connection itself cut, which going "offline" in
// the browser does not do. Pages load through the proxy; the agent talks to kefu
// directly, so cuts hit the visitor only. The console's browser tests
// (console/test/support/console.js) start kefu with it too: it needs nothing but Node's
// own modules.
"use strict";

const fs = require("fs");
const os = require("os");
const net = require("net");
const path = require("path");
const { spawn } = require("child_process");

const ROOT = path.join(__dirname, "..", "..");
const BIN = process.env.KEFU_BIN || path.join(ROOT, "..", "target", "debug", "kefu");

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A TCP proxy: cut() destroys every proxied connection; refuse(true) drops new ones;
// stall(true) silently drops all data both ways (a dead link that still looks open).
async function startProxy() {
  const pairs = new Set();
  let target = null;
  let refusing = false;
  let stalled = false;
  const server = net.createServer((client) => {
    if (refusing || !target) {
      client.destroy();
      return;
    }
    const up = net.connect(target, "127.0.0.1");
    const pair = [client, up];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      up.destroy();
    };
    client.on("error", drop).on("close", drop);
    up.on("error", drop).on("close", drop);
    client.on("data", (d) => stalled || up.write(d));
    up.on("data", (d) => stalled || client.write(d));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    setTarget(p) {
      target = p;
    },
    cut() {
      const n = pairs.size;
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      return n;
    },
    refuse(on) {
      refusing = on;
    },
    stall(on) {
      stalled = on;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function waitFor(fn, ms, what) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      let v;
      try {
        v = await fn();
      } catch (e) {
        if (e && e.fatal) return reject(e);
        v = undefined;
      }
      if (v) return resolve(v);
      if (Date.now() > until) return reject(new Error("timed out waiting for " + what));
      setTimeout(tick, 100);
    };
    tick();
  });
}

/**
 * Start kefu on a fresh database. Resolves to { base (through the proxy), direct, key,
 * password, proxy, env, stop() }. stop() always kills the process and removes the temp
 * dir. opts.env: more environment for kefu (KEFU_… settings); opts.prefix: the temp dir's
 * name. `env` is what kefu runs with, for the command line on the same database.
 */
async function startKefu(opts = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`kefu binary not found at ${BIN}: run "cargo build" in the repository root, or set KEFU_BIN`);
  }
  const proxy = await startProxy();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix || "kefu-widget-"));
  const password = "widget-test-" + Math.random().toString(36).slice(2, 10);
  const base = `http://127.0.0.1:${proxy.port}`;
  // "kefu is listening on ..." prints the public URL (the proxy) when one is set, so the
  // port kefu binds is chosen here.
  const port = await freePort();
  const env = Object.assign({}, process.env, {
    KEFU_DATABASE_URL: `sqlite://${path.join(dir, "kefu.db")}`,
    KEFU_PUBLIC_URL: base,
    KEFU_ADMIN_PASSWORD: password,
    KEFU_LOG: process.env.KEFU_LOG || "warn",
  }, opts.env || {});
  const child = spawn(BIN, ["serve", "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let exited = null;
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  child.on("exit", (code) => (exited = code));
  const stop = async () => {
    if (exited === null) {
      child.kill("SIGKILL");
      await new Promise((resolve) => (exited !== null ? resolve() : child.once("exit", resolve)));
    }
    await proxy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const key = await waitFor(() => {
      if (exited !== null) throw Object.assign(new Error("kefu exited early: " + out), { fatal: true });
      const m = /created site "[^"]*" with key (s_[A-Za-z0-9_-]+)/.exec(out);
      return m && m[1];
    }, 30000, "kefu to start");
    const direct = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(direct + "/healthz")).ok, 15000, "kefu /healthz");
    proxy.setTarget(port);
    return { base, direct, key, password, proxy, env, stop, log: () => out };
  } catch (e) {
    await stop();
    throw new Error(e.message + (exited !== null ? "" : "\n" + out));
  }
}

/**
 * Several nodes on one SQLite file and a routing server (protocol 6.4), each its own
 * process on its own port, every node advertising its own URL. Resolves to { dir, env,
 * key, password, router, nodes: Map id → {id, url, child}, node(id), kill(id), run(args),
 * stop() }. node(id) starts a node (the first one makes the database and its first site,
 * `key`); kill(id) sends it SIGKILL. Beats every 200 ms, dead after 3 missed.
 */
async function startCluster() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`kefu binary not found at ${BIN}: run "cargo build" in the repository root, or set KEFU_BIN`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kefu-cluster-"));
  const password = "cluster-test-" + Math.random().toString(36).slice(2, 10);
  const env = Object.assign({}, process.env, {
    KEFU_DATABASE_URL: `sqlite://${path.join(dir, "kefu.db")}`,
    KEFU_ADMIN_PASSWORD: password,
    KEFU_NODE_BEAT_MS: "200",
    KEFU_NODE_DEAD_BEATS: "3",
    KEFU_HEARTBEAT_MS: "1000",
    KEFU_POLL_TIMEOUT_MS: "2000",
    KEFU_LOG: process.env.KEFU_LOG || "warn",
  });
  const procs = [];
  const c = { dir, env, password, key: null, router: null, nodes: new Map() };
  async function spawnServer(args, extra, ready) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(BIN, args.concat(["--listen", `127.0.0.1:${port}`]), {
      env: Object.assign({}, env, { KEFU_PUBLIC_URL: url }, extra), stdio: ["ignore", "pipe", "pipe"],
    });
    const p = { url, child, out: "", exited: null };
    procs.push(p);
    child.stdout.on("data", (d) => (p.out += d));
    child.stderr.on("data", (d) => (p.out += d));
    child.on("exit", (code) => (p.exited = code === null ? "signal" : code));
    await waitFor(async () => {
      if (p.exited !== null) throw Object.assign(new Error(`kefu ${args[0]} exited early: ${p.out}`), { fatal: true });
      return ready(p) && (await fetch(url + "/healthz")).ok;
    }, 30000, `kefu ${args.join(" ")} on ${url}`);
    return p;
  }
  c.node = async (id) => {
    const first = c.key === null;
    const p = await spawnServer(["serve"], { KEFU_NODE_ID: id }, (p) => {
      if (!first) return true;
      const m = /created site "[^"]*" with key (s_[A-Za-z0-9_-]+)/.exec(p.out);
      return m && (c.key = m[1]);
    });
    p.id = id;
    c.nodes.set(id, p);
    return p;
  };
  c.startRouter = async () => {
    c.router = await spawnServer(["router"], {}, () => true);
    return c.router;
  };
  c.kill = async (id) => {
    const p = c.nodes.get(id);
    if (p.exited === null) {
      p.child.kill("SIGKILL");
      await new Promise((resolve) => (p.exited !== null ? resolve() : p.child.once("exit", resolve)));
    }
  };
  // `kefu ARGS` on the cluster's database: its standard output.
  c.run = (args) => require("child_process").execFileSync(BIN, args, { env, encoding: "utf8" });
  c.log = () => procs.map((p) => `--- ${p.id || "router"} ${p.url}\n${p.out}`).join("\n");
  c.stop = async () => {
    for (const p of procs) {
      if (p.exited === null) {
        p.child.kill("SIGKILL");
        await new Promise((resolve) => (p.exited !== null ? resolve() : p.child.once("exit", resolve)));
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return c;
}

// The rendezvous score of node `id` for site `key` (src/core/cluster.rs): the node with
// the highest serves the site.
function score(id, key) {
  return require("crypto").createHash("sha256").update(id).update(Buffer.from([0])).update(key).digest("hex");
}

module.exports = { startKefu, startCluster, score, startProxy, waitFor, freePort, BIN };
