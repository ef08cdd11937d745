/* util.js owns the small ES3 helpers every other file uses: arrays, strings, ids, query
 * strings, timers and DOM events that never let an exception reach the host page, an
 * event emitter, and text-only DOM construction (user text never becomes HTML). */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win;
  var toStr = Object.prototype.toString;

  ns.errors = [];
  /* Swallow an exception from our own code, keeping the last few for debugging. */
  ns.report = function (e) {
    ns.errors.push(e);
    if (ns.errors.length > 20) {
      ns.errors.shift();
    }
  };
  ns.safe = function (fn, self) {
    return function () {
      try {
        return fn.apply(self || this, arguments);
      } catch (e) {
        ns.report(e);
      }
    };
  };
  ns.now = function () {
    return new Date().getTime();
  };
  ns.isArray = function (a) {
    return toStr.call(a) === "[object Array]";
  };
  ns.each = function (a, fn) {
    var i;
    for (i = 0; i < a.length; i++) {
      fn(a[i], i);
    }
  };
  ns.indexOf = function (a, x) {
    var i;
    for (i = 0; i < a.length; i++) {
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
    var k;
    for (k in b) {
      if (Object.prototype.hasOwnProperty.call(b, k)) {
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
  /* A client message id: [A-Za-z0-9_-]{1,64}, unique per visitor across its tabs. */
  ns.cid = function () {
    return "c" + ns.now().toString(36) + ns.rid(10);
  };
  ns.qs = function (o) {
    var out = [], k;
    for (k in o) {
      if (Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined && o[k] !== null) {
        out.push(encodeURIComponent(k) + "=" + encodeURIComponent(o[k]));
      }
    }
    return out.join("&");
  };
  /* Cut text into pieces of at most max code points (the server counts characters, not
   * UTF-16 units), never splitting a surrogate pair. */
  ns.chunks = function (s, max) {
    var out = [], cur = "", n = 0, i, c, d;
    for (i = 0; i < s.length; i++) {
      c = s.charAt(i);
      d = s.charCodeAt(i);
      if (d >= 0xd800 && d <= 0xdbff && i + 1 < s.length) {
        c += s.charAt(++i);
      }
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
  /* DOM events: addEventListener where it exists, attachEvent (IE8) else. Returns the
   * wrapped handler, to pass to ns.unlisten. */
  ns.listen = function (el, ev, fn) {
    var h = ns.safe(function (e) {
      return fn.call(el, e || win.event);
    });
    if (el.addEventListener) {
      el.addEventListener(ev, h, false);
    } else if (el.attachEvent) {
      el.attachEvent("on" + ev, h);
    }
    return h;
  };
  ns.unlisten = function (el, ev, h) {
    if (el.removeEventListener) {
      el.removeEventListener(ev, h, false);
    } else if (el.detachEvent) {
      el.detachEvent("on" + ev, h);
    }
  };
  ns.stop = function (e) {
    if (e.preventDefault) {
      e.preventDefault();
    } else {
      e.returnValue = false;
    }
  };

  /* A minimal emitter: listeners run in try/catch, so a host's handler cannot break us. */
  function Emitter() {
    this.ls = {};
  }
  Emitter.prototype.on = function (ev, fn) {
    (this.ls[ev] = this.ls[ev] || []).push(fn);
  };
  Emitter.prototype.off = function (ev, fn) {
    var a = this.ls[ev] || [], i = ns.indexOf(a, fn);
    if (i >= 0) {
      a.splice(i, 1);
    }
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

  /* Elements with text only: user-provided strings go through createTextNode. */
  ns.el = function (tag, cls, text) {
    var e = ns.doc.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined && text !== null) {
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
