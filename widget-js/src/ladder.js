/* Pure decisions (protocol 6.3): usable transports, what to try next, backoff. */
(function (ns) {
  if (!ns) {
    return;
  }
  ns.features = function (win, base) {
    var f = { ws: !!win.WebSocket, xdr: !!win.XDomainRequest };
    try {
      f.cors = "withCredentials" in new win.XMLHttpRequest();
    } catch (e) {
      f.cors = false;
    }
    f.sameScheme = base.split(":")[0] + ":" === win.location.protocol;
    return f;
  };
  ns.ladder = function (f, allowed) {
    var can = { ws: f.ws, lp: f.cors, xdr: f.xdr && f.sameScheme && !f.cors, jsonp: true };
    var all = ["ws", "lp", "xdr", "jsonp"], out = [], i;
    for (i = 0; i < 4; i++) {
      if (can[all[i]] && (!allowed || ns.indexOf(allowed, all[i]) >= 0)) {
        out.push(all[i]);
      }
    }
    return out;
  };
  ns.backoff = function (attempt, r) {
    return Math.round(Math.min(30000, 500 * Math.pow(2, Math.min(attempt, 16))) * (0.5 + r / 2));
  };

  /* Rounds and blocking: see README.md, "How it connects". */
  function Ladder(list) {
    this.list = list;
    this.until = {};
    this.wait = {};
    this.failed = [];
  }
  Ladder.prototype.from = function (i, now) {
    for (; i < this.list.length; i++) {
      if (!(this.until[this.list[i]] > now)) {
        return this.list[i];
      }
    }
    return null;
  };
  Ladder.prototype.start = function (now) {
    this.failed = [];
    return this.from(0, now) || this.list[0];
  };
  Ladder.prototype.fail = function (t, now) {
    this.failed.push(t);
    return this.from(ns.indexOf(this.list, t) + 1, now);
  };
  Ladder.prototype.ok = function (t, now) {
    var k = ns.indexOf(this.list, t), i;
    for (i = 0; i < this.failed.length; i++) {
      if (ns.indexOf(this.list, this.failed[i]) < k) {
        this.block(this.failed[i], now);
      }
    }
    this.failed = [];
    return this.next(t, now);
  };
  Ladder.prototype.block = function (t, now) {
    this.wait[t] = Math.min(600000, (this.wait[t] || 15000) * 2);
    this.until[t] = now + this.wait[t];
  };
  Ladder.prototype.next = function (cur, now) {
    return ns.indexOf(this.list, cur) > 0 ? Math.max(0, (this.until[this.list[0]] || 0) - now) : -1;
  };
  Ladder.prototype.drop = function (t) {
    var i = ns.indexOf(this.list, t);
    if (i >= 0 && this.list.length > 1) {
      this.list.splice(i, 1);
    }
  };
  ns.Ladder = Ladder;
})(window.kefu && window.kefu._ld);
