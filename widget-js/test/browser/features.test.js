// Section 7 features against a real kefu (WebSocket mode): leave-a-message when no agent
// is online, the agent's typing indicator, delivered and read ticks, and an invitation.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startKefu, waitFor } = require("../support/kefu");
const { Agent } = require("../support/agent");
const { launch, openPage, record, widgetState } = require("../support/browser");

let browser, srv, agent;
before(async () => {
  browser = await launch();
  srv = await startKefu();
});
after(async () => {
  if (agent) agent.close();
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function online(page) {
  await waitFor(async () => {
    const s = await widgetState(page);
    return s && s.state === "online";
  }, 30000, "the widget online");
}
const state = (page) => page.$$eval(".kf-me", (ms) => ms.map((m) => m.getAttribute("data-state")));

test("no agent online: leave a message; then typing, delivered and read from the agent", { timeout: 90000 }, async () => {
  const { page, rec, context } = await openPage(browser, "ws");
  try {
    await page.goto(srv.base + "/demo");
    await online(page);
    await page.click(".kf-btn");
    await page.waitForSelector(".kf-lv", { state: "visible", timeout: 10000 });
    assert.equal(await page.isVisible(".kf-in"), false, "the message box gives way to the form");
    await page.fill(".kf-lv input[placeholder='Your name']", "Ann");
    await page.fill(".kf-lv input[placeholder='Your email']", "ann@example.com");
    await page.fill(".kf-lv textarea", "Please call me back about Dragon Well.");
    await page.click(".kf-go");
    assert.match(await page.textContent(".kf-lv"), /Thanks/);

    agent = new Agent(srv);
    await agent.connect();
    await agent.follow();
    await waitFor(() => agent.visitorBodies().length === 1, 20000, "the left message at the agent");
    assert.deepEqual(agent.visitorBodies(), ["Please call me back about Dragon Well."]);
    await page.waitForSelector(".kf-in", { state: "visible", timeout: 10000 });
    assert.equal(await page.isVisible(".kf-lv"), false, "an agent is online: back to the message box");

    agent.send({ t: "typing", on: true });
    await page.waitForSelector(".kf-ty", { state: "visible", timeout: 10000 });
    assert.match(await page.textContent(".kf-ty"), /is typing/);
    agent.send({ t: "typing", on: false });
    await page.waitForSelector(".kf-ty", { state: "hidden", timeout: 10000 });

    const msg = agent.entries.find((x) => x.kind === "msg");
    await waitFor(async () => (await state(page))[0] === "sent", 10000, "sent");
    agent.send({ t: "ack", off: msg.off });
    await waitFor(async () => (await state(page))[0] === "delivered", 10000, "delivered tick");
    agent.send({ t: "read", upto: msg.off });
    await waitFor(async () => (await state(page))[0] === "read", 10000, "read tick");

    // The visitor reads the agent's answer: a read entry with the visitor's role follows.
    await agent.say("We will call you today.");
    await waitFor(() => agent.entries.some((x) => x.kind === "read" && x.role === "visitor"), 10000, "visitor read receipt");
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.csp, [], "no CSP violations on the demo page");
  } finally {
    await context.close();
  }
});

test("an agent's invitation pops up; accepting opens the chat with it", { timeout: 60000 }, async () => {
  assert.ok(agent, "needs the agent of the previous test");
  const { page, rec, context } = await openPage(browser, "ws");
  try {
    const known = new Set(agent.visitors.keys());
    await page.goto(srv.base + "/demo?from=ad");
    await online(page);
    const id = await waitFor(() => [...agent.visitors.keys()].find((k) => !known.has(k)), 15000, "the new visitor at the agent");
    agent.ws.send(JSON.stringify({ t: "invite", visitor: id, text: "Hi! Looking for a gift?" }));
    await page.waitForSelector(".kf-inv", { state: "visible", timeout: 10000 });
    assert.match(await page.textContent(".kf-inv"), /Looking for a gift/);
    await page.click(".kf-yes");
    await page.waitForSelector(".kf-win", { state: "visible" });
    await page.waitForFunction(() => /Looking for a gift/.test(document.querySelector(".kf-list").textContent), null, { timeout: 10000 });
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.csp, [], "no CSP violations on the demo page");
  } finally {
    await context.close();
  }
});

test("tabs of the site share one visitor and one conversation", { timeout: 60000 }, async () => {
  const { page, rec, context } = await openPage(browser, "ws");
  try {
    await page.goto(srv.base + "/demo");
    await online(page);
    await page.evaluate(() => window.kefu("send", "from the first tab"));
    await page.waitForSelector(".kf-me[data-off]", { state: "attached", timeout: 10000 });
    const second = await context.newPage();
    const rec2 = record(second, { errors: [], hellos: [], console: [], csp: [] });
    await second.goto(srv.base + "/demo?page=2");
    await online(second);
    const token = await page.evaluate(() => window.kefu._w.session.store.get("visitor"));
    assert.match(token, /^[\w-]{16,64}$/);
    assert.equal(rec2.hellos[0].visitor, token, "the second tab says hello as the same visitor");
    await second.evaluate(() => window.kefu("send", "from the second tab"));
    const texts = (p) => p.$$eval(".kf-me[data-off] .kf-t", (ts) => ts.map((t) => t.textContent));
    for (const p of [page, second]) {
      await p.waitForFunction(() => document.querySelectorAll(".kf-me[data-off]").length === 2, null, { timeout: 10000 });
      assert.deepEqual(await texts(p), ["from the first tab", "from the second tab"]);
    }
    assert.deepEqual(rec.errors.concat(rec2.errors), []);
    assert.deepEqual(rec.csp.concat(rec2.csp), [], "no CSP violations on the demo page");
  } finally {
    await context.close();
  }
});
