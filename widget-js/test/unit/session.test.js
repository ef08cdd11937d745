"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain, fakeConn, FakeStorage } = require("../support/env");

const VISITOR = "Vh3kVh3kVh3kVh3kVh3k";

// A session on a fake conn, with a view that records what it was told to show.
function session(opts = {}) {
  const env = load({ storage: opts.storage });
  const { ns } = env;
  const conn = fakeConn();
  const shown = [];
  const view = new Proxy({}, {
    get: (_, k) => (...a) => {
      while (a.length && a[a.length - 1] === undefined) a.pop();
      shown.push([k, ...plain(a)]);
    },
  });
  const events = [];
  const ev = new ns.Emitter();
  for (const name of ["ready", "message", "error", "state"]) ev.on(name, (d) => events.push([name, plain(d)]));
  const s = new ns.Session({ site: "s_test", base: "http://chat.test", ev, conn });
  s.view = view;
  return { env, ns, s, conn, shown, events };
}
function welcome(conv, epoch, head) {
  return { t: "welcome", v: 1, session: "q1", visitor: VISITOR, conv, epoch, head, hb: 3000 };
}
function e(off, extra) {
  return Object.assign({ t: "e", conv: 7, off, kind: "msg", role: "agent", sender: "a1", cid: "a" + off, body: "agent " + off, ts: off }, extra);
}
function down(conn) {
  conn.link.up = false;
}
function reconnect(s, conn, w) {
  conn.link.up = true;
  s.up(w);
}

test("hello: nothing on a first visit; visitor token and resume position after one", () => {
  const storage = new FakeStorage();
  const a = session({ storage });
  assert.deepEqual(plain(a.s.hello()), { t: "hello", v: 1, site: "s_test", role: "visitor" });
  a.s.up(welcome(7, 99, 0));
  a.s.frame({ t: "following", conv: 7, epoch: 99, head: 2 });
  a.s.frame(e(1));
  a.s.frame(e(2));
  assert.deepEqual(a.events.filter((x) => x[0] !== "message"), [["ready", { visitor: VISITOR }]]);

  const b = session({ storage }); // the page reloads
  assert.deepEqual(plain(b.s.hello()), {
    t: "hello", v: 1, site: "s_test", role: "visitor", visitor: VISITOR, resume: { conv: 7, epoch: 99, after: 2 },
  });
  b.s.identify({ token: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" });
  assert.equal(b.conn.restarts, 1, "identify reconnects so the hello carries the user");
  assert.deepEqual(plain(b.s.hello().user), { token: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" }, "passed through unchanged");
  b.s.identify({ id: "u42", name: "Ann", attrs: { plan: "gold" } });
  assert.deepEqual(plain(b.s.hello().user), { id: "u42", name: "Ann", attrs: { plan: "gold" } }, "plain fields too");
});

test("messages typed while down are sent after welcome, and resent after every reconnect until acked", () => {
  const { s, conn, shown } = session();
  down(conn);
  const sent = ["one", "two", "three"].map((t) => s.send(t)[0]);
  assert.equal(conn.take("msg").length, 0, "nothing goes out while down");
  assert.deepEqual(shown.filter((x) => x[0] === "pending").map((x) => x[1].body), ["one", "two", "three"]);

  reconnect(s, conn, welcome(null, null, null));
  assert.deepEqual(conn.take("msg").map((f) => [f.cid, f.body]), sent.map((m) => [m.cid, m.body]), "in order, same cids");
  s.frame({ t: "ack", cid: sent[0].cid, conv: 7, off: 1, ts: 1, dup: false });
  assert.deepEqual(shown.filter((x) => x[0] === "acked"), [["acked", sent[0].cid]]);

  down(conn);
  reconnect(s, conn, welcome(7, 99, 1));
  assert.deepEqual(conn.take("msg").map((f) => f.cid), [sent[1].cid, sent[2].cid], "the unacked ones again");

  // The entry carrying a cid also proves the commit (ack and e may come in either order).
  s.frame({ t: "following", conv: 7, epoch: 99, head: 2 });
  s.frame(e(1, { role: "visitor", cid: sent[0].cid, body: "one" }));
  s.frame(e(2, { role: "visitor", cid: sent[1].cid, body: "two" }));
  down(conn);
  reconnect(s, conn, welcome(7, 99, 2));
  assert.deepEqual(conn.take("msg").map((f) => f.cid), [sent[2].cid]);
  assert.equal(s.send("   ").length, 0, "blank text is not sent");
  assert.equal(s.send("x".repeat(9000)).length, 3, "over 4000 characters: several messages");
});

test("entries: duplicates ignored, a gap re-follows once after the last offset", () => {
  const { s, conn, shown, events } = session();
  s.up(welcome(7, 99, 0));
  s.frame({ t: "following", conv: 7, epoch: 99, head: 5 });
  for (const off of [1, 2, 2, 1]) s.frame(e(off));
  assert.deepEqual(shown.filter((x) => x[0] === "entry").map((x) => x[1].off), [1, 2]);
  s.frame(e(4));
  s.frame(e(5));
  assert.deepEqual(conn.take("follow"), [{ t: "follow", conv: 7, epoch: 99, after: 2 }], "one follow per gap");
  s.frame({ t: "following", conv: 7, epoch: 99, head: 5 });
  for (const off of [3, 4, 5]) s.frame(e(off));
  assert.deepEqual(shown.filter((x) => x[0] === "entry").map((x) => x[1].off), [1, 2, 3, 4, 5]);
  assert.deepEqual(events.filter((x) => x[0] === "message").map((x) => x[1].off), [1, 2, 3, 4, 5]);
  assert.equal(s.st.last, 5);
});

test("acks are cumulative, batched, and never beyond what this link delivered", () => {
  const { s, conn, env } = session();
  s.up(welcome(7, 99, 0));
  for (const off of [1, 2, 3]) s.frame(e(off));
  assert.equal(conn.take("ack").length, 0, "not at once");
  env.clock.advance(300);
  assert.deepEqual(conn.take("ack"), [{ t: "ack", conv: 7, off: 3 }]);
  env.clock.advance(1000);
  assert.equal(conn.take("ack").length, 0, "nothing new, no ack");
  down(conn);
  reconnect(s, conn, welcome(7, 99, 3));
  env.clock.advance(1000);
  assert.equal(conn.take("ack").length, 0, "a resumed link has delivered nothing yet");
  s.frame(e(4));
  env.clock.advance(300);
  assert.deepEqual(conn.take("ack"), [{ t: "ack", conv: 7, off: 4 }]);
});

test("epoch_mismatch: offsets and history of the old epoch are dropped", () => {
  const storage = new FakeStorage();
  const a = session({ storage });
  a.s.up(welcome(7, 99, 0));
  for (const off of [1, 2, 3]) a.s.frame(e(off));

  const b = session({ storage });
  // On resume the server corrects us itself (lenient): err, then following from 0.
  b.s.up(welcome(7, 555, 1));
  b.s.frame({ t: "err", code: "epoch_mismatch", msg: "", conv: 7, epoch: 555, head: 1 });
  assert.equal(b.conn.take("follow").length, 0, "no follow of our own after a hello");
  assert.deepEqual(plain(b.s.st.resume()), { conv: 7, epoch: 555, after: 0 });
  assert.deepEqual(b.shown.filter((x) => x[0] === "reset").length > 0, true, "the view redraws");
  b.s.frame({ t: "following", conv: 7, epoch: 555, head: 1 });
  b.s.frame(e(1, { body: "new life" }));
  assert.deepEqual(plain(b.s.st.hist).map((x) => x.body), ["new life"]);

  // A refused explicit follow (after the hello's follow): we follow again from 0.
  b.s.frame({ t: "err", code: "epoch_mismatch", msg: "", conv: 7, epoch: 777, head: 0 });
  assert.deepEqual(b.conn.take("follow"), [{ t: "follow", conv: 7, epoch: 777, after: 0 }]);
});

test("bad_offset: local state past the head is dropped; an ack refusal changes nothing", () => {
  const { s, conn } = session();
  s.up(welcome(7, 99, 0));
  s.frame({ t: "following", conv: 7, epoch: 99, head: 4 });
  for (const off of [1, 2, 3, 4]) s.frame(e(off));
  s.frame({ t: "err", code: "bad_offset", msg: "ack beyond what was sent", conv: 7, head: 2 });
  assert.equal(s.st.last, 4, "without epoch it answers an ack");
  s.frame({ t: "err", code: "bad_offset", msg: "", conv: 7, epoch: 99, head: 2 });
  assert.equal(s.st.last, 2);
  assert.deepEqual(plain(s.st.hist).map((x) => x.off), [1, 2]);
  assert.deepEqual(conn.take("follow"), [{ t: "follow", conv: 7, epoch: 99, after: 2 }]);
});

test("welcome and conv frames switch conversations", () => {
  const { s } = session();
  s.up(welcome(7, 99, 0));
  s.frame(e(1));
  s.frame({ t: "conv", conv: 8, epoch: 12 });
  assert.deepEqual(plain(s.st.resume()), { conv: 8, epoch: 12, after: 0 });
  s.up(welcome(null, null, null));
  assert.equal(s.st.resume(), undefined, "the server has no open conversation for us");
  s.frame({ t: "conv", conv: 9, epoch: 3 });
  s.frame({ t: "following", conv: 9, epoch: 3, head: 0 });
  s.frame(e(1, { conv: 9 }));
  assert.equal(s.st.last, 1);
});

test("section 7 frames reach the view; delivered and read move message states", () => {
  const { s, shown } = session();
  s.up(welcome(7, 99, 0));
  s.frame(e(1, { role: "visitor", cid: "v1" }));
  s.frame({ t: "typing", conv: 7, role: "agent", name: "Alice", on: true });
  s.frame({ t: "typing", conv: 7, role: "visitor", name: "me", on: true });
  s.frame({ t: "agents", online: false });
  s.frame({ t: "invite", id: "i1", name: "Alice", text: "Need help?" });
  s.frame({ t: "delivered", conv: 7, upto: 1 });
  assert.equal(s.st.state(1), "delivered");
  s.frame(e(2, { kind: "read", upto: 1 }));
  assert.equal(s.st.state(1), "read");
  s.frame({ t: "mystery", x: 1 });
  s.frame(e(3, { kind: "future-kind" }));
  assert.equal(s.st.last, 3, "unknown kinds count their offsets");
  const names = shown.map((x) => x[0]);
  assert.deepEqual(shown.filter((x) => x[0] === "typing"), [["typing", true, "Alice"]]);
  assert.deepEqual(shown.find((x) => x[0] === "agents"), ["agents", false]);
  assert.deepEqual(shown.find((x) => x[0] === "invite")[1], { t: "invite", id: "i1", name: "Alice", text: "Need help?" });
  assert.ok(names.filter((n) => n === "marks").length >= 2);
});

test("volatile frames: page on every welcome, typing throttled, stopped once the server refuses a type", () => {
  const { s, conn, env } = session();
  s.up(welcome(null, null, null));
  const page = conn.take("page");
  assert.equal(page.length, 1);
  assert.deepEqual(Object.keys(page[0]).sort(), ["ref", "t", "title", "url", "visible", "visits"]);
  assert.equal(page[0].visits, 1, "a first visit");
  assert.equal(page[0].url, "http://shop.test/page");
  s.typing("h");
  s.typing("he");
  env.clock.advance(600);
  s.typing("hel");
  s.typing("");
  // "he" was throttled, then sent as the burst's trailing draft once the interval passed;
  // "hel" came too soon after it and was overtaken by the stop.
  assert.deepEqual(conn.take("typing"), [
    { t: "typing", on: true, text: "h" }, { t: "typing", on: true, text: "he" }, { t: "typing", on: false },
  ]);
  s.typing("d");
  env.clock.advance(100);
  s.typing("do");
  env.clock.advance(600);
  assert.deepEqual(conn.take("typing"), [
    { t: "typing", on: true, text: "d" }, { t: "typing", on: true, text: "do" },
  ], "the last keystrokes of a burst are not lost");
  s.typing("");
  conn.take("typing");
  s.inviteReply("i1", true);
  assert.deepEqual(conn.take("invite_reply"), [{ t: "invite_reply", id: "i1", accept: true }]);

  // Today's server answers section 7 frames with bad_frame: stop sending that type.
  s.page();
  assert.equal(conn.take("page").length, 1);
  s.frame({ t: "err", code: "bad_frame", msg: "unknown variant `page`" });
  down(conn);
  reconnect(s, conn, welcome(null, null, null));
  assert.equal(conn.take("page").length, 0);
  s.typing("x");
  assert.equal(conn.take("typing").length, 1, "other types still go");
});

test("too_long and overloaded", () => {
  const { s, conn, shown, events, env } = session();
  s.up(welcome(null, null, null));
  const [small] = s.send("short");
  const [big] = s.send("y".repeat(3000));
  conn.take();
  s.frame({ t: "err", code: "too_long", msg: "body is over 2000 characters" });
  assert.deepEqual(plain(s.out.list()).map((m) => m.cid), [small.cid], "the longest pending message is dropped");
  assert.deepEqual(shown.filter((x) => x[0] === "failed"), [["failed", big.cid]]);
  assert.deepEqual(events.filter((x) => x[0] === "error"), [["error", { code: "too_long", cid: big.cid }]]);
  s.frame({ t: "err", code: "overloaded", msg: "", cid: small.cid });
  assert.equal(conn.take("msg").length, 0, "not at once");
  env.clock.advance(3000);
  assert.deepEqual(conn.take("msg").map((f) => f.cid), [small.cid], "resent after a backoff");
});

test("the queue position reaches the view", () => {
  const { s, shown } = session();
  s.up(welcome(null, null, null));
  s.frame({ t: "queue", conv: 3, position: 2 });
  s.frame({ t: "queue", conv: 3, position: 0 });
  assert.deepEqual(shown.filter((x) => x[0] === "queue"), [["queue", 2], ["queue", 0]]);
});
