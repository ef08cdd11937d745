// The agent console (/console) in browser tests: kefu on a fresh database (support/kefu.js)
// with more agents added (and identity tokens signed) through its command line, pages that record what went wrong
// (page errors, dialogs, CSP violations) and the frames they sent, and signing in.
//
// KEFU_CONSOLE_FROM_DISK=1 serves console/index.html, app.js and app.css from the working
// tree instead of the copies compiled into the binary (with the server's own headers, CSP
// included), to try console changes without rebuilding kefu; KEFU_CONSOLE_FROM_DISK=DIR
// serves them from DIR.
"use strict";

const fs = require("fs");
const path = require("path");
const { execFile } = require("child_process");
const { startKefu, BIN } = require("./kefu");

const FROM_DISK = process.env.KEFU_CONSOLE_FROM_DISK;
const CONSOLE_DIR = FROM_DISK && FROM_DISK !== "1" ? path.resolve(FROM_DISK) : path.join(__dirname, "..", "..", "..", "console");

// `kefu agent add` on the server's database; role "agent" unless said otherwise.
function addAgent(srv, { email, name, password, role }) {
  const args = ["agent", "add", "--site", srv.key, "--email", email, "--name", name, "--password", password];
  if (role) args.push("--role", role);
  return new Promise((resolve, reject) => {
    execFile(BIN, args, { env: srv.env, timeout: 30000 }, (err, stdout, stderr) =>
      (err ? reject(new Error("agent add: " + err.message + stderr)) : resolve(stdout)));
  });
}

// `kefu site sign` on the server's database: an identity token for the site, as a host
// site's server would make it; attrs as ["key=value", …].
function signIdentity(srv, { id, name, attrs }) {
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
async function startConsoleServer(opts = {}) {
  const srv = await startKefu({ env: opts.env, prefix: "kefu-console-" });
  try {
    for (const a of opts.agents || []) await addAgent(srv, a);
  } catch (e) {
    await srv.stop();
    throw e;
  }
  return srv;
}

async function consoleFromDisk(context) {
  const files = { "/console": "index.html", "/console/": "index.html", "/console/app.js": "app.js", "/console/app.css": "app.css" };
  await context.route((u) => Object.prototype.hasOwnProperty.call(files, u.pathname), async (route) => {
    const res = await route.fetch();
    const file = files[new URL(route.request().url()).pathname];
    await route.fulfill({ response: res, body: fs.readFileSync(path.join(CONSOLE_DIR, file), "utf8") });
  });
}

/**
 * A page in a fresh browser context (pushed on `contexts`, for closing) that records page
 * errors, dialogs (dismissed), CSP violations and the WebSocket frames it sent.
 */
async function newConsolePage(browser, contexts) {
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
async function signIn(page, base, email, password) {
  await page.goto(base + "/console");
  await page.waitForSelector("#login-form", { state: "visible" });
  await page.fill("#login-email", email);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("#app", { state: "visible", timeout: 15000 });
  await page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
}

// The visitor widget on a page is connected.
async function widgetOnline(page) {
  await page.waitForFunction(() => {
    const w = window.kefu && window.kefu._w;
    const s = w && w.session;
    return !!(s && s.state && s.state.state === "online");
  }, null, { timeout: 30000 });
}

// Message bodies shown in the console's chat pane, and in the widget, in order.
const paneBodies = (page) => page.$$eval("#msg-list .msg .msg-body", (els) => els.map((e) => e.textContent));
const widgetBodies = (page) => page.$$eval(".kf-list .kf-m .kf-t", (els) => els.map((e) => e.textContent));

module.exports = { startConsoleServer, addAgent, signIdentity, newConsolePage, signIn, widgetOnline, paneBodies, widgetBodies };
