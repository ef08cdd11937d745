/* Stream position (conv, epoch, last, marks) and the last 200 entries, saved together. */
(function (ns) {
  if (!ns) {
    return;
  }
  function Stream(store) {
    var d = store.get("conv");
    this.s = store;
    this.set(null, null);
    if (d && typeof d.conv === "number" && typeof d.epoch === "number" && d.last >= 0) {
      ns.extend(this, { conv: d.conv, epoch: d.epoch, last: d.last, hist: d.hist || [], dlv: d.dlv || 0, rd: d.rd || 0, me: d.me || 0 });
    }
  }
  Stream.prototype.set = function (conv, epoch) {
    ns.extend(this, { conv: conv, epoch: epoch, last: 0, hist: [], dlv: 0, rd: 0, me: 0 });
  };
  Stream.prototype.reset = function (conv, epoch) {
    this.set(conv, epoch);
    this.save(true);
  };
  /* "new" (applied), "dup" (off <= last), "gap" (re-follow), or "other". */
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
      /* Our own read entries (from any tab) say what we already marked read. */
      this[e.role === "visitor" ? "me" : "rd"] = Math.max(this[e.role === "visitor" ? "me" : "rd"], e.upto || 0);
    } else {
      this.hist.push({ off: e.off, kind: e.kind, role: e.role, cid: e.cid, body: e.body, ts: e.ts, name: e.name });
      this.hist = this.hist.slice(-200);
    }
    return "new";
  };
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
  Stream.prototype.mark = function (k, upto) {
    if (upto > this[k]) {
      this[k] = upto;
      this.save();
      return true;
    }
    return false;
  };
  /* Offset of the last agent message held. */
  Stream.prototype.agentMax = function () {
    for (var i = this.hist.length - 1; i >= 0; i--) {
      if (this.hist[i].role !== "visitor" && this.hist[i].kind === "msg") {
        return this.hist[i].off;
      }
    }
    return 0;
  };
  Stream.prototype.state = function (off) {
    return off <= this.rd ? "read" : off <= this.dlv ? "delivered" : "sent";
  };
  Stream.prototype.save = function (force) {
    var d = this.s.get("conv");
    if (this.conv === null) {
      return this.s.del("conv");
    }
    if (!force && d && d.conv === this.conv && d.epoch === this.epoch && d.last > this.last) {
      return;
    }
    this.s.set("conv", { conv: this.conv, epoch: this.epoch, last: this.last, hist: this.hist, dlv: this.dlv, rd: this.rd, me: this.me });
  };
  Stream.prototype.resume = function () {
    return this.conv === null ? undefined : { conv: this.conv, epoch: this.epoch, after: this.last };
  };
  ns.Stream = Stream;
})(window.kefu && window.kefu._ld);
