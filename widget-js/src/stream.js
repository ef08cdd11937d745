/* stream.js owns the visitor's position in its conversation stream: conv, epoch, the last
 * offset held, delivery/read marks, and a bounded copy of the rendered history, persisted
 * together (one key, so they never disagree) to resume with hello.resume after a reload.
 * accept() is the whole down-side rule of the protocol: ignore off <= last, take
 * off = last + 1, and report a gap otherwise. */
(function (ns) {
  if (!ns) {
    return;
  }
  var KEEP = 200;

  function Stream(store) {
    var d = store.get("conv");
    this.s = store;
    this.conv = null;
    this.epoch = null;
    this.last = 0;
    this.hist = [];
    this.dlv = 0;
    this.rd = 0;
    if (d && typeof d.conv === "number" && typeof d.epoch === "number" && typeof d.last === "number") {
      this.conv = d.conv;
      this.epoch = d.epoch;
      this.last = d.last;
      this.hist = ns.isArray(d.hist) ? d.hist : [];
      this.dlv = d.dlv || 0;
      this.rd = d.rd || 0;
    }
  }
  /* Start over in (conv, epoch): every offset of another epoch or conversation is void. */
  Stream.prototype.reset = function (conv, epoch) {
    this.conv = conv;
    this.epoch = epoch;
    this.last = 0;
    this.hist = [];
    this.dlv = 0;
    this.rd = 0;
    this.save(true);
  };
  /* "new" (apply it), "dup" (already held), "gap" (re-follow after last), "other". */
  Stream.prototype.accept = function (e) {
    if (e.conv !== this.conv || typeof e.off !== "number") {
      return "other";
    }
    if (e.off <= this.last) {
      return "dup";
    }
    if (e.off !== this.last + 1) {
      return "gap";
    }
    this.last = e.off;
    if (e.kind === "read") {
      if (e.role !== "visitor" && e.upto > this.rd) {
        this.rd = e.upto;
      }
    } else {
      this.hist.push({ off: e.off, kind: e.kind, role: e.role, cid: e.cid, body: e.body, ts: e.ts, name: e.name });
      if (this.hist.length > KEEP) {
        this.hist.splice(0, this.hist.length - KEEP);
      }
    }
    return "new";
  };
  /* bad_offset: the server's head is behind what we hold; drop what is past it. */
  Stream.prototype.truncate = function (head) {
    var h = [], i;
    for (i = 0; i < this.hist.length; i++) {
      if (this.hist[i].off <= head) {
        h.push(this.hist[i]);
      }
    }
    this.hist = h;
    this.last = Math.min(this.last, head);
    this.save(true);
  };
  Stream.prototype.mark = function (kind, upto) {
    if (upto > this[kind]) {
      this[kind] = upto;
      this.save();
      return true;
    }
    return false;
  };
  /* Visitor message state from the marks: "read", "delivered" or "sent". */
  Stream.prototype.state = function (off) {
    return off <= this.rd ? "read" : off <= this.dlv ? "delivered" : "sent";
  };
  Stream.prototype.save = function (force) {
    var d = this.s.get("conv");
    if (this.conv === null) {
      this.s.del("conv");
      return;
    }
    /* Another tab of the same stream is further on: keep its (consistent) copy. */
    if (!force && d && d.conv === this.conv && d.epoch === this.epoch && d.last > this.last) {
      return;
    }
    this.s.set("conv", { conv: this.conv, epoch: this.epoch, last: this.last, hist: this.hist, dlv: this.dlv, rd: this.rd });
  };
  Stream.prototype.resume = function () {
    return this.conv === null ? undefined : { conv: this.conv, epoch: this.epoch, after: this.last };
  };
  ns.Stream = Stream;
})(window.kefu && window.kefu._ld);
