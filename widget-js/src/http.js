/* One request, JSON answer: XHR, XDomainRequest or JSONP. cb(err, data) runs once. */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win, seq = 0;

  function once(cb, ms, onAbort) {
    var st = { done: false };
    st.fin = function (err, d) {
      if (!st.done) {
        st.abort();
        if (!err && (!d || typeof d !== "object")) {
          err = "parse";
        }
        cb(err, err ? null : d);
      }
    };
    st.abort = function () {
      st.done = true;
      st.t = ns.cancel(st.t);
      try {
        onAbort();
      } catch (e) {
        ns.report(e);
      }
    };
    st.t = ns.later(function () {
      st.fin("timeout");
    }, ms);
    return st;
  }
  function parse(text) {
    try {
      return ns.json.parse(text);
    } catch (e) {
      return null;
    }
  }

  ns.xhr = function (method, url, body, ms, cb, xdr) {
    var x, st = once(cb, ms, function () {
      x.abort();
    });
    try {
      if (xdr) {
        x = new win.XDomainRequest();
        x.onload = ns.safe(function () {
          st.fin(null, parse(x.responseText));
        });
        x.onerror = x.ontimeout = ns.safe(function () {
          st.fin("net");
        });
        x.onprogress = function () {};
        x.open(method, url);
      } else {
        x = new win.XMLHttpRequest();
        x.open(method, url, true);
        x.onreadystatechange = ns.safe(function () {
          if (x.readyState === 4) {
            st.fin(x.status === 200 ? null : x.status ? "status" : "net", parse(x.responseText));
          }
        });
        if (body !== null) {
          x.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
        }
      }
      x.send(body);
    } catch (e) {
      ns.later(function () {
        st.fin("net");
      }, 0);
    }
    return st;
  };

  ns.jsonp = function (url, ms, cb) {
    var reg = win.kefu._j, name = "c" + (++seq), doc = ns.doc, s = doc.createElement("script"), st;
    var head = doc.getElementsByTagName("head")[0] || doc.documentElement;
    st = once(cb, ms, function () {
      reg[name] = function () {};
      ns.later(function () {
        delete reg[name];
      }, 300000);
      s.onload = s.onerror = s.onreadystatechange = null;
      if (s.parentNode) {
        s.parentNode.removeChild(s);
      }
    });
    reg[name] = ns.safe(function (d) {
      st.fin(null, d);
    });
    s.onload = s.onerror = s.onreadystatechange = ns.safe(function (e) {
      var rs = s.readyState;
      if (e && e.type === "error" || !rs || rs === "loaded" || rs === "complete") {
        st.fin(e && e.type === "error" ? "net" : "script");
      }
    });
    s.async = true;
    s.src = url + "&cb=kefu._j." + name;
    head.insertBefore(s, head.firstChild);
    return st;
  };
})(window.kefu && window.kefu._ld);
