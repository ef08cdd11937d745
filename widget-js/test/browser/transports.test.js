// The widget in real Chromium against a real kefu, in each transport mode: WebSocket,
// long-polling (WebSocket removed) and JSONP (WebSocket and CORS XHR removed). The
// connection is cut mid-way; nothing may be lost, duplicated or reordered.
"use strict";

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startKefu, waitFor } = require("../support/kefu");
const { Agent } = require("../support/agent");
const { launch, openPage, widgetState } = require("../support/browser");
const { readBundle } = require("../../scripts/bundle");

const N = 50;
const pad = (i) => String(i).padStart(2, "0");
const visitorText = (i) => `visitor message ${pad(i)} \u5ba2\u670d <b>not bold</b>`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
});

test("the server serves this widget source", { timeout: 60000 }, async () => {
  const srv = await startKefu();
  try {
    const r = await fetch(srv.base + "/widget.js");
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("etag"), "served with an ETag");
    const served = await r.text();
    assert.ok(served === readBundle().text,
      "the kefu binary embeds another version of widget-js/src: rebuild it (cargo build) before the browser tests");
  } finally {
    await srv.stop();
  }
});

// Text of the widget's bubbles: [{me, text, state, off}] in page order.
function bubbles(page) {
  return page.$$eval(".kf-m", (ms) => ms.map((m) => ({
    me: / kf-me/.test(" " + m.className),
    text: m.querySelector(".kf-t").textContent,
    state: m.getAttribute("data-state"),
    off: m.getAttribute("data-off"),
  })));
}

async function typeAndSend(page, text) {
  await page.fill(".kf-in", text);
  await page.press(".kf-in", "Enter");
}

for (const mode of ["ws", "lp", "jsonp"]) {
  describe(`transport ${mode}`, () => {
    let srv, agent, pg;
    before(async () => {
      srv = await startKefu();
    });
    after(async () => {
      if (agent) agent.close();
      if (pg) await pg.context.close();
      if (srv) await srv.stop();
    });

    test(`${N} messages sent through connection cuts arrive once, in order`, { timeout: 150000 }, async () => {
      // An agent is online first: with none, the widget offers "leave a message" instead.
      agent = new Agent(srv);
      await agent.connect();
      pg = await openPage(browser, mode);
      const { page, rec } = pg;
      await page.goto(srv.base + "/demo");
      await waitFor(async () => {
        const s = await widgetState(page);
        return s && s.state === "online" && s.transport === mode;
      }, 30000, `the widget online over ${mode}`);
      await page.click(".kf-btn");
      await page.waitForSelector(".kf-win", { state: "visible" });

      for (let i = 1; i <= N; i++) {
        await typeAndSend(page, visitorText(i));
        if (i === 15) srv.proxy.cut();
        // 21-25 are sent into a dead link: they must be resent after the reconnect.
        if (i === 20) {
          await waitFor(async () => (await widgetState(page)).state === "online", 30000, "online again");
          srv.proxy.stall(true);
        }
        if (i === 25) {
          await page.waitForTimeout(300);
          srv.proxy.cut();
          srv.proxy.stall(false);
        }
        if (i === 30) {
          srv.proxy.refuse(true);
          srv.proxy.cut();
        }
        if (i === 40) {
          await page.waitForTimeout(1500);
          srv.proxy.refuse(false);
        }
        if (i === 45) srv.proxy.cut();
      }
      await agent.follow();
      const want = Array.from({ length: N }, (_, i) => visitorText(i + 1));
      await waitFor(() => agent.visitorBodies().length >= N, 90000, `${N} messages at the agent`).catch(() => {});
      assert.deepEqual(agent.visitorBodies(), want, "stored once each, in order");
      assert.deepEqual(agent.errors, []);
      await waitFor(async () => (await bubbles(page)).every((b) => b.state !== "sending"), 30000, "every bubble sent")
        .catch(() => {});
      const mine = (await bubbles(page)).filter((b) => b.me);
      assert.deepEqual(mine.map((b) => b.text), want, "shown once each, in order");
      assert.deepEqual(mine.filter((b) => b.state === "sending"), [], "all sent");
      assert.deepEqual(rec.errors, [], "no errors thrown into the page");
      assert.deepEqual(rec.csp, [], "no CSP violations on the demo page");
    });

    test("agent messages are shown once, in order, through cuts", { timeout: 90000 }, async () => {
      assert.ok(agent && agent.conv, "needs the conversation of the previous test");
      const { page, rec } = pg;
      const want = [];
      for (let i = 1; i <= 10; i++) {
        want.push(`agent reply ${pad(i)} & <i>text</i>`);
        await agent.say(want[want.length - 1]);
        if (i === 4) srv.proxy.cut();
        if (i === 7) {
          srv.proxy.refuse(true);
          srv.proxy.cut();
          await page.waitForTimeout(800);
          srv.proxy.refuse(false);
        }
      }
      const theirs = async () => (await bubbles(page)).filter((b) => !b.me).map((b) => b.text);
      await waitFor(async () => (await theirs()).length >= 10, 60000, "10 agent messages in the widget").catch(() => {});
      assert.deepEqual(await theirs(), want);
      const msgs = agent.entries.filter((x) => x.kind === "msg");
      assert.deepEqual((await bubbles(page)).map((b) => Number(b.off)), msgs.map((x) => x.off),
        "every message of the stream, once each, in offset order");
      assert.deepEqual(rec.errors, []);
      assert.deepEqual(rec.csp, []);
    });

    test("a long message (4000 characters) arrives whole", { timeout: 60000 }, async () => {
      const { page, rec } = pg;
      const body = Array.from("\u5ba2\u670d\ud83d\ude00 long text & more ".repeat(200)).slice(0, 3990).join("") + " end";
      const before = agent.visitorBodies().length;
      await page.evaluate((b) => window.kefu("send", b), body);
      await waitFor(() => agent.visitorBodies().length > before, 30000, "the long message at the agent");
      assert.equal(agent.visitorBodies()[before], body);
      if (mode === "jsonp") {
        assert.ok(rec.maxSendUrl > 0 && rec.maxSendUrl <= 2048, "JSONP URLs stay under 2 KB: " + rec.maxSendUrl);
        assert.ok(rec.parts > 1, "sent in parts");
      }
      await waitFor(async () => (await bubbles(page)).every((b) => b.state !== "sending"), 20000, "sent").catch(() => {});
      assert.deepEqual(rec.errors, []);
      assert.deepEqual(rec.csp, []);
    });

    test("a reload shows the history once and resumes instead of refetching", { timeout: 60000 }, async () => {
      const { page, rec } = pg;
      const before = await bubbles(page);
      const head = agent.entries.length;
      assert.equal(before.length, agent.entries.filter((x) => x.kind === "msg").length);
      rec.hellos.length = 0;
      await page.reload();
      await waitFor(async () => {
        const s = await widgetState(page);
        return s && s.state === "online";
      }, 30000, "online after reload");
      const after = await bubbles(page);
      assert.deepEqual(after.map((b) => [b.me, b.text, b.off]), before.map((b) => [b.me, b.text, b.off]));
      assert.ok(rec.hellos.length >= 1, "a hello was sent");
      assert.deepEqual(rec.hellos[0].resume, { conv: agent.conv, epoch: agent.entries[0] && rec.hellos[0].resume.epoch, after: head },
        "resumed after the last offset it holds");
      assert.equal(rec.hellos[0].visitor, before.length ? rec.hellos[0].visitor : null);
      await page.waitForTimeout(1000);
      assert.equal((await bubbles(page)).length, before.length, "nothing drawn twice");
      assert.deepEqual(rec.errors, []);
      assert.deepEqual(rec.csp, []);
    });

    test("messages typed while the connection is down go out when it returns", { timeout: 90000 }, async () => {
      const { page, rec } = pg;
      const n0 = agent.visitorBodies().length;
      srv.proxy.refuse(true);
      srv.proxy.cut();
      await waitFor(async () => {
        const s = await widgetState(page);
        return s && s.state !== "online";
      }, 30000, "the widget to notice the cut");
      const offline = ["typed offline 1", "typed offline 2", "typed offline 3"];
      for (const t of offline) await typeAndSend(page, t);
      const pending = (await bubbles(page)).filter((b) => b.state === "sending").map((b) => b.text);
      assert.deepEqual(pending, offline, "shown as sending");
      const banner = await page.textContent(".kf-ban");
      await page.waitForTimeout(1000);
      assert.equal(agent.visitorBodies().length, n0, "nothing got through");
      // The page's own script still works while the widget is offline.
      await page.click("button.add");
      assert.equal(await page.textContent("#cart-count"), "1");
      srv.proxy.refuse(false);
      await waitFor(() => agent.visitorBodies().length >= n0 + 3, 60000, "the offline messages at the agent").catch(() => {});
      assert.deepEqual(agent.visitorBodies().slice(n0), offline);
      await waitFor(async () => (await bubbles(page)).every((b) => b.state !== "sending"), 20000, "sent").catch(() => {});
      assert.deepEqual((await bubbles(page)).filter((b) => b.state === "sending"), []);
      assert.ok(banner === null || /Connection lost|Connecting/.test(banner) || banner === "", "banner: " + banner);
      assert.deepEqual(rec.errors, []);
      assert.deepEqual(rec.csp, []);
    });
  });
}
