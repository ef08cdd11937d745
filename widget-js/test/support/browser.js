// Headless Chromium (the system's /usr/bin/chromium, never a downloaded one) through
// playwright-core, plus the three transport modes the widget is tested in.
"use strict";

const fs = require("fs");
const { chromium } = require("playwright-core");

const EXE = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

async function launch() {
  if (!fs.existsSync(EXE)) {
    throw new Error(`Chromium not found at ${EXE}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath: EXE, args: ARGS, timeout: 30000 });
}

// Scripts run in the page before the widget, to take features away.
const MODES = {
  ws: { transport: "ws", init: "" },
  lp: {
    transport: "lp",
    init: "Object.defineProperty(window, 'WebSocket', { value: undefined, configurable: true });",
  },
  jsonp: {
    transport: "jsonp",
    init: "Object.defineProperty(window, 'WebSocket', { value: undefined, configurable: true });" +
      "Object.defineProperty(window, 'XMLHttpRequest', { value: function () {}, configurable: true });",
  },
};

/**
 * A new page in mode m. Records page errors and the hello frames the widget sends (over
 * any transport), so tests can check what a (re)connect asked for.
 */
async function openPage(browser, m, opts = {}) {
  const context = await browser.newContext(opts.context || {});
  const page = await context.newPage();
  const rec = record(page, { errors: [], hellos: [], console: [], csp: [], maxSendUrl: 0, parts: 0 });
  if (MODES[m].init) await context.addInitScript(MODES[m].init);
  return { context, page, rec };
}

// Record a page's errors, console lines, CSP violations (which Chromium reports on the
// console), hellos and JSONP URL lengths into rec.
function record(page, rec) {
  if (!rec.csp) rec.csp = [];
  page.on("pageerror", (e) => rec.errors.push(e.message));
  page.on("console", (msg) => {
    rec.console.push(msg.text());
    if (/Content Security Policy|Refused to/i.test(msg.text())) rec.csp.push(msg.text());
  });
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => {
      if (typeof f.payload === "string" && f.payload.indexOf('"t":"hello"') >= 0) rec.hellos.push(JSON.parse(f.payload));
    });
  });
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.pathname === "/v1/lp/open") rec.hellos.push(JSON.parse(req.postData()));
    if (u.pathname === "/v1/jsonp/open") rec.hellos.push(JSON.parse(u.searchParams.get("f")));
    if (u.pathname === "/v1/jsonp/send") {
      rec.maxSendUrl = Math.max(rec.maxSendUrl, req.url().length);
      if (u.searchParams.has("pid")) rec.parts += 1;
    }
  });
  return rec;
}

// The widget's state as the page sees it (kefu("on", "state") plus internals for tests).
function widgetState(page) {
  return page.evaluate(() => {
    var w = window.kefu && window.kefu._w, s = w && w.session;
    return s && s.state ? { state: s.state.state, transport: s.state.transport, code: s.state.code } : null;
  });
}

module.exports = { launch, openPage, record, widgetState, MODES };
