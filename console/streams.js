// Per-conversation stream state (docs/protocol.md §5): which entries are held (base+1 …
// last), the epoch and head, following and resuming (a gap, epoch_mismatch, bad_offset),
// older history merged in, and what the entries add up to: owner, closed, read marks,
// unread count, preview, contact, typing.
// Owns the stream record and every rule about offsets and epochs.
// Knows nothing of the page, the socket or REST: it says which follow frame to send and
// what an entry did; the caller sends and draws.

export const HISTORY = 200; // entries followed live when a conversation is opened
export const PEEK_TTL = 8000; // a typing indicator with no update expires

export function newStream(id) {
  return {
    conv: id,
    epoch: null,
    head: 0,
    vkey: null, // "v12" from the REST list
    vid: null, // presence id from `assigned`
    entries: new Map(),
    base: 0, // entries base+1 … last are held
    last: 0,
    followed: false, // we want this stream
    following: false, // the server confirmed
    pendingFollow: false,
    assignedToMe: false,
    owner: null, // {sender, name}
    mine: false,
    closed: false,
    unread: 0,
    readUpto: 0, // my last read mark
    readSent: 0,
    visitorRead: 0,
    lastVisitorMsg: 0,
    ackSent: 0,
    typing: null, // {text, at}
    agentTyping: null, // {name, at}
    names: new Map(), // sender -> display name from join entries
    contact: null,
    lastTs: 0,
    preview: "",
    draft: "",
    loadingOlder: false,
  };
}

// Drop everything held of C: another epoch, or a restart from 0.
export function resetStream(C, epoch) {
  C.entries.clear();
  C.base = 0;
  C.last = 0;
  C.readUpto = 0;
  C.readSent = 0;
  C.visitorRead = 0;
  C.ackSent = 0;
  C.epoch = epoch || null;
  C.head = 0;
}

// The follow frame asking for C after `after` (by default: after all it holds), with its
// epoch when known. A stream held nothing of is asked for its recent part only (`history`
// entries before its head); older ones come from the entries API on demand. C is then
// pending until `following` (or an error) answers; a caller that cannot send the frame
// clears C.pendingFollow.
export function followFrame(C, after, history = HISTORY) {
  C.followed = true;
  if (after === undefined) after = C.last;
  if (C.last === 0 && C.entries.size === 0 && after === 0) {
    after = Math.max(0, C.head - history);
    C.base = after;
    C.last = after;
  }
  C.pendingFollow = true;
  const f = { t: "follow", conv: C.conv, after };
  if (C.epoch) f.epoch = C.epoch;
  return f;
}

// `following`: the server streams C from here on; another epoch drops what was held.
export function onFollowing(C, f) {
  if (C.epoch && f.epoch !== C.epoch) resetStream(C, f.epoch);
  C.epoch = f.epoch;
  C.head = Math.max(C.head, f.head);
  C.following = true;
  C.pendingFollow = false;
}

// An entry `e` of C: "ignored" (C is not being followed), "held" (already there), "gap"
// (not the next one: C stops following, to be followed again after C.last) or "added".
// A message ends the sender's side's typing indicator.
export function addEntry(C, e) {
  if (!C.following) return "ignored";
  if (e.off <= C.last) return "held";
  if (e.off !== C.last + 1) {
    C.following = false;
    return "gap";
  }
  C.entries.set(e.off, e);
  C.last = e.off;
  C.head = Math.max(C.head, e.off);
  if (e.kind === "msg" && e.role === "visitor") C.typing = null;
  if (e.kind === "msg" && e.role === "agent") C.agentTyping = null;
  return "added";
}

// `err epoch_mismatch`: the stream was replaced; start again from 0 in its epoch.
export function onEpochMismatch(C, f) {
  resetStream(C, f.epoch);
  C.head = f.head || 0;
}

// `err bad_offset`: we hold more than the server has; drop what lies beyond its head.
export function onBadOffset(C, head) {
  for (const off of [...C.entries.keys()]) if (off > head) C.entries.delete(off);
  C.last = Math.min(C.last, head);
  C.base = Math.min(C.base, C.last);
  C.readSent = Math.min(C.readSent, head);
  C.ackSent = Math.min(C.ackSent, head);
}

// The entries API request for what comes before C.base: {from, limit}, or null when all
// is held or such a load is under way.
export function earlierRange(C, history = HISTORY) {
  if (C.base <= 0 || C.loadingOlder) return null;
  const from = Math.max(0, C.base - history);
  return { from, limit: C.base - from };
}

// Older entries (an entries API answer for `from`) merged in; false when the stream's
// epoch changed meanwhile and nothing was taken.
export function mergeEarlier(C, data, from) {
  if (data.epoch !== C.epoch) return false;
  for (const e of data.entries || []) {
    if (e.off > from && e.off <= C.base) C.entries.set(e.off, e);
  }
  C.base = from;
  return true;
}

// The link is down: nothing is followed, nobody is typing.
export function onLinkDown(C) {
  C.following = false;
  C.pendingFollow = false;
  C.typing = null;
  C.agentTyping = null;
}

// A `typing` frame for C at time now.
export function setTyping(C, f, now) {
  if (f.role === "visitor") C.typing = f.on ? { text: f.text || "", at: now } : null;
  else C.agentTyping = f.on ? { name: f.name || "An agent", at: now } : null;
}

// Typing indicators with no news for ttl end; true when one did.
export function expireTyping(C, now, ttl = PEEK_TTL) {
  let changed = false;
  if (C.typing && now - C.typing.at > ttl) {
    C.typing = null;
    changed = true;
  }
  if (C.agentTyping && now - C.agentTyping.at > ttl) {
    C.agentTyping = null;
    changed = true;
  }
  return changed;
}

// Derived state of a conversation, from its entries in offset order. `who`: me (this
// agent's sender id), name (its name), agentName(sender, C) and teamIdByName(name).
export function recompute(C, who) {
  let owner = null;
  let closed = false;
  let readUpto = C.readSent;
  let visitorRead = 0;
  let lastVisitorMsg = 0;
  let lastTs = 0;
  let preview = "";
  let contact = C.contact;
  for (let o = C.base + 1; o <= C.last; o++) {
    const e = C.entries.get(o);
    if (!e) continue;
    if (e.kind === "msg") {
      lastTs = e.ts;
      preview = (e.role === "agent" ? (e.sender === who.me ? "You: " : who.agentName(e.sender, C) + ": ") : "") + e.body;
      if (e.role === "visitor") lastVisitorMsg = o;
      if (e.contact && (e.contact.name || e.contact.email)) contact = e.contact;
      closed = false;
    } else if (e.kind === "read") {
      if (e.role === "visitor") visitorRead = Math.max(visitorRead, e.upto || 0);
      else if (e.sender === who.me) readUpto = Math.max(readUpto, e.upto || 0);
    } else if (e.kind === "join") {
      C.names.set(e.sender, e.body);
      owner = { sender: e.sender, name: e.body };
    } else if (e.kind === "transfer") {
      // The entry is written in the new owner's name (sender) with its name as body.
      C.names.set(e.sender, e.body);
      owner = { sender: e.sender || who.teamIdByName(e.body), name: e.body };
    } else if (e.kind === "close") {
      closed = true;
      lastTs = e.ts;
    } else if (e.kind === "reopen") {
      // Open again, and assigned to the agent who reopened it (sender, name as body).
      C.names.set(e.sender, e.body);
      owner = { sender: e.sender || who.teamIdByName(e.body), name: e.body };
      closed = false;
      lastTs = e.ts;
    }
  }
  C.owner = owner;
  if (owner) C.mine = owner.sender ? owner.sender === who.me : owner.name === who.name;
  else C.mine = C.assignedToMe;
  C.closed = closed;
  C.readUpto = readUpto;
  C.visitorRead = visitorRead;
  C.lastTs = lastTs || C.lastTs;
  C.preview = preview;
  C.contact = contact;
  let unread = 0;
  for (let o = Math.max(C.base + 1, readUpto + 1); o <= C.last; o++) {
    const e = C.entries.get(o);
    if (e && e.kind === "msg" && e.role === "visitor") unread++;
  }
  C.unread = closed ? 0 : unread;
  C.lastVisitorMsg = lastVisitorMsg;
}

// Whether a read mark up to C.last is due: something the visitor wrote is not marked yet.
export function readDue(C) {
  return C.lastVisitorMsg > C.readUpto && C.last > C.readSent;
}

// Whether an ack up to C.last is due.
export function ackDue(C) {
  return C.following && C.last > C.ackSent;
}

// The offset of the last agent message the visitor's latest read mark covers (0: none):
// "Seen by the visitor" goes after it.
export function seenAt(C) {
  let at = 0;
  for (let o = C.base + 1; o <= Math.min(C.visitorRead, C.last); o++) {
    const e = C.entries.get(o);
    if (e && e.kind === "msg" && e.role === "agent") at = o;
  }
  return at;
}

// Unread visitor messages in conversations that are this agent's or nobody's.
export function unreadTotal(convs) {
  let n = 0;
  for (const C of convs) if (C.mine || !C.owner) n += C.unread;
  return n;
}
