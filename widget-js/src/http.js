/* http.js owns single HTTP exchanges with JSON answers, three ways: XHR with CORS,
 * XDomainRequest (IE8/9), and JSONP (a script tag calling kefu._j.<name>). Each calls
 * cb(err, data) exactly once (err: "net", "timeout", "status", "parse" or "script"),
 * unless aborted, and never throws. Channels and retries are chan.js's business. */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win;
  var seq = 0;

  function once(cb, timeout, onTimeout) {
    var st = { done: false, t: null };
    st.fin = function (err, data) {
      if (st.done) {
        return;
      }
      st.done = true;
      st.t = ns.cancel(st.t);
      cb(err, data);
    };
    st.t = ns.later(function () {
      onTimeout();
      st.fin("timeout");
    }, timeout);
    return st;
  }

  function parseBody(st, text) {
    var d;
    try {
      d = ns.json.parse(text);
    } catch (e) {
      return st.fin("parse");
    }
    if (!d || typeof d !== "object") {
      return st.fin("parse");
    }
    st.fin(null, d);
  }

  /* XHR with CORS. Bodies go as text/plain, which needs no preflight. */
  ns.xhr = function (method, url, body, timeout, cb) {
    var x = new win.XMLHttpRequest(), st = once(cb, timeout, function () {
      try {
        x.abort();
      } catch (e) {
        ns.report(e);
      }
    });
    x.onreadystatechange = ns.safe(function () {
      if (x.readyState !== 4 || st.done) {
        return;
      }
      if (x.status !== 200) {
        return st.fin(x.status ? "status" : "net");
      }
      parseBody(st, x.responseText);
    });
    try {
      x.open(method, url, true);
      if (body !== null) {
        x.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
      }
      x.send(body);
    } catch (e) {
      ns.later(function () {
        st.fin("net");
      }, 0);
    }
    return {
      abort: function () {
        st.done = true;
        st.t = ns.cancel(st.t);
        try {
          x.abort();
        } catch (e) {
          ns.report(e);
        }
      }
    };
  };

  /* XDomainRequest: text/plain only, no status codes (the server answers 200 with a bye
   * frame where it matters), and it must have every handler set or IE9 drops it. */
  ns.xdr = function (method, url, body, timeout, cb) {
    var x = new win.XDomainRequest(), st = once(cb, timeout, function () {
      try {
        x.abort();
      } catch (e) {
        ns.report(e);
      }
    });
    x.onload = ns.safe(function () {
      parseBody(st, x.responseText);
    });
    x.onerror = ns.safe(function () {
      st.fin("net");
    });
    x.ontimeout = x.onerror;
    x.onprogress = function () {};
    try {
      x.open(method, url);
      x.timeout = timeout + 1000;
      ns.later(function () {
        try {
          x.send(body);
        } catch (e) {
          st.fin("net");
        }
      }, 0);
    } catch (e) {
      ns.later(function () {
        st.fin("net");
      }, 0);
    }
    return {
      abort: function () {
        st.done = true;
        st.t = ns.cancel(st.t);
        try {
          x.abort();
        } catch (e) {
          ns.report(e);
        }
      }
    };
  };

  /* JSONP: GET only. The answer calls kefu._j.<name>(data); a script that loads without
   * calling it (an error page, garbage) or fails to load is an error. */
  ns.jsonp = function (url, timeout, cb) {
    var reg = win.kefu._j, name = "c" + (++seq), doc = ns.doc, s = doc.createElement("script"), st;
    function cleanup() {
      reg[name] = function () {};
      ns.later(function () {
        delete reg[name];
      }, 60000);
      s.onload = s.onerror = s.onreadystatechange = null;
      if (s.parentNode) {
        s.parentNode.removeChild(s);
      }
    }
    st = once(function (err, data) {
      cleanup();
      cb(err, data);
    }, timeout, function () {});
    reg[name] = ns.safe(function (data) {
      if (data && typeof data === "object") {
        st.fin(null, data);
      } else {
        st.fin("parse");
      }
    });
    s.onload = s.onerror = s.onreadystatechange = ns.safe(function (e) {
      var rs = s.readyState;
      if (e && e.type === "error") {
        return st.fin("net");
      }
      if (!rs || rs === "loaded" || rs === "complete") {
        st.fin("script");
      }
    });
    s.async = true;
    s.src = url + (url.indexOf("?") >= 0 ? "&" : "?") + "cb=kefu._j." + name;
    var head = doc.getElementsByTagName("head")[0] || doc.documentElement;
    head.insertBefore(s, head.firstChild);
    return {
      abort: function () {
        st.done = true;
        st.t = ns.cancel(st.t);
        cleanup();
      }
    };
  };
})(window.kefu && window.kefu._ld);
