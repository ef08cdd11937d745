// What the server's frames do to the conversations, and what the agent's actions send:
// following and resuming streams, acks and read marks, replies acknowledged or refused,
// live visitors, typing, assignments, take, transfer, close, reopen, and the REST reads of
// the conversation list and of older entries.
// Owns the flow between the socket, the streams and the page.
// Knows nothing of the DOM or of the WebSocket itself: it sends through hooks.send, draws
// through hooks.render and hooks.toast, and opens a conversation through hooks.select.

import { S, conv, cur, me, newConv } from "./state.js";
import * as streams from "./streams.js";
import { msgFrame } from "./outbox.js";
import { CANNED_STALE } from "./canned.js";
import { who, convName } from "./names.js";
import * as api from "./api.js";

const MAX_FOLLOWS = 200; // conversations of the REST list followed at once
const REOPEN_WAIT = 10000; // ms the Reopen button stays disabled without an answer

let hooks = null;

/**
 * hooks: send(frame) → false when not connected; render(...parts); renderMessages(toBottom,
 * keepTop) at once; toast(text, kind); select(conv); visitorLeft(id) (the one being
 * invited); visible() → whether the agent can see the page; updateTitle(); typingStop();
 * loadCanned().
 */
export function initChat(h) {
  hooks = h;
}

const recompute = (C) => streams.recompute(C, who());

// ---------------------------------------------------------------- the link

// Welcome (again): say away, resume every followed stream, send the unsent replies.
export function onWelcome() {
  if (S.status === "away") hooks.send({ t: "presence", status: "away" });
  for (const C of S.convs.values()) if (C.followed) follow(C);
  for (const item of S.outbox.values()) if (item.state === "sending") hooks.send(msgFrame(item));
  loadConversations();
  if (Date.now() - S.cannedAt > CANNED_STALE) hooks.loadCanned();
}

// The link is lost: nothing is followed until welcome.
export function onDown() {
  for (const C of S.convs.values()) streams.onLinkDown(C);
  hooks.render("typing");
}

export function onFrame(f) {
  switch (f.t) {
    case "following":
      return onFollowing(f);
    case "e":
      return onEntry(f);
    case "ack":
      return onAck(f);
    case "err":
      return onErr(f);
    case "visitors":
      S.visitors = new Map((f.list || []).map((v) => [v.id, v]));
      return hooks.render("visitors", "convs", "pane");
    case "visitor":
      return onVisitor(f);
    case "typing":
      return onTyping(f);
    case "assigned":
      return onAssigned(f);
    case "team":
      S.team = Array.isArray(f.agents) ? f.agents : [];
      for (const C of S.convs.values()) recompute(C);
      return hooks.render("team", "convs", "pane");
    default:
      return; // delivered, agents, queue, conv… are for visitors
  }
}

// ---------------------------------------------------------------- REST reads

export async function loadConversations() {
  const token = S.token;
  let data;
  try {
    data = await api.get("/v1/conversations");
  } catch (e) {
    if (S.token) hooks.toast("Could not load conversations: " + e.message, "bad");
    return;
  }
  if (S.token !== token) return;
  const list = data.conversations || [];
  list.forEach((c, i) => {
    const C = newConv(c.conv);
    C.vkey = c.visitor;
    C.head = Math.max(C.head, c.head || 0);
    if (C.epoch === null) C.epoch = c.epoch;
    if (!C.followed && i < MAX_FOLLOWS) startFollow(C);
  });
  hooks.render("convs");
}

let convLoadTimer = null;
function loadConversationsSoon() {
  if (convLoadTimer) return;
  convLoadTimer = setTimeout(() => {
    convLoadTimer = null;
    if (S.token) loadConversations();
  }, 300);
}

// "Load earlier messages": the entries before what C holds, from the entries API.
export async function loadEarlier(C) {
  const range = streams.earlierRange(C);
  if (!range) return;
  C.loadingOlder = true;
  try {
    const data = await api.get(`/v1/conversations/${C.conv}/entries?after=${range.from}&limit=${range.limit}`);
    if (!streams.mergeEarlier(C, data, range.from)) return;
    recompute(C);
    if (S.current === C.conv) hooks.renderMessages(false, true);
  } catch (e) {
    if (S.token) hooks.toast("Could not load earlier messages.", "bad");
  } finally {
    C.loadingOlder = false;
  }
}

// ---------------------------------------------------------------- following

// Follow a conversation we hold nothing of yet: from 0, or only its recent part when it
// is long (older entries come from the entries API on demand).
export async function startFollow(C) {
  if (C.followed) return;
  C.followed = true;
  if (!C.head && C.last === 0) {
    try {
      const d = await api.get(`/v1/conversations/${C.conv}/entries?after=0&limit=1`);
      C.head = d.head || 0;
      if (!C.epoch) C.epoch = d.epoch;
    } catch (e) {
      // follow from 0 then
    }
  }
  if (S.convs.get(C.conv) === C && !C.pendingFollow && !C.following) follow(C);
}

function follow(C, after) {
  if (!hooks.send(streams.followFrame(C, after))) C.pendingFollow = false;
}

function onFollowing(f) {
  const C = conv(f.conv);
  if (C) streams.onFollowing(C, f);
}

function onEntry(e) {
  const C = conv(e.conv);
  if (!C) return;
  const got = streams.addEntry(C, e);
  // A gap: ask again after what we hold.
  if (got === "gap") follow(C, C.last);
  if (got !== "added") return;
  if (e.kind === "msg" && e.role === "agent" && e.sender === me()) S.outbox.delivered(e.cid);
  if (e.kind === "reopen" && S.reopening && S.reopening.conv === C.conv) S.reopening = null;
  recompute(C);
  scheduleAck(C);
  if (S.current === C.conv) {
    hooks.render("messages", "typing", "convs");
    scheduleRead(C);
  } else {
    hooks.render("convs");
  }
  if (S.current === C.conv && /^(transfer|close|join|reopen)$/.test(e.kind)) hooks.render("pane");
}

const ackTimers = new Map();
function scheduleAck(C) {
  if (ackTimers.has(C.conv)) return;
  ackTimers.set(
    C.conv,
    setTimeout(() => {
      ackTimers.delete(C.conv);
      if (streams.ackDue(C) && hooks.send({ t: "ack", conv: C.conv, off: C.last })) C.ackSent = C.last;
    }, 250),
  );
}

// One read mark after a burst of entries (a replayed history), not one per entry.
let readTimer = null;
function scheduleRead(C) {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => markRead(C), 300);
}

// The agent is looking at C: a read mark up to the last entry, when something the
// visitor wrote is not yet marked.
export function markRead(C) {
  if (!C || S.current !== C.conv || !hooks.visible() || !C.following) return;
  if (streams.readDue(C) && hooks.send({ t: "read", conv: C.conv, upto: C.last })) {
    C.readSent = C.last;
    recompute(C);
    hooks.render("convs");
    hooks.updateTitle();
  }
}

// ---------------------------------------------------------------- answers

function onAck(f) {
  const item = S.outbox.acked(f.cid, f.off);
  if (item && S.current === item.conv) hooks.render("messages");
}

function failed(cid, why) {
  const item = S.outbox.failed(cid, why);
  if (item && S.current === item.conv) hooks.render("messages");
}

function onErr(f) {
  const C = f.conv !== undefined && f.conv !== null ? conv(f.conv) : null;
  if (isReopenErr(f, C, S.reopening)) return reopenFailed(f);
  switch (f.code) {
    case "epoch_mismatch":
      if (C) {
        streams.onEpochMismatch(C, f);
        follow(C, 0);
        hooks.render("messages", "convs");
      }
      return;
    case "bad_offset":
      if (C && C.pendingFollow) {
        // Drop what lies beyond the server's head, follow from there.
        streams.onBadOffset(C, f.head);
        follow(C, C.last);
        recompute(C);
        hooks.render("messages", "convs");
      }
      return;
    case "unknown_conv":
      if (f.cid && S.outbox.has(f.cid)) return failed(f.cid, "conversation not found");
      if (C && C.pendingFollow) {
        // The follow was refused: no such conversation for this agent.
        S.convs.delete(C.conv);
        if (S.current === C.conv) S.current = null;
        hooks.render("convs", "pane");
      } else {
        console.warn("kefu console: unknown conversation", f);
      }
      return;
    case "too_long":
      if (f.cid) return failed(f.cid, "too long");
      return hooks.toast("That text is too long.", "bad");
    case "overloaded":
    case "store":
      if (f.cid && S.outbox.has(f.cid)) {
        const item = S.outbox.get(f.cid);
        setTimeout(() => item.state === "sending" && hooks.send(msgFrame(item)), 2000 + Math.random() * 2000);
      }
      return;
    case "owned":
      return hooks.toast("Another agent has taken that conversation.", "bad");
    case "unknown_visitor":
      return hooks.toast("That visitor has left the site.", "bad");
    case "unknown_agent":
      return hooks.toast("That agent is not online any more: pick another.", "bad");
    case "too_many_follows":
      return hooks.toast("Too many conversations open at once.", "bad");
    default:
      console.warn("kefu console: server refused a frame", f);
      if (f.cid && S.outbox.has(f.cid)) failed(f.cid, f.msg || f.code);
  }
}

// Whether an `err` answers the reopen frame in flight (`reopening`): `of` names the
// refused frame's type when the server gives it; otherwise a bad_frame or unknown_conv
// about that conversation (and not about a follow of it) is taken for the answer.
export function isReopenErr(f, C, reopening) {
  if (f.of !== undefined) return f.of === "reopen";
  const r = reopening;
  if (!r || (f.code !== "bad_frame" && f.code !== "unknown_conv")) return false;
  if (f.conv === undefined || f.conv === null) return true;
  return f.conv === r.conv && !(C && C.pendingFollow);
}

// Why a reopen was refused, for the agent.
export function reopenRefusal(f) {
  return f.msg ||
    (f.code === "unknown_conv" ? "the conversation was not found"
      : f.code === "bad_frame" ? "it is open already, or the visitor has another open conversation"
        : f.code);
}

function reopenFailed(f) {
  S.reopening = null;
  hooks.toast("Could not reopen the conversation: " + reopenRefusal(f), "bad");
  hooks.render("pane");
}

// ---------------------------------------------------------------- presence

function onVisitor(f) {
  const v = f.v || {};
  if (f.op === "leave") {
    S.visitors.delete(v.id);
    if (S.inviting === v.id) hooks.visitorLeft(v.id);
  } else if (v.id) {
    S.visitors.set(v.id, v);
    if (v.conv && !S.convs.has(v.conv)) loadConversationsSoon();
  }
  hooks.render("visitors", "convs");
  if (S.current !== null) hooks.render("pane");
}

function onTyping(f) {
  const C = conv(f.conv);
  if (!C) return;
  streams.setTyping(C, f, Date.now());
  hooks.render("typing", "convs");
}

// Once a second: typing indicators with no news end.
export function expireTyping() {
  const now = Date.now();
  let changed = false;
  for (const C of S.convs.values()) if (streams.expireTyping(C, now)) changed = true;
  if (changed) hooks.render("typing", "convs");
}

function onAssigned(f) {
  const C = newConv(f.conv);
  const reopened = (S.reopening && S.reopening.conv === f.conv) || (C.entries.get(C.last) || {}).kind === "reopen";
  C.assignedToMe = true;
  if (f.visitor) C.vid = f.visitor;
  recompute(C);
  startFollow(C);
  hooks.toast((reopened ? "Conversation reopened: " : "New conversation assigned to you: ") + convName(C), "good");
  if (S.current === null) hooks.select(C.conv);
  hooks.render("convs", "pane");
  loadConversationsSoon();
}

// ---------------------------------------------------------------- the agent's actions

// Transfer the conversation in the pane to the agent with id `to` (the select's value).
export function transfer(to) {
  const C = cur();
  if (!C || !to) return;
  const agent = S.team.find((a) => String(a.id) === to);
  const id = typeof (agent && agent.id) === "number" ? agent.id : to;
  if (hooks.send({ t: "transfer", conv: C.conv, to: id })) hooks.toast("Transferring to " + (agent ? agent.name : "agent") + "…");
}

// Take a waiting conversation: the server answers with a `join` entry in this agent's
// name (and `assigned`), or `err owned` when another agent was quicker.
export function take() {
  const C = cur();
  if (!C || C.closed || C.mine) return;
  if (!hooks.send({ t: "take", conv: C.conv })) hooks.toast("Not connected: try again in a moment.", "bad");
}

export function close() {
  const C = cur();
  if (!C || C.closed) return;
  hooks.typingStop();
  hooks.send({ t: "close", conv: C.conv });
}

// Reopen the closed conversation in the pane: the server answers with a `reopen` entry
// (and `assigned`), or an `err` (reopenFailed).
export function reopen() {
  const C = cur();
  if (!C || !C.closed) return;
  if (!hooks.send({ t: "reopen", conv: C.conv })) return hooks.toast("Not connected: try again in a moment.", "bad");
  const attempt = { conv: C.conv, at: Date.now() };
  S.reopening = attempt;
  setTimeout(() => {
    if (S.reopening === attempt) {
      S.reopening = null;
      hooks.render("pane");
    }
  }, REOPEN_WAIT);
  hooks.render("pane");
}

// A closed conversation leaves the list (and is no longer followed).
export function dismiss() {
  const C = cur();
  if (!C || !C.closed) return;
  hooks.send({ t: "unfollow", conv: C.conv });
  S.convs.delete(C.conv);
  S.current = null;
  hooks.render("convs", "pane");
}
