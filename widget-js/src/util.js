/* Helpers. Callbacks never throw into the page; DOM text goes in as text nodes only. */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win, has = Object.prototype.hasOwnProperty;

  ns.report = function (e) {
    ns.lastError = e;
  };
  ns.safe = function (fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        ns.report(e);
      }
    };
  };
  ns.now = function () {
    return new Date().getTime();
  };
  ns.isArray = function (a) {
    return Object.prototype.toString.call(a) === "[object Array]";
  };
  ns.each = function (a, fn) {
    for (var i = 0; i < a.length; i++) {
      fn(a[i], i);
    }
  };
  ns.indexOf = function (a, x) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] === x) {
        return i;
      }
    }
    return -1;
  };
  ns.trim = function (s) {
    return String(s).replace(/^[\s\u00a0\ufeff]+|[\s\u00a0\ufeff]+$/g, "");
  };
  ns.extend = function (a, b) {
    for (var k in b) {
      if (has.call(b, k)) {
        a[k] = b[k];
      }
    }
    return a;
  };
  ns.rid = function (n) {
    var s = "";
    while (s.length < n) {
      s += Math.floor(Math.random() * 36).toString(36);
    }
    return s;
  };
  ns.cid = function () {
    return "c" + ns.now().toString(36) + ns.rid(10);
  };
  ns.qs = function (o) {
    var out = [], k;
    for (k in o) {
      if (has.call(o, k) && o[k] !== undefined && o[k] !== null) {
        out.push(k + "=" + encodeURIComponent(o[k]));
      }
    }
    return out.join("&");
  };
  ns.charAt = function (s, i) {
    var d = s.charCodeAt(i);
    return s.substr(i, d >= 0xd800 && d <= 0xdbff ? 2 : 1);
  };
  ns.chunks = function (s, max) {
    var out = [], cur = "", n = 0, i = 0, c;
    while (i < s.length) {
      c = ns.charAt(s, i);
      i += c.length;
      if (n === max) {
        out.push(cur);
        cur = "";
        n = 0;
      }
      cur += c;
      n++;
    }
    if (cur) {
      out.push(cur);
    }
    return out;
  };
  ns.later = function (fn, ms) {
    return win.setTimeout(ns.safe(fn), ms);
  };
  ns.cancel = function (t) {
    if (t) {
      win.clearTimeout(t);
    }
    return null;
  };
  ns.listen = function (el, ev, fn) {
    var h = ns.safe(function (e) {
      return fn.call(el, e || win.event);
    });
    if (el.addEventListener) {
      el.addEventListener(ev, h, false);
    } else if (el.attachEvent) {
      el.attachEvent("on" + ev, h);
    }
  };
  ns.stop = function (e) {
    if (e.preventDefault) {
      e.preventDefault();
    }
    e.returnValue = false;
  };

  function Emitter() {
    this.ls = {};
  }
  Emitter.prototype.on = function (ev, fn) {
    (this.ls[ev] = this.ls[ev] || []).push(fn);
  };
  Emitter.prototype.off = function (ev, fn) {
    var a = this.ls[ev] || [], i = ns.indexOf(a, fn);
    a.splice(i, i < 0 ? 0 : 1);
  };
  Emitter.prototype.emit = function (ev, data) {
    var a = (this.ls[ev] || []).slice(0), i;
    for (i = 0; i < a.length; i++) {
      try {
        a[i](data);
      } catch (e) {
        ns.report(e);
      }
    }
  };
  ns.Emitter = Emitter;

  ns.el = function (tag, cls, text) {
    var e = ns.doc.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined) {
      e.appendChild(ns.doc.createTextNode(String(text)));
    }
    return e;
  };
  ns.text = function (e, text) {
    while (e.firstChild) {
      e.removeChild(e.firstChild);
    }
    e.appendChild(ns.doc.createTextNode(String(text)));
  };
  ns.show = function (e, on) {
    e.style.display = on ? "" : "none";
  };
})(window.kefu && window.kefu._ld);
