import { test } from "node:test";
import assert from "node:assert/strict";
import * as st from "../../streams.js";

const who = { me: "a1", name: "Ann", agentName: (s) => ({ a2: "Bob" })[s] || "Agent", teamIdByName: (n) => (n === "Bob" ? "a2" : null) };
const msg = (off, role, body, extra = {}) => ({ conv: 7, off, kind: "msg", role, sender: role === "visitor" ? "v9" : "a1", body, ts: 1000 + off, ...extra });

// A stream following from 0 with the given entries added.
function held(entries, epoch = 11) {
  const C = st.newStream(7);
  st.followFrame(C, 0);
  st.onFollowing(C, { conv: 7, epoch, head: entries.length });
  for (const e of entries) assert.equal(st.addEntry(C, e), "added");
  st.recompute(C, who);
  return C;
}

test("a stream held nothing of is followed from its recent part, with its epoch once known", () => {
  const C = st.newStream(7);
  C.head = 250;
  assert.deepEqual(st.followFrame(C, undefined, 200), { t: "follow", conv: 7, after: 50 });
  assert.equal(C.base, 50);
  assert.equal(C.last, 50);
  assert.ok(C.followed && C.pendingFollow);
  st.onFollowing(C, { conv: 7, epoch: 11, head: 250 });
  assert.ok(C.following && !C.pendingFollow);
  assert.deepEqual(st.followFrame(C), { t: "follow", conv: 7, after: 50, epoch: 11 });
  const short = st.newStream(8);
  short.head = 12;
  assert.equal(st.followFrame(short).after, 0, "a short stream from 0");
});

test("entries: in order they are added, again they are held, past a gap they stop the stream", () => {
  const C = held([msg(1, "visitor", "hi")]);
  assert.equal(st.addEntry(C, msg(1, "visitor", "hi")), "held");
  assert.equal(st.addEntry(C, msg(3, "visitor", "later")), "gap");
  assert.equal(C.following, false);
  assert.equal(C.last, 1, "nothing past the gap is taken");
  assert.deepEqual(st.followFrame(C, C.last), { t: "follow", conv: 7, after: 1, epoch: 11 }, "asked again after what is held");
  assert.equal(st.addEntry(C, msg(2, "visitor", "x")), "ignored", "not followed until `following`");
  st.onFollowing(C, { conv: 7, epoch: 11, head: 3 });
  assert.equal(st.addEntry(C, msg(2, "visitor", "x")), "added");
  assert.equal(C.head, 3);
});

test("a message ends its side's typing indicator; indicators expire", () => {
  const C = held([]);
  st.setTyping(C, { role: "visitor", on: true, text: "Do you" }, 100);
  st.setTyping(C, { role: "agent", on: true }, 100);
  assert.deepEqual(C.typing, { text: "Do you", at: 100 });
  assert.deepEqual(C.agentTyping, { name: "An agent", at: 100 });
  st.addEntry(C, msg(1, "visitor", "Do you ship?"));
  assert.equal(C.typing, null);
  assert.ok(C.agentTyping);
  assert.equal(st.expireTyping(C, 100 + st.PEEK_TTL), false);
  assert.equal(st.expireTyping(C, 101 + st.PEEK_TTL), true);
  assert.equal(C.agentTyping, null);
  st.setTyping(C, { role: "visitor", on: true }, 5);
  st.onLinkDown(C);
  assert.equal(C.typing, null);
  assert.equal(C.following, false);
});

test("another epoch drops what was held: on `following` and on epoch_mismatch", () => {
  const C = held([msg(1, "visitor", "a"), msg(2, "visitor", "b")]);
  C.readSent = 2;
  C.ackSent = 2;
  st.onFollowing(C, { conv: 7, epoch: 12, head: 1 });
  assert.equal(C.entries.size, 0);
  assert.deepEqual([C.base, C.last, C.readSent, C.ackSent, C.epoch, C.head], [0, 0, 0, 0, 12, 1]);

  const D = held([msg(1, "visitor", "a")]);
  st.onEpochMismatch(D, { code: "epoch_mismatch", epoch: 13, head: 260 });
  assert.deepEqual([D.entries.size, D.last, D.epoch, D.head], [0, 0, 13, 260]);
  assert.deepEqual(st.followFrame(D, 0), { t: "follow", conv: 7, after: 60, epoch: 13 }, "from 0 again, its recent part");
});

test("bad_offset: what lies beyond the server's head is dropped", () => {
  const C = held([1, 2, 3, 4].map((o) => msg(o, "visitor", "m" + o)));
  C.readSent = 4;
  C.ackSent = 3;
  st.onBadOffset(C, 2);
  assert.deepEqual([...C.entries.keys()], [1, 2]);
  assert.deepEqual([C.last, C.base, C.readSent, C.ackSent], [2, 0, 2, 2]);
  assert.equal(st.followFrame(C, C.last).after, 2);
});

test("older entries merge in below base, unless the epoch changed", () => {
  const C = st.newStream(7);
  C.head = 230;
  st.followFrame(C);
  st.onFollowing(C, { conv: 7, epoch: 11, head: 230 });
  assert.equal(C.base, 30);
  const range = st.earlierRange(C);
  assert.deepEqual(range, { from: 0, limit: 30 });
  C.loadingOlder = true;
  assert.equal(st.earlierRange(C), null, "one load at a time");
  C.loadingOlder = false;
  const entries = Array.from({ length: 31 }, (_, i) => msg(i + 1, "visitor", "old " + (i + 1)));
  assert.equal(st.mergeEarlier(C, { epoch: 12, entries }, 0), false);
  assert.equal(C.base, 30);
  assert.equal(st.mergeEarlier(C, { epoch: 11, entries }, 0), true);
  assert.equal(C.base, 0);
  assert.equal(C.entries.size, 30, "only what lies below base");
  assert.equal(st.earlierRange(C), null, "all is held");
});

test("what the entries add up to: owner, closed, unread, read marks, preview, contact", () => {
  const C = held([
    msg(1, "visitor", "hello", { contact: { name: "Lee", email: "lee@x" } }),
    { conv: 7, off: 2, kind: "join", role: "agent", sender: "a2", body: "Bob", ts: 3 },
    msg(3, "agent", "hi, Bob here", { sender: "a2" }),
    msg(4, "visitor", "question"),
  ]);
  assert.deepEqual(C.owner, { sender: "a2", name: "Bob" });
  assert.equal(C.mine, false);
  assert.equal(C.unread, 2);
  assert.equal(C.preview, "question");
  assert.deepEqual(C.contact, { name: "Lee", email: "lee@x" });
  assert.ok(st.readDue(C));
  assert.ok(st.ackDue(C));

  // Transferred to me by name only, then my read mark, then the visitor's.
  st.addEntry(C, { conv: 7, off: 5, kind: "transfer", role: "agent", sender: "", body: "Ann", ts: 6 });
  st.addEntry(C, { conv: 7, off: 6, kind: "read", role: "agent", sender: "a1", upto: 5, ts: 7 });
  st.addEntry(C, msg(7, "agent", "on it"));
  st.addEntry(C, { conv: 7, off: 8, kind: "read", role: "visitor", sender: "v9", upto: 7, ts: 9 });
  st.recompute(C, who);
  assert.deepEqual(C.owner, { sender: null, name: "Ann" });
  assert.equal(C.mine, true, "by name, when the entry has no sender");
  assert.equal(C.unread, 0);
  assert.equal(C.readUpto, 5);
  assert.equal(C.visitorRead, 7);
  assert.equal(C.preview, "You: on it");
  assert.equal(st.seenAt(C), 7, "seen after my message");
  assert.equal(st.readDue(C), false);

  st.addEntry(C, { conv: 7, off: 9, kind: "close", role: "agent", sender: "a1", ts: 50 });
  st.recompute(C, who);
  assert.equal(C.closed, true);
  assert.equal(C.lastTs, 50);
  st.addEntry(C, msg(10, "visitor", "one more"));
  st.recompute(C, who);
  assert.equal(C.unread, 1);
  assert.equal(C.closed, false, "a message opens it again");
  st.addEntry(C, { conv: 7, off: 11, kind: "close", role: "agent", sender: "a1", ts: 60 });
  st.addEntry(C, { conv: 7, off: 12, kind: "reopen", role: "agent", sender: "", body: "Bob", ts: 70 });
  st.recompute(C, who);
  assert.deepEqual([C.closed, C.owner.sender, C.mine, C.lastTs], [false, "a2", false, 70], "reopened by Bob, found by name");
  assert.equal(C.names.get("a2"), "Bob");
});

test("no owner: mine when assigned to me; unread totals count mine and nobody's", () => {
  const C = held([msg(1, "visitor", "a")]);
  assert.equal(C.mine, false);
  C.assignedToMe = true;
  st.recompute(C, who);
  assert.equal(C.mine, true);
  const other = held([msg(1, "visitor", "a"), { conv: 7, off: 2, kind: "join", role: "agent", sender: "a2", body: "Bob", ts: 1 }, msg(3, "visitor", "b")]);
  const waiting = held([msg(1, "visitor", "x"), msg(2, "visitor", "y")]);
  assert.equal(st.unreadTotal([C, other, waiting]), 1 + 2);
});
