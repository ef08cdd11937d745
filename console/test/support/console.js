// The agent console (/console) in browser tests: headless Chromium, kefu on a fresh
// database (the widget package's test server: the real binary behind a cuttable TCP
// proxy, KEFU_BIN) with more agents added (and identity tokens signed) through its
// command line, pages that record what went wrong (page errors, dialogs, CSP violations)
// and the frames they sent, and signing in.
//
// KEFU_CONSOLE_FROM_DISK=1 serves the console's files from the working tree instead of
// the copies compiled into the binary (with the server's own headers, CSP included), to
// try console changes without rebuilding kefu; KEFU_CONSOLE_FROM_DISK=DIR serves them
// from DIR.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFile } from "node:child_process";
import { chromium } from "playwright-core";
// Only Node's own modules: nothing of the widget package needs installing for it.
import { startKefu, waitFor, BIN } from "../../../widget-js/test/support/kefu.js";

export { waitFor };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FROM_DISK = process.env.KEFU_CONSOLE_FROM_DISK;
const CONSOLE_DIR = FROM_DISK && FROM_DISK !== "1" ? path.resolve(FROM_DISK) : path.join(HERE, "..", "..");

// The system's Chromium (never a downloaded one), as the widget's browser tests run it.
const EXE = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

export async function launch() {
  if (!fs.existsSync(EXE)) {
    throw new Error(`Chromium not found at ${EXE}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  // A console page answered from the test is a public page to Chromium, which may then
  // not open sockets to 127.0.0.1.
  const args = FROM_DISK ? ARGS.concat(["--disable-features=LocalNetworkAccessChecks"]) : ARGS;
  return chromium.launch({ executablePath: EXE, args, timeout: 30000 });
}

// `kefu agent add` on the server's database; role "agent" unless said otherwise.
export function addAgent(srv, { email, name, password, role }) {
  const args = ["agent", "add", "--site", srv.key, "--email", email, "--name", name, "--password", password];
  if (role) args.push("--role", role);
  return new Promise((resolve, reject) => {
    execFile(BIN, args, { env: srv.env, timeout: 30000 }, (err, stdout, stderr) =>
      (err ? reject(new Error("agent add: " + err.message + stderr)) : resolve(stdout)));
  });
}

// `kefu site sign` on the server's database: an identity token for the site, as a host
// site's server would make it; attrs as ["key=value", …].
export function signIdentity(srv, { id, name, attrs }) {
  const args = ["site", "sign", srv.key, "--id", id];
  if (name) args.push("--name", name);
  for (const a of attrs || []) args.push("--attr", a);
  return new Promise((resolve, reject) => {
    execFile(BIN, args, { env: srv.env, timeout: 30000 }, (err, stdout, stderr) =>
      (err ? reject(new Error("site sign: " + err.message + stderr)) : resolve(stdout.trim())));
  });
}

/**
 * kefu for console tests: opts.env as for startKefu, opts.agents [{email, name, password,
 * role?}] added with the command line before the tests sign in.
 */
export async function startConsoleServer(opts = {}) {
  const srv = await startKefu({ env: opts.env, prefix: "kefu-console-" });
  try {
    for (const a of opts.agents || []) await addAgent(srv, a);
  } catch (e) {
    await srv.stop();
    throw e;
  }
  return srv;
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

// /console and /console/<file> from CONSOLE_DIR, with the headers the server gives its
// console page (a file the binary does not have yet gets them too).
async function consoleFromDisk(context) {
  const isConsole = (u) => u.pathname === "/console" || u.pathname.startsWith("/console/");
  await context.route(isConsole, async (route) => {
    const url = new URL(route.request().url());
    const rel = url.pathname === "/console" || url.pathname === "/console/" ? "index.html" : url.pathname.slice("/console/".length);
    const file = path.resolve(CONSOLE_DIR, rel);
    const res = await route.fetch();
    if (!file.startsWith(CONSOLE_DIR + path.sep) || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      return route.fulfill({ response: res });
    }
    const headers = res.status() === 200 ? res.headers() : (await route.fetch({ url: new URL("/console", url).href })).headers();
    delete headers["content-length"];
    headers["content-type"] = TYPES[path.extname(file)] || "application/octet-stream";
    await route.fulfill({ status: 200, headers, body: fs.readFileSync(file) });
  });
}

/**
 * A page in a fresh browser context (pushed on `contexts`, for closing) that records page
 * errors, dialogs (dismissed), CSP violations and the WebSocket frames it sent.
 */
export async function newConsolePage(browser, contexts) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  contexts.push(context);
  if (FROM_DISK) await consoleFromDisk(context);
  const page = await context.newPage();
  const rec = { errors: [], dialogs: [], csp: [] };
  const sent = [];
  page.on("websocket", (ws) => ws.on("framesent", (f) => sent.push(String(f.payload))));
  page.on("pageerror", (e) => rec.errors.push(e.message));
  page.on("dialog", (d) => {
    rec.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) rec.csp.push(m.text());
  });
  return { context, page, rec, sent };
}

// Sign in to the console at base and wait for its socket to be up.
export async function signIn(page, base, email, password) {
  await page.goto(base + "/console");
  await page.waitForSelector("#login-form", { state: "visible" });
  await page.fill("#login-email", email);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("#app", { state: "visible", timeout: 15000 });
  await page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
}

// The visitor widget on a page is connected.
export async function widgetOnline(page) {
  await page.waitForFunction(() => {
    const w = window.kefu && window.kefu._w;
    const s = w && w.session;
    return !!(s && s.state && s.state.state === "online");
  }, null, { timeout: 30000 });
}

// Message bodies shown in the console's chat pane, and in the widget, in order.
export const paneBodies = (page) => page.$$eval("#msg-list .msg .msg-body", (els) => els.map((e) => e.textContent));
export const widgetBodies = (page) => page.$$eval(".kf-list .kf-m .kf-t", (els) => els.map((e) => e.textContent));
