/* JSON values in localStorage ("kefu:<site>:<name>"), or in memory where it refuses. */
(function (ns) {
  if (!ns) {
    return;
  }
  function probe() {
    try {
      var ls = ns.win.localStorage;
      ls.setItem("kefu:p", "1");
      ls.removeItem("kefu:p");
      return ls;
    } catch (e) {
      return null;
    }
  }
  function Store(prefix, ls) {
    this.p = "kefu:" + prefix + ":";
    this.ls = ls === undefined ? probe() : ls;
    this.mem = {};
    this.bad = {};
  }
  Store.prototype.get = function (name) {
    var raw = this.mem[name];
    try {
      if (this.ls && !this.bad[name]) {
        raw = this.ls.getItem(this.p + name);
      }
      return raw ? ns.json.parse(raw) : null;
    } catch (e) {
      return null;
    }
  };
  Store.prototype.set = function (name, v) {
    var raw = this.mem[name] = ns.json.stringify(v);
    try {
      if (this.ls) {
        this.ls.setItem(this.p + name, raw);
        this.bad[name] = false;
      }
    } catch (e) {
      this.bad[name] = true;
    }
  };
  Store.prototype.del = function (name) {
    delete this.mem[name];
    try {
      if (this.ls) {
        this.ls.removeItem(this.p + name);
      }
    } catch (e) {
      ns.report(e);
    }
  };
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
