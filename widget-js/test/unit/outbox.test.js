"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain, FakeStorage } = require("../support/env");

test("queued messages keep their cid and order across reloads until removed", () => {
  const storage = new FakeStorage();
  const a = load({ storage });
  const box = new a.ns.Outbox(new a.ns.Store("s_t"));
  const m1 = box.add("first");
  const m2 = box.add("second", { contact: { name: "Ann", email: "ann@example.com" } });
  const m3 = box.add("third");
  assert.match(m1.cid, /^[A-Za-z0-9_-]{1,64}$/);
  assert.equal(new Set([m1.cid, m2.cid, m3.cid]).size, 3, "cids are unique");

  const b = load({ storage }); // a reload, or another page of the site
  const box2 = new b.ns.Outbox(new b.ns.Store("s_t"));
  assert.deepEqual(plain(box2.list()).map((m) => [m.cid, m.body]), [[m1.cid, "first"], [m2.cid, "second"], [m3.cid, "third"]]);
  assert.deepEqual(JSON.parse(JSON.stringify(b.ns.Outbox.frame(box2.list()[1]))), {
    t: "msg", cid: m2.cid, body: "second", contact: { name: "Ann", email: "ann@example.com" },
  });
  assert.equal(box2.remove(m2.cid), true);
  assert.equal(box2.remove(m2.cid), false, "removing twice is harmless");
  assert.deepEqual(plain(new a.ns.Outbox(new a.ns.Store("s_t")).list()).map((m) => m.body), ["first", "third"]);
});

test("without localStorage (or when it throws) the outbox lives in memory", () => {
  const throwing = {
    getItem() { throw new Error("SecurityError"); },
    setItem() { throw new Error("QuotaExceededError"); },
    removeItem() { throw new Error("SecurityError"); },
  };
  for (const storage of [null, throwing]) {
    const { ns } = load({ storage });
    const store = new ns.Store("s_t");
    assert.equal(store.ls, null, "the probe falls back to memory");
    const box = new ns.Outbox(store);
    const m = box.add("hello");
    assert.deepEqual(plain(box.list()).map((x) => x.cid), [m.cid]);
    box.remove(m.cid);
    assert.equal(box.list().length, 0);
  }
});

test("a full localStorage keeps working from memory for that key", () => {
  const storage = new FakeStorage();
  const { ns } = load({ storage });
  const store = new ns.Store("s_t");
  storage.setItem = () => {
    throw new Error("QuotaExceededError");
  };
  store.set("outbox", [{ cid: "c1", body: "x" }]);
  assert.equal(store.get("outbox")[0].cid, "c1");
});
