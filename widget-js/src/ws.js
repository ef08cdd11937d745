/* WebSocket link. Links send the hello, then call h.frame(link, f) ({t: "?"}: garbage)
 * and once h.down(link, code, reason). */
(function (ns) {
  if (!ns) {
    return;
  }
  function WsLink(base, site, hello, h) {
    var self = this, ws;
    this.kind = "ws";
    this.h = h;
    try {
      ws = this.ws = new ns.win.WebSocket(base.replace(/^http/, "ws") + "/v1/ws?" + ns.qs({ site: site }));
    } catch (e) {
      ns.later(function () {
        self.end(0, "refused");
      }, 0);
      return;
    }
    ws.onopen = ns.safe(function () {
      self.opened = true;
      self.send(hello);
    });
    ws.onmessage = ns.safe(function (ev) {
      var f = null;
      try {
        f = ns.json.parse(ev.data);
      } catch (e) {
        f = null;
      }
      h.frame(self, f && typeof f.t === "string" ? f : { t: "?" });
    });
    ws.onclose = ns.safe(function (ev) {
      self.end(ev.code || 0, ev.reason || "");
    });
    ws.onerror = function () {};
  }
  WsLink.prototype.end = function (code, reason) {
    if (!this.dead) {
      this.close();
      this.h.down(this, code, reason);
    }
  };
  WsLink.prototype.send = function (f) {
    try {
      if (!this.dead) {
        this.ws.send(ns.json.stringify(f));
      }
    } catch (e) {
      ns.report(e);
    }
  };
  WsLink.prototype.close = function () {
    var ws = this.ws;
    this.dead = true;
    try {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1000);
    } catch (e) {
      ns.report(e);
    }
  };
  WsLink.prototype.kick = function () {};
  ns.WsLink = WsLink;
})(window.kefu && window.kefu._ld);
