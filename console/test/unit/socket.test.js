import { test } from "node:test";
import assert from "node:assert/strict";
import { createLink, backoff, closeVerdict, statusText } from "../../socket.js";

test("backoff doubles from 0.5 s to 15 s, then takes 50–100 % of it", () => {
  assert.equal(backoff(0, () => 1), 500);
  assert.equal(backoff(0, () => 0), 250);
  assert.equal(backoff(3, () => 1), 4000);
  assert.equal(backoff(5, () => 1), 15000);
  assert.equal(backoff(40, () => 0), 7500);
});

test("close codes: expired, fatal with a reason, or worth a reconnect", () => {
  assert.deepEqual(closeVerdict(4103, ""), { expired: true });
  assert.deepEqual(closeVerdict(4102, ""), { fatal: "Disconnected: this address is not an allowed origin of the site (4102)" });
  assert.deepEqual(closeVerdict(4150, "went away"), { fatal: "Disconnected: went away (4150)" });
  assert.deepEqual(closeVerdict(1009, ""), { fatal: "Disconnected: closed by the server (1009)" });
  for (const code of [1000, 1001, 1006, 4000, 4002, 4200]) assert.equal(closeVerdict(code, ""), null, String(code));
});

test("the link's state in words", () => {
  assert.equal(statusText({ state: "online", text: "" }, 0), "Connected");
  assert.equal(statusText({ state: "connecting", text: "" }, 0), "Connecting…");
  assert.equal(statusText({ state: "offline", text: "", retryAt: 4200 }, 1000), "Reconnecting in 4s…");
  assert.equal(statusText({ state: "offline", text: "", retryAt: 900 }, 1000), "Reconnecting in 1s…");
  assert.equal(statusText({ state: "error", text: "Disconnected: x (4101)" }, 0), "Disconnected: x (4101)");
});

// A WebSocket stand-in: the test opens it, sends it frames, closes it.
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closed = null;
    FakeSocket.all.push(this);
  }
  send(s) {
    this.sent.push(JSON.parse(s));
  }
  close(code, reason) {
    this.closed = { code, reason };
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen();
  }
  frame(f) {
    this.onmessage({ data: typeof f === "string" ? f : JSON.stringify(f) });
  }
  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}

// A link on fake sockets and a manual clock.
function rig() {
  FakeSocket.all = [];
  const log = { states: [], frames: [], welcomes: 0, downs: 0, expired: 0 };
  const clock = { t: 1000, timers: [] };
  const link = createLink({
    url: () => "ws://h/v1/ws",
    hello: () => ({ t: "hello", v: 1, role: "agent" }),
    onWelcome: () => log.welcomes++,
    onFrame: (f) => log.frames.push(f),
    onDown: () => log.downs++,
    onExpired: () => log.expired++,
    onState: (s) => log.states.push(s.state + (s.text ? ":" + s.text : "")),
    WebSocket: FakeSocket,
    now: () => clock.t,
    setTimeout: (fn, ms) => {
      const t = { fn, at: clock.t + ms };
      clock.timers.push(t);
      return t;
    },
    clearTimeout: (t) => (clock.timers = clock.timers.filter((x) => x !== t)),
    random: () => 1,
  });
  const advance = (ms) => {
    clock.t += ms;
    for (const t of clock.timers.filter((x) => x.at <= clock.t)) {
      clock.timers = clock.timers.filter((x) => x !== t);
      t.fn();
    }
  };
  const sock = () => FakeSocket.all[FakeSocket.all.length - 1];
  return { link, log, clock, advance, sock };
}

test("hello on open; sends only once welcomed; ping is answered; other frames go on", () => {
  const { link, log, sock } = rig();
  link.start();
  assert.equal(sock().url, "ws://h/v1/ws");
  assert.deepEqual(log.states, ["connecting"]);
  sock().open();
  assert.deepEqual(sock().sent, [{ t: "hello", v: 1, role: "agent" }]);
  assert.equal(link.send({ t: "x" }), false, "not before welcome");
  sock().frame({ t: "welcome", hb: 2000 });
  assert.equal(link.welcomed, true);
  assert.equal(log.welcomes, 1);
  assert.deepEqual(log.states, ["connecting", "online"]);
  assert.equal(link.send({ t: "x" }), true);
  sock().frame({ t: "ping" });
  sock().frame({ t: "pong" });
  sock().frame("not json");
  sock().frame({ t: "e", off: 1 });
  assert.deepEqual(sock().sent.slice(1), [{ t: "x" }, { t: "pong" }]);
  assert.deepEqual(log.frames, [{ t: "e", off: 1 }]);
});

test("a lost link reconnects with backoff; welcome resets it; reconnectNow does not wait", () => {
  const { link, log, clock, advance, sock } = rig();
  link.start();
  sock().open();
  sock().drop(1006);
  assert.equal(log.downs, 1);
  assert.equal(log.states.at(-1), "offline");
  assert.equal(link.status().retryAt, 1500);
  assert.equal(FakeSocket.all.length, 1);
  advance(499);
  assert.equal(FakeSocket.all.length, 1);
  advance(1);
  assert.equal(FakeSocket.all.length, 2, "after 0.5 s");
  sock().drop(1006);
  advance(999);
  assert.equal(FakeSocket.all.length, 2);
  advance(1);
  assert.equal(FakeSocket.all.length, 3, "then after 1 s");
  sock().drop(1006);
  link.reconnectNow();
  assert.equal(FakeSocket.all.length, 4, "at once");
  sock().open();
  sock().frame({ t: "welcome" });
  sock().drop(1006);
  assert.equal(link.status().retryAt - clock.t, 500, "from 0.5 s again after a welcome");
});

test("bye's code decides; 4103 means the token expired; fatal codes do not reconnect", () => {
  let r = rig();
  r.link.start();
  r.sock().open();
  r.sock().frame({ t: "bye", code: 4103 });
  r.sock().drop(1000);
  assert.equal(r.log.expired, 1);
  r.advance(60000);
  assert.equal(FakeSocket.all.length, 1);

  r = rig();
  r.link.start();
  r.sock().open();
  r.sock().drop(4102);
  assert.equal(r.log.states.at(-1), "error:Disconnected: this address is not an allowed origin of the site (4102)");
  r.advance(60000);
  assert.equal(FakeSocket.all.length, 1);
});

test("a silent link is dropped after 2 × hb + 1 s; the countdown moves on while waiting", () => {
  const { link, log, advance, sock } = rig();
  link.start();
  sock().open();
  sock().frame({ t: "welcome", hb: 1000 });
  advance(3000);
  link.tick();
  assert.equal(log.downs, 0);
  advance(1);
  link.tick();
  assert.equal(log.downs, 1);
  assert.equal(sock().closed !== null, true, "the dead socket is closed");
  const n = log.states.length;
  link.tick();
  assert.equal(log.states.length, n + 1, "the waiting state again, for its countdown");
});

test("stop closes the link for good", () => {
  const { link, log, advance, sock } = rig();
  link.start();
  sock().open();
  sock().frame({ t: "welcome" });
  link.stop();
  assert.deepEqual(sock().closed, { code: 1000, reason: "bye" });
  assert.equal(link.welcomed, false);
  assert.equal(link.send({ t: "x" }), false);
  link.reconnectNow();
  advance(60000);
  link.tick();
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(log.downs, 0);
});

// Several nodes (docs/protocol.md §6.4): where to connect comes from route().
function routedRig(answers) {
  const r = rig();
  const asked = [];
  r.link = createLink({
    url: (base) => (base ? base.replace(/^http/, "ws") : "ws://h") + "/v1/ws",
    route: () => {
      asked.push(r.clock.t);
      return Promise.resolve(answers.length > 1 ? answers.shift() : answers[0]);
    },
    hello: () => ({ t: "hello", v: 1, role: "agent" }),
    onWelcome: () => r.log.welcomes++,
    onFrame: () => {},
    onDown: () => r.log.downs++,
    onExpired: () => r.log.expired++,
    onState: (s) => r.log.states.push(s.state),
    WebSocket: FakeSocket,
    now: () => r.clock.t,
    setTimeout: (fn, ms) => {
      const t = { fn, at: r.clock.t + ms };
      r.clock.timers.push(t);
      return t;
    },
    clearTimeout: (t) => (r.clock.timers = r.clock.timers.filter((x) => x !== t)),
    random: () => 1,
  });
  return Object.assign(r, { asked });
}
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("the node serving the site is asked for first; none named: this page's server", async () => {
  let r = routedRig(["http://n2.test"]);
  r.link.start();
  assert.equal(FakeSocket.all.length, 0, "no socket before the answer");
  await settle();
  assert.equal(r.sock().url, "ws://n2.test/v1/ws");
  r = routedRig([null]);
  r.link.start();
  await settle();
  assert.equal(r.sock().url, "ws://h/v1/ws");
});

test("4005 goes to bye.url at once, or asks again; a lost link asks again; moves without welcome back off", async () => {
  const r = routedRig(["http://n2.test", "http://n4.test", "http://n5.test", undefined]);
  r.link.start();
  await settle();
  r.sock().open();
  r.sock().frame({ t: "welcome" });
  r.sock().frame({ t: "bye", code: 4005, url: "http://n3.test/" });
  r.sock().drop(4005);
  assert.equal(r.sock().url, "ws://n3.test/v1/ws", "straight to the node named, no backoff");
  assert.equal(r.asked.length, 1);
  r.sock().open();
  r.sock().frame({ t: "bye", code: 4005, url: "" });
  r.sock().drop(4005);
  await settle();
  assert.equal(r.asked.length, 2, "no node named: ask");
  assert.equal(r.sock().url, "ws://n4.test/v1/ws");
  r.sock().open();
  r.sock().frame({ t: "welcome" });
  r.sock().drop(1006);
  r.advance(500);
  await settle();
  assert.equal(r.asked.length, 3, "a lost link: ask again before reconnecting");
  assert.equal(r.sock().url, "ws://n5.test/v1/ws");
  // Moves that never end in a welcome: three at once, then backoff.
  const n = FakeSocket.all.length;
  for (let i = 0; i < 4; i++) {
    r.sock().open();
    r.sock().frame({ t: "bye", code: 4005, url: "http://n" + (6 + (i % 2)) + ".test" });
    r.sock().drop(4005);
    await settle();
  }
  assert.equal(FakeSocket.all.length, n + 3, "the fourth move waits");
  assert.equal(r.log.states.at(-1), "offline");
  r.advance(2000);
  await settle();
  assert.equal(FakeSocket.all.length, n + 4);
  assert.equal(r.sock().url, "ws://n7.test/v1/ws", "the router could not say: the last node named");
});
