// Replies the agent wrote that the server has not acknowledged yet: kept in a Storage
// (sessionStorage in the console) so that a reload sends them again, once.
// Owns the outbox entries {cid, conv, body, ts, state: sending | sent | failed, off, why},
// their persistence and client message ids.
// Knows nothing of the page or the socket: the caller sends and draws.

let seq = 0;

// A client message id: prefix, time, a counter and 64 random bits, in base 36.
export function newCid(prefix, now = Date.now(), rnd = crypto.getRandomValues(new Uint32Array(2))) {
  seq += 1;
  return prefix + now.toString(36) + seq.toString(36) + rnd[0].toString(36) + rnd[1].toString(36);
}

// The frame that sends a reply (again: the server drops a cid it already has).
export function msgFrame(item) {
  return { t: "msg", conv: item.conv, cid: item.cid, body: item.body };
}

export class Outbox {
  // key: the storage key; storage: a Storage, or null to keep nothing across reloads.
  constructor(key, storage) {
    this.key = key;
    this.storage = storage;
    this.items = new Map(); // cid -> entry, in the order written
  }

  get size() {
    return this.items.size;
  }
  has(cid) {
    return this.items.has(cid);
  }
  get(cid) {
    return this.items.get(cid);
  }
  values() {
    return this.items.values();
  }

  // A new reply, being sent.
  add(conv, body, ts = Date.now()) {
    const item = { cid: newCid("m"), conv, body, ts, state: "sending" };
    this.items.set(item.cid, item);
    this.save();
    return item;
  }

  // The reply came back in the stream: it is held there now. True when it was ours.
  delivered(cid) {
    if (!this.items.delete(cid)) return false;
    this.save();
    return true;
  }

  // `ack`: stored at offset off (it is shown until the entry itself comes).
  acked(cid, off) {
    const item = this.items.get(cid);
    if (!item) return null;
    item.state = "sent";
    item.off = off;
    this.save();
    return item;
  }

  // Refused for good.
  failed(cid, why) {
    const item = this.items.get(cid);
    if (!item) return null;
    item.state = "failed";
    item.why = why;
    this.save();
    return item;
  }

  // The agent dismissed a failed reply.
  drop(cid) {
    this.items.delete(cid);
  }

  // Forget the entries in memory (the kept ones stay in storage).
  clear() {
    this.items.clear();
  }

  // Forget the kept ones too.
  forget() {
    try {
      if (this.storage) this.storage.removeItem(this.key);
    } catch (e) {
      // storage refused: nothing to forget then
    }
  }

  // Keep the unsent replies (only those) in storage.
  save() {
    if (!this.storage) return;
    try {
      const unsent = [...this.items.values()].filter((i) => i.state === "sending");
      if (unsent.length) this.storage.setItem(this.key, JSON.stringify(unsent));
      else this.storage.removeItem(this.key);
    } catch (e) {
      // storage full or refused: the replies stay in memory
    }
  }

  // Take back the replies kept by an earlier page, to be sent again.
  restore() {
    if (!this.storage) return;
    try {
      for (const i of JSON.parse(this.storage.getItem(this.key) || "[]")) {
        if (i && i.cid && i.conv && typeof i.body === "string") this.items.set(i.cid, Object.assign(i, { state: "sending" }));
      }
    } catch (e) {
      // nothing usable was kept
    }
  }
}
