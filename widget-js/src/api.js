/* Public API and boot (README.md). */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win, doc = ns.doc, k = win.kefu, ev = new ns.Emitter(), sess = null, user = null, later = [];
  var RE = /\/widget\.js([?#].*)?$/;

  function me() {
    var s = doc.currentScript, all = doc.getElementsByTagName("script"), i, b, loc = win.location;
    for (i = all.length - 1; i >= 0 && !(s && RE.test(s.src)); i--) {
      s = all[i];
    }
    if (!s || !RE.test(s.src)) {
      return {};
    }
    b = String(s.src).replace(RE, "");
    b = /^\/\//.test(b) ? loc.protocol + b : /^https?:/.test(b) ? b : loc.protocol + "//" + loc.host + b;
    return { site: s.getAttribute("data-site"), base: b, router: s.getAttribute("data-router") };
  }
  function wire(s) {
    function wake(hard) {
      return function () {
        s.wake(hard);
      };
    }
    ns.listen(win, "online", wake(true));
    ns.listen(win, "pageshow", wake(true));
    ns.listen(win, "focus", wake(false));
    ns.listen(doc, "visibilitychange", function () {
      s.page();
      if (!doc.hidden) {
        s.wake(true);
        s.read();
      }
    });
    ns.listen(win, "hashchange", function () {
      s.page();
    });
    s.store.watch(function (name) {
      if (name === "outbox") {
        ns.later(function () {
          s.flush();
        }, 3000);
      }
    });
  }
  function boot(o) {
    if (!doc.body) {
      return ns.later(function () {
        boot(o);
      }, 50);
    }
    sess.ui = new ns.Ui(sess, o);
    sess.start();
    ns.each(later, run);
  }
  var cmds = {
    init: function (o) {
      var m = me(), base, router;
      o = o || {};
      base = String(o.base || m.base || "").replace(/\/+$/, "");
      router = String(o.router || m.router || base).replace(/\/+$/, "");
      if (sess) {
        return;
      }
      if (!(o.site || m.site) || !base) {
        return ev.emit("error", { code: "config", reason: "no site key or server URL" });
      }
      sess = ns.session = new ns.Session({ site: o.site || m.site, base: base, router: router, ev: ev });
      sess.user = user;
      wire(sess);
      boot(o);
    },
    open: function () {
      sess.ui.open(true);
    },
    close: function () {
      sess.ui.open(false);
    },
    send: function (text) {
      sess.send(String(text));
    },
    identify: function (u) {
      if (sess) {
        sess.identify(u);
      } else {
        user = u;
      }
    },
    on: function (name, fn) {
      ev.on(name, fn);
      if (name === "ready" && sess && sess.ready) {
        fn({});
      }
    },
    off: function (name, fn) {
      ev.off(name, fn);
    }
  };
  function run(args) {
    try {
      var name = args[0], fn = cmds.hasOwnProperty(name) && cmds[name];
      if (fn && !/^(open|close|send)$/.test(name) || sess && sess.ui) {
        return fn && fn(args[1], args[2]);
      }
      if (fn) {
        later.push(args);
      }
    } catch (e) {
      ns.report(e);
    }
  }
  try {
    var q = k.q || [];
    k.q = { push: run };
    ns.each(q, run);
    ns.booted = true;
    if (!sess && me().site) {
      cmds.init();
    }
  } catch (e) {
    ns.report(e);
  }
})(window.kefu && window.kefu._ld);
