// The agent console against several kefu nodes (docs/protocol.md §6.4): loaded from one
// node, it connects to the node serving its site; when a node that joined takes the site
// over, and when that node is killed, it follows and keeps the chat going.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newConsolePage, signIn, widgetOnline, waitFor } from "../support/console.js";
import kefu from "../../../widget-js/test/support/kefu.js";

const { startCluster, score } = kefu;

let browser, c;
const contexts = [];
before(async () => {
  browser = await launch();
  c = await startCluster();
});
after(async () => {
  for (const x of contexts) await x.close().catch(() => {});
  if (browser) await browser.close();
  if (c) await c.stop();
});

test("agent console: follows its site from node to node", { timeout: 120000 }, async () => {
  let A;
  try {
    const a = await c.node("a");
    let bId = "b";
    for (let i = 0; score(bId, c.key) < score("a", c.key); i++) bId = "b" + i;

    A = await newConsolePage(browser, contexts);
    const sockets = [];
    A.page.on("websocket", (ws) => sockets.push(ws.url()));
    await signIn(A.page, a.url, "admin@localhost", c.password);
    assert.match(sockets.at(-1), new RegExp("^" + a.url.replace("http", "ws") + "/v1/ws"));

    // A visitor on node a's demo page (its router: node a).
    const V = await newConsolePage(browser, contexts);
    await V.page.goto(a.url + "/demo");
    await widgetOnline(V.page);
    await V.page.evaluate(() => window.kefu("send", "first, on node a"));
    const item = A.page.locator(".conv-item", { hasText: "first, on node a" });
    await item.waitFor({ timeout: 15000 });

    // Node b joins and takes the site: the console (loaded from a) moves to b.
    const b = await c.node(bId);
    const onB = new RegExp("^" + b.url.replace("http", "ws") + "/v1/ws");
    await waitFor(() => sockets.some((u) => onB.test(u)), 20000, "the console's socket on node " + bId);
    await A.page.waitForSelector('#conn[data-state="online"]', { timeout: 20000 });
    // The demo page's CSP names the nodes live when it was loaded: a fresh one names b.
    await V.page.reload();
    await widgetOnline(V.page);
    await V.page.evaluate(() => window.kefu("send", "second, on node b"));
    await A.page.locator(".conv-item", { hasText: "second, on node b" }).waitFor({ timeout: 15000 });

    // Node b dies: node a takes the site back; the console asks again and follows.
    const seen = sockets.length;
    await c.kill(bId);
    const onA = new RegExp("^" + a.url.replace("http", "ws") + "/v1/ws");
    await waitFor(() => sockets.slice(seen).some((u) => onA.test(u)), 30000, "the console back on node a");
    await A.page.waitForSelector('#conn[data-state="online"]', { timeout: 30000 });
    await V.page.evaluate(() => window.kefu("send", "third, on node a again"));
    await A.page.locator(".conv-item", { hasText: "third, on node a again" }).waitFor({ timeout: 20000 });
    // The agent answers from the console; the visitor gets it.
    await A.page.locator(".conv-item").first().click();
    await A.page.fill("#composer-input", "Hello from the agent");
    await A.page.press("#composer-input", "Enter");
    await V.page.waitForFunction(() => /Hello from the agent/.test(document.body.textContent), null, { timeout: 20000 });
    // The page loaded before b joined refused its socket to b once, then reloaded.
    assert.ok(A.rec.csp.length <= 1 && A.rec.csp.every((m) => m.includes("Connecting to '" + b.url.replace("http", "ws"))),
      JSON.stringify(A.rec.csp));
    assert.deepEqual(A.rec.errors, []);
    assert.deepEqual(V.rec.errors, []);
  } catch (e) {
    e.message += "\nconsole errors: " + (A ? JSON.stringify(A.rec) : "-") + "\n" + c.log();
    throw e;
  }
});
