/* Long-poll carrier: XHR ("lp") or XDomainRequest ("xdr"). */
(function (ns) {
  if (!ns) {
    return;
  }
  ns.LpLink = function (kind, base, hello, h, pollMs) {
    var u = base + "/v1/lp/", x = kind === "xdr";
    function req(method, path, body, ms, cb) {
      return ns.xhr(method, u + path, body, ms, cb, x);
    }
    return new ns.ChanLink(kind, {
      batch: 50,
      open: function (hello, cb) {
        return req("POST", "open?tr=" + kind, ns.json.stringify(hello), 15000, cb);
      },
      poll: function (chan, ack, ms, cb) {
        return req("GET", "poll?" + ns.qs({ chan: chan, ack: ack, _: ns.rid(6) }), null, ms, cb);
      },
      send: function (chan, fs, cb) {
        return req("POST", "send?" + ns.qs({ chan: chan }), ns.json.stringify(fs.length > 1 ? fs : fs[0]), 15000, cb);
      },
      close: function (chan) {
        req("POST", "close?" + ns.qs({ chan: chan }), "", 5000, function () {});
      }
    }, hello, h, pollMs);
  };
})(window.kefu && window.kefu._ld);
