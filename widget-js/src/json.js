/* json.js owns JSON text: ns.json.parse / ns.json.stringify. It uses the browser's JSON
 * when present and sane (old Prototype.js breaks arrays through Array#toJSON), else a
 * small strict parser (no eval) and serializer. Both throw on bad input: callers catch.
 * This is the only file that may touch the global JSON. */
(function (ns) {
  if (!ns) {
    return;
  }
  var win = ns.win;
  var nat = win.JSON;
  var esc = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  var toStr = Object.prototype.toString;

  function quote(s) {
    return '"' + s.replace(/["\\\u0000-\u001f\u2028\u2029]/g, function (c) {
      return esc[c] || "\\u" + ("0000" + c.charCodeAt(0).toString(16)).slice(-4);
    }) + '"';
  }

  function stringify(v) {
    var t = typeof v, out, k, s, i;
    if (v === null || t === "function" || t === "undefined") {
      return t === "function" || t === "undefined" ? undefined : "null";
    }
    if (t === "string") {
      return quote(v);
    }
    if (t === "number") {
      return isFinite(v) ? String(v) : "null";
    }
    if (t === "boolean") {
      return v ? "true" : "false";
    }
    out = [];
    if (toStr.call(v) === "[object Array]") {
      for (i = 0; i < v.length; i++) {
        s = stringify(v[i]);
        out.push(s === undefined ? "null" : s);
      }
      return "[" + out.join(",") + "]";
    }
    for (k in v) {
      if (Object.prototype.hasOwnProperty.call(v, k)) {
        s = stringify(v[k]);
        if (s !== undefined) {
          out.push(quote(k) + ":" + s);
        }
      }
    }
    return "{" + out.join(",") + "}";
  }

  function parse(text) {
    var at = 0, ch = " ", src = String(text);
    var unesc = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
    function fail() {
      throw new SyntaxError("bad JSON at " + at);
    }
    function next(c) {
      if (c && c !== ch) {
        fail();
      }
      ch = src.charAt(at);
      at += 1;
      return ch;
    }
    function white() {
      while (ch && " \t\r\n".indexOf(ch) >= 0) {
        next();
      }
    }
    function num() {
      var s = "";
      while (ch && "+-0123456789.eE".indexOf(ch) >= 0) {
        s += ch;
        next();
      }
      if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(s)) {
        fail();
      }
      return +s;
    }
    function str() {
      var s = "", h;
      next('"');
      while (ch) {
        if (ch === '"') {
          next();
          return s;
        }
        if (ch === "\\") {
          next();
          if (ch === "u") {
            h = src.substr(at, 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) {
              fail();
            }
            s += String.fromCharCode(parseInt(h, 16));
            at += 4;
          } else if (unesc.hasOwnProperty(ch)) {
            s += unesc[ch];
          } else {
            fail();
          }
        } else if (ch < " ") {
          fail();
        } else {
          s += ch;
        }
        next();
      }
      return fail();
    }
    function word(w, v) {
      var i;
      for (i = 0; i < w.length; i++) {
        next(w.charAt(i));
      }
      return v;
    }
    function value() {
      var a, o, k;
      white();
      if (ch === "{") {
        o = {};
        next();
        white();
        if (ch === "}") {
          next();
          return o;
        }
        while (ch) {
          white();
          k = str();
          white();
          next(":");
          o[k] = value();
          white();
          if (ch === "}") {
            next();
            return o;
          }
          next(",");
        }
        return fail();
      }
      if (ch === "[") {
        a = [];
        next();
        white();
        if (ch === "]") {
          next();
          return a;
        }
        while (ch) {
          a.push(value());
          white();
          if (ch === "]") {
            next();
            return a;
          }
          next(",");
        }
        return fail();
      }
      if (ch === '"') {
        return str();
      }
      if (ch === "t") {
        return word("true", true);
      }
      if (ch === "f") {
        return word("false", false);
      }
      if (ch === "n") {
        return word("null", null);
      }
      return num();
    }
    var r = value();
    white();
    if (ch) {
      fail();
    }
    return r;
  }

  var sane = false;
  try {
    sane = !!(nat && nat.parse && nat.stringify && nat.stringify({ a: [1, "x"] }) === '{"a":[1,"x"]}' &&
      nat.parse('[1,{"b":"c"}]')[1].b === "c");
  } catch (e) {
    sane = false;
  }
  ns.jsonPoly = { parse: parse, stringify: stringify };
  ns.json = sane ? {
    parse: function (s) {
      return nat.parse(s);
    },
    stringify: function (v) {
      return nat.stringify(v);
    }
  } : ns.jsonPoly;
})(window.kefu && window.kefu._ld);
