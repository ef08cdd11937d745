"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain } = require("../support/env");

const { ns } = load();

function features(globals, base = "http://chat.test", protocol = "http:") {
  return ns.features(Object.assign({ location: { protocol } }, globals), base);
}
function XhrCors() {
  this.withCredentials = false;
}
function XhrOld() {}

test("the ladder follows what the browser can do (protocol 6.3)", () => {
  const cases = [
    ["modern", { WebSocket() {}, XMLHttpRequest: XhrCors }, ["ws", "lp", "jsonp"]],
    ["no WebSocket (old Android, proxies)", { XMLHttpRequest: XhrCors }, ["lp", "jsonp"]],
    ["IE8/9: XDomainRequest, no CORS XHR", { XMLHttpRequest: XhrOld, XDomainRequest() {} }, ["xdr", "jsonp"]],
    ["IE10+: CORS XHR beats XDomainRequest", { WebSocket() {}, XMLHttpRequest: XhrCors, XDomainRequest() {} }, ["ws", "lp", "jsonp"]],
    ["nothing but script tags", {}, ["jsonp"]],
    ["XHR constructor that throws", { XMLHttpRequest() { throw new Error("ActiveX off"); } }, ["jsonp"]],
  ];
  for (const [name, g, want] of cases) {
    assert.deepEqual(plain(ns.ladder(features(g), null)), want, name);
  }
  // XDomainRequest only works on the page's own scheme.
  const ie9https = features({ XMLHttpRequest: XhrOld, XDomainRequest() {} }, "http://chat.test", "https:");
  assert.deepEqual(plain(ns.ladder(ie9https, null)), ["jsonp"]);
});

test("the site's negotiated transports filter the ladder", () => {
  const f = features({ WebSocket() {}, XMLHttpRequest: XhrCors });
  assert.deepEqual(plain(ns.ladder(f, ["lp", "jsonp"])), ["lp", "jsonp"]);
  assert.deepEqual(plain(ns.ladder(f, ["jsonp", "ws"])), ["ws", "jsonp"], "our order, their set");
  assert.deepEqual(plain(ns.ladder(f, [])), []);
});

test("a round steps down; transports above the one that worked are blocked, then probed again", () => {
  const lad = new ns.Ladder(["ws", "lp", "jsonp"]);
  let now = 1000;
  assert.equal(lad.start(now), "ws");
  assert.equal(lad.fail("ws", now), "lp");
  assert.equal(lad.ok("lp", now), 30000, "WebSocket is probed again in 30 s");
  assert.equal(lad.start(now + 1000), "lp", "while blocked, rounds start below it");
  now += 31000;
  assert.equal(lad.start(now), "ws", "after the block, WebSocket first again");
  assert.equal(lad.fail("ws", now), "lp");
  assert.equal(lad.ok("lp", now), 60000, "the block doubles");
  lad.block("ws", now);
  assert.equal(lad.next("lp", now), 120000);
  for (let i = 0; i < 10; i++) lad.block("ws", now);
  assert.equal(lad.next("lp", now), 600000, "capped at 10 minutes");
  assert.equal(lad.ok("ws", now), -1, "on the best transport there is nothing to probe");
});

test("a round where everything failed (offline) blocks nothing", () => {
  const lad = new ns.Ladder(["ws", "lp", "jsonp"]);
  assert.equal(lad.start(0), "ws");
  assert.equal(lad.fail("ws", 0), "lp");
  assert.equal(lad.fail("lp", 0), "jsonp");
  assert.equal(lad.fail("jsonp", 0), null, "round over");
  assert.equal(lad.start(1), "ws");
  lad.drop("ws");
  assert.deepEqual(plain(lad.list), ["lp", "jsonp"], "close 4105 drops a transport");
  lad.drop("lp");
  lad.drop("jsonp");
  assert.deepEqual(plain(lad.list), ["jsonp"], "the last one stays");
});

test("backoff grows exponentially with jitter and a cap", () => {
  assert.equal(ns.backoff(0, 0), 250);
  assert.equal(ns.backoff(0, 0.999999), 500);
  assert.equal(ns.backoff(1, 0), 500);
  assert.equal(ns.backoff(3, 0), 2000);
  assert.equal(ns.backoff(10, 0), 15000);
  assert.equal(ns.backoff(10, 0.999999), 30000);
  assert.equal(ns.backoff(1000, 0.5), 22500, "no overflow for huge attempts");
  const seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(ns.backoff(2, Math.random()));
  assert.ok(seen.size > 10, "jitter spreads reconnects");
  for (const v of seen) assert.ok(v >= 1000 && v <= 2000);
});
