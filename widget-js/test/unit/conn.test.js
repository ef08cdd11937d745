"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load } = require("../support/env");

// A Conn whose links are fakes the test drives: open, welcome, frames, close codes. The
// router's answers come from `route` (set `r.route` to change them; null: unreachable),
// and every request for one is kept in `routes`.
function setup(ladder = ["ws", "lp", "jsonp"], opts = {}) {
  const env = load();
  const { ns } = env;
  const links = [], routes = [];
  const r = { route: { site: "s_t", node: "", url: "http://127.0.0.1:8080" } };
  function get(url, cb) {
    const isRoute = /\/v1\/route\?/.test(url);
    if (isRoute) routes.push(url);
    const answer = isRoute ? r.route : { transports: ladder };
    cb(answer ? null : "net", answer ? JSON.parse(JSON.stringify(answer)) : null);
    return { abort() {} };
  }
  ns.xhr = (method, url, body, ms, cb) => get(url, cb);
  ns.jsonp = (url, ms, cb) => get(url, cb);
  function fake(kind, base, hello, h) {
    const l = {
      kind, base, hello, h, sent: [], dead: false, kicks: 0,
      send(f) { this.sent.push(JSON.parse(JSON.stringify(f))); },
      close() { this.dead = true; },
      end(code, reason) {
        if (!this.dead) {
          this.dead = true;
          h.down(this, code, reason);
        }
      },
      kick() { this.kicks += 1; },
      open() { this.opened = true; },
      welcome(hb = 3000) { h.frame(this, { t: "welcome", v: 1, visitor: "V".repeat(16), conv: null, hb }); },
      frame(f) { h.frame(this, f); },
    };
    links.push(l);
    return l;
  }
  ns.WsLink = function (base, site, hello, h) {
    return fake("ws", base, hello, h);
  };
  ns.LpLink = (kind, base, hello, h) => fake(kind, base, hello, h);
  ns.JsonpLink = (kind, base, hello, h) => fake(kind, base, hello, h);
  const states = [], frames = [], ups = [];
  const c = new ns.Conn({
    base: "http://chat.test", router: opts.router, site: "s_t",
    hello: () => ({ t: "hello", n: links.length }),
    up: (w) => ups.push(w),
    frame: (f) => frames.push(f),
    state: (s) => states.push(JSON.parse(JSON.stringify(s))),
  });
  c.lad = new ns.Ladder(ladder);
  c.feat.ws = true;
  const last = () => links[links.length - 1];
  return { env, ns, c, r, links, routes, states, frames, ups, last, clock: env.clock };
}

test("WebSocket that fails before welcome falls to long-poll at once; WebSocket is probed again later", () => {
  const { c, links, last, states, clock } = setup();
  c.start();
  assert.equal(last().kind, "ws");
  last().end(1006, "");
  assert.equal(links.length, 2);
  assert.equal(last().kind, "lp", "no backoff for a step down the ladder");
  last().welcome();
  assert.equal(c.state, "online");
  assert.equal(states[states.length - 1].transport, "lp");
  clock.advance(30000);
  assert.equal(links.length, 2, "WebSocket is blocked for 30 s");
  clock.advance(2000);
  assert.equal(links.length, 3);
  const probe = last();
  assert.equal(probe.kind, "ws", "upgrade probe");
  assert.equal(c.link, links[1], "the long-poll link stays active meanwhile");
  probe.open();
  probe.welcome();
  assert.equal(c.link, probe, "switched to WebSocket");
  assert.ok(links[1].dead, "long-poll closed");
});

test("when the fallback link dies during an upgrade probe, the probe goes too", () => {
  const { c, links, last, clock } = setup();
  c.start();
  last().end(1006, "");
  last().welcome();
  clock.advance(32000);
  const probe = last();
  assert.equal(probe.kind, "ws");
  links[1].end(0, "network");
  assert.ok(probe.dead, "no second link behind the manager's back");
  assert.equal(c.state, "offline");
  clock.advance(1000);
  assert.equal(links.length, 4, "one reconnect");
  assert.equal(c.link, last());
});

test("a WebSocket that does not open within 4 s counts as failed", () => {
  const { c, last, clock } = setup();
  c.start();
  clock.advance(3900);
  assert.equal(last().kind, "ws");
  clock.advance(200);
  assert.equal(last().kind, "lp");
});

test("garbage before welcome fails the link; after welcome frames go to the owner", () => {
  const { c, last, frames } = setup();
  c.start();
  last().open();
  last().frame({ t: "?" });
  assert.equal(last().kind, "lp");
  last().frame({ t: "e", off: 1 });
  assert.equal(frames.length, 0, "nothing before welcome");
  last().welcome();
  last().frame({ t: "e", off: 1 });
  last().frame({ t: "ping" });
  assert.deepEqual(frames.map((f) => f.t), ["e"]);
  assert.deepEqual(last().sent, [{ t: "pong" }], "ping is answered");
});

test("close codes 4100-4199 stop for good with a clear state", () => {
  for (const code of [4100, 4101, 4102, 4103, 4104]) {
    const { c, links, last, states, clock } = setup();
    c.start();
    last().open();
    last().welcome();
    last().end(code, "nope");
    assert.equal(c.state, "error");
    assert.deepEqual(states[states.length - 1], { state: "error", transport: null, code, reason: "nope" });
    clock.advance(600000);
    c.wake(true);
    assert.equal(links.length, 1, "never reconnects");
  }
});

test("4000-4099 and network drops reconnect with backoff; wake reconnects at once", () => {
  const { c, links, last, states, clock } = setup();
  c.start();
  last().open();
  last().welcome();
  last().end(4000, "server restarting");
  assert.equal(c.state, "offline");
  const retry = states[states.length - 1].retry;
  assert.ok(retry >= 250 && retry <= 500, "first retry soon: " + retry);
  clock.advance(retry);
  assert.equal(links.length, 2);
  assert.equal(last().kind, "ws");
  // Everything fails (offline): the round ends and the waits grow.
  last().end(0);
  last().end(0);
  last().end(0);
  assert.equal(links.length, 4);
  assert.equal(c.state, "offline");
  const second = states[states.length - 1].retry;
  assert.ok(second >= 500 && second <= 1000, "second retry longer: " + second);
  c.wake(true); // online / visibilitychange / pageshow
  assert.equal(links.length, 5, "reconnects at once");
  assert.equal(last().kind, "ws", "a round after an outage starts at the top");
});

test("4105 drops that transport; 4003 backs off harder", () => {
  const { c, last, states } = setup();
  c.start();
  last().end(4105, "transport disabled");
  assert.equal(last().kind, "lp");
  assert.deepEqual(Array.from(c.lad.list), ["lp", "jsonp"]);
  last().welcome();
  last().end(4003, "overloaded");
  assert.equal(c.attempt, 3);
  assert.equal(states[states.length - 1].code, 4003);
});

test("heartbeat watchdog: a silent WebSocket is dropped after 2 x hb + 1 s", () => {
  const { c, links, last, clock } = setup();
  c.start();
  const l = last();
  l.open();
  l.welcome(1000);
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    l.frame({ t: "ping" });
  }
  assert.equal(c.state, "online", "pings keep it alive");
  clock.advance(2900);
  assert.ok(!l.dead, "within 2 x hb + 1 s");
  clock.advance(1200);
  assert.ok(l.dead, "over 3 s of silence with hb = 1 s");
  assert.equal(c.state, "offline");
  clock.advance(1000);
  assert.equal(links.length, 2, "and it reconnects");
});

test("waking a live HTTP link re-polls; a live WebSocket is checked", () => {
  const { c, last, clock } = setup(["lp", "jsonp"]);
  c.start();
  last().welcome();
  c.wake(false);
  assert.equal(last().kicks, 0, "focus alone does not re-poll");
  c.wake(true);
  assert.equal(last().kicks, 1);
  clock.advance(60000);
  assert.equal(c.state, "online", "no watchdog on HTTP channels: the poll is the heartbeat");
});

// Several nodes (protocol 6.4): the router first, moves, and a node that dies.
const N2 = { site: "s_t", node: "n2", url: "http://n2.test/" };

test("the router is asked first, and the widget talks to the node it names", () => {
  const { c, r, routes, last } = setup(undefined, { router: "http://router.test" });
  r.route = N2;
  c.start();
  assert.deepEqual(routes, ["http://router.test/v1/route?site=s_t"]);
  assert.equal(last().base, "http://n2.test", "the node's URL, without its trailing slash");
});

test("a node running alone names no node: the widget keeps the URL it was loaded from", () => {
  const { c, routes, last, env } = setup();
  c.start();
  assert.equal(routes.length, 1, "the router defaults to the widget's own server");
  assert.ok(routes[0].indexOf("http://chat.test/v1/route?") === 0, routes[0]);
  assert.equal(last().base, "http://chat.test", "not the node's own idea of its URL");
  last().open();
  last().welcome();
  last().end(1006, "");
  env.clock.advance(1000);
  assert.equal(routes.length, 1, "a server alone is not asked again after a lost link");
  assert.equal(last().base, "http://chat.test");
});

test("4005 with a URL goes there at once; without one the router is asked again", () => {
  const { c, r, links, routes, last, ups } = setup();
  r.route = N2;
  c.start();
  last().open();
  last().welcome();
  assert.equal(ups.length, 1);
  last().frame({ t: "bye", code: 4005, reason: "moved", url: "http://n3.test" });
  last().end(4005, "moved");
  assert.equal(links.length, 2, "no backoff for a move");
  assert.equal(last().base, "http://n3.test");
  assert.equal(routes.length, 1, "the bye said where: no need to ask");
  last().open();
  last().welcome();
  r.route = { site: "s_t", node: "n4", url: "http://n4.test" };
  last().frame({ t: "bye", code: 4005, reason: "moved", url: "" });
  last().end(4005, "moved");
  assert.equal(routes.length, 2, "an empty url: ask the router");
  assert.equal(links.length, 3);
  assert.equal(last().base, "http://n4.test");
  assert.equal(c.state, "connecting");
});

test("moves that never end in a welcome back off after three", () => {
  const { c, r, links, last, states, clock } = setup();
  r.route = N2;
  c.start();
  for (let i = 0; i < 3; i++) {
    last().open();
    last().frame({ t: "bye", code: 4005, url: i % 2 ? "http://n2.test" : "http://n3.test" });
    last().end(4005, "moved");
  }
  assert.equal(links.length, 4, "three moves followed at once");
  last().open();
  last().frame({ t: "bye", code: 4005, url: "http://n3.test" });
  last().end(4005, "moved");
  assert.equal(links.length, 4, "the fourth waits");
  assert.equal(c.state, "offline");
  assert.equal(states[states.length - 1].code, 4005);
  clock.advance(1000);
  assert.equal(links.length, 5, "then tries again");
  last().open();
  last().welcome();
  assert.equal(c.moves, 0, "a welcome ends the count");
});

test("after losing its node the widget asks the router again before reconnecting", () => {
  const { c, r, links, routes, last, clock } = setup();
  r.route = N2;
  c.start();
  last().open();
  last().welcome();
  last().end(1006, "");
  assert.equal(c.state, "offline");
  r.route = { site: "s_t", node: "n5", url: "http://n5.test" };
  clock.advance(1000);
  assert.equal(routes.length, 2);
  assert.equal(links.length, 2);
  assert.equal(last().base, "http://n5.test");
  // The router cannot be reached: the node known last is tried.
  last().open();
  last().welcome();
  last().end(4000, "restarting");
  r.route = null;
  clock.advance(1000);
  assert.equal(routes.length, 3);
  assert.equal(last().base, "http://n5.test");
});
