// The agent console (/console) against a real kefu, with visitors on the demo page:
// sign-in errors, the live visitor list, an invitation, chat both ways with typing and
// read marks, text-only rendering of hostile names and messages, unverified and verified
// identities, a cut link, presence, a transfer to a second agent, the visitor's reload,
// closing, logout; older history through the entries API; resuming after epoch_mismatch
// and bad_offset; unsent replies kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { launch, waitFor, startConsoleServer, newConsolePage, signIn, signIdentity, widgetOnline, paneBodies, widgetBodies } from "../support/console.js";

const B_EMAIL = "b@x";
const B_PASSWORD = "pw-12345678";

// kefu on a fresh database behind a cuttable TCP proxy; pages (console and demo) load
// through the proxy, so cut() drops both the agents' and the visitors' links. A second
// agent is added with the CLI on the same database.
let browser, srv;
const contexts = [];
before(async () => {
  browser = await launch();
  srv = await startConsoleServer({
    env: { KEFU_LOGIN_MAX_FAILURES: "2" },
    agents: [{ email: B_EMAIL, name: "B", password: B_PASSWORD }],
  });
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

// A page in a fresh context that records errors, dialogs and CSP violations.
const newPage = () => newConsolePage(browser, contexts);
const login = (page, email, password) => signIn(page, srv.base, email, password);
const count = (list, x) => list.filter((y) => y === x).length;

const NAME = '<img src=x onerror="window.__pwned=1;alert(1)">Mallory';
const HOSTILE = '<script>window.__pwned=2</script><b>bold?</b><svg onload="alert(2)">';

test("agent console: sign-in, live visitors, invite, chat, typing, read, transfer, reload, close, logout", { timeout: 240000 }, async () => {
  const A = await newPage();
  const apage = A.page;

  // Sign-in errors are shown; a wrong password is a 401, repeated failures a 429.
  await apage.goto(srv.base + "/console");
  await apage.waitForSelector("#login-form", { state: "visible" });
  assert.equal(await apage.isVisible("#app"), false);
  for (let i = 0; i < 3; i++) {
    await apage.fill("#login-email", "ghost@example.com");
    await apage.fill("#login-password", "not-the-password");
    await apage.click("#login-submit");
    await apage.waitForSelector("#login-error", { state: "visible" });
    const want = i < 2 ? /Wrong email or password/ : /Too many failed sign-ins/;
    await apage.waitForFunction((re) => new RegExp(re).test(document.getElementById("login-error").textContent), want.source, { timeout: 20000 });
  }
  await login(apage, "admin@localhost", srv.password);
  const tokenA = await apage.evaluate(() => JSON.parse(window.sessionStorage.getItem("kefu.console")).token);
  assert.match(tokenA, /\S{16,}/);

  // A visitor opens the demo page: the agent sees where it is.
  const V = await newPage();
  const vpage = V.page;
  await vpage.goto(srv.base + "/demo?from=console-test");
  await widgetOnline(vpage);
  const card = apage.locator(".visitor", { hasText: "Lantern Tea Co." });
  await card.waitFor({ timeout: 15000 });
  const cardText = await card.textContent();
  assert.match(cardText, /\/demo\?from=console-test/, "the current page URL");
  assert.match(cardText, /Chrome/, "browser from the user agent");
  assert.deepEqual(await card.locator(".tag.transport").allTextContents(), ["ws"], "the visitor's transport");
  assert.match(cardText, /on site \d+[sm]/, "time on site");
  assert.match(cardText, /active/, "the page is visible");

  // Invite; the visitor accepts and the conversation opens with the invitation.
  await card.locator("button.invite").click();
  await apage.waitForSelector("#invite-form", { state: "visible" });
  await apage.fill("#invite-text", "Hi! Looking for a gift?");
  await apage.click("#invite-send");
  await vpage.waitForSelector(".kf-inv", { state: "visible", timeout: 15000 });
  assert.match(await vpage.textContent(".kf-inv"), /Looking for a gift/);
  await vpage.click(".kf-yes");
  await vpage.waitForSelector(".kf-win", { state: "visible" });
  const item = apage.locator(".conv-item").first();
  await item.waitFor({ timeout: 15000 });
  const convId = Number(await item.getAttribute("data-conv"));
  assert.ok(convId > 0);
  await item.click();
  await apage.waitForFunction(() => /Looking for a gift/.test(document.getElementById("msg-list").textContent), null, { timeout: 15000 });

  // The visitor types: the agent sees the indicator with the draft, then the message.
  await vpage.click(".kf-in");
  await vpage.keyboard.type("Do you ship", { delay: 40 });
  await apage.waitForSelector("#typing", { state: "visible", timeout: 10000 });
  // The widget sends its draft at most every 500 ms, on a keystroke.
  await new Promise((r) => setTimeout(r, 700));
  await vpage.keyboard.type(" to", { delay: 40 });
  await apage.waitForFunction(() => /^Do you ship/.test(document.getElementById("typing-text").textContent), null, { timeout: 10000 });
  assert.match(await apage.textContent("#typing-who"), /is typing/);
  await vpage.keyboard.type(" Canada?", { delay: 20 });
  await vpage.keyboard.press("Enter");
  await apage.waitForFunction(() => [...document.querySelectorAll("#msg-list .msg.in .msg-body")].some((e) => e.textContent === "Do you ship to Canada?"), null, { timeout: 10000 });
  await apage.waitForSelector("#typing", { state: "hidden", timeout: 10000 });
  // The agent is looking at it: the visitor's message turns "read" in the widget.
  await vpage.waitForFunction(() => [...document.querySelectorAll(".kf-me")].some((m) => m.getAttribute("data-state") === "read"), null, { timeout: 10000 });

  // The agent types (the visitor sees it) and sends: sending, then sent; read when seen.
  await apage.evaluate(() => {
    window.__states = [];
    new window.MutationObserver((ms) => {
      for (const m of ms) for (const n of m.addedNodes) if (n.dataset && n.dataset.state && n.textContent.includes("Yes, we ship worldwide.")) window.__states.push(n.dataset.state);
    }).observe(document.getElementById("msg-list"), { childList: true });
  });
  await apage.click("#composer-input");
  await apage.keyboard.type("Yes, we ship", { delay: 40 });
  await vpage.waitForSelector(".kf-ty", { state: "visible", timeout: 10000 });
  assert.match(await vpage.textContent(".kf-ty"), /typing/);
  // With its window closed the visitor reads nothing, so "sent" stays until it opens it.
  await vpage.click(".kf-x");
  await apage.keyboard.type(" worldwide.", { delay: 10 });
  await apage.keyboard.press("Enter");
  await vpage.waitForFunction(() => [...document.querySelectorAll(".kf-list .kf-them .kf-t")].some((e) => e.textContent === "Yes, we ship worldwide."), null, { timeout: 10000 });
  // The message's state, and whether the visitor's "seen" mark sits right after it.
  const mine = () => apage.evaluate(() => {
    const m = [...document.querySelectorAll("#msg-list .msg.self")].find((x) => x.textContent.includes("Yes, we ship worldwide."));
    const next = m && m.nextElementSibling;
    return m ? m.dataset.state + (next && next.classList.contains("seen") ? "+seen" : "") : null;
  });
  const mineState = async () => (await mine() || "").replace("+seen", "");
  await waitFor(async () => (await mineState()) === "sent", 10000, "the agent's message sent");
  const states = await apage.evaluate(() => window.__states);
  assert.equal(states[0], "sending", "shown as sending first: " + states.join(","));
  assert.equal(await mine(), "sent", "not seen yet");
  await vpage.click(".kf-btn");
  await waitFor(async () => (await mine()) === "read+seen", 10000, "the agent's message read");

  // Hostile HTML in the visitor's name and message stays text.
  await vpage.evaluate((name) => window.kefu("identify", { id: "u-42", name }), NAME);
  await widgetOnline(vpage);
  await apage.waitForFunction((n) => [...document.querySelectorAll(".visitor-name")].some((e) => e.textContent === n), NAME, { timeout: 15000 });
  await vpage.evaluate((body) => window.kefu("send", body), HOSTILE);
  await apage.waitForFunction((b) => [...document.querySelectorAll("#msg-list .msg-body")].some((e) => e.textContent === b), HOSTILE, { timeout: 10000 });
  await apage.waitForFunction((n) => document.getElementById("chat-title").textContent === n, NAME, { timeout: 10000 });
  const injected = await apage.evaluate(() => ({
    elements: document.querySelectorAll("#app img, #app script, #app b, #app svg").length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
  }));
  assert.deepEqual(injected, { elements: 0, pwned: null });
  // A name from the page alone is marked not verified, on the card and in the chat header.
  const claimed = apage.locator(".visitor", { has: apage.locator(".visitor-name", { hasText: "Mallory" }) });
  assert.deepEqual(await claimed.locator(".tag.verified, .tag.unverified").allTextContents(), ["not verified"]);
  assert.match(await apage.textContent("#chat-sub"), /identity not verified/);

  // A token signed with the site secret: its name and attributes, marked verified.
  const token = await signIdentity(srv, { id: "u-42", name: "Ann Lee", attrs: ["plan=gold"] });
  await vpage.evaluate((t) => window.kefu("identify", { token: t, name: "CEO (billing admin)" }), token);
  await widgetOnline(vpage);
  await apage.waitForFunction(() => document.getElementById("chat-title").textContent === "Ann Lee", null, { timeout: 15000 });
  const signed = apage.locator(".visitor", { has: apage.locator(".visitor-name", { hasText: "Ann Lee" }) });
  assert.deepEqual(await signed.locator(".tag.verified, .tag.unverified").allTextContents(), ["✓ verified"]);
  assert.match(await signed.locator(".tag.verified").getAttribute("title"), /signed by the site until/);
  assert.deepEqual(await signed.locator(".visitor-attrs.verified").allTextContents(), ["✓ verified:plan: gold"]);
  assert.match(await apage.textContent("#chat-sub"), /identity ✓ verified/);
  assert.equal(await apage.locator(".visitor", { hasText: "CEO" }).count(), 0, "the page's own name is not shown");

  // A cut link: both sides reconnect and resume; nothing is lost or doubled.
  assert.ok(srv.proxy.cut() > 0, "connections were cut");
  await apage.waitForSelector('#conn[data-state="offline"]', { timeout: 10000 });
  await apage.waitForSelector('#conn[data-state="online"]', { timeout: 30000 });
  await widgetOnline(vpage);
  await vpage.evaluate(() => window.kefu("send", "Back after the cut"));
  await apage.waitForFunction(() => [...document.querySelectorAll("#msg-list .msg-body")].some((e) => e.textContent === "Back after the cut"), null, { timeout: 15000 });
  const bodiesA = await paneBodies(apage);
  for (const b of ["Hi! Looking for a gift?", "Do you ship to Canada?", "Yes, we ship worldwide.", HOSTILE, "Back after the cut"]) {
    assert.equal(count(bodiesA, b), 1, `"${b}" once in the console: ${JSON.stringify(bodiesA)}`);
  }
  const offs = await apage.$$eval("#msg-list [data-off]", (els) => els.map((e) => Number(e.dataset.off)));
  assert.deepEqual(offs, [...new Set(offs)].sort((a, b) => a - b), "entries once each, in offset order");

  // A second agent signs in; the team shows it; transfer to it.
  const B = await newPage();
  const bpage = B.page;
  await login(bpage, B_EMAIL, B_PASSWORD);
  // A goes away and back: B's team list follows.
  await apage.selectOption("#presence", "away");
  await bpage.waitForSelector("#team-list .status-dot.away", { timeout: 10000 });
  await apage.selectOption("#presence", "online");
  await bpage.waitForSelector("#team-list .status-dot.away", { state: "detached", timeout: 10000 });
  await apage.waitForFunction(() => [...document.querySelectorAll("#transfer-to option")].some((o) => o.value && /^B\b/.test(o.textContent)), null, { timeout: 15000 });
  const toB = await apage.$$eval("#transfer-to option", (os) => os.find((o) => /^B\b/.test(o.textContent)).value);
  await apage.selectOption("#transfer-to", toB);
  await apage.click("#transfer-btn");
  await apage.waitForFunction(() => [...document.querySelectorAll("#msg-list .sys.transfer")].some((e) => /Transferred to B/.test(e.textContent)), null, { timeout: 15000 });
  const bItem = bpage.locator(`.conv-item[data-conv="${convId}"]`);
  await bItem.waitFor({ timeout: 15000 });
  await bpage.waitForFunction((id) => {
    const g = [...document.querySelectorAll(".conv-group")].find((x) => x.querySelector(`[data-conv="${id}"]`));
    return g && /^Mine/.test(g.querySelector(".conv-group-title").textContent);
  }, convId, { timeout: 15000 });
  if (!(await bpage.isVisible("#chat-main"))) await bItem.click();
  await bpage.waitForFunction(() => /Back after the cut/.test(document.getElementById("msg-list").textContent), null, { timeout: 15000 });
  const bodiesB = await paneBodies(bpage);
  assert.equal(count(bodiesB, "Do you ship to Canada?"), 1, "B sees the history once");
  await apage.waitForFunction((id) => {
    const el = document.querySelector(`.conv-item[data-conv="${id}"]`);
    return el && /with B/.test(el.textContent);
  }, convId, { timeout: 10000 });
  await bpage.fill("#composer-input", "B here, I'll take it from now.");
  await bpage.press("#composer-input", "Enter");
  await vpage.waitForFunction(() => [...document.querySelectorAll(".kf-list .kf-them .kf-t")].some((e) => e.textContent === "B here, I'll take it from now."), null, { timeout: 10000 });

  // The visitor reloads: the history is there, once.
  await vpage.reload();
  await widgetOnline(vpage);
  await vpage.waitForSelector(".kf-win", { state: "visible", timeout: 10000 });
  await vpage.waitForFunction(() => /B here/.test(document.querySelector(".kf-list").textContent), null, { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 1000)); // anything doubled would show by now
  const bodiesV = await widgetBodies(vpage);
  for (const b of ["Hi! Looking for a gift?", "Do you ship to Canada?", "Yes, we ship worldwide.", HOSTILE, "Back after the cut", "B here, I'll take it from now."]) {
    assert.equal(count(bodiesV, b), 1, `"${b}" once in the widget after reload: ${JSON.stringify(bodiesV)}`);
  }

  // B closes the conversation: a system line on both sides.
  await bpage.click("#close-btn");
  await bpage.waitForSelector("#msg-list .sys.close", { timeout: 10000 });
  await bpage.waitForSelector("#chat-closed", { state: "visible" });
  await vpage.waitForSelector(".kf-sys", { timeout: 10000 });
  await bpage.click("#dismiss-btn");
  await bpage.waitForSelector(`.conv-item[data-conv="${convId}"]`, { state: "detached", timeout: 5000 });

  // Logout revokes the token and shows the sign-in form.
  await apage.click("#logout");
  await apage.waitForSelector("#login-form", { state: "visible" });
  assert.equal(await apage.evaluate(() => window.sessionStorage.getItem("kefu.console")), null);
  await waitFor(async () => (await fetch(srv.direct + "/v1/conversations", { headers: { Authorization: "Bearer " + tokenA } })).status === 401, 5000, "the token revoked");

  // What went over the console's socket: hello, heartbeat answers, typing on and off,
  // read marks, the invitation and the transfer.
  const frames = A.sent.map((x) => JSON.parse(x));
  assert.deepEqual(frames[0], { t: "hello", v: 1, site: srv.key, role: "agent", token: tokenA });
  const has = (pred) => frames.some(pred);
  assert.ok(has((f) => f.t === "pong"), "answers ping with pong");
  assert.ok(has((f) => f.t === "typing" && f.conv === convId && f.on === true), "typing on");
  assert.ok(has((f) => f.t === "typing" && f.conv === convId && f.on === false), "typing off");
  assert.ok(has((f) => f.t === "read" && f.conv === convId && f.upto > 0), "read");
  assert.ok(has((f) => f.t === "ack" && f.conv === convId), "acks what it holds");
  assert.ok(has((f) => f.t === "transfer" && f.conv === convId), "transfer");
  assert.ok(has((f) => f.t === "presence" && f.status === "away") && has((f) => f.t === "presence" && f.status === "online"), "presence");
  assert.ok(has((f) => f.t === "follow" && f.conv === convId && f.after > 0 && f.epoch > 0), "resumed with epoch and offset after the cut");

  for (const p of [A, V, B]) {
    assert.deepEqual(p.rec.errors, [], "page errors");
    assert.deepEqual(p.rec.dialogs, [], "dialogs");
  }
  assert.deepEqual(A.rec.csp.concat(B.rec.csp), [], "no CSP violations in the console");
  assert.deepEqual(V.rec.csp, [], "no CSP violations on the demo page");
});

// A raw visitor writes more than the console follows at first; "Load earlier messages"
// fetches the rest through the entries API.
test("agent console: older history through the entries API", { timeout: 120000 }, async () => {
  const ws = new WebSocket(srv.direct.replace("http", "ws") + "/v1/ws");
  const acks = new Set();
  ws.on("message", (d) => {
    const f = JSON.parse(String(d));
    if (f.t === "ack") acks.add(f.cid);
    if (f.t === "ping") ws.send('{"t":"pong"}');
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  try {
    ws.send(JSON.stringify({ t: "hello", v: 1, site: srv.key, role: "visitor" }));
    ws.send(JSON.stringify({ t: "page", url: "https://shop.test/long", title: "Long talk", ref: "", visible: true }));
    const N = 230;
    for (let i = 1; i <= N; i++) ws.send(JSON.stringify({ t: "msg", cid: "h" + i, body: "line " + i }));
    await waitFor(() => acks.size === N, 60000, "all history lines acked");

    const { page, rec } = await newPage();
    await login(page, "admin@localhost", srv.password);
    const item = page.locator(".conv-item", { hasText: "line " + N });
    await item.waitFor({ timeout: 15000 });
    await page.waitForFunction(() => {
      const b = document.querySelector(".conv-item .badge.unread");
      return b && Number(b.textContent) > 0;
    }, null, { timeout: 15000 });
    await item.click();
    await page.waitForFunction((n) => /line 230/.test(document.getElementById("msg-list").textContent) && n, N, { timeout: 15000 });
    await page.waitForSelector("#load-earlier", { state: "visible" });
    let bodies = await paneBodies(page);
    assert.ok(!bodies.includes("line 1"), "the oldest lines are not loaded yet");
    await page.click("#load-earlier");
    await page.waitForFunction(() => [...document.querySelectorAll("#msg-list .msg-body")].some((e) => e.textContent === "line 1"), null, { timeout: 15000 });
    bodies = await paneBodies(page);
    const lines = bodies.filter((b) => /^line \d+$/.test(b));
    assert.deepEqual(lines, Array.from({ length: N }, (_, i) => "line " + (i + 1)), "every line once, in order");
    assert.equal(await page.isVisible("#load-earlier"), false);
    await page.waitForSelector(".conv-item .badge.unread", { state: "detached", timeout: 10000 });
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.csp, []);
  } finally {
    ws.terminate();
  }
});

// The console's socket goes through a route that can rewrite its resume `follow` (a wrong
// epoch, an offset beyond the head), drop the link, and hold back its messages: the
// console recovers with neither loss nor duplicates.
test("agent console: resume after epoch_mismatch and bad_offset; an unsent reply survives a reload", { timeout: 120000 }, async () => {
  const ws = new WebSocket(srv.direct.replace("http", "ws") + "/v1/ws");
  const acks = new Set();
  const seen = [];
  ws.on("message", (d) => {
    const f = JSON.parse(String(d));
    if (f.t === "ack") acks.add(f.cid);
    if (f.t === "e" && f.kind === "msg") seen.push(f.body);
    if (f.t === "ping") ws.send('{"t":"pong"}');
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const say = async (cid, body) => {
    ws.send(JSON.stringify({ t: "msg", cid, body }));
    await waitFor(() => acks.has(cid), 10000, "ack of " + cid);
  };
  try {
    ws.send(JSON.stringify({ t: "hello", v: 1, site: srv.key, role: "visitor" }));
    for (const i of [1, 2, 3]) await say("q" + i + "x", "resume " + i);

    const { page, rec } = await newPage();
    let route = null;
    let tamper = null;
    let hold = false;
    const follows = [];
    const errs = [];
    await page.routeWebSocket(/\/v1\/ws/, (r) => {
      route = r;
      const server = r.connectToServer();
      r.onMessage((m) => {
        const f = JSON.parse(String(m));
        if (hold && f.t === "msg") return;
        if (f.t === "follow") {
          if (tamper === "epoch" && f.after > 0) {
            f.epoch = (f.epoch % 4000000000) + 1;
            tamper = null;
          } else if (tamper === "offset" && f.after > 0) {
            f.after += 1000;
            tamper = null;
          }
          follows.push(f);
        }
        server.send(JSON.stringify(f));
      });
      server.onMessage((m) => {
        const f = JSON.parse(String(m));
        if (f.t === "err") errs.push(f.code);
        r.send(m);
      });
    });
    await login(page, "admin@localhost", srv.password);
    const item = page.locator(".conv-item", { hasText: "resume 3" });
    await item.waitFor({ timeout: 15000 });
    const conv = Number(await item.getAttribute("data-conv"));
    await item.click();
    await page.waitForFunction(() => /resume 3/.test(document.getElementById("msg-list").textContent), null, { timeout: 10000 });
    const lines = async () => (await paneBodies(page)).filter((b) => /^resume /.test(b));
    const offsets = () => page.$$eval("#msg-list [data-off]", (els) => els.map((e) => Number(e.dataset.off)));

    for (const [mode, code, body] of [["epoch", "epoch_mismatch", "resume 4"], ["offset", "bad_offset", "resume 5"]]) {
      const before = follows.length;
      tamper = mode;
      const old = route;
      old.close({ code: 4000, reason: "test restart" });
      await waitFor(() => route !== old, 15000, "the console to reconnect");
      await page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
      await waitFor(() => errs.includes(code), 10000, code);
      const ours = () => follows.slice(before).filter((f) => f.conv === conv);
      // The corrected follow goes out once the console has handled the error.
      await waitFor(() => ours().length >= 2, 10000, mode + ": the corrected follow");
      const mine = ours();
      assert.ok(mine.length >= 2, `${mode}: a tampered follow, then a corrected one: ${JSON.stringify(mine)}`);
      if (mode === "epoch") assert.equal(mine[mine.length - 1].after, 0, "epoch_mismatch: from 0 again");
      else assert.equal(mine[mine.length - 1].after, mine[0].after - 1000, "bad_offset: from what it holds");
      await say(mode + "x", body);
      await page.waitForFunction((b) => [...document.querySelectorAll("#msg-list .msg-body")].some((e) => e.textContent === b), body, { timeout: 10000 });
      const n = Number(body.slice(-1));
      assert.deepEqual(await lines(), Array.from({ length: n }, (_, i) => "resume " + (i + 1)), mode + ": every line once, in order");
      const offs = await offsets();
      assert.deepEqual(offs, [...new Set(offs)].sort((a, b) => a - b), mode + ": entries once each, in offset order");
    }

    // A reply that never reached the server survives a reload and is then sent, once.
    hold = true;
    await page.fill("#composer-input", "A reply kept across a reload");
    await page.press("#composer-input", "Enter");
    await page.waitForSelector('#msg-list .msg.pending[data-state="sending"]', { timeout: 5000 });
    hold = false;
    await page.reload();
    await page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
    await waitFor(() => seen.includes("A reply kept across a reload"), 15000, "the kept reply at the visitor");
    await page.locator(`.conv-item[data-conv="${conv}"]`).click();
    await page.waitForFunction(() => [...document.querySelectorAll("#msg-list .msg.self")].some((m) => m.textContent.includes("A reply kept") && m.dataset.state === "sent"), null, { timeout: 10000 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(count(seen, "A reply kept across a reload"), 1);
    assert.equal(count(await paneBodies(page), "A reply kept across a reload"), 1);
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.csp, []);
  } finally {
    ws.terminate();
  }
});
