/* ladder.js owns the pure decisions of connecting (protocol §6.3), with no I/O: which
 * transports this browser can use and in what order, which one to try next in a round,
 * which to avoid for a while after it failed where a lower one worked (and when to try
 * it again), and the reconnect backoff. */
(function (ns) {
  if (!ns) {
    return;
  }
  var ORDER = ["ws", "lp", "xdr", "jsonp"];

  /* What the browser offers, for the server at base. */
  ns.features = function (win, base) {
    var f = { ws: false, cors: false, xdr: false, sameScheme: true }, x;
    try {
      f.ws = typeof win.WebSocket === "function" || typeof win.WebSocket === "object";
    } catch (e) {
      f.ws = false;
    }
    try {
      if (win.XMLHttpRequest) {
        x = new win.XMLHttpRequest();
        f.cors = "withCredentials" in x;
      }
    } catch (e2) {
      f.cors = false;
    }
    f.xdr = !!win.XDomainRequest;
    try {
      f.sameScheme = String(base).split(":")[0] === String(win.location.protocol).split(":")[0];
    } catch (e3) {
      f.sameScheme = false;
    }
    return f;
  };

  /* The transports to try, best first: those the browser can use and the site allows
   * (allowed: the negotiated list, or null for all). JSONP works everywhere. */
  ns.ladder = function (f, allowed) {
    var can = { ws: f.ws, lp: f.cors, xdr: f.xdr && f.sameScheme && !f.cors, jsonp: true }, out = [], i;
    for (i = 0; i < ORDER.length; i++) {
      if (can[ORDER[i]] && (!allowed || ns.indexOf(allowed, ORDER[i]) >= 0)) {
        out.push(ORDER[i]);
      }
    }
    return out;
  };

  /* Exponential backoff with jitter: attempt 0 waits 250-500 ms, then doubling, capped at
   * 30 s. r: a random number in [0, 1). */
  ns.backoff = function (attempt, r) {
    var base = Math.min(30000, 500 * Math.pow(2, Math.min(attempt, 16)));
    return Math.round(base * (0.5 + 0.5 * r));
  };

  /* Rounds down the ladder. A round starts at the best transport not blocked; a failure
   * before welcome moves one step down; when one reaches welcome, those above it that
   * failed in the same round are blocked for a while (30 s, doubling to 10 min), since
   * the network works but they do not. A failed round (all failed: probably offline)
   * blocks nothing. */
  function Ladder(list) {
    this.list = list;
    this.until = {};
    this.wait = {};
    this.failed = [];
    this.i = 0;
  }
  Ladder.prototype.start = function (now) {
    var i;
    this.failed = [];
    for (i = 0; i < this.list.length; i++) {
      if (!(this.until[this.list[i]] > now)) {
        this.i = i;
        return this.list[i];
      }
    }
    this.i = 0;
    return this.list[0] || null;
  };
  /* t failed before welcome: the next to try in this round, or null (round over). */
  Ladder.prototype.fail = function (t, now) {
    var i;
    this.failed.push(t);
    for (i = ns.indexOf(this.list, t) + 1; i < this.list.length; i++) {
      if (!(this.until[this.list[i]] > now)) {
        this.i = i;
        return this.list[i];
      }
    }
    return null;
  };
  /* t reached welcome. Returns ms until the best blocked transport above t may be tried
   * again (an upgrade probe), or -1 when t is the best. */
  Ladder.prototype.ok = function (t, now) {
    var k = ns.indexOf(this.list, t), i, f;
    for (i = 0; i < this.failed.length; i++) {
      f = this.failed[i];
      if (ns.indexOf(this.list, f) < k) {
        this.block(f, now);
      }
    }
    this.failed = [];
    this.wait[t] = 0;
    return this.next(t, now);
  };
  Ladder.prototype.block = function (t, now) {
    this.wait[t] = Math.min(600000, (this.wait[t] || 15000) * 2);
    this.until[t] = now + this.wait[t];
  };
  /* ms until the best transport above cur is worth probing, or -1. */
  Ladder.prototype.next = function (cur, now) {
    var k = ns.indexOf(this.list, cur);
    if (k <= 0) {
      return -1;
    }
    return Math.max(0, (this.until[this.list[0]] || 0) - now);
  };
  /* The site refused t (close 4105): never use it again on this page. */
  Ladder.prototype.drop = function (t) {
    var i = ns.indexOf(this.list, t);
    if (i >= 0 && this.list.length > 1) {
      this.list.splice(i, 1);
    }
  };
  ns.Ladder = Ladder;
})(window.kefu && window.kefu._ld);
