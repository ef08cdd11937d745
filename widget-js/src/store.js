/* store.js owns persistence: JSON values under "kefu:<site>:<name>" in localStorage,
 * shared by every tab of the site, with an in-memory fallback where localStorage is
 * missing or refuses (old browsers, private modes, sandboxed frames, full quota).
 * It knows nothing of what the values mean. */
(function (ns) {
  if (!ns) {
    return;
  }

  function probe(win) {
    var ls, k = "kefu:probe";
    try {
      ls = win.localStorage;
      ls.setItem(k, "1");
      if (ls.getItem(k) !== "1") {
        return null;
      }
      ls.removeItem(k);
      return ls;
    } catch (e) {
      return null;
    }
  }

  /* ls: a Storage-like object, or null for memory only. */
  function Store(prefix, ls) {
    this.p = "kefu:" + prefix + ":";
    this.ls = ls === undefined ? probe(ns.win) : ls;
    this.mem = {};
    this.bad = {};
    this.persistent = !!this.ls;
  }
  Store.prototype.get = function (name) {
    var raw = this.mem.hasOwnProperty(name) ? this.mem[name] : null;
    if (this.ls && !this.bad[name]) {
      try {
        raw = this.ls.getItem(this.p + name);
      } catch (e) {
        ns.report(e);
      }
    }
    if (raw === null || raw === undefined) {
      return null;
    }
    try {
      return ns.json.parse(raw);
    } catch (e2) {
      return null;
    }
  };
  Store.prototype.set = function (name, value) {
    var raw = ns.json.stringify(value);
    this.mem[name] = raw;
    if (this.ls) {
      try {
        this.ls.setItem(this.p + name, raw);
        this.bad[name] = false;
      } catch (e) {
        this.bad[name] = true;
      }
    }
  };
  Store.prototype.del = function (name) {
    delete this.mem[name];
    if (this.ls) {
      try {
        this.ls.removeItem(this.p + name);
      } catch (e) {
        ns.report(e);
      }
    }
  };
  /* Calls fn(name) when another tab changes one of our keys. */
  Store.prototype.watch = function (fn) {
    var p = this.p;
    ns.listen(ns.win, "storage", function (e) {
      if (e && e.key && e.key.indexOf(p) === 0) {
        fn(e.key.slice(p.length));
      }
    });
  };
  ns.Store = Store;
})(window.kefu && window.kefu._ld);
