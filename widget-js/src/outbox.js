/* Unacked messages with their cid, persisted, resent after every (re)connect. */
(function (ns) {
  if (!ns) {
    return;
  }
  function Outbox(store) {
    this.s = store;
  }
  Outbox.prototype.list = function () {
    var a = this.s.get("outbox");
    return ns.isArray(a) ? a : [];
  };
  Outbox.prototype.add = function (body, extra) {
    var a = this.list(), it = ns.extend({ cid: ns.cid(), body: body, ts: ns.now() }, extra || {});
    a.push(it);
    this.s.set("outbox", a.slice(-500));
    return it;
  };
  Outbox.prototype.remove = function (cid) {
    var a = this.list(), i;
    for (i = 0; i < a.length; i++) {
      if (a[i].cid === cid) {
        a.splice(i, 1);
        this.s.set("outbox", a);
        return true;
      }
    }
    return false;
  };
  Outbox.frame = function (it) {
    var f = { t: "msg", cid: it.cid, body: it.body };
    if (it.contact) {
      f.contact = it.contact;
    }
    return f;
  };
  ns.Outbox = Outbox;
})(window.kefu && window.kefu._ld);
