/* outbox.js owns messages the visitor typed that the server has not acked yet. They live
 * in the store (so they survive reloads, navigation and are shared by tabs), keep their
 * cid for ever, and are resent in order after every (re)connect until an ack, or the
 * entry carrying their cid, says they are committed. */
(function (ns) {
  if (!ns) {
    return;
  }
  var MAX = 500;

  function Outbox(store) {
    this.s = store;
  }
  Outbox.prototype.list = function () {
    var a = this.s.get("outbox");
    return ns.isArray(a) ? a : [];
  };
  /* Queue one message; extra fields (e.g. contact) ride along in its msg frame. */
  Outbox.prototype.add = function (body, extra) {
    var a = this.list(), it = { cid: ns.cid(), body: body, ts: ns.now() };
    if (extra) {
      ns.extend(it, extra);
    }
    a.push(it);
    if (a.length > MAX) {
      a.splice(0, a.length - MAX);
    }
    this.s.set("outbox", a);
    return it;
  };
  Outbox.prototype.get = function (cid) {
    var a = this.list(), i;
    for (i = 0; i < a.length; i++) {
      if (a[i].cid === cid) {
        return a[i];
      }
    }
    return null;
  };
  /* Forget a committed (or refused) message; true when it was there. */
  Outbox.prototype.remove = function (cid) {
    var a = this.list(), i;
    for (i = 0; i < a.length; i++) {
      if (a[i].cid === cid) {
        a.splice(i, 1);
        if (a.length) {
          this.s.set("outbox", a);
        } else {
          this.s.del("outbox");
        }
        return true;
      }
    }
    return false;
  };
  /* The msg frame for an item. A visitor leaves out conv: the server uses its open
   * conversation (and opens one), so a resend can never name a stale conversation. */
  Outbox.frame = function (it) {
    var f = { t: "msg", cid: it.cid, body: it.body };
    if (it.contact) {
      f.contact = it.contact;
    }
    return f;
  };
  ns.Outbox = Outbox;
})(window.kefu && window.kefu._ld);
