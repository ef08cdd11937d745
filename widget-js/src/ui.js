/* The session's view: the chat button and window. */
(function (ns) {
  if (!ns) {
    return;
  }
  var L = {
    title: "Chat with us", btn: "Chat", send: "Send", ph: "Type a message\u2026",
    connecting: "Connecting\u2026", online: "Online", reconnecting: "Reconnecting\u2026",
    offline: "Connection lost. Your messages are kept and will be sent.", retry: "Retry now",
    err: "Chat is unavailable.", e4101: "Chat is not set up for this site (unknown site key).",
    e4102: "This site may not use this chat (origin not allowed).",
    sending: "Sending\u2026", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Not sent",
    typing: "$n is typing\u2026", agent: "Agent", queue: "Waiting for an agent: you are number $n",
    leave: "No one is here now. Leave a message and we will reply.",
    name: "Your name", email: "Your email", msg: "Your message", thanks: "Thanks! We got your message.",
    accept: "Reply", dismiss: "No thanks", join: "$n joined the chat", leave_: "The agent left",
    transfer: "$n is now helping you", close: "Conversation closed", reopen: "$n reopened the conversation"
  };
  function sub(s, v) {
    return s.replace("$n", function () {
      return v;
    });
  }
  function add(parent, tag, cls, text) {
    return parent.appendChild(ns.el(tag, cls, text));
  }
  function btn(parent, cls, text, fn) {
    var b = ns.doc.createElement("button");
    b.type = "button";
    b.className = cls;
    b.appendChild(ns.doc.createTextNode(text));
    ns.listen(b, "click", fn);
    return parent.appendChild(b);
  }
  function field(parent, tag, ph) {
    var i = ns.doc.createElement(tag);
    i.setAttribute("placeholder", ph);
    return parent.appendChild(i);
  }
  function hhmm(ts) {
    var d = new Date(ts), m = d.getMinutes();
    return d.getHours() + ":" + (m < 10 ? "0" : "") + m;
  }

  function Ui(s, o) {
    var self = this, d = ns.doc, css = d.createElement("style"), r, w, hd, lv, n, m, t, inp;
    L = ns.extend(L, o.labels || {});
    ns.extend(this, { s: s, nodes: {}, mine: [], unread: 0, isOpen: false });
    css.setAttribute("type", "text/css");
    (d.getElementsByTagName("head")[0] || d.documentElement).appendChild(css);
    t = ns.css.replace(/\$c/g, /^#[0-9a-f]{3,6}$/i.test(o.color) ? o.color : "#1f6feb");
    if (css.styleSheet) {
      css.styleSheet.cssText = t;
    } else {
      css.appendChild(d.createTextNode(t));
    }
    r = this.root = ns.el("div", "kf-root");
    r.id = "kefu-widget";
    this.inv = add(r, "div", "kf-inv");
    w = this.win = add(r, "div", "kf-win");
    hd = add(w, "div", "kf-head");
    add(hd, "span", "kf-title", o.title || L.title);
    this.stEl = add(hd, "span", "kf-st", L.connecting);
    btn(w, "kf-x", "\u00d7", function () {
      self.open(false);
    });
    this.body = add(w, "div", "kf-body");
    this.ban = add(this.body, "div", "kf-ban");
    this.list = add(this.body, "div", "kf-list");
    this.pend = add(this.body, "div", "kf-pend");
    this.ty = add(this.body, "div", "kf-ty");
    lv = this.lv = add(this.body, "div", "kf-lv");
    this.lvNote = add(lv, "p", "", L.leave);
    n = field(lv, "input", L.name);
    m = field(lv, "input", L.email);
    t = field(lv, "textarea", L.msg);
    btn(lv, "kf-go", L.send, function () {
      if (s.send(t.value, { contact: { name: ns.trim(n.value), email: ns.trim(m.value) } }).length) {
        t.value = "";
        ns.text(self.lvNote, L.thanks);
      }
    });
    this.foot = add(w, "div", "kf-foot");
    inp = this.inp = field(this.foot, "textarea", L.ph);
    inp.className = "kf-in";
    ns.listen(inp, "keydown", function (e) {
      if (e.keyCode === 13 && !e.shiftKey) {
        ns.stop(e);
        self.submit();
      }
    });
    ns.listen(inp, "keyup", function () {
      s.typing(inp.value);
    });
    ns.listen(inp, "blur", function () {
      s.typing("");
    });
    btn(this.foot, "kf-send", L.send, function () {
      self.submit();
    });
    this.badge = add(btn(r, "kf-btn", L.btn, function () {
      self.open(!self.isOpen);
    }), "span", "kf-n");
    ns.each([w, this.inv, this.ban, this.ty, lv, this.badge], function (e) {
      ns.show(e, false);
    });
    d.body.appendChild(r);
    s.view = this;
    this.reset();
    this.conn(s.state || { state: "connecting" });
    this.open(!!(o.open || s.store.get("open")));
  }
  Ui.prototype.submit = function () {
    if (this.s.send(this.inp.value).length) {
      this.inp.value = "";
    }
  };
  Ui.prototype.open = function (on) {
    if (on !== this.isOpen) {
      this.isOpen = on;
      ns.show(this.win, on);
      this.root.className = on ? "kf-root kf-open" : "kf-root";
      this.s.store.set("open", on);
      if (on) {
        ns.show(this.inv, false);
        ns.show(this.badge, false);
        this.unread = 0;
        this.scroll();
        this.s.read();
      }
      this.s.ev.emit(on ? "open" : "close", {});
    }
  };
  Ui.prototype.scroll = function () {
    this.body.scrollTop = this.body.scrollHeight;
  };
  Ui.prototype.reset = function () {
    var h = this.s.st.hist, a = this.s.out.list(), i;
    ns.text(this.list, "");
    ns.text(this.pend, "");
    this.nodes = {};
    this.mine = [];
    for (i = 0; i < h.length; i++) {
      this.entry(h[i], true);
    }
    for (i = 0; i < a.length; i++) {
      this.pending(a[i]);
    }
    this.scroll();
  };
  Ui.prototype.bubble = function (parent, me, body, ts) {
    var m = add(parent, "div", "kf-m " + (me ? "kf-me" : "kf-them"));
    add(m, "span", "kf-t", body);
    m.meta = add(m, "span", "kf-meta", hhmm(ts));
    m.ts = ts;
    this.scroll();
    return m;
  };
  Ui.prototype.setState = function (m, state) {
    ns.text(m.meta, hhmm(m.ts) + " \u00b7 " + L[state]);
    m.setAttribute("data-state", state);
  };
  Ui.prototype.pending = function (it) {
    var m = this.nodes[it.cid] = this.bubble(this.pend, true, it.body, it.ts);
    m.setAttribute("data-cid", it.cid);
    this.setState(m, "sending");
  };
  Ui.prototype.entry = function (e, quiet) {
    var me = e.role === "visitor", m = this.nodes[e.cid], k = e.kind;
    if (k === "msg") {
      if (me && m && m.parentNode) {
        m.parentNode.removeChild(m);
      }
      m = this.bubble(this.list, me, e.body, e.ts);
      if (me) {
        m.off = e.off;
        this.mine.push(m);
        this.setState(m, this.s.st.state(e.off));
      } else {
        ns.show(this.ty, false);
        if (!quiet && !this.isOpen) {
          ns.text(this.badge, ++this.unread);
          ns.show(this.badge, true);
        }
      }
    } else if (/^(join|leave|transfer|close|reopen)$/.test(k)) {
      m = add(this.list, "div", "kf-sys", sub(L[k === "leave" ? "leave_" : k], e.body || L.agent));
    } else {
      return;
    }
    m.setAttribute("data-off", e.off);
  };
  Ui.prototype.acked = function (cid) {
    var m = this.nodes[cid];
    if (m && m.parentNode === this.pend) {
      this.setState(m, "sent");
    }
  };
  Ui.prototype.failed = function (cid) {
    var m = this.nodes[cid];
    if (m) {
      m.className += " kf-fail";
      this.setState(m, "failed");
    }
  };
  Ui.prototype.marks = function () {
    for (var i = 0; i < this.mine.length; i++) {
      this.setState(this.mine[i], this.s.st.state(this.mine[i].off));
    }
  };
  Ui.prototype.queue = function (n) {
    this.tyT = ns.cancel(this.tyT);
    ns.text(this.ty, sub(L.queue, n));
    ns.show(this.ty, n > 0);
  };
  Ui.prototype.typing = function (on, name) {
    var ty = this.ty;
    ns.text(ty, sub(L.typing, name || L.agent));
    ns.show(ty, on);
    this.tyT = ns.cancel(this.tyT);
    if (on) {
      this.scroll();
      this.tyT = ns.later(function () {
        ns.show(ty, false);
      }, 8000);
    }
  };
  Ui.prototype.agents = function (online) {
    ns.show(this.lv, !online);
    ns.show(this.foot, online);
  };
  Ui.prototype.invite = function (f) {
    var self = this, s = this.s, inv = this.inv;
    if (this.isOpen) {
      return s.inviteReply(f.id, true);
    }
    ns.text(inv, "");
    add(inv, "strong", "", f.name || L.agent);
    add(inv, "p", "", f.text || "");
    btn(inv, "kf-yes", L.accept, function () {
      s.inviteReply(f.id, true);
      self.open(true);
    });
    btn(inv, "kf-no", L.dismiss, function () {
      s.inviteReply(f.id, false);
      ns.show(inv, false);
    });
    ns.show(inv, true);
  };
  Ui.prototype.conn = function (c) {
    var s = this.s, st = c.state, ban = this.ban, bad = st === "offline" || st === "error";
    ns.text(this.stEl, L[st === "offline" ? "reconnecting" : st === "error" ? "err" : st]);
    this.root.setAttribute("data-state", st);
    ban.className = st === "error" ? "kf-ban kf-err" : "kf-ban";
    ns.text(ban, st === "error" ? L["e" + c.code] || L.err : L.offline);
    if (st === "offline") {
      btn(ban, "kf-retry", L.retry, function () {
        s.wake(true);
      });
    }
    ns.show(ban, bad);
  };
  ns.Ui = Ui;
})(window.kefu && window.kefu._ld);
