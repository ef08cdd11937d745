/* ns.json: the native JSON if sane, else json2's regex-validated parse and a serializer.
 * The only file that may touch the global JSON. */
(function (ns) {
  if (!ns) {
    return;
  }
  var nat = ns.win.JSON, has = Object.prototype.hasOwnProperty, sane = false;
  var esc = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

  function quote(s) {
    return '"' + s.replace(/["\\\u0000-\u001f\u2028\u2029]/g, function (c) {
      return esc[c] || "\\u" + ("000" + c.charCodeAt(0).toString(16)).slice(-4);
    }) + '"';
  }
  function stringify(v) {
    var t = typeof v, out = [], k, s, i;
    if (t === "string") {
      return quote(v);
    }
    if (t === "number") {
      return isFinite(v) ? String(v) : "null";
    }
    if (t === "boolean" || v === null) {
      return String(v);
    }
    if (t !== "object") {
      return undefined;
    }
    if (ns.isArray(v)) {
      for (i = 0; i < v.length; i++) {
        s = stringify(v[i]);
        out.push(s === undefined ? "null" : s);
      }
      return "[" + out.join(",") + "]";
    }
    for (k in v) {
      if (has.call(v, k) && (s = stringify(v[k])) !== undefined) {
        out.push(quote(k) + ":" + s);
      }
    }
    return "{" + out.join(",") + "}";
  }
  function parse(text) {
    var t = String(text).replace(/[\u2028\u2029]/g, function (c) {
      return "\\u" + c.charCodeAt(0).toString(16);
    });
    if (/^[\],:{}\s]*$/.test(t.replace(/\\(?:["\\\/bfnrt]|u[0-9a-fA-F]{4})/g, "@")
      .replace(/"[^"\\\n\r\u0000-\u001f]*"|true|false|null|-?\d+(?:\.\d*)?(?:[eE][+\-]?\d+)?/g, "]")
      .replace(/(?:^|:|,)(?:\s*\[)+/g, ""))) {
      return new Function("return (" + t + ")")();
    }
    throw new SyntaxError("JSON");
  }

  try {
    sane = nat.stringify({ a: [1, "x"] }) === '{"a":[1,"x"]}' && nat.parse("[0,{\"b\":2}]")[1].b === 2;
  } catch (e) {
    sane = false;
  }
  ns.jsonPoly = { parse: parse, stringify: stringify };
  ns.json = sane ? nat : ns.jsonPoly;
})(window.kefu && window.kefu._ld);
