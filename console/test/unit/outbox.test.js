import { test } from "node:test";
import assert from "node:assert/strict";
import { Outbox, newCid, msgFrame } from "../../outbox.js";

// A Storage backed by a Map; shared between two outboxes to stand for a reload.
class FakeStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

const kept = (storage) => JSON.parse(storage.getItem("ob") || "[]").map((i) => i.body);

test("unsent replies are kept across a reload and sent again; acked or delivered ones are not", () => {
  const storage = new FakeStorage();
  const a = new Outbox("ob", storage);
  const one = a.add(7, "first", 100);
  const two = a.add(7, "second", 101);
  const three = a.add(8, "third", 102);
  assert.equal(one.state, "sending");
  assert.deepEqual(kept(storage), ["first", "second", "third"]);
  assert.equal(a.acked(one.cid, 12).state, "sent");
  assert.equal(a.get(one.cid).off, 12, "shown as sent until its entry comes");
  assert.deepEqual(kept(storage), ["second", "third"]);
  assert.equal(a.delivered(two.cid), true);
  assert.equal(a.delivered(two.cid), false, "only once");
  assert.equal(a.failed(three.cid, "too long").why, "too long");
  assert.equal(storage.getItem("ob"), null, "nothing unsent: nothing kept");
  assert.equal(a.acked("nope", 1), null);
  assert.equal(a.failed("nope", "x"), null);

  const four = a.add(8, "fourth", 103);
  const b = new Outbox("ob", storage);
  b.restore();
  assert.deepEqual([...b.values()].map((i) => [i.cid, i.conv, i.body, i.state]), [[four.cid, 8, "fourth", "sending"]]);
  assert.deepEqual(msgFrame(b.get(four.cid)), { t: "msg", conv: 8, cid: four.cid, body: "fourth" });
  b.clear();
  assert.equal(b.size, 0);
  assert.deepEqual(kept(storage), ["fourth"], "clear forgets the memory only");
  b.forget();
  assert.equal(storage.getItem("ob"), null);
});

test("a refusing or broken storage loses nothing in memory", () => {
  const refusing = { getItem() { throw new Error("no"); }, setItem() { throw new Error("full"); }, removeItem() { throw new Error("no"); } };
  const o = new Outbox("ob", refusing);
  const item = o.add(1, "still here");
  o.restore();
  o.forget();
  assert.equal(o.get(item.cid).body, "still here");
  const junk = new FakeStorage();
  junk.setItem("ob", '[null, {"cid": "x"}, {"cid": "y", "conv": 2, "body": 5}, "{broken"]');
  const p = new Outbox("ob", junk);
  p.restore();
  assert.equal(p.size, 0, "nothing usable");
  junk.setItem("ob", "{not json");
  p.restore();
  assert.equal(p.size, 0);
  const none = new Outbox("ob", null);
  none.add(1, "memory only");
  none.restore();
  assert.equal(none.size, 1);
});

test("client message ids are unique and carry their prefix", () => {
  const ids = new Set(Array.from({ length: 1000 }, () => newCid("m")));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^m[0-9a-z]+$/);
  assert.match(newCid("m", 0, [35, 35]), /^m0[0-9a-z]+zz$/);
});
