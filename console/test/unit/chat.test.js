// The flow between frames, streams and the agent's actions, with the socket and the page
// stood in for: what is sent, and what the conversations become.
import { test, beforeEach, afterEach, mock } from "node:test";
import assert from "node:assert/strict";
import { S, resetState, newConv, conv } from "../../state.js";
import * as api from "../../api.js";
import * as chat from "../../chat.js";

const realFetch = globalThis.fetch;
let sent, renders, toasts, selected, connected, rest;

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout"] });
  resetState();
  S.token = "tok";
  S.agent = { id: 1, name: "Ann", site: "s_x" };
  sent = [];
  renders = [];
  toasts = [];
  selected = [];
  connected = true;
  rest = { "/v1/conversations": { conversations: [] } };
  globalThis.fetch = async (url) => {
    const body = rest[url.split("?")[0]] ?? rest[url];
    return { status: body ? 200 : 404, ok: !!body, json: async () => body };
  };
  api.configure({ token: () => S.token, expired: () => {} });
  chat.initChat({
    send: (f) => connected && !!sent.push(f),
    render: (...p) => renders.push(...p),
    renderMessages: () => renders.push("messages!"),
    toast: (t, kind) => toasts.push([t, kind]),
    select: (id) => selected.push(id),
    visitorLeft: () => {},
    visible: () => true,
    updateTitle: () => {},
    typingStop: () => sent.push({ t: "typing-stop" }),
    loadCanned: () => {},
  });
});

afterEach(() => {
  mock.timers.tick(60000); // every pending timer, so none leaks into the next test
  mock.timers.reset();
  globalThis.fetch = realFetch;
});

const take = (t) => {
  const out = sent.filter((f) => f.t === t);
  sent = sent.filter((f) => f.t !== t);
  return out;
};
const entry = (off, props = {}) => ({ t: "e", conv: 7, off, kind: "msg", role: "visitor", sender: "v9", body: "m" + off, ts: off, ...props });
const settle = () => new Promise((resolve) => setImmediate(resolve));

// Conversation 7, followed from 0 and confirmed in epoch 5.
async function following(head = 0) {
  const C = newConv(7);
  C.head = head;
  await chat.startFollow(C);
  chat.onFrame({ t: "following", conv: 7, epoch: 5, head });
  return C;
}

test("a gap asks again after what is held; every entry is held once, in order; acks follow", async () => {
  const C = await following();
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 0 }]);
  for (const off of [1, 2, 4]) chat.onFrame(entry(off));
  assert.equal(C.last, 2);
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 2, epoch: 5 }], "after the gap");
  chat.onFrame(entry(5));
  assert.equal(C.last, 2, "nothing until `following`");
  chat.onFrame({ t: "following", conv: 7, epoch: 5, head: 5 });
  for (const off of [3, 3, 4, 5]) chat.onFrame(entry(off));
  assert.deepEqual([...C.entries.keys()], [1, 2, 3, 4, 5]);
  assert.equal(C.unread, 5);
  mock.timers.tick(250);
  assert.deepEqual(take("ack"), [{ t: "ack", conv: 7, off: 5 }], "one ack for the burst");
  chat.onFrame(entry(6));
  mock.timers.tick(250);
  assert.deepEqual(take("ack"), [{ t: "ack", conv: 7, off: 6 }]);
});

test("a read mark once the agent looks, after a burst", async () => {
  const C = await following();
  S.current = 7;
  for (const off of [1, 2, 3]) chat.onFrame(entry(off));
  assert.deepEqual(take("read"), []);
  mock.timers.tick(300);
  assert.deepEqual(take("read"), [{ t: "read", conv: 7, upto: 3 }]);
  assert.equal(C.unread, 0);
  chat.markRead(C);
  assert.deepEqual(take("read"), [], "nothing new to mark");
});

test("epoch_mismatch: everything held is dropped and the stream followed from 0 in its epoch", async () => {
  const C = await following(2);
  for (const off of [1, 2]) chat.onFrame(entry(off));
  take("follow");
  chat.onFrame({ t: "err", code: "epoch_mismatch", conv: 7, epoch: 9, head: 1 });
  assert.equal(C.entries.size, 0);
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 0, epoch: 9 }]);
  chat.onFrame({ t: "following", conv: 7, epoch: 9, head: 1 });
  chat.onFrame(entry(1, { body: "new epoch" }));
  assert.deepEqual([...C.entries.values()].map((e) => e.body), ["new epoch"]);
});

test("bad_offset on a follow: what lies beyond the head is dropped, the follow starts there", async () => {
  const C = await following(3);
  for (const off of [1, 2, 3]) chat.onFrame(entry(off));
  take("follow");
  chat.onDown();
  assert.equal(C.following, false);
  chat.onWelcome();
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 3, epoch: 5 }], "resumed from what is held");
  chat.onFrame({ t: "err", code: "bad_offset", conv: 7, head: 1 });
  assert.deepEqual([...C.entries.keys()], [1]);
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 1, epoch: 5 }]);
  chat.onFrame({ t: "err", code: "bad_offset", conv: 7, head: 0 });
  chat.onFrame({ t: "following", conv: 7, epoch: 5, head: 1 });
  chat.onFrame({ t: "err", code: "bad_offset", conv: 7, head: 0 });
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 7, after: 0, epoch: 5 }], "only while a follow is pending");
});

test("replies: resent on welcome until acked, gone from the outbox once their entry comes", async () => {
  const C = await following();
  take("follow");
  connected = false;
  const item = S.outbox.add(7, "kept");
  chat.onWelcome();
  connected = true;
  chat.onWelcome();
  assert.deepEqual(take("msg"), [{ t: "msg", conv: 7, cid: item.cid, body: "kept" }]);
  chat.onFrame({ t: "ack", cid: item.cid, off: 1 });
  assert.equal(S.outbox.get(item.cid).state, "sent");
  chat.onWelcome();
  assert.deepEqual(take("msg"), [], "an acked reply is not sent again");
  chat.onFrame(entry(1, { role: "agent", sender: "a1", cid: item.cid, body: "kept" }));
  assert.equal(S.outbox.size, 0);
  assert.equal(C.preview, "You: kept");

  const busy = S.outbox.add(7, "busy");
  chat.onFrame({ t: "err", code: "overloaded", cid: busy.cid });
  assert.deepEqual(take("msg"), []);
  mock.timers.tick(4000);
  assert.deepEqual(take("msg").map((f) => f.cid), [busy.cid], "tried again later");
  chat.onFrame({ t: "err", code: "too_long", cid: busy.cid });
  assert.deepEqual([S.outbox.get(busy.cid).state, S.outbox.get(busy.cid).why], ["failed", "too long"]);
});

test("unknown_conv: a refused follow forgets the conversation; a refused reply fails", async () => {
  await following();
  S.current = 7;
  const item = S.outbox.add(7, "x");
  chat.onFrame({ t: "err", code: "unknown_conv", conv: 7, cid: item.cid });
  assert.equal(S.outbox.get(item.cid).state, "failed");
  assert.ok(conv(7), "a refused reply does not forget the conversation");
  const D = newConv(8);
  D.head = 1;
  await chat.startFollow(D);
  chat.onFrame({ t: "err", code: "unknown_conv", conv: 8 });
  assert.equal(conv(8), undefined);
});

test("the conversation list: followed, at most once each", async () => {
  rest["/v1/conversations"] = { conversations: [{ conv: 3, visitor: "v1", head: 4, epoch: 2 }, { conv: 4, visitor: "v2", head: 0, epoch: 3 }] };
  rest["/v1/conversations/4/entries"] = { head: 0, epoch: 3, entries: [] };
  await chat.loadConversations();
  await settle();
  assert.deepEqual(take("follow").map((f) => [f.conv, f.after, f.epoch]), [[3, 0, 2], [4, 0, 3]]);
  await chat.loadConversations();
  await settle();
  assert.deepEqual(take("follow"), []);
  assert.equal(conv(3).vkey, "v1");
});

test("older entries: fetched below base and merged in", async () => {
  const C = await following(230);
  assert.equal(C.base, 30);
  rest["/v1/conversations/7/entries"] = { epoch: 5, entries: Array.from({ length: 30 }, (_, i) => entry(i + 1)) };
  S.current = 7;
  await chat.loadEarlier(C);
  assert.equal(C.base, 0);
  assert.equal(C.entries.size, 30);
  assert.ok(renders.includes("messages!"));
});

test("reopen: the reopen entry or an error answers it", async () => {
  const C = await following();
  chat.onFrame(entry(1));
  chat.onFrame({ t: "e", conv: 7, off: 2, kind: "close", role: "agent", sender: "a1", ts: 2 });
  S.current = 7;
  assert.equal(C.closed, true);
  chat.reopen();
  assert.deepEqual(take("reopen"), [{ t: "reopen", conv: 7 }]);
  assert.deepEqual(S.reopening.conv, 7);
  chat.onFrame({ t: "err", code: "bad_frame", conv: 7 });
  assert.equal(S.reopening, null);
  assert.match(toasts.at(-1)[0], /^Could not reopen the conversation: it is open already/);
  chat.reopen();
  chat.onFrame({ t: "e", conv: 7, off: 3, kind: "reopen", role: "agent", sender: "a1", body: "Ann", ts: 3 });
  assert.equal(S.reopening, null);
  assert.equal(C.closed, false);
  assert.equal(C.mine, true);
  chat.onFrame({ t: "assigned", conv: 7, visitor: "v9" });
  assert.match(toasts.at(-1)[0], /^Conversation reopened: /);
});

test("which errors answer a reopen", () => {
  const r = { conv: 7, at: 0 };
  assert.equal(chat.isReopenErr({ code: "bad_frame", of: "reopen" }, null, null), true);
  assert.equal(chat.isReopenErr({ code: "bad_frame", of: "msg" }, null, r), false);
  assert.equal(chat.isReopenErr({ code: "bad_frame" }, null, null), false, "none in flight");
  assert.equal(chat.isReopenErr({ code: "owned", conv: 7 }, null, r), false);
  assert.equal(chat.isReopenErr({ code: "unknown_conv" }, null, r), true);
  assert.equal(chat.isReopenErr({ code: "unknown_conv", conv: 8 }, null, r), false);
  assert.equal(chat.isReopenErr({ code: "unknown_conv", conv: 7 }, { pendingFollow: true }, r), false, "about a follow");
  assert.equal(chat.reopenRefusal({ code: "unknown_conv" }), "the conversation was not found");
  assert.equal(chat.reopenRefusal({ code: "x", msg: "why" }), "why");
});

test("assigned: followed, announced, selected when nothing is", async () => {
  rest["/v1/conversations/9/entries"] = { head: 0, epoch: 4, entries: [] };
  chat.onFrame({ t: "assigned", conv: 9, visitor: "v1" });
  await settle();
  const C = conv(9);
  assert.ok(C.assignedToMe && C.mine);
  assert.deepEqual(selected, [9]);
  assert.deepEqual(take("follow"), [{ t: "follow", conv: 9, after: 0, epoch: 4 }]);
  assert.match(toasts[0][0], /^New conversation assigned to you: /);
});

test("typing shows and expires; the agent's actions send their frames", async () => {
  const C = await following();
  take("follow");
  chat.onFrame({ t: "typing", conv: 7, role: "visitor", on: true, text: "Do you" });
  assert.equal(C.typing.text, "Do you");
  C.typing.at -= 9000;
  chat.expireTyping();
  assert.equal(C.typing, null);
  S.current = 7;
  S.team = [{ id: 2, name: "Bob" }];
  chat.transfer("2");
  assert.deepEqual(take("transfer"), [{ t: "transfer", conv: 7, to: 2 }]);
  chat.take();
  assert.deepEqual(take("take"), [{ t: "take", conv: 7 }]);
  chat.close();
  assert.deepEqual(sent.map((f) => f.t), ["typing-stop", "close"]);
  sent = [];
  chat.onFrame({ t: "e", conv: 7, off: 1, kind: "close", role: "agent", sender: "a1", ts: 1 });
  chat.dismiss();
  assert.deepEqual(take("unfollow"), [{ t: "unfollow", conv: 7 }]);
  assert.equal(conv(7), undefined);
  assert.equal(S.current, null);
});
