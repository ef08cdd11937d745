/* HTTP channel link over a carrier (lp.js, jsonp.js): one poll and one send at a time. */
(function (ns) {
  if (!ns) {
    return;
  }
  function ChanLink(kind, c, hello, h, pollMs) {
    var self = this;
    ns.extend(this, { kind: kind, c: c, h: h, pollMs: pollMs, ack: 0, q: [], pf: 0, sf: 0 });
    this.req = c.open(hello, ns.safe(function (err, d) {
      self.req = null;
      if (d && typeof d.chan === "string") {
        self.chan = d.chan;
        self.opened = true;
        self.poll();
        self.flush();
      } else if (d && d.frames) {
        self.take(d);
      } else {
        self.end(0, err || "bad open answer");
      }
    }));
  }
  ChanLink.prototype.poll = function () {
    var self = this;
    if (this.dead || this.polling) {
      return;
    }
    this.polling = this.c.poll(this.chan, this.ack, this.pollMs + 10000, ns.safe(function (err, d) {
      self.polling = null;
      if (d && ns.isArray(d.frames)) {
        self.pf = 0;
        self.take(d);
        return self.poll();
      }
      if (++self.pf > 3) {
        return self.end(0, "poll failed");
      }
      self.pt = ns.later(function () {
        self.poll();
      }, 250 << self.pf);
    }));
  };
  ChanLink.prototype.take = function (d) {
    var fs = ns.isArray(d.frames) ? d.frames : [], i, f, seq;
    for (i = 0; i < fs.length && !this.dead; i++) {
      f = fs[i];
      if (d.from) {
        seq = d.from + i;
        if (seq <= this.ack) {
          continue;
        }
        if (seq !== this.ack + 1) {
          return this.end(0, "lost frames");
        }
        this.ack = seq;
      }
      f = f && typeof f.t === "string" ? f : { t: "?" };
      this.h.frame(this, f);
      if (f.t === "bye") {
        this.chan = null;
        this.end(f.code || 0, f.reason || "");
      }
    }
  };
  ChanLink.prototype.send = function (f) {
    this.q.push(f);
    this.flush();
  };
  ChanLink.prototype.flush = function () {
    var self = this, n, len;
    if (this.dead || this.sending || this.st || !this.chan || !this.q.length) {
      return;
    }
    /* At most batch frames and about 30000 characters (the server takes 128 KiB). */
    for (n = 0, len = 0; n < this.q.length && n < this.c.batch && len < 30000; n++) {
      len += ns.json.stringify(this.q[n]).length;
    }
    this.sending = this.c.send(this.chan, this.q.slice(0, n), ns.safe(function (err, d) {
      self.sending = null;
      if (d && d.frames) {
        return self.take(d);
      }
      if (d && d.ok) {
        self.sf = 0;
        self.q.splice(0, n);
        return self.flush();
      }
      if (++self.sf > 4) {
        return self.end(0, "send failed");
      }
      self.st = ns.later(function () {
        self.st = null;
        self.flush();
      }, 250 << self.sf);
    }));
  };
  ChanLink.prototype.kick = function () {
    if (this.chan && !this.dead) {
      if (this.polling) {
        this.polling.abort();
        this.polling = null;
      }
      this.pt = ns.cancel(this.pt);
      this.poll();
    }
  };
  ChanLink.prototype.close = function () {
    var r = ["req", "polling", "sending"], i;
    if (!this.dead) {
      this.dead = true;
      this.pt = ns.cancel(this.pt);
      this.st = ns.cancel(this.st);
      for (i = 0; i < 3; i++) {
        if (this[r[i]]) {
          this[r[i]].abort();
        }
      }
      if (this.chan) {
        this.c.close(this.chan);
      }
    }
  };
  ChanLink.prototype.end = function (code, reason) {
    if (!this.dead) {
      this.close();
      this.h.down(this, code, reason);
    }
  };
  ns.ChanLink = ChanLink;
})(window.kefu && window.kefu._ld);
