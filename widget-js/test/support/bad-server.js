// A misbehaving chat server for browser tests: it serves the demo page and this widget,
// but answers the protocol endpoints with garbage, a fatal error frame, or redirects.
// It counts connection attempts so tests can check the widget retries sanely.
"use strict";

const fs = require("fs");
const path = require("path");
const http = require("http");
const { WebSocketServer } = require("ws");
const { readBundle } = require("../../scripts/bundle");

const DEMO = fs.readFileSync(path.join(__dirname, "..", "..", "demo.html"), "utf8");
const DEMO_JS = fs.readFileSync(path.join(__dirname, "..", "..", "demo.js"), "utf8");

function cbOf(u) {
  const cb = u.searchParams.get("cb") || "";
  return /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*){0,2}$/.test(cb) ? cb : null;
}

/**
 * behaviour: "garbage" | "fatal" | "redirect". Resolves to { base, attempts(), close() }.
 */
async function startBadServer(behaviour) {
  let attempts = 0;
  const wss = new WebSocketServer({ noServer: true });
  const bye = { t: "bye", code: 4101, reason: "unknown site" };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const base = `http://${req.headers.host}`;
    const send = (status, type, body, extra) => {
      res.writeHead(status, Object.assign({ "Content-Type": type, "Cache-Control": "no-store",
        "Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff" }, extra));
      res.end(body);
    };
    if (u.pathname === "/demo") {
      return send(200, "text/html; charset=utf-8", DEMO.replace(/\{\{BASE_URL\}\}/g, base).replace(/\{\{SITE_KEY\}\}/g, "s_badserver"));
    }
    if (u.pathname === "/demo.js") return send(200, "application/javascript; charset=utf-8", DEMO_JS);
    if (u.pathname === "/widget.js") return send(200, "application/javascript; charset=utf-8", readBundle().text);
    if (u.pathname === "/nowhere") return send(404, "text/plain", "Not Found");
    if (!u.pathname.startsWith("/v1/")) return send(404, "text/plain", "Not Found");
    if (/\/open$/.test(u.pathname)) attempts += 1;
    const cb = cbOf(u);
    if (behaviour === "redirect") return send(302, "text/plain", "moved", { Location: "/nowhere" });
    if (behaviour === "garbage") {
      if (u.pathname.startsWith("/v1/jsonp/") && cb) {
        return send(200, "application/javascript", `/**/${cb}("<html>Gateway error</html>");`);
      }
      return send(200, "text/html", "<html><body>Proxy error: upstream unavailable</body></html>");
    }
    // fatal: every channel is refused with bye 4101, as an unknown site would be.
    const answer = JSON.stringify({ from: 0, frames: [bye] });
    if (u.pathname.startsWith("/v1/jsonp/") && cb) return send(200, "application/javascript", `/**/${cb}(${answer});`);
    if (u.pathname === "/v1/negotiate") return send(404, "application/json", '{"error":"unknown site"}');
    return send(200, "application/json", answer);
  });
  server.on("upgrade", (req, socket, head) => {
    attempts += 1;
    if (behaviour === "redirect") {
      socket.end("HTTP/1.1 302 Found\r\nLocation: /nowhere\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", () => {
        if (behaviour === "garbage") {
          ws.send("<html>not a frame</html>");
          ws.send("{\"t\":");
        } else {
          ws.send(JSON.stringify({ t: "err", code: "bad_json", msg: "confused server" }));
          ws.send(JSON.stringify(bye));
          ws.close(4101, "unknown site");
        }
      });
    });
  });
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    attempts: () => attempts,
    close() {
      for (const s of sockets) s.destroy();
      for (const c of wss.clients) c.terminate();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

module.exports = { startBadServer };
