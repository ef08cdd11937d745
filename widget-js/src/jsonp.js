/* JSONP carrier; a frame too long for one URL goes as parts keyed by its cid. */
(function (ns) {
  if (!ns) {
    return;
  }
  var MAX = 2000, CB = 24;

  ns.splitParts = function (text, budget) {
    var out = [], cur = "", len = 0, i = 0, c, n;
    while (i < text.length) {
      c = ns.charAt(text, i);
      i += c.length;
      try {
        n = encodeURIComponent(c).length;
      } catch (e) {
        c = "\ufffd";
        n = 9;
      }
      if (len + n > budget && cur) {
        out.push(cur);
        cur = "";
        len = 0;
      }
      cur += c;
      len += n;
    }
    out.push(cur);
    return out;
  };
  ns.jsonpUrls = function (base, chan, f, max) {
    var u = base + "/v1/jsonp/send?", text = ns.json.stringify(f), one = u + ns.qs({ chan: chan, f: text }), pid, parts, i, out = [];
    max = max || MAX;
    if (one.length + CB <= max) {
      return [one];
    }
    pid = f.cid || "p" + ns.rid(12);
    parts = ns.splitParts(text, max - CB - (u + ns.qs({ chan: chan, pid: pid, i: 99, n: 99, d: "" })).length);
    for (i = 0; i < parts.length; i++) {
      out.push(u + ns.qs({ chan: chan, pid: pid, i: i, n: parts.length, d: parts[i] }));
    }
    return parts.length > 32 ? null : out;
  };
  ns.JsonpLink = function (kind, base, hello, h, pollMs) {
    var u = base + "/v1/jsonp/";
    return new ns.ChanLink(kind, {
      batch: 1,
      open: function (hello, cb) {
        return ns.jsonp(u + "open?" + ns.qs({ f: ns.json.stringify(hello) }), 15000, cb);
      },
      poll: function (chan, ack, ms, cb) {
        return ns.jsonp(u + "poll?" + ns.qs({ chan: chan, ack: ack, _: ns.rid(6) }), ms, cb);
      },
      send: function (chan, fs, cb) {
        var urls = ns.jsonpUrls(base, chan, fs[0]) || [], i = 0, cur = { abort: function () {} };
        function step(err, d) {
          if (err || !d.ok || d.frames || i === urls.length) {
            return cb(err, d);
          }
          cur = ns.jsonp(urls[i++], 15000, step);
        }
        ns.later(function () {
          step(null, { ok: true });
        }, 0);
        return {
          abort: function () {
            step = function () {};
            cur.abort();
          }
        };
      },
      close: function (chan) {
        ns.jsonp(u + "close?" + ns.qs({ chan: chan }), 5000, function () {});
      }
    }, hello, h, pollMs);
  };
})(window.kefu && window.kefu._ld);
