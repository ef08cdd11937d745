"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain, FakeStorage } = require("../support/env");

function entry(conv, off, extra) {
  return Object.assign({ t: "e", conv, off, kind: "msg", role: "agent", sender: "a1", cid: "x" + off, body: "m" + off, ts: off }, extra);
}

test("entries are taken in offset order; duplicates ignored; gaps reported", () => {
  const { ns } = load();
  const st = new ns.Stream(new ns.Store("s_t"));
  st.reset(7, 99);
  assert.equal(st.accept(entry(7, 1)), "new");
  assert.equal(st.accept(entry(7, 2)), "new");
  assert.equal(st.accept(entry(7, 2)), "dup", "same offset again");
  assert.equal(st.accept(entry(7, 1)), "dup", "older offset");
  assert.equal(st.accept(entry(7, 4)), "gap", "3 is missing");
  assert.equal(st.last, 2, "a gap does not move the position");
  assert.equal(st.accept(entry(8, 3)), "other", "another conversation");
  assert.equal(st.accept(entry(7, 3)), "new");
  assert.equal(st.accept(entry(7, 4)), "new");
  assert.deepEqual(plain(st.hist).map((e) => e.off), [1, 2, 3, 4]);
});

test("position and history persist together and resume after a reload", () => {
  const storage = new FakeStorage();
  const a = load({ storage });
  const st = new a.ns.Stream(new a.ns.Store("s_t"));
  st.reset(7, 99);
  for (let i = 1; i <= 3; i++) st.accept(entry(7, i));
  st.save();
  const b = load({ storage });
  const st2 = new b.ns.Stream(new b.ns.Store("s_t"));
  assert.deepEqual(plain(st2.resume()), { conv: 7, epoch: 99, after: 3 });
  assert.deepEqual(plain(st2.hist).map((e) => e.body), ["m1", "m2", "m3"]);
  const other = new b.ns.Stream(new b.ns.Store("s_other"));
  assert.equal(other.resume(), undefined, "keys are per site");
});

test("an epoch reset voids every offset and the history", () => {
  const { ns } = load();
  const store = new ns.Store("s_t");
  const st = new ns.Stream(store);
  st.reset(7, 99);
  st.accept(entry(7, 1));
  st.accept(entry(7, 2));
  st.mark("dlv", 2);
  st.save();
  st.reset(7, 1234);
  assert.equal(st.last, 0);
  assert.equal(st.hist.length, 0);
  assert.equal(st.dlv, 0);
  assert.deepEqual(plain(new ns.Stream(store).resume()), { conv: 7, epoch: 1234, after: 0 });
  assert.equal(st.accept(entry(7, 1)), "new", "offset 1 is new again in the new epoch");
});

test("truncate drops what lies past the server's head (bad_offset)", () => {
  const { ns } = load();
  const st = new ns.Stream(new ns.Store("s_t"));
  st.reset(7, 99);
  for (let i = 1; i <= 5; i++) st.accept(entry(7, i));
  st.truncate(3);
  assert.equal(st.last, 3);
  assert.deepEqual(plain(st.hist).map((e) => e.off), [1, 2, 3]);
  assert.equal(st.accept(entry(7, 4)), "new");
});

test("history keeps the last 200 entries; read entries move the read mark only", () => {
  const { ns } = load();
  const st = new ns.Stream(new ns.Store("s_t"));
  st.reset(1, 5);
  for (let i = 1; i <= 250; i++) st.accept(entry(1, i, { role: i % 2 ? "visitor" : "agent" }));
  assert.equal(st.hist.length, 200);
  assert.equal(st.hist[0].off, 51);
  assert.equal(st.accept(entry(1, 251, { kind: "read", upto: 249, body: undefined })), "new");
  assert.equal(st.last, 251, "unknown or non-message kinds still count their offsets");
  assert.equal(st.hist.length, 200, "a read entry is not shown");
  assert.equal(st.state(249), "read");
  assert.equal(st.state(250), "sent");
  st.mark("dlv", 250);
  assert.equal(st.state(250), "delivered");
});

test("a tab that is behind does not overwrite a tab that is ahead", () => {
  const storage = new FakeStorage();
  const { ns } = load({ storage });
  const ahead = new ns.Stream(new ns.Store("s_t"));
  ahead.reset(7, 99);
  const behind = new ns.Stream(new ns.Store("s_t"));
  for (let i = 1; i <= 4; i++) ahead.accept(entry(7, i));
  ahead.save();
  behind.accept(entry(7, 1));
  behind.save();
  assert.equal(new ns.Stream(new ns.Store("s_t")).last, 4);
});
