/* What frames mean for a visitor; tells its view (ui.js) what to show. */
(function (ns) {
  if (!ns) {
    return;
  }
  var VOL = { page: 1, typing: 1, invite_reply: 1, read: 1 };

  function Session(o) {
    var self = this;
    ns.extend(this, { o: o, ev: o.ev, store: o.store || new ns.Store(o.site), sent: {}, nosup: {}, ackMax: 0, ackSent: 0 });
    this.out = new ns.Outbox(this.store);
    this.st = new ns.Stream(this.store);
    /* A visit: a page load 30 minutes or more after the last one. */
    var v = this.store.get("visits") || { n: 0, at: 0 };
    this.visits = v.n + (ns.now() - v.at >= 1800000 ? 1 : 0);
    this.store.set("visits", { n: this.visits, at: ns.now() });
    this.conn = o.conn || new ns.Conn({
      base: o.base,
      router: o.router,
      site: o.site,
      hello: function () {
        return self.hello();
      },
      up: function (w) {
        self.up(w);
      },
      frame: function (f) {
        self.frame(f);
      },
      state: function (s) {
        self.state = s;
        self.show("conn", s);
        self.ev.emit("state", s);
      }
    });
  }
  Session.prototype.show = function (what, a, b) {
    if (this.view) {
      this.view[what](a, b);
    }
  };
  Session.prototype.start = function () {
    this.conn.start();
  };
  Session.prototype.hello = function () {
    var f = { t: "hello", v: 1, site: this.o.site, role: "visitor", resume: this.st.resume() }, vis = this.store.get("visitor");
    if (/^[\w-]{16,64}$/.test(vis)) {
      f.visitor = vis;
    }
    if (this.user) {
      f.user = this.user;
    }
    return f;
  };
  Session.prototype.up = function (w) {
    var st = this.st, c = typeof w.conv === "number" ? w.conv : null;
    if (typeof w.visitor === "string") {
      this.store.set("visitor", w.visitor);
    }
    if (c !== st.conv || c !== null && w.epoch !== st.epoch) {
      this.reset(c, c === null ? null : w.epoch);
    }
    this.lenient = c !== null;
    this.refollow = false;
    this.sent = {};
    this.ackMax = this.ackSent = 0;
    this.flush();
    this.page();
    this.rs = 0;
    this.read();
    if (!this.ready) {
      this.ready = true;
      this.ev.emit("ready", { visitor: w.visitor });
    }
  };
  Session.prototype.reset = function (conv, epoch) {
    this.st.reset(conv, epoch);
    this.show("reset");
  };
  Session.prototype.flush = function () {
    var a = this.out.list(), i;
    for (i = 0; i < a.length; i++) {
      if (!this.sent[a[i].cid] && this.conn.send(ns.Outbox.frame(a[i]))) {
        this.sent[a[i].cid] = 1;
      }
    }
  };
  Session.prototype.send = function (text, extra) {
    var parts = ns.chunks(ns.trim(text || ""), 4000), out = [], i;
    for (i = 0; i < parts.length; i++) {
      out.push(this.out.add(parts[i], extra));
      this.show("pending", out[i]);
    }
    this.flush();
    this.typing("");
    return out;
  };
  Session.prototype.frame = function (f) {
    var st = this.st, t = f.t, r;
    if (t === "following" && (f.conv === st.conv || st.conv === null)) {
      if (f.epoch !== st.epoch) {
        this.reset(f.conv, f.epoch);
      }
      this.lenient = this.refollow = false;
    } else if (t === "conv" && f.conv !== st.conv) {
      this.reset(f.conv, f.epoch);
    } else if (t === "e") {
      r = st.accept(f);
      if (r === "new") {
        st.save();
        if (f.role === "visitor") {
          this.out.remove(f.cid);
        }
        this.show("entry", f);
        this.show("marks");
        this.read();
        this.ev.emit("message", f);
      } else if (r === "gap" && !this.refollow) {
        this.refollow = true;
        this.conn.send({ t: "follow", conv: st.conv, epoch: st.epoch, after: st.last });
      }
      if (r === "new" || r === "dup") {
        this.ackMax = Math.max(this.ackMax, f.off);
        this.ackLater();
      }
    } else if (t === "ack") {
      this.out.remove(f.cid);
      this.show("acked", f.cid);
    } else if (t === "err") {
      this.err(f);
    } else if (t === "typing" && f.role !== "visitor") {
      this.show("typing", !!f.on, f.name);
    } else if (t === "agents") {
      this.show("agents", f.online !== false);
    } else if (t === "invite") {
      this.show("invite", f);
    } else if (t === "queue") {
      this.show("queue", f.position);
    } else if (t === "delivered" && f.conv === st.conv && st.mark("dlv", f.upto)) {
      this.show("marks");
    }
  };
  Session.prototype.ackLater = function () {
    var self = this;
    this.at = this.at || ns.later(function () {
      self.at = null;
      if (self.ackMax > self.ackSent && self.conn.send({ t: "ack", conv: self.st.conv, off: self.ackMax })) {
        self.ackSent = self.ackMax;
      }
    }, 300);
  };
  Session.prototype.err = function (f) {
    var self = this, st = this.st, c = f.code, cid = f.cid, mine = f.conv === st.conv && st.conv !== null;
    if (c === "epoch_mismatch" && mine) {
      this.reset(f.conv, f.epoch);
    } else if (c === "bad_offset" && mine && f.epoch) {
      st.truncate(f.head);
      this.show("reset");
    } else if (c === "unknown_conv" && mine && !cid) {
      this.reset(null, null);
    } else if (c === "too_long") {
      /* No cid: blame the longest. */
      ns.each(this.out.list(), function (it) {
        if (!f.cid && it.body.length > (self.n || 0)) {
          self.n = it.body.length;
          cid = it.cid;
        }
      });
      this.n = 0;
      if (this.out.remove(cid)) {
        this.show("failed", cid);
        this.ev.emit("error", { code: c, cid: cid });
      }
    } else if ((c === "overloaded" || c === "store") && !this.rt) {
      this.rt = ns.later(function () {
        self.rt = null;
        self.sent = {};
        self.flush();
      }, ns.backoff(2, Math.random()));
    } else if (/^bad_(frame|json)$/.test(c) && this.lastVol) {
      this.nosup[this.lastVol] = true;
      this.lastVol = null;
    }
    if (/^(epoch_mismatch|bad_offset)$/.test(c) && mine && !this.lenient && f.epoch) {
      this.conn.send({ t: "follow", conv: st.conv, epoch: st.epoch, after: st.last });
    }
  };
  Session.prototype.vol = function (f) {
    if (VOL[f.t] && !this.nosup[f.t] && this.conn.send(f)) {
      this.lastVol = f.t;
    }
  };
  Session.prototype.page = function () {
    var d = ns.doc;
    this.vol({ t: "page", url: String(ns.win.location.href).slice(0, 1000), title: String(d.title).slice(0, 200),
      ref: String(d.referrer).slice(0, 1000), visible: d.visibilityState !== "hidden", visits: this.visits });
  };
  /* Read receipt: the window is open and visible, and an agent said something new. */
  Session.prototype.read = function () {
    var up = this.st.agentMax();
    if (up > Math.max(this.st.me, this.rs || 0) && this.view && this.view.isOpen && ns.doc.visibilityState !== "hidden") {
      this.vol({ t: "read", conv: this.st.conv, upto: up });
      this.rs = up;
    }
  };
  Session.prototype.typing = function (text) {
    var self = this, on = !!ns.trim(text), now = ns.now();
    ns.cancel(this.tyT);
    if (on !== this.tyOn || on && now - this.tyAt > 500) {
      this.tyOn = on;
      this.tyAt = now;
      this.vol({ t: "typing", on: on, text: on ? text.slice(0, 500) : undefined });
    } else if (on) {
      // Throttled: the last draft of a burst still goes out.
      this.tyT = ns.later(function () {
        self.typing(text);
      }, 501 - (now - this.tyAt));
    }
  };
  Session.prototype.inviteReply = function (id, accept) {
    this.vol({ t: "invite_reply", id: id, accept: accept });
  };
  Session.prototype.identify = function (u) {
    this.user = u;
    if (this.conn.state !== "idle") {
      this.conn.restart();
    }
  };
  Session.prototype.wake = function (hard) {
    this.conn.wake(hard);
  };
  ns.Session = Session;
})(window.kefu && window.kefu._ld);
