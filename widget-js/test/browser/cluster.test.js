// The widget in real Chromium against several kefu nodes and a routing server (protocol
// 6.4): embedded on a shop's page with the router in its embed code, it asks the router
// which node serves its site, follows the site when a new node takes it over (close 4005
// with the new node's URL), and finds the surviving node through the router after its
// node was killed. Over WebSocket and over JSONP; every message is stored once, in order.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startCluster, score, waitFor } = require("../support/kefu");
const { launch, openPage } = require("../support/browser");

// The shop's own page: a server of its own (another origin than any node's).
function shopPage(html) {
  const server = require("http").createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html());
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
});

// What the widget's connection knows: its state, transport, the node it talks to, and
// how many messages wait for their ack.
function conn(page) {
  return page.evaluate(() => {
    var s = window.kefu && window.kefu._w && window.kefu._w.session;
    return s && s.state ? { state: s.state.state, transport: s.state.transport, base: s.conn.base, unacked: s.out.list().length } : null;
  });
}

async function sendAll(page, texts) {
  for (const t of texts) await page.evaluate((x) => window.kefu("send", x), t);
}

async function login(url, password) {
  const r = await fetch(url + "/v1/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "admin@localhost", password }),
  });
  assert.equal(r.status, 200, "login");
  return (await r.json()).token;
}

// The visitor messages stored in the site's one conversation, in offset order, read over
// REST from node `url` (any node reads the shared database).
async function stored(url, token) {
  const h = { Authorization: "Bearer " + token };
  const list = (await (await fetch(url + "/v1/conversations", { headers: h })).json()).conversations;
  assert.equal(list.length, 1, "one conversation");
  const r = await (await fetch(`${url}/v1/conversations/${list[0].conv}/entries?limit=1000`, { headers: h })).json();
  return r.entries.filter((e) => e.kind === "msg" && e.role === "visitor").map((e) => e.body);
}

for (const mode of ["ws", "jsonp"]) {
  test(`over ${mode}: router first, a handover, a killed node; nothing lost or repeated`, { timeout: 120000 }, async () => {
    const c = await startCluster();
    let pg, shop;
    try {
      const a = await c.node("a");
      const router = await c.startRouter();
      // A node id that rendezvous hashing prefers to "a" for this site: it takes the site over.
      let bId = "b";
      for (let i = 0; score(bId, c.key) < score("a", c.key); i++) bId = "b" + i;

      shop = await shopPage(() => `<!doctype html><title>Shop</title><p>Tea.</p>` +
        `<script async src="${a.url}/widget.js" data-site="${c.key}" data-router="${router.url}"></script>`);
      const SHOP = `http://127.0.0.1:${shop.address().port}`;
      c.run(["site", "update", c.key, "--origin", SHOP]);
      pg = await openPage(browser, mode);
      const { page, rec } = pg;
      const routes = [];
      page.on("request", (q) => {
        if (new URL(q.url()).pathname === "/v1/route") routes.push(q.url());
      });
      await page.goto(SHOP + "/");
      const at = (url, what) => waitFor(async () => {
        const s = await conn(page);
        return s && s.state === "online" && s.transport === mode && s.base === url && s.unacked === 0 && s;
      }, 30000, what);
      await at(a.url, "the widget online at node a");
      assert.ok(routes.length >= 1 && routes[0].indexOf(router.url + "/v1/route?site=" + c.key) === 0,
        "the router was asked first: " + routes.join(" "));

      const texts = Array.from({ length: 15 }, (_, i) => `${mode} message ${i + 1}`);
      await sendAll(page, texts.slice(0, 5));
      await at(a.url, "the first five acknowledged");

      // A node joins and rendezvous gives it the site: node a hands over, the widget follows.
      const b = await c.node(bId);
      await sendAll(page, texts.slice(5, 8));
      await at(b.url, `the widget moved to node ${bId}`);
      await sendAll(page, texts.slice(8, 10));
      await at(b.url, "messages acknowledged by the new node");

      // Its node is killed: the router names the surviving node, the widget goes there.
      const asked = routes.length;
      await c.kill(bId);
      await sendAll(page, texts.slice(10, 15));
      await at(a.url, "the widget back at node a after node " + bId + " died");
      assert.ok(routes.length > asked, "the router was asked again after the node was lost");

      const token = await login(a.url, c.password);
      assert.deepEqual(await stored(a.url, token), texts, "stored once each, in order");
      assert.deepEqual(rec.errors, [], "no errors thrown into the page");
    } catch (e) {
      const p = pg && pg.page;
      e.message += "\nwidget: " + JSON.stringify(p && await conn(p).catch(() => null)) +
        "\npage console: " + (pg ? pg.rec.console.join("\n") : "") + "\n" + c.log();
      throw e;
    } finally {
      if (pg) await pg.context.close();
      if (shop) shop.close();
      await c.stop();
    }
  });
}
