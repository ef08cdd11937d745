"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, fakeConn, FakeStorage } = require("../support/env");

function page(storage) {
  const env = load({ storage });
  const { ns, doc } = env;
  const conn = fakeConn();
  const s = new ns.Session({ site: "s_ui", base: "http://chat.test", ev: new ns.Emitter(), conn });
  const ui = new ns.Ui(s, { title: "Tea shop" });
  s.frame = s.frame.bind(s);
  const q = (cls) => doc.body.byClass(cls);
  const text = (cls) => q(cls).map((e) => e.textContent);
  return { env, ns, doc, s, ui, conn, q, text, root: q("kf-root")[0] };
}
const W = { t: "welcome", v: 1, session: "q", visitor: "VVVVVVVVVVVVVVVVVV", conv: 7, epoch: 9, head: 0, hb: 3000 };
function e(off, extra) {
  return Object.assign({ t: "e", conv: 7, off, kind: "msg", role: "agent", sender: "a", cid: "a" + off, body: "hi " + off, ts: 0 }, extra);
}

test("user text is shown as text, never as HTML", () => {
  const { s, doc, text } = page();
  s.up(W);
  const evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
  s.frame(e(1, { body: evil, name: "<b>Eve</b>" }));
  s.send("<i>mine</i>");
  assert.ok(text("kf-t").includes(evil));
  assert.ok(text("kf-t").includes("<i>mine</i>"));
  const tags = new Set(doc.body.all().map((n) => n.tagName));
  for (const bad of ["IMG", "SCRIPT", "I", "B"]) assert.ok(!tags.has(bad), "no " + bad + " element");
});

test("message states: sending, sent, delivered, read", () => {
  const { s, q } = page();
  s.up(W);
  const [m] = s.send("hello");
  const state = () => q("kf-me").map((n) => n.getAttribute("data-state"));
  assert.deepEqual(state(), ["sending"]);
  s.frame({ t: "ack", cid: m.cid, conv: 7, off: 1, ts: 0, dup: false });
  assert.deepEqual(state(), ["sent"]);
  s.frame(e(1, { role: "visitor", cid: m.cid, body: "hello" }));
  assert.deepEqual(state(), ["sent"], "the entry replaced the pending bubble");
  assert.equal(q("kf-me")[0].getAttribute("data-off"), "1");
  s.frame({ t: "delivered", conv: 7, upto: 1 });
  assert.deepEqual(state(), ["delivered"]);
  s.frame(e(2, { kind: "read", upto: 1, body: undefined }));
  assert.deepEqual(state(), ["read"]);
  assert.match(q("kf-me")[0].textContent, /Read/);
});

test("agent typing and system entries", () => {
  const { s, q, env } = page();
  s.up(W);
  s.frame({ t: "typing", conv: 7, role: "agent", name: "Alice", on: true });
  assert.equal(q("kf-ty")[0].textContent, "Alice is typing\u2026");
  assert.ok(q("kf-ty")[0].style.display !== "none");
  s.frame(e(1));
  assert.equal(q("kf-ty")[0].style.display, "none", "hidden when the message arrives");
  s.frame({ t: "typing", conv: 7, role: "agent", name: "Alice", on: true });
  env.clock.advance(8000);
  assert.equal(q("kf-ty")[0].style.display, "none", "and after a while, in case 'off' was lost");
  // A desk entry's body is the agent's name, shown as text.
  s.frame(e(2, { kind: "join", body: "Bob $& <b>" }));
  s.frame(e(3, { kind: "transfer", body: "Carol" }));
  s.frame(e(4, { kind: "close", body: "" }));
  s.frame(e(5, { kind: "reopen", body: "" }));
  assert.deepEqual(q("kf-sys").map((n) => n.textContent), [
    "Bob $& <b> joined the chat",
    "Carol is now helping you",
    "Conversation closed",
    "Agent reopened the conversation"
  ]);
});

test("the queue position is shown while waiting for an agent", () => {
  const { s, q } = page();
  s.up(W);
  s.frame({ t: "queue", conv: 7, position: 3 });
  assert.equal(q("kf-ty")[0].textContent, "Waiting for an agent: you are number 3");
  assert.notEqual(q("kf-ty")[0].style.display, "none");
  s.frame({ t: "queue", conv: 7, position: 0 });
  assert.equal(q("kf-ty")[0].style.display, "none", "hidden once an agent is found");
});

test("no agent online: the leave-a-message form sends a message with contact details", () => {
  const { s, q, conn } = page();
  s.up(W);
  conn.take();
  const form = q("kf-lv")[0];
  assert.equal(form.style.display, "none");
  s.frame({ t: "agents", online: false });
  assert.notEqual(form.style.display, "none");
  assert.equal(q("kf-foot")[0].style.display, "none");
  const [name, email] = form.all().filter((n) => n.tagName === "INPUT");
  const msg = form.all().find((n) => n.tagName === "TEXTAREA");
  name.value = " Ann ";
  email.value = "ann@example.com";
  msg.value = "Call me back please";
  q("kf-go")[0].dispatch("click");
  const [f] = conn.take("msg");
  assert.deepEqual({ body: f.body, contact: f.contact }, { body: "Call me back please", contact: { name: "Ann", email: "ann@example.com" } });
  assert.match(form.textContent, /Thanks/);
  s.frame({ t: "agents", online: true });
  assert.equal(form.style.display, "none");
});

test("a proactive invitation can be accepted or dismissed", () => {
  const { s, q, conn, ui } = page();
  s.up(W);
  conn.take();
  s.frame({ t: "invite", id: "inv1", name: "Alice", text: "Can I help you find a tea?" });
  const inv = q("kf-inv")[0];
  assert.notEqual(inv.style.display, "none");
  assert.match(inv.textContent, /Alice/);
  assert.match(inv.textContent, /find a tea/);
  q("kf-no")[0].dispatch("click");
  assert.deepEqual(conn.take("invite_reply"), [{ t: "invite_reply", id: "inv1", accept: false }]);
  assert.equal(inv.style.display, "none");
  s.frame({ t: "invite", id: "inv2", name: "Alice", text: "Still there?" });
  q("kf-yes")[0].dispatch("click");
  assert.deepEqual(conn.take("invite_reply"), [{ t: "invite_reply", id: "inv2", accept: true }]);
  assert.equal(ui.isOpen, true, "accepting opens the chat");
});

test("connection states are spelled out; errors say what is wrong", () => {
  const { s, q, root } = page();
  const ban = q("kf-ban")[0];
  s.view.conn({ state: "connecting" });
  assert.equal(q("kf-st")[0].textContent, "Connecting\u2026");
  assert.equal(ban.style.display, "none");
  s.view.conn({ state: "offline", code: 0, retry: 1000 });
  assert.notEqual(ban.style.display, "none");
  assert.match(ban.textContent, /Connection lost/);
  assert.equal(q("kf-retry").length, 1, "a retry-now button");
  s.view.conn({ state: "online", transport: "ws" });
  assert.equal(ban.style.display, "none");
  assert.equal(root.getAttribute("data-state"), "online");
  s.view.conn({ state: "error", code: 4101 });
  assert.match(ban.textContent, /unknown site key/);
  s.view.conn({ state: "error", code: 4102 });
  assert.match(ban.textContent, /origin not allowed/);
  s.view.conn({ state: "error", code: 4199 });
  assert.match(ban.textContent, /unavailable/);
});

test("history and unsent messages are drawn once after a reload", () => {
  const storage = new FakeStorage();
  const a = page(storage);
  a.s.up(W);
  a.conn.take();
  for (let i = 1; i <= 3; i++) a.s.frame(e(i));
  a.conn.link.up = false;
  a.s.send("typed offline");
  const b = page(storage);
  assert.deepEqual(b.q("kf-them").map((n) => n.getAttribute("data-off")), ["1", "2", "3"]);
  assert.deepEqual(b.q("kf-me").map((n) => n.getAttribute("data-state")), ["sending"]);
  b.s.up(Object.assign({}, W, { head: 3 }));
  assert.deepEqual(b.conn.take("msg").map((f) => f.body), ["typed offline"]);
  b.s.frame(e(3));
  assert.equal(b.q("kf-them").length, 3, "a repeated entry is not drawn twice");
});

test("unread badge counts agent messages while the window is closed", () => {
  const { s, q, ui } = page();
  s.up(W);
  s.frame(e(1));
  s.frame(e(2));
  assert.equal(q("kf-n")[0].textContent, "2");
  ui.open(true);
  assert.equal(q("kf-n")[0].style.display, "none");
  s.frame(e(3));
  assert.equal(q("kf-n")[0].style.display, "none");
});
