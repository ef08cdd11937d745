/* The link manager (README.md, "How it connects"). Owner o: o.hello(), o.up(welcome),
 * o.frame(f), o.state(s). */
(function (ns) {
  if (!ns) {
    return;
  }
  ns.fatal = function (code) {
    return code >= 4100 && code < 4200 && code !== 4105;
  };

  /* A node's base URL from an answer, or null. */
  function url(u) {
    return typeof u === "string" && /^https?:\/\/[^\/]/.test(u) ? u.replace(/\/+$/, "") : null;
  }

  function Conn(o) {
    this.o = o;
    this.state = "idle";
    this.attempt = this.moves = 0;
    this.hb = 3000;
    this.pollMs = 25000;
    /* base: the node this page talks to; router: who says which node that is. */
    this.base = o.base;
    this.router = o.router || o.base;
    this.feat = ns.features(ns.win, o.base);
    this.lad = new ns.Ladder(ns.ladder(this.feat, null));
  }
  /* One GET answered with JSON, by whatever this browser can send cross-origin. */
  Conn.prototype.get = function (u, cb) {
    var f = this.feat;
    if (f.cors || f.xdr && f.sameScheme) {
      ns.xhr("GET", u, null, 4000, cb, !f.cors);
    } else {
      ns.jsonp(u, 4000, cb);
    }
  };
  /* Ask the router which node serves the site (protocol 6.4); without an answer, keep
   * the node known last. A node running alone names none: keep the page's own URL. */
  Conn.prototype.route = function (cb) {
    var self = this, gen = this.gen, rq = this.rq = {};
    this.get(this.router + "/v1/route?" + ns.qs({ site: this.o.site }), function (err, d) {
      if (gen === self.gen && rq === self.rq) {
        if (d && typeof d.node === "string") {
          self.base = d.node && url(d.url) || self.o.base;
          /* A server alone: a lost link does not mean another node took the site. */
          self.alone = !d.node;
        }
        cb();
      }
    });
  };
  Conn.prototype.set = function (state, extra) {
    this.state = state;
    this.o.state(ns.extend({ state: state, transport: this.link ? this.link.kind : null }, extra || {}));
  };
  Conn.prototype.start = function () {
    var self = this, f = this.feat, gen = this.gen;
    if (this.state !== "idle") {
      return;
    }
    this.set("connecting");
    /* A parked JSONP poll would hold the page's load event: start after it. */
    if (!f.ws && !f.cors && !f.xdr && ns.doc.readyState !== "complete" && !this.waited) {
      this.waited = this.state = "idle";
      return ns.listen(ns.win, "load", function () {
        self.start();
      });
    }
    this.route(function () {
      if (f.ws) {
        return self.round(true);
      }
      self.get(self.base + "/v1/negotiate?" + ns.qs({ site: self.o.site }), function (err, d) {
        if (d && ns.isArray(d.transports) && ns.ladder(f, d.transports).length) {
          self.lad = new ns.Ladder(ns.ladder(f, d.transports));
          self.pollMs = d.poll_timeout || self.pollMs;
        }
        if (gen === self.gen) {
          self.round(true);
        }
      });
    });
  };
  /* A round of the ladder; first asking the router again after the node was lost. */
  Conn.prototype.round = function (routed) {
    var self = this;
    this.timer = ns.cancel(this.timer);
    if (this.state === "error") {
      return;
    }
    if (this.lost && !routed) {
      return this.route(function () {
        self.round(true);
      });
    }
    this.lost = false;
    this.open(this.lad.start(ns.now()));
  };
  Conn.prototype.make = function (t) {
    var self = this, l, b = this.base, hello = this.o.hello(), h = {
      frame: function (link, f) {
        self.onframe(link, f);
      },
      down: function (link, code, reason) {
        self.ondown(link, code, reason);
      }
    };
    l = t === "ws" ? new ns.WsLink(b, this.o.site, hello, h) : (t === "jsonp" ? ns.JsonpLink : ns.LpLink)(t, b, hello, h, this.pollMs);
    l.rx = ns.now();
    l.tm = ns.later(function () {
      if (!l.up) {
        l.end(0, "no welcome");
      }
    }, 12000);
    if (t === "ws") {
      l.to = ns.later(function () {
        if (!l.opened) {
          l.end(0, "open timeout");
        }
      }, 4000);
    }
    return l;
  };
  Conn.prototype.open = function (t) {
    this.link = this.make(t);
    this.set("connecting");
  };
  Conn.prototype.onframe = function (link, f) {
    link.rx = ns.now();
    if (link !== this.link && link !== this.probe) {
      return;
    }
    if (f.t === "bye") {
      link.bye = f;
    }
    if (!link.up) {
      if (f.t === "welcome") {
        this.up(link, f);
      } else if (f.t === "?") {
        link.end(0, "garbage");
      }
    } else if (f.t === "ping") {
      link.send({ t: "pong" });
    } else if (f.t !== "pong" && link === this.link) {
      this.o.frame(f);
    }
  };
  Conn.prototype.up = function (link, w) {
    var self = this, old = this.link, ms;
    link.up = true;
    link.upAt = ns.now();
    ns.cancel(link.tm);
    ns.cancel(link.to);
    this.hb = w.hb > 0 ? w.hb : 3000;
    this.moves = 0;
    this.lost = false;
    if (link === this.probe) {
      this.probe = null;
      this.link = link;
      old.close();
    }
    ms = this.lad.ok(link.kind, link.upAt);
    this.pt = ns.cancel(this.pt);
    if (ms >= 0) {
      this.pt = ns.later(function () {
        self.upgrade();
      }, ms + 1000);
    }
    this.set("online");
    this.o.up(w);
    this.watch();
  };
  Conn.prototype.watch = function () {
    var self = this;
    this.wt = ns.cancel(this.wt);
    this.wt = ns.later(function () {
      self.check();
      if (self.link && self.link.up) {
        self.watch();
      }
    }, 1000);
  };
  Conn.prototype.check = function () {
    var l = this.link;
    if (l && l.up && l.kind === "ws" && ns.now() - l.rx > 2 * this.hb + 1000) {
      l.end(4002, "heartbeat timeout");
    }
  };
  Conn.prototype.upgrade = function () {
    if (this.link && this.link.up && !this.probe && this.link.kind !== this.lad.list[0]) {
      this.probe = this.make(this.lad.list[0]);
    }
  };
  Conn.prototype.ondown = function (link, code, reason) {
    var self = this, next, now = ns.now();
    ns.cancel(link.tm);
    ns.cancel(link.to);
    if (link === this.probe) {
      this.probe = null;
      this.lad.block(link.kind, now);
      this.pt = ns.later(function () {
        self.upgrade();
      }, this.lad.next(this.link ? this.link.kind : "", now));
      return;
    }
    if (link !== this.link) {
      return;
    }
    if (this.probe) {
      this.probe.close();
    }
    this.link = this.probe = null;
    this.wt = ns.cancel(this.wt);
    if (ns.fatal(code)) {
      this.stop();
      return this.set("error", { code: code, reason: reason });
    }
    if (code === 4105) {
      this.lad.drop(link.kind);
    }
    if (code === 4005) {
      return this.moved(link.bye && link.bye.url);
    }
    this.lost = !this.alone;
    if (!link.up) {
      next = this.lad.fail(link.kind, now);
      if (next) {
        return this.open(next);
      }
    } else if (now - link.upAt > 10000) {
      this.attempt = 0;
    }
    this.retry(code, reason);
  };
  /* Another node serves the site: go there (or ask the router) at once, unless moves
   * keep coming without a welcome (two nodes that disagree): then back off. */
  Conn.prototype.moved = function (to) {
    var now = ns.now();
    this.moves = now - (this.movedAt || 0) < 10000 ? this.moves + 1 : 1;
    this.movedAt = now;
    this.base = url(to) || this.base;
    this.lost = !url(to);
    if (this.moves > 3) {
      this.lost = true;
      return this.retry(4005, "moved");
    }
    this.round();
  };
  Conn.prototype.retry = function (code, reason) {
    var self = this, ms = ns.backoff(this.attempt, Math.random());
    this.attempt += code === 4003 ? 3 : 1;
    this.timer = ns.cancel(this.timer);
    this.timer = ns.later(function () {
      self.round();
    }, ms);
    this.set("offline", { code: code, reason: reason, retry: ms });
  };
  Conn.prototype.wake = function (hard) {
    var l = this.link;
    if (this.state === "offline") {
      this.round();
    } else if (l && l.up) {
      if (l.kind === "ws") {
        this.check();
      } else if (hard) {
        l.kick();
      }
    }
  };
  Conn.prototype.send = function (f) {
    var l = this.link;
    if (l && l.up) {
      l.send(f);
      return true;
    }
    return false;
  };
  Conn.prototype.stop = function () {
    var l = this.link, p = this.probe;
    this.link = this.probe = null;
    this.gen = ns.now() + Math.random();
    this.timer = ns.cancel(this.timer);
    this.wt = ns.cancel(this.wt);
    this.pt = ns.cancel(this.pt);
    if (l) {
      l.close();
    }
    if (p) {
      p.close();
    }
    this.state = "idle";
  };
  Conn.prototype.restart = function () {
    if (this.state !== "error") {
      this.stop();
      this.start();
    }
  };
  ns.Conn = Conn;
})(window.kefu && window.kefu._ld);
