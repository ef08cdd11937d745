// kefu agent console: plain JavaScript for modern browsers, no framework, no build step.
// It speaks docs/protocol.md over one WebSocket and docs/api.md over fetch. Every piece of
// user text reaches the page through textContent / text nodes only.
"use strict";

(() => {
  const STORE_KEY = "kefu.console";
  const OUTBOX_KEY = "kefu.console.outbox"; // replies not yet acked survive a reload
  const HISTORY = 200; // entries followed live when a conversation is opened
  const MAX_FOLLOWS = 200;
  const TYPING_EVERY = 1500; // ms between typing "on" frames while the agent types
  const TYPING_IDLE = 3000; // ms without a keystroke before typing "off"
  const PEEK_TTL = 8000; // a visitor typing indicator with no update expires
  const CANNED_STALE = 60000; // canned responses older than this are fetched again when used
  const REOPEN_WAIT = 10000; // ms the Reopen button stays disabled without an answer

  const $ = (id) => document.getElementById(id);

  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function add(parent, tag, cls, text) {
    return parent.appendChild(h(tag, cls, text));
  }

  // ---------------------------------------------------------------- state

  const S = {
    token: null,
    agent: null, // {id, name, email, role, site}
    ws: null,
    stopped: true,
    welcomed: false,
    hb: 3000,
    lastRx: 0,
    attempt: 0,
    retryTimer: null,
    retryAt: 0,
    bye: null,
    status: "online",
    visitors: new Map(),
    convs: new Map(),
    team: [],
    current: null,
    outbox: new Map(), // cid -> {cid, conv, body, ts, state, off, why}
    inviting: null,
    paneConv: null,
    seq: 0,
    canned: [], // [{id, shortcut, text}] by shortcut (GET /v1/canned)
    cannedAt: 0,
    rules: [], // automatic invitation rules (GET /v1/rules), for the settings panel
    reopening: null, // {conv, at}: a reopen frame sent, not yet answered
    search: null, // {q, hits, error}: message search results shown instead of the list
  };

  const conv = (id) => S.convs.get(id);
  const cur = () => (S.current === null ? null : conv(S.current));
  const me = () => "a" + (S.agent ? S.agent.id : "");

  function newConv(id) {
    let C = conv(id);
    if (!C) {
      C = {
        conv: id,
        epoch: null,
        head: 0,
        vkey: null, // "v12" from the REST list
        vid: null, // presence id from `assigned`
        entries: new Map(),
        base: 0, // entries base+1 … last are held
        last: 0,
        followed: false, // we want this stream
        following: false, // the server confirmed
        pendingFollow: false,
        assignedToMe: false,
        owner: null, // {sender, name}
        mine: false,
        closed: false,
        unread: 0,
        readUpto: 0, // my last read mark
        readSent: 0,
        visitorRead: 0,
        ackSent: 0,
        typing: null, // {text, at}
        agentTyping: null, // {name, at}
        names: new Map(), // sender -> display name from join entries
        contact: null,
        lastTs: 0,
        preview: "",
        draft: "",
        loadingOlder: false,
      };
      S.convs.set(id, C);
    }
    return C;
  }

  // ---------------------------------------------------------------- helpers

  function hhmm(ts) {
    if (!ts) return "";
    const d = new Date(ts);
    const today = new Date();
    const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === today.toDateString()) return t;
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + t;
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    const hr = Math.floor(m / 60);
    return hr + "h " + (m % 60) + "m";
  }

  const BROWSERS = [
    [/MicroMessenger\/([\d.]+)/, "WeChat"],
    [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/SamsungBrowser\/(\d+)/, "Samsung Internet"],
    [/(?:Firefox|FxiOS)\/(\d+)/, "Firefox"],
    [/HeadlessChrome\/(\d+)/, "Headless Chrome"],
    [/(?:Chrome|CriOS)\/(\d+)/, "Chrome"],
    [/MSIE (\d+)/, "Internet Explorer"],
    [/Trident\/.*rv:(\d+)/, "Internet Explorer"],
    [/Version\/(\d+).*Safari/, "Safari"],
  ];
  const SYSTEMS = [
    [/Windows NT 10/, "Windows"],
    [/Windows NT 6\.[23]/, "Windows 8"],
    [/Windows NT 6\.1/, "Windows 7"],
    [/Windows NT 5/, "Windows XP"],
    [/Windows/, "Windows"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Android/, "Android"],
    [/CrOS/, "ChromeOS"],
    [/Mac OS X/, "macOS"],
    [/Linux/, "Linux"],
  ];

  function describeUa(ua) {
    if (!ua) return "Unknown device";
    let browser = "Unknown browser";
    for (const [re, name] of BROWSERS) {
      const m = re.exec(ua);
      if (m) {
        browser = name + " " + m[1].split(".")[0];
        break;
      }
    }
    let os = "";
    for (const [re, name] of SYSTEMS) {
      if (re.test(ua)) {
        os = name;
        break;
      }
    }
    const kind = /iPad|Tablet/.test(ua) ? "Tablet" : /Mobi|iPhone|Android/.test(ua) ? "Mobile" : "Desktop";
    return browser + (os ? " on " + os : "") + " · " + kind;
  }

  // "just now", "42s ago", "5m ago", "3h ago", "2d ago".
  function ago(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 10) return "just now";
    if (s < 60) return s + "s ago";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m ago";
    const hr = Math.floor(m / 60);
    if (hr < 24) return hr + "h ago";
    return Math.floor(hr / 24) + "d ago";
  }

  const isAdmin = () => !!(S.agent && S.agent.role === "admin");

  function hostOf(url) {
    try {
      return new URL(url).host;
    } catch (e) {
      return url;
    }
  }

  function shortId(id) {
    return String(id || "").slice(0, 6);
  }

  function visitorOfConv(C) {
    if (C.vid && S.visitors.has(C.vid)) return S.visitors.get(C.vid);
    for (const v of S.visitors.values()) if (v.conv === C.conv) return v;
    return null;
  }

  function visitorName(v) {
    if (v && v.user && v.user.name) return v.user.name;
    return v ? "Visitor " + shortId(v.id) : "Visitor";
  }

  // What vouches for a visitor's name and attributes (docs/identity.md): a token signed
  // by the host site, or nothing but the visitor's own browser.
  function identityTitle(u) {
    if (u.verified !== true) return "Not verified: sent by the visitor's browser, anyone could claim it";
    const exp = typeof u.exp === "number" ? " until " + new Date(u.exp * 1000).toLocaleString() : "";
    return "Verified: signed by the site" + exp;
  }

  function identityTag(parent, u) {
    const ok = u.verified === true;
    const tag = add(parent, "span", "tag " + (ok ? "verified" : "unverified"), ok ? "✓ verified" : "not verified");
    tag.title = identityTitle(u);
    return tag;
  }

  function convName(C) {
    const v = visitorOfConv(C);
    if (v && v.user && v.user.name) return v.user.name;
    if (C.contact && C.contact.name) return C.contact.name;
    if (v) return visitorName(v);
    return "Visitor #" + C.conv;
  }

  function agentName(sender, C) {
    if (sender === me()) return "You";
    const id = String(sender || "").replace(/^a/, "");
    const t = S.team.find((a) => String(a.id).replace(/^a/, "") === id);
    if (t) return t.name;
    if (C && C.names.has(sender)) return C.names.get(sender);
    return "Agent";
  }

  function teamIdByName(name) {
    const found = S.team.filter((a) => a.name === name);
    return found.length === 1 ? "a" + String(found[0].id).replace(/^a/, "") : null;
  }

  function toast(text, kind) {
    const box = $("toasts");
    const t = add(box, "div", "toast" + (kind ? " " + kind : ""), text);
    setTimeout(() => t.remove(), 6000);
  }

  let renderQueued = new Set();
  function render(...what) {
    const first = renderQueued.size === 0;
    for (const w of what) renderQueued.add(w);
    if (first) {
      requestAnimationFrame(() => {
        const q = renderQueued;
        renderQueued = new Set();
        if (!S.agent) return;
        if (q.has("convs")) renderConvs();
        if (q.has("visitors")) renderVisitors();
        if (q.has("team")) renderTeam();
        if (q.has("pane")) renderPane();
        else if (q.has("messages")) renderMessages(false);
        if (q.has("typing") || q.has("pane")) renderTyping();
        if (q.has("conn")) renderConn();
      });
    }
  }

  // ---------------------------------------------------------------- login

  function saved() {
    try {
      const s = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      return s && s.token && s.agent ? s : null;
    } catch (e) {
      return null;
    }
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    const err = $("login-error");
    err.hidden = !message;
    err.textContent = message || "";
    document.title = "kefu console";
    $(S.agent ? "login-password" : "login-email").focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    const site = $("login-site").value.trim();
    const err = $("login-error");
    const fail = (m) => {
      err.textContent = m;
      err.hidden = false;
    };
    if (!email || !password) return fail("Enter your email and password.");
    const body = { email, password };
    if (site) body.site = site;
    $("login-submit").disabled = true;
    err.hidden = true;
    try {
      const r = await fetch("/v1/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (r.status === 401) return fail("Wrong email or password.");
      if (r.status === 429) {
        let after = Number(r.headers.get("Retry-After"));
        if (!(after > 0)) {
          const m = /retry in (\d+) ?s/.exec(await r.text().catch(() => ""));
          after = m ? Number(m[1]) : 0;
        }
        return fail("Too many failed sign-ins. Try again " + (after > 0 ? "in " + duration(after * 1000) : "later") + ".");
      }
      if (r.status === 400) {
        $("login-site-row").hidden = false;
        return fail("This email belongs to several sites: enter the site key.");
      }
      if (!r.ok) return fail("Sign-in failed (" + r.status + "). Try again in a moment.");
      const data = await r.json();
      if (!data.agent || !data.agent.site) return fail("The server did not say which site you belong to.");
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ token: data.token, agent: data.agent }));
      $("login-password").value = "";
      start(data.token, data.agent);
    } catch (e) {
      fail("Cannot reach the server. Check your connection and try again.");
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function logout() {
    const token = S.token;
    stop();
    sessionStorage.removeItem(STORE_KEY);
    sessionStorage.removeItem(OUTBOX_KEY);
    showLogin("");
    if (token) {
      try {
        await fetch("/v1/logout", { method: "POST", headers: { Authorization: "Bearer " + token } });
      } catch (e) {
        // the token is forgotten here either way
      }
    }
  }

  function expired() {
    stop();
    sessionStorage.removeItem(STORE_KEY);
    sessionStorage.removeItem(OUTBOX_KEY);
    showLogin("Your session has ended. Sign in again.");
  }

  function start(token, agent) {
    stop();
    S.token = token;
    S.agent = agent;
    S.stopped = false;
    restoreOutbox();
    for (const item of S.outbox.values()) newConv(item.conv);
    S.status = "online";
    $("presence").value = "online";
    $("presence-dot").dataset.status = "online";
    $("me-name").textContent = agent.name || agent.email || "";
    $("settings-btn").hidden = !isAdmin();
    $("login").hidden = true;
    $("app").hidden = false;
    render("convs", "visitors", "team", "pane", "conn");
    connect();
    loadCanned();
  }

  function stop() {
    S.stopped = true;
    clearTimeout(S.retryTimer);
    if (S.ws) {
      const ws = S.ws;
      S.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, "bye");
      } catch (e) {
        // already closed
      }
    }
    S.token = null;
    S.agent = null;
    S.welcomed = false;
    S.visitors.clear();
    S.convs.clear();
    S.outbox.clear();
    S.team = [];
    S.current = null;
    S.inviting = null;
    S.canned = [];
    S.cannedAt = 0;
    S.rules = [];
    S.reopening = null;
    S.search = null;
    $("search-input").value = "";
    $("search-results").hidden = true;
    $("conv-list").hidden = false;
    $("invite-form").hidden = true;
    $("settings-btn").hidden = true;
    closeSettings();
    closeSuggest();
    renderCannedButton();
    for (const id of ["conv-list", "team-list", "visitor-list", "msg-list", "canned-list", "rules-list", "search-list"]) $(id).textContent = "";
  }

  // ---------------------------------------------------------------- REST

  async function api(path) {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + S.token } });
    if (r.status === 401) {
      expired();
      throw new Error("unauthorized");
    }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  }

  // A change (POST, DELETE) → {ok, status, data}; refusals are {error, reason}. A network
  // failure is status 0.
  async function apiSend(method, path, body) {
    const headers = { Authorization: "Bearer " + S.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let r;
    try {
      r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      return { ok: false, status: 0, data: null };
    }
    if (r.status === 401) {
      expired();
      return { ok: false, status: 401, data: null };
    }
    let data = null;
    try {
      data = await r.json();
    } catch (e) {
      data = null;
    }
    return { ok: r.ok, status: r.status, data };
  }

  // Why the server refused a change, for the agent: its own reason when it gave one.
  function refusal(res, what) {
    if (res.data && typeof res.data.reason === "string" && res.data.reason) return res.data.reason;
    if (res.status === 0) return "Cannot reach the server. Check your connection and try again.";
    if (res.status === 403) return "Only admins can change the site's settings.";
    return what + " failed (" + res.status + ").";
  }

  let cannedLoading = null;
  function loadCanned() {
    if (!cannedLoading) cannedLoading = fetchCanned().finally(() => (cannedLoading = null));
    return cannedLoading;
  }
  async function fetchCanned() {
    const token = S.token;
    let data;
    try {
      data = await api("/v1/canned");
    } catch (e) {
      return; // no canned responses then; the reply box works without them
    }
    if (S.token !== token) return;
    S.canned = (Array.isArray(data.canned) ? data.canned : [])
      .filter((c) => c && typeof c.shortcut === "string" && typeof c.text === "string")
      .sort((a, b) => (a.shortcut < b.shortcut ? -1 : a.shortcut > b.shortcut ? 1 : 0));
    S.cannedAt = Date.now();
    renderCannedButton();
    renderCannedList();
    if (sug.open) refreshSuggest();
  }

  async function loadRules() {
    const token = S.token;
    let data;
    try {
      data = await api("/v1/rules");
    } catch (e) {
      if (S.token === token) showFormError("rule-error", "Could not load the rules: " + e.message);
      return;
    }
    if (S.token !== token) return;
    S.rules = (Array.isArray(data.rules) ? data.rules : []).filter((r) => r && typeof r === "object");
    renderRulesList();
  }

  async function loadConversations() {
    const token = S.token;
    let data;
    try {
      data = await api("/v1/conversations");
    } catch (e) {
      if (S.token) toast("Could not load conversations: " + e.message, "bad");
      return;
    }
    if (S.token !== token) return;
    const list = data.conversations || [];
    list.forEach((c, i) => {
      const C = newConv(c.conv);
      C.vkey = c.visitor;
      C.head = Math.max(C.head, c.head || 0);
      if (C.epoch === null) C.epoch = c.epoch;
      if (!C.followed && i < MAX_FOLLOWS) startFollow(C);
    });
    render("convs");
  }

  async function loadEarlier(C) {
    if (C.base <= 0 || C.loadingOlder) return;
    C.loadingOlder = true;
    const from = Math.max(0, C.base - HISTORY);
    try {
      const data = await api(`/v1/conversations/${C.conv}/entries?after=${from}&limit=${C.base - from}`);
      if (data.epoch !== C.epoch) return;
      for (const e of data.entries || []) {
        if (e.off > from && e.off <= C.base) C.entries.set(e.off, e);
      }
      C.base = from;
      recompute(C);
      if (S.current === C.conv) renderMessages(false, true);
    } catch (e) {
      if (S.token) toast("Could not load earlier messages.", "bad");
    } finally {
      C.loadingOlder = false;
    }
  }

  // ---------------------------------------------------------------- WebSocket

  function send(frame) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN || !S.welcomed) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (S.stopped) return;
    clearTimeout(S.retryTimer);
    S.welcomed = false;
    S.bye = null;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // No ?site= on the URL: a refused origin then ends with close 4102 after hello, which
    // the console can explain, instead of an upgrade failure it cannot tell from a network
    // error.
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws`);
    S.ws = ws;
    setConn("connecting");
    ws.onopen = () => {
      S.lastRx = Date.now();
      ws.send(JSON.stringify({ t: "hello", v: 1, site: S.agent.site, role: "agent", token: S.token }));
    };
    ws.onmessage = (m) => {
      S.lastRx = Date.now();
      let f;
      try {
        f = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      try {
        onFrame(f);
      } catch (e) {
        console.error("kefu console: frame handling failed", f.t, e);
      }
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      lost(ev.code, ev.reason);
    };
  }

  function lost(code, reason) {
    const ws = S.ws;
    S.ws = null;
    S.welcomed = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch (e) {
        // gone already
      }
    }
    for (const C of S.convs.values()) {
      C.following = false;
      C.pendingFollow = false;
      C.typing = null;
      C.agentTyping = null;
    }
    render("typing");
    if (S.stopped) return;
    if (S.bye && S.bye.code) code = S.bye.code;
    if (code === 4103) return expired();
    if ((code >= 4100 && code < 4200) || code === 1007 || code === 1009) {
      const why = {
        4100: "this console is too old for the server",
        4101: "unknown site",
        4102: "this address is not an allowed origin of the site",
        4104: "protocol error",
        4105: "WebSocket is disabled for this site",
      }[code] || reason || "closed by the server";
      setConn("error", "Disconnected: " + why + " (" + code + ")");
      return;
    }
    const delay = Math.min(15000, 500 * Math.pow(2, S.attempt)) * (0.5 + Math.random() / 2);
    S.attempt += 1;
    S.retryAt = Date.now() + delay;
    S.retryTimer = setTimeout(connect, delay);
    setConn("offline");
  }

  function reconnectNow() {
    if (!S.stopped && !S.ws) {
      S.attempt = 0;
      connect();
    }
  }

  // A link silent for 2 × hb + 1 s is dead (protocol §3): drop it and reconnect.
  setInterval(() => {
    if (S.ws && S.ws.readyState === WebSocket.OPEN && Date.now() - S.lastRx > 2 * S.hb + 1000) lost(4002, "heartbeat timeout");
    if (!S.ws && S.retryTimer && !S.stopped) renderConn();
  }, 1000);

  let connState = { state: "connecting", text: "" };
  function setConn(state, text) {
    connState = { state, text: text || "" };
    renderConn();
  }
  function renderConn() {
    const el = $("conn");
    el.dataset.state = connState.state;
    let t = connState.text;
    if (!t) {
      if (connState.state === "online") t = "Connected";
      else if (connState.state === "connecting") t = "Connecting…";
      else t = "Reconnecting in " + Math.max(1, Math.ceil((S.retryAt - Date.now()) / 1000)) + "s…";
    }
    $("conn-text").textContent = t;
  }

  // Follow a conversation we hold nothing of yet: from 0, or only its recent part when it
  // is long (older entries come from the entries API on demand).
  async function startFollow(C) {
    if (C.followed) return;
    C.followed = true;
    if (!C.head && C.last === 0) {
      try {
        const d = await api(`/v1/conversations/${C.conv}/entries?after=0&limit=1`);
        C.head = d.head || 0;
        if (!C.epoch) C.epoch = d.epoch;
      } catch (e) {
        // follow from 0 then
      }
    }
    if (S.convs.get(C.conv) === C && !C.pendingFollow && !C.following) follow(C);
  }

  function follow(C, after) {
    C.followed = true;
    if (after === undefined) after = C.last;
    if (C.last === 0 && C.entries.size === 0 && after === 0) {
      // A stream we hold nothing of: only the recent part, older on demand.
      after = Math.max(0, C.head - HISTORY);
      C.base = after;
      C.last = after;
    }
    C.pendingFollow = true;
    const f = { t: "follow", conv: C.conv, after };
    if (C.epoch) f.epoch = C.epoch;
    if (!send(f)) C.pendingFollow = false;
  }

  // Drop everything held of C: another epoch, or a restart from 0.
  function resetStream(C, epoch) {
    C.entries.clear();
    C.base = 0;
    C.last = 0;
    C.readUpto = 0;
    C.readSent = 0;
    C.visitorRead = 0;
    C.ackSent = 0;
    C.epoch = epoch || null;
    C.head = 0;
  }

  function onWelcome(f) {
    S.welcomed = true;
    S.attempt = 0;
    S.hb = f.hb || 3000;
    setConn("online");
    if (S.status === "away") send({ t: "presence", status: "away" });
    for (const C of S.convs.values()) if (C.followed) follow(C);
    for (const item of S.outbox.values()) if (item.state === "sending") sendMsg(item);
    loadConversations();
    if (Date.now() - S.cannedAt > CANNED_STALE) loadCanned();
  }

  function onFrame(f) {
    switch (f.t) {
      case "welcome":
        return onWelcome(f);
      case "ping":
        return send({ t: "pong" });
      case "pong":
        return;
      case "bye":
        S.bye = f;
        return;
      case "following":
        return onFollowing(f);
      case "e":
        return onEntry(f);
      case "ack":
        return onAck(f);
      case "err":
        return onErr(f);
      case "visitors":
        S.visitors = new Map((f.list || []).map((v) => [v.id, v]));
        return render("visitors", "convs", "pane");
      case "visitor":
        return onVisitor(f);
      case "typing":
        return onTyping(f);
      case "assigned":
        return onAssigned(f);
      case "team":
        S.team = Array.isArray(f.agents) ? f.agents : [];
        for (const C of S.convs.values()) recompute(C);
        return render("team", "convs", "pane");
      default:
        return; // delivered, agents, queue, conv… are for visitors
    }
  }

  function onFollowing(f) {
    const C = conv(f.conv);
    if (!C) return;
    if (C.epoch && f.epoch !== C.epoch) resetStream(C, f.epoch);
    C.epoch = f.epoch;
    C.head = Math.max(C.head, f.head);
    C.following = true;
    C.pendingFollow = false;
  }

  function onEntry(e) {
    const C = conv(e.conv);
    if (!C || !C.following) return;
    if (e.off <= C.last) return; // already held
    if (e.off !== C.last + 1) {
      // A gap: ask again after what we hold.
      C.following = false;
      follow(C, C.last);
      return;
    }
    C.entries.set(e.off, e);
    C.last = e.off;
    C.head = Math.max(C.head, e.off);
    if (e.kind === "msg" && e.role === "agent" && e.sender === me() && S.outbox.delete(e.cid)) saveOutbox();
    if (e.kind === "msg" && e.role === "visitor") C.typing = null;
    if (e.kind === "msg" && e.role === "agent") C.agentTyping = null;
    if (e.kind === "reopen" && S.reopening && S.reopening.conv === C.conv) S.reopening = null;
    recompute(C);
    scheduleAck(C);
    if (S.current === C.conv) {
      render("messages", "typing", "convs");
      scheduleRead(C);
    } else {
      render("convs");
    }
    if (S.current === C.conv && /^(transfer|close|join|reopen)$/.test(e.kind)) render("pane");
  }

  // Derived state of a conversation, from its entries in offset order.
  function recompute(C) {
    let owner = null;
    let closed = false;
    let readUpto = C.readSent;
    let visitorRead = 0;
    let lastVisitorMsg = 0;
    let lastTs = 0;
    let preview = "";
    let contact = C.contact;
    for (let o = C.base + 1; o <= C.last; o++) {
      const e = C.entries.get(o);
      if (!e) continue;
      if (e.kind === "msg") {
        lastTs = e.ts;
        preview = (e.role === "agent" ? (e.sender === me() ? "You: " : agentName(e.sender, C) + ": ") : "") + e.body;
        if (e.role === "visitor") lastVisitorMsg = o;
        if (e.contact && (e.contact.name || e.contact.email)) contact = e.contact;
        closed = false;
      } else if (e.kind === "read") {
        if (e.role === "visitor") visitorRead = Math.max(visitorRead, e.upto || 0);
        else if (e.sender === me()) readUpto = Math.max(readUpto, e.upto || 0);
      } else if (e.kind === "join") {
        C.names.set(e.sender, e.body);
        owner = { sender: e.sender, name: e.body };
      } else if (e.kind === "transfer") {
        // The entry is written in the new owner's name (sender) with its name as body.
        C.names.set(e.sender, e.body);
        owner = { sender: e.sender || teamIdByName(e.body), name: e.body };
      } else if (e.kind === "close") {
        closed = true;
        lastTs = e.ts;
      } else if (e.kind === "reopen") {
        // Open again, and assigned to the agent who reopened it (sender, name as body).
        C.names.set(e.sender, e.body);
        owner = { sender: e.sender || teamIdByName(e.body), name: e.body };
        closed = false;
        lastTs = e.ts;
      }
    }
    C.owner = owner;
    if (owner) C.mine = owner.sender ? owner.sender === me() : owner.name === S.agent.name;
    else C.mine = C.assignedToMe;
    C.closed = closed;
    C.readUpto = readUpto;
    C.visitorRead = visitorRead;
    C.lastTs = lastTs || C.lastTs;
    C.preview = preview;
    C.contact = contact;
    let unread = 0;
    for (let o = Math.max(C.base + 1, readUpto + 1); o <= C.last; o++) {
      const e = C.entries.get(o);
      if (e && e.kind === "msg" && e.role === "visitor") unread++;
    }
    C.unread = closed ? 0 : unread;
    C.lastVisitorMsg = lastVisitorMsg;
  }

  const ackTimers = new Map();
  function scheduleAck(C) {
    if (ackTimers.has(C.conv)) return;
    ackTimers.set(
      C.conv,
      setTimeout(() => {
        ackTimers.delete(C.conv);
        if (C.following && C.last > C.ackSent && send({ t: "ack", conv: C.conv, off: C.last })) C.ackSent = C.last;
      }, 250),
    );
  }

  // One read mark after a burst of entries (a replayed history), not one per entry.
  let readTimer = null;
  function scheduleRead(C) {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => markRead(C), 300);
  }

  // The agent is looking at C: a read mark up to the last entry, when something the
  // visitor wrote is not yet marked.
  function markRead(C) {
    if (!C || S.current !== C.conv || document.visibilityState !== "visible" || !C.following) return;
    if (C.lastVisitorMsg > C.readUpto && C.last > C.readSent) {
      if (send({ t: "read", conv: C.conv, upto: C.last })) {
        C.readSent = C.last;
        recompute(C);
        render("convs");
        updateTitle();
      }
    }
  }

  function onAck(f) {
    const item = S.outbox.get(f.cid);
    if (!item) return;
    item.state = "sent";
    item.off = f.off;
    saveOutbox();
    if (S.current === item.conv) render("messages");
  }

  function onErr(f) {
    const C = f.conv !== undefined && f.conv !== null ? conv(f.conv) : null;
    if (isReopenErr(f, C)) return reopenFailed(f);
    switch (f.code) {
      case "epoch_mismatch":
        if (C) {
          resetStream(C, f.epoch);
          C.head = f.head || 0;
          follow(C, 0);
          render("messages", "convs");
        }
        return;
      case "bad_offset":
        if (C && C.pendingFollow) {
          // Drop what lies beyond the server's head, follow from there.
          for (const off of [...C.entries.keys()]) if (off > f.head) C.entries.delete(off);
          C.last = Math.min(C.last, f.head);
          C.base = Math.min(C.base, C.last);
          C.readSent = Math.min(C.readSent, f.head);
          C.ackSent = Math.min(C.ackSent, f.head);
          follow(C, C.last);
          recompute(C);
          render("messages", "convs");
        }
        return;
      case "unknown_conv":
        if (f.cid && S.outbox.has(f.cid)) return failed(f.cid, "conversation not found");
        if (C && C.pendingFollow) {
          // The follow was refused: no such conversation for this agent.
          S.convs.delete(C.conv);
          if (S.current === C.conv) S.current = null;
          render("convs", "pane");
        } else {
          console.warn("kefu console: unknown conversation", f);
        }
        return;
      case "too_long":
        if (f.cid) return failed(f.cid, "too long");
        return toast("That text is too long.", "bad");
      case "overloaded":
      case "store":
        if (f.cid && S.outbox.has(f.cid)) {
          const item = S.outbox.get(f.cid);
          setTimeout(() => item.state === "sending" && sendMsg(item), 2000 + Math.random() * 2000);
        }
        return;
      case "owned":
        return toast("Another agent has taken that conversation.", "bad");
      case "unknown_visitor":
        return toast("That visitor has left the site.", "bad");
      case "unknown_agent":
        return toast("That agent is not online any more: pick another.", "bad");
      case "too_many_follows":
        return toast("Too many conversations open at once.", "bad");
      default:
        console.warn("kefu console: server refused a frame", f);
        if (f.cid && S.outbox.has(f.cid)) failed(f.cid, f.msg || f.code);
    }
  }

  function failed(cid, why) {
    const item = S.outbox.get(cid);
    if (!item) return;
    item.state = "failed";
    item.why = why;
    saveOutbox();
    if (S.current === item.conv) render("messages");
  }

  function onVisitor(f) {
    const v = f.v || {};
    if (f.op === "leave") {
      S.visitors.delete(v.id);
      if (S.inviting === v.id) closeInvite();
    } else if (v.id) {
      S.visitors.set(v.id, v);
      if (v.conv && !S.convs.has(v.conv)) loadConversationsSoon();
    }
    render("visitors", "convs");
    if (S.current !== null) render("pane");
  }

  let convLoadTimer = null;
  function loadConversationsSoon() {
    if (convLoadTimer) return;
    convLoadTimer = setTimeout(() => {
      convLoadTimer = null;
      if (S.token) loadConversations();
    }, 300);
  }

  function onTyping(f) {
    const C = conv(f.conv);
    if (!C) return;
    if (f.role === "visitor") C.typing = f.on ? { text: f.text || "", at: Date.now() } : null;
    else C.agentTyping = f.on ? { name: f.name || "An agent", at: Date.now() } : null;
    render("typing", "convs");
  }

  setInterval(() => {
    const now = Date.now();
    let changed = false;
    for (const C of S.convs.values()) {
      if (C.typing && now - C.typing.at > PEEK_TTL) {
        C.typing = null;
        changed = true;
      }
      if (C.agentTyping && now - C.agentTyping.at > PEEK_TTL) {
        C.agentTyping = null;
        changed = true;
      }
    }
    if (changed) render("typing", "convs");
  }, 1000);

  function onAssigned(f) {
    const C = newConv(f.conv);
    const reopened = (S.reopening && S.reopening.conv === f.conv) || (C.entries.get(C.last) || {}).kind === "reopen";
    C.assignedToMe = true;
    if (f.visitor) C.vid = f.visitor;
    recompute(C);
    startFollow(C);
    toast((reopened ? "Conversation reopened: " : "New conversation assigned to you: ") + convName(C), "good");
    if (S.current === null) select(C.conv);
    render("convs", "pane");
    loadConversationsSoon();
  }

  // ---------------------------------------------------------------- sending

  function newCid(prefix) {
    S.seq += 1;
    const rnd = crypto.getRandomValues(new Uint32Array(2));
    return prefix + Date.now().toString(36) + S.seq.toString(36) + rnd[0].toString(36) + rnd[1].toString(36);
  }

  function saveOutbox() {
    try {
      const unsent = [...S.outbox.values()].filter((i) => i.state === "sending");
      if (unsent.length) sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(unsent));
      else sessionStorage.removeItem(OUTBOX_KEY);
    } catch (e) {
      // storage full or refused: the replies stay in memory
    }
  }

  function restoreOutbox() {
    try {
      for (const i of JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || "[]")) {
        if (i && i.cid && i.conv && typeof i.body === "string") S.outbox.set(i.cid, Object.assign(i, { state: "sending" }));
      }
    } catch (e) {
      // nothing usable was kept
    }
  }

  function sendMsg(item) {
    send({ t: "msg", conv: item.conv, cid: item.cid, body: item.body });
  }

  function submitReply(ev) {
    ev.preventDefault();
    const C = cur();
    const input = $("composer-input");
    const body = input.value;
    closeSuggest();
    if (!C || C.closed || !body.trim()) return;
    const item = { cid: newCid("m"), conv: C.conv, body, ts: Date.now(), state: "sending" };
    S.outbox.set(item.cid, item);
    saveOutbox();
    sendMsg(item);
    input.value = "";
    C.draft = "";
    typingStop();
    renderMessages(true);
    input.focus();
  }

  let typingConv = null;
  let typingSentAt = 0;
  let typingIdle = null;
  function typingInput() {
    const C = cur();
    if (!C || C.closed) return;
    C.draft = $("composer-input").value;
    if (!C.draft.trim()) return typingStop();
    const now = Date.now();
    if (typingConv !== C.conv || now - typingSentAt > TYPING_EVERY) {
      if (typingConv !== null && typingConv !== C.conv) typingStop();
      send({ t: "typing", conv: C.conv, on: true });
      typingConv = C.conv;
      typingSentAt = now;
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(typingStop, TYPING_IDLE);
  }
  function typingStop() {
    clearTimeout(typingIdle);
    if (typingConv !== null) send({ t: "typing", conv: typingConv, on: false });
    typingConv = null;
    typingSentAt = 0;
  }

  function transfer() {
    const C = cur();
    const to = $("transfer-to").value;
    if (!C || !to) return;
    const agent = S.team.find((a) => String(a.id) === to);
    const id = typeof (agent && agent.id) === "number" ? agent.id : to;
    if (send({ t: "transfer", conv: C.conv, to: id })) toast("Transferring to " + (agent ? agent.name : "agent") + "…");
  }

  // Take a waiting conversation: the server answers with a `join` entry in this agent's
  // name (and `assigned`), or `err owned` when another agent was quicker.
  function takeConv() {
    const C = cur();
    if (!C || C.closed || C.mine) return;
    if (!send({ t: "take", conv: C.conv })) toast("Not connected: try again in a moment.", "bad");
  }

  function closeConv() {
    const C = cur();
    if (!C || C.closed) return;
    typingStop();
    send({ t: "close", conv: C.conv });
  }

  // Reopen the closed conversation in the pane: the server answers with a `reopen` entry
  // (and `assigned`), or an `err` (reopenFailed).
  function reopenConv() {
    const C = cur();
    if (!C || !C.closed) return;
    if (!send({ t: "reopen", conv: C.conv })) return toast("Not connected: try again in a moment.", "bad");
    const attempt = { conv: C.conv, at: Date.now() };
    S.reopening = attempt;
    setTimeout(() => {
      if (S.reopening === attempt) {
        S.reopening = null;
        render("pane");
      }
    }, REOPEN_WAIT);
    render("pane");
  }

  // Whether an `err` answers the reopen frame in flight: `of` names the refused frame's
  // type when the server gives it; otherwise a bad_frame or unknown_conv about that
  // conversation (and not about a follow of it) is taken for the answer.
  function isReopenErr(f, C) {
    if (f.of !== undefined) return f.of === "reopen";
    const r = S.reopening;
    if (!r || (f.code !== "bad_frame" && f.code !== "unknown_conv")) return false;
    if (f.conv === undefined || f.conv === null) return true;
    return f.conv === r.conv && !(C && C.pendingFollow);
  }

  function reopenFailed(f) {
    S.reopening = null;
    const why = f.msg ||
      (f.code === "unknown_conv" ? "the conversation was not found"
        : f.code === "bad_frame" ? "it is open already, or the visitor has another open conversation"
          : f.code);
    toast("Could not reopen the conversation: " + why, "bad");
    render("pane");
  }

  // A closed conversation leaves the list (and is no longer followed).
  function dismiss() {
    const C = cur();
    if (!C || !C.closed) return;
    send({ t: "unfollow", conv: C.conv });
    S.convs.delete(C.conv);
    S.current = null;
    render("convs", "pane");
  }

  function setPresence() {
    S.status = $("presence").value === "away" ? "away" : "online";
    $("presence-dot").dataset.status = S.status;
    send({ t: "presence", status: S.status });
  }

  // ---------------------------------------------------------------- invitations

  function openInvite(v) {
    S.inviting = v.id;
    $("invite-name").textContent = visitorName(v);
    const text = $("invite-text");
    if (!text.value.trim()) text.value = "Hi! Can I help you with anything?";
    $("invite-form").hidden = false;
    text.focus();
    text.select();
  }
  function closeInvite() {
    S.inviting = null;
    $("invite-form").hidden = true;
  }
  function submitInvite(ev) {
    ev.preventDefault();
    const text = $("invite-text").value.trim();
    const v = S.visitors.get(S.inviting);
    if (!v) {
      toast("That visitor has left the site.", "bad");
      return closeInvite();
    }
    if (!text) return;
    if (send({ t: "invite", visitor: v.id, text })) {
      toast("Invitation sent to " + visitorName(v) + ".", "good");
      closeInvite();
    } else {
      toast("Not connected: try again in a moment.", "bad");
    }
  }

  // ---------------------------------------------------------------- search

  // Messages of the site (GET /v1/search): the way back to a conversation that is closed
  // and so no longer listed (after a reload, or once removed from the list).
  let searchSeq = 0;
  async function runSearch(ev) {
    if (ev) ev.preventDefault();
    const q = $("search-input").value.trim();
    if (!q) return clearSearch();
    const seq = ++searchSeq;
    if (q.length < 2) {
      S.search = { q, hits: [], error: "Type at least 2 characters." };
      return renderSearch();
    }
    S.search = { q, hits: null, error: null };
    renderSearch();
    let data;
    try {
      data = await api("/v1/search?q=" + encodeURIComponent(q) + "&limit=50");
    } catch (e) {
      if (seq === searchSeq && S.search) {
        S.search.error = "Search failed: " + e.message;
        renderSearch();
      }
      return;
    }
    if (seq !== searchSeq || !S.search) return;
    S.search.hits = (Array.isArray(data.hits) ? data.hits : []).filter((x) => x && typeof x.conv === "number");
    renderSearch();
  }

  function clearSearch() {
    searchSeq += 1;
    S.search = null;
    $("search-input").value = "";
    renderSearch();
  }

  function renderSearch() {
    const box = $("search-results");
    const list = $("search-list");
    const on = !!S.search;
    box.hidden = !on;
    $("conv-list").hidden = on;
    list.textContent = "";
    if (!on) return;
    const { q, hits, error } = S.search;
    let summary;
    if (error) summary = error;
    else if (hits === null) summary = "Searching for “" + q + "”…";
    else summary = hits.length + (hits.length === 1 ? " message" : " messages") + " with “" + q + "”";
    $("search-summary").textContent = summary;
    for (const hit of hits || []) {
      const C = conv(hit.conv);
      const b = add(list, "button", "search-hit");
      b.type = "button";
      b.dataset.conv = String(hit.conv);
      if (S.current === hit.conv) b.classList.add("active");
      const top = add(b, "div", "conv-top");
      add(top, "span", "conv-name", (C ? convName(C) : "Conversation") + " · #" + hit.conv);
      add(top, "span", "conv-time", hhmm(hit.ts));
      const who = hit.role === "agent" ? agentName(hit.sender, C) + ": " : "";
      add(add(b, "div", "conv-bottom"), "span", "conv-preview", who + (hit.body || ""));
      b.addEventListener("click", () => {
        newConv(hit.conv);
        select(hit.conv);
        renderSearch();
      });
    }
  }

  // ---------------------------------------------------------------- canned responses

  // The suggestion list under the reply box: "slash" mode follows a "/shortcut" typed at the
  // start of the box (picking replaces the box); "all" mode (the Canned button) lists every
  // response (picking inserts at the caret).
  const sug = { open: false, mode: "slash", query: "", items: [], index: 0, dismissed: null };

  // "hel" when the box holds exactly "/hel"; null when it is not a shortcut being typed.
  function slashQuery(value) {
    const m = /^\/([a-z0-9_-]*)$/i.exec(value);
    return m ? m[1].toLowerCase() : null;
  }

  function onComposerInput() {
    typingInput();
    const value = $("composer-input").value;
    if (value !== sug.dismissed) sug.dismissed = null;
    const q = slashQuery(value);
    if (q === null || sug.dismissed !== null) {
      if (sug.open) closeSuggest();
      return;
    }
    openSuggest("slash", q);
  }

  function openSuggest(mode, query) {
    sug.mode = mode;
    sug.query = query;
    refreshSuggest(true);
    if (Date.now() - S.cannedAt > CANNED_STALE) loadCanned();
  }

  // Recompute the items (keeping the selected one when it is still there).
  function refreshSuggest(opening) {
    if (!opening && !sug.open) return;
    const keep = sug.open && sug.items[sug.index] ? sug.items[sug.index].id : null;
    const items = S.canned.filter((c) => c.shortcut.toLowerCase().startsWith(sug.query));
    const C = cur();
    if (!items.length || !C || C.closed) return closeSuggest();
    sug.open = true;
    sug.items = items;
    sug.index = Math.max(0, items.findIndex((c) => c.id === keep));
    renderSuggest();
  }

  function closeSuggest() {
    const was = sug.open;
    sug.open = false;
    sug.items = [];
    sug.index = 0;
    if (was || !$("canned-suggest").hidden) renderSuggest();
  }

  function moveSuggest(by) {
    const n = sug.items.length;
    if (!n) return;
    sug.index = (sug.index + by + n) % n;
    renderSuggest();
  }

  function renderSuggest() {
    const ul = $("canned-suggest");
    const input = $("composer-input");
    ul.textContent = "";
    ul.hidden = !sug.open;
    $("canned-btn").setAttribute("aria-expanded", sug.open && sug.mode === "all" ? "true" : "false");
    if (!sug.open) {
      input.removeAttribute("aria-activedescendant");
      return;
    }
    let active = null;
    sug.items.forEach((c, i) => {
      const li = add(ul, "li", "canned-option");
      li.id = "canned-opt-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === sug.index ? "true" : "false");
      li.dataset.shortcut = c.shortcut;
      add(li, "span", "canned-short", "/" + c.shortcut);
      add(li, "span", "canned-preview", c.text);
      // Keep the focus in the reply box.
      li.addEventListener("mousedown", (ev) => ev.preventDefault());
      li.addEventListener("click", () => pickCanned(i));
      if (i === sug.index) active = li;
    });
    input.setAttribute("aria-activedescendant", "canned-opt-" + sug.index);
    if (active) active.scrollIntoView({ block: "nearest" });
  }

  function pickCanned(i) {
    const c = sug.items[i];
    if (!c) return;
    const input = $("composer-input");
    if (sug.mode === "all" && slashQuery(input.value) === null) {
      input.setRangeText(c.text, input.selectionStart, input.selectionEnd, "end");
    } else {
      input.value = c.text;
      input.setSelectionRange(c.text.length, c.text.length);
    }
    closeSuggest();
    input.focus();
    typingInput();
  }

  // Keys of the reply box while the list is open; true when the key was used.
  function suggestKey(ev) {
    if (!sug.open) return false;
    switch (ev.key) {
      case "ArrowDown":
      case "ArrowUp":
        moveSuggest(ev.key === "ArrowDown" ? 1 : -1);
        break;
      case "Enter":
      case "Tab":
        if (ev.shiftKey) return false;
        pickCanned(sug.index);
        break;
      case "Escape":
        sug.dismissed = $("composer-input").value;
        closeSuggest();
        break;
      default:
        return false;
    }
    ev.preventDefault();
    return true;
  }

  function toggleCannedMenu() {
    const input = $("composer-input");
    if (sug.open && sug.mode === "all") {
      closeSuggest();
    } else {
      input.focus();
      openSuggest("all", "");
    }
  }

  function renderCannedButton() {
    $("canned-btn").hidden = !S.canned.length;
  }

  // ---------------------------------------------------------------- settings (admins)

  function showFormError(id, text) {
    const el = $(id);
    el.textContent = text || "";
    el.hidden = !text;
  }

  function openSettings() {
    if (!isAdmin()) return;
    const d = $("settings");
    showFormError("canned-error", "");
    showFormError("rule-error", "");
    renderCannedList();
    renderRulesList();
    if (!d.open) d.showModal();
    loadCanned();
    loadRules();
  }

  function closeSettings() {
    const d = $("settings");
    if (d.open) d.close();
  }

  function renderCannedList() {
    const ul = $("canned-list");
    ul.textContent = "";
    if (!S.agent) return;
    if (!S.canned.length) add(ul, "li", "muted small set-empty", "No canned responses yet.");
    for (const c of S.canned) {
      const li = add(ul, "li", "set-item");
      li.dataset.id = String(c.id);
      li.dataset.shortcut = c.shortcut;
      const main = add(li, "div", "set-main");
      add(main, "div", "set-title", "/" + c.shortcut);
      add(main, "div", "set-text", c.text);
      const del = add(li, "button", "btn danger small set-delete", "Delete");
      del.type = "button";
      del.setAttribute("aria-label", "Delete canned response /" + c.shortcut);
      del.addEventListener("click", () => deleteCanned(c, del));
    }
  }

  function renderRulesList() {
    const ul = $("rules-list");
    ul.textContent = "";
    if (!S.agent) return;
    if (!S.rules.length) add(ul, "li", "muted small set-empty", "No automatic invitations yet.");
    for (const r of S.rules) {
      const li = add(ul, "li", "set-item");
      li.dataset.id = String(r.id);
      const main = add(li, "div", "set-main");
      add(main, "div", "set-title", String(r.name || "(no name)"));
      add(main, "div", "set-detail rule-url", r.url ? "URL matches " + r.url : "every page");
      const secs = Number(r.min_seconds) || 0;
      const visits = Number(r.min_visits) || 0;
      add(main, "div", "set-detail rule-when",
        "after " + secs + (secs === 1 ? " second" : " seconds") + " on the page · at least " + visits + (visits === 1 ? " visit" : " visits"));
      add(main, "div", "set-text", String(r.text || ""));
      const del = add(li, "button", "btn danger small set-delete", "Delete");
      del.type = "button";
      del.setAttribute("aria-label", "Delete rule " + (r.name || ""));
      del.addEventListener("click", () => deleteRule(r, del));
    }
  }

  async function submitCanned(ev) {
    ev.preventDefault();
    const shortcut = $("canned-shortcut").value.trim().replace(/^\//, "").toLowerCase();
    const text = $("canned-text").value.trim();
    if (!shortcut || !text) return showFormError("canned-error", "Enter a shortcut and the text it stands for.");
    const btn = $("canned-add");
    btn.disabled = true;
    showFormError("canned-error", "");
    try {
      const res = await apiSend("POST", "/v1/canned", { shortcut, text });
      if (!S.agent) return;
      if (!res.ok) return showFormError("canned-error", refusal(res, "Adding the canned response"));
      $("canned-shortcut").value = "";
      $("canned-text").value = "";
      const c = res.data && res.data.canned;
      if (c && typeof c.shortcut === "string" && !S.canned.some((x) => x.id === c.id)) {
        S.canned = S.canned.concat([c]).sort((a, b) => (a.shortcut < b.shortcut ? -1 : a.shortcut > b.shortcut ? 1 : 0));
        renderCannedList();
        renderCannedButton();
      }
      $("canned-shortcut").focus();
      loadCanned();
    } finally {
      btn.disabled = false;
    }
  }

  async function deleteCanned(c, btn) {
    btn.disabled = true;
    showFormError("canned-error", "");
    const res = await apiSend("DELETE", "/v1/canned/" + encodeURIComponent(c.id));
    if (!S.agent) return;
    if (!res.ok && res.status !== 404) {
      btn.disabled = false;
      return showFormError("canned-error", refusal(res, "Deleting /" + c.shortcut));
    }
    S.canned = S.canned.filter((x) => x.id !== c.id);
    renderCannedList();
    renderCannedButton();
    refreshSuggest();
    loadCanned();
  }

  // A whole number 0…max from a form field, or null.
  function wholeNumber(id) {
    const v = $(id).value.trim();
    if (!/^\d+$/.test(v)) return null;
    return Number(v);
  }

  async function submitRule(ev) {
    ev.preventDefault();
    const name = $("rule-name").value.trim();
    const url = $("rule-url").value.trim();
    const text = $("rule-text").value.trim();
    const minSeconds = wholeNumber("rule-seconds");
    const minVisits = wholeNumber("rule-visits");
    if (!name || !text) return showFormError("rule-error", "Enter a name and the invitation text.");
    if (minSeconds === null || minVisits === null) return showFormError("rule-error", "Seconds and visits are whole numbers, 0 or more.");
    const btn = $("rule-add");
    btn.disabled = true;
    showFormError("rule-error", "");
    try {
      const res = await apiSend("POST", "/v1/rules", { name, url, min_seconds: minSeconds, min_visits: minVisits, text });
      if (!S.agent) return;
      if (!res.ok) return showFormError("rule-error", refusal(res, "Adding the rule"));
      for (const id of ["rule-name", "rule-url", "rule-text"]) $(id).value = "";
      const r = res.data && res.data.rule;
      if (r && typeof r === "object" && !S.rules.some((x) => x.id === r.id)) {
        S.rules = S.rules.concat([r]);
        renderRulesList();
      }
      $("rule-name").focus();
      loadRules();
    } finally {
      btn.disabled = false;
    }
  }

  async function deleteRule(r, btn) {
    btn.disabled = true;
    showFormError("rule-error", "");
    const res = await apiSend("DELETE", "/v1/rules/" + encodeURIComponent(r.id));
    if (!S.agent) return;
    if (!res.ok && res.status !== 404) {
      btn.disabled = false;
      return showFormError("rule-error", refusal(res, "Deleting the rule"));
    }
    S.rules = S.rules.filter((x) => x.id !== r.id);
    renderRulesList();
    loadRules();
  }

  // ---------------------------------------------------------------- selection

  function select(id) {
    if (S.current === id) return;
    const old = cur();
    if (old) old.draft = $("composer-input").value;
    typingStop();
    closeSuggest();
    S.current = id;
    const C = cur();
    if (C) startFollow(C);
    $("composer-input").value = C ? C.draft : "";
    render("pane", "convs");
    if (C) markRead(C);
    if (S.search) renderSearch();
  }

  // ---------------------------------------------------------------- rendering

  function updateTitle() {
    let n = 0;
    for (const C of S.convs.values()) if (C.mine || !C.owner) n += C.unread;
    document.title = (n ? "(" + n + ") " : "") + "kefu console";
  }

  function renderConvs() {
    const list = $("conv-list");
    list.textContent = "";
    const all = [...S.convs.values()].filter((C) => C.followed || C.assignedToMe);
    all.sort((a, b) => (b.lastTs || 0) - (a.lastTs || 0) || b.conv - a.conv);
    const groups = [
      ["Mine", all.filter((C) => !C.closed && C.mine)],
      ["Waiting", all.filter((C) => !C.closed && !C.mine && !C.owner)],
      ["Other agents", all.filter((C) => !C.closed && !C.mine && C.owner)],
      ["Closed", all.filter((C) => C.closed)],
    ];
    let open = 0;
    for (const [title, items] of groups) {
      if (!items.length) continue;
      if (title !== "Closed") open += items.length;
      const g = add(list, "div", "conv-group");
      add(g, "div", "conv-group-title", title + " · " + items.length);
      for (const C of items) g.appendChild(convItem(C));
    }
    if (!all.length) add(list, "p", "muted pad", "No open conversations yet.");
    $("conv-count").textContent = open ? String(open) : "";
    updateTitle();
  }

  function convItem(C) {
    const b = h("button", "conv-item");
    b.type = "button";
    b.dataset.conv = String(C.conv);
    if (S.current === C.conv) b.classList.add("active");
    if (C.unread) b.classList.add("has-unread");
    if (C.closed) b.classList.add("closed");
    const top = add(b, "div", "conv-top");
    const v = visitorOfConv(C);
    add(top, "span", "presence-dot " + (v ? (v.visible ? "active" : "idle") : "gone"));
    add(top, "span", "conv-name", convName(C));
    add(top, "span", "conv-time", hhmm(C.lastTs));
    const bottom = add(b, "div", "conv-bottom");
    if (C.typing) add(bottom, "span", "conv-preview typing-now", "typing…");
    else add(bottom, "span", "conv-preview", C.preview || (C.closed ? "Closed" : "No messages yet"));
    if (C.unread) add(bottom, "span", "badge unread", String(C.unread));
    if (C.owner && !C.mine) add(b, "div", "conv-owner", "with " + C.owner.name);
    b.addEventListener("click", () => select(C.conv));
    return b;
  }

  function renderTeam() {
    const ul = $("team-list");
    ul.textContent = "";
    for (const a of S.team) {
      const li = add(ul, "li", "team-item");
      add(li, "span", "status-dot " + (a.status === "away" ? "away" : "online"));
      add(li, "span", "team-name", a.name + (String(a.id).replace(/^a/, "") === String(S.agent.id) ? " (you)" : ""));
      if (a.load !== undefined) add(li, "span", "team-load", a.load + " open");
    }
    if (!S.team.length) add(ul, "li", "muted small", "Team list not available.");
    renderTransferOptions();
  }

  function renderTransferOptions() {
    const sel = $("transfer-to");
    const keep = sel.value;
    sel.textContent = "";
    const others = S.team.filter((a) => String(a.id).replace(/^a/, "") !== String(S.agent.id));
    const first = add(sel, "option", "", others.length ? "Transfer to…" : "Nobody else online");
    first.value = "";
    for (const a of others) {
      const o = add(sel, "option", "", a.name + (a.status === "away" ? " (away)" : "") + (a.load !== undefined ? " · " + a.load + " open" : ""));
      o.value = String(a.id);
    }
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    const C = cur();
    sel.disabled = !others.length || !C || C.closed;
    $("transfer-btn").disabled = sel.disabled;
  }

  function renderVisitors() {
    const box = $("visitor-list");
    box.textContent = "";
    const list = [...S.visitors.values()].sort((a, b) => (a.since || 0) - (b.since || 0));
    $("visitor-count").textContent = list.length ? String(list.length) : "";
    if (!list.length) add(box, "p", "muted pad", "Nobody is on the site right now.");
    const now = Date.now();
    for (const v of list) {
      const card = add(box, "div", "visitor");
      card.dataset.visitor = v.id;
      const top = add(card, "div", "visitor-top");
      add(top, "span", "presence-dot " + (v.visible ? "active" : "idle"));
      add(top, "span", "visitor-name", visitorName(v));
      if (v.user) identityTag(top, v.user);
      add(top, "span", "tag " + (v.visible ? "active" : "idle"), v.visible ? "active" : "idle");
      const page = v.page || {};
      const pg = add(card, "div", "visitor-page");
      add(pg, "div", "page-title", page.title || "(untitled page)");
      if (/^https?:\/\//i.test(page.url || "")) {
        const a = add(pg, "a", "page-url", page.url);
        a.href = page.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      } else {
        add(pg, "div", "page-url", page.url || "");
      }
      const meta = add(card, "div", "visitor-meta");
      add(meta, "span", "meta ref", page.ref ? "from " + hostOf(page.ref) : "direct visit");
      add(meta, "span", "meta device", describeUa(v.ua));
      add(meta, "span", "meta time", "on site " + duration(now - (v.since || now)));
      add(meta, "span", "meta pages", (v.pages || 0) + (v.pages === 1 ? " page" : " pages"));
      add(meta, "span", "meta visits", (v.visits || 1) + (v.visits === 1 ? " visit" : " visits"));
      if (typeof v.invited === "number" && v.invited > 0) {
        const inv = add(meta, "span", "meta invited", "invited " + ago(now - v.invited));
        inv.title = "Last invited " + new Date(v.invited).toLocaleString();
      }
      const tr = add(meta, "span", "meta transports");
      for (const t of v.transports || []) add(tr, "span", "tag transport", t);
      if (v.user && v.user.attrs) {
        const keys = Object.keys(v.user.attrs).slice(0, 20);
        if (keys.length) {
          const ok = v.user.verified === true;
          const dl = add(card, "div", "visitor-attrs " + (ok ? "verified" : "unverified"));
          dl.title = identityTitle(v.user);
          add(dl, "span", "attrs-label", ok ? "✓ verified:" : "not verified:");
          for (const k of keys) {
            const val = v.user.attrs[k];
            add(dl, "span", "attr", k + ": " + (typeof val === "string" ? val : JSON.stringify(val)));
          }
        }
      }
      const actions = add(card, "div", "visitor-actions");
      if (v.conv) {
        const b = add(actions, "button", "btn small open-chat", "Open chat #" + v.conv);
        b.type = "button";
        b.addEventListener("click", () => {
          const C = newConv(v.conv);
          C.vid = v.id;
          select(v.conv);
        });
      } else {
        const b = add(actions, "button", "btn small primary invite", "Invite");
        b.type = "button";
        b.addEventListener("click", () => openInvite(v));
      }
    }
  }

  function renderPane() {
    const C = cur();
    $("chat-empty").hidden = !!C;
    $("chat-main").hidden = !C;
    if (!C) {
      S.paneConv = null;
      return;
    }
    $("chat-title").textContent = convName(C);
    const v = visitorOfConv(C);
    const sub = [];
    sub.push("#" + C.conv);
    if (C.owner) sub.push(C.mine ? "assigned to you" : "with " + C.owner.name);
    else sub.push("unassigned");
    if (v) sub.push((v.visible ? "online on " : "idle on ") + ((v.page && (v.page.title || v.page.url)) || "the site"));
    else sub.push("offline");
    if (C.contact && C.contact.email) sub.push(C.contact.email);
    if (v && v.user) sub.push(v.user.verified === true ? "identity ✓ verified" : "identity not verified");
    $("chat-sub").textContent = sub.join(" · ");
    $("chat-closed").hidden = !C.closed;
    $("composer").hidden = C.closed;
    $("close-btn").disabled = C.closed;
    $("take-btn").hidden = C.closed || C.mine || !!C.owner;
    $("reopen-btn").disabled = !!(S.reopening && S.reopening.conv === C.conv);
    if (C.closed) closeSuggest();
    renderTransferOptions();
    // Keep the agent's scroll position unless another conversation was just opened.
    const switched = S.paneConv !== C.conv;
    S.paneConv = C.conv;
    renderMessages(switched);
  }

  function renderMessages(toBottom, keepTop) {
    const C = cur();
    if (!C) return;
    const box = $("messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    const oldHeight = box.scrollHeight;
    const list = $("msg-list");
    list.textContent = "";
    // The visitor's latest read mark sits after the last agent message it covers.
    let seenAt = 0;
    for (let o = C.base + 1; o <= Math.min(C.visitorRead, C.last); o++) {
      const e = C.entries.get(o);
      if (e && e.kind === "msg" && e.role === "agent") seenAt = o;
    }
    for (let o = C.base + 1; o <= C.last; o++) {
      const e = C.entries.get(o);
      if (!e) continue;
      if (e.kind === "msg") {
        const mine = e.role === "agent";
        const m = add(list, "div", "msg " + (mine ? "out" : "in") + (e.sender === me() ? " self" : ""));
        m.dataset.off = String(e.off);
        m.dataset.cid = e.cid || "";
        if (e.contact && (e.contact.name || e.contact.email)) {
          add(m, "div", "msg-contact", "Left a message · " + [e.contact.name, e.contact.email].filter(Boolean).join(" · "));
        }
        add(m, "div", "msg-body", e.body);
        const meta = add(m, "div", "msg-meta");
        add(meta, "span", "msg-who", mine ? agentName(e.sender, C) : convName(C));
        add(meta, "span", "msg-time", hhmm(e.ts));
        if (mine) {
          const state = C.visitorRead >= e.off ? "read" : "sent";
          m.dataset.state = state;
          add(meta, "span", "msg-state " + state, state === "read" ? "✓✓ read" : "✓ sent");
        }
        if (o === seenAt) add(list, "div", "seen", "Seen by the visitor");
      } else if (e.kind === "join") {
        add(list, "div", "sys join", e.body + " joined the conversation · " + hhmm(e.ts)).dataset.off = String(e.off);
      } else if (e.kind === "transfer") {
        add(list, "div", "sys transfer", "Transferred to " + e.body + " · " + hhmm(e.ts)).dataset.off = String(e.off);
      } else if (e.kind === "close") {
        const who = e.role === "agent" ? " by " + agentName(e.sender, C) : "";
        add(list, "div", "sys close", "Conversation closed" + who + " · " + hhmm(e.ts)).dataset.off = String(e.off);
      } else if (e.kind === "reopen") {
        const who = e.body || agentName(e.sender, C);
        add(list, "div", "sys reopen", who + " reopened the conversation · " + hhmm(e.ts)).dataset.off = String(e.off);
      }
    }
    for (const item of S.outbox.values()) {
      if (item.conv !== C.conv) continue;
      const m = add(list, "div", "msg out self pending");
      m.dataset.cid = item.cid;
      m.dataset.state = item.state;
      add(m, "div", "msg-body", item.body);
      const meta = add(m, "div", "msg-meta");
      add(meta, "span", "msg-who", "You");
      add(meta, "span", "msg-time", hhmm(item.ts));
      const label = item.state === "failed" ? "not sent: " + (item.why || "error") : item.state === "sent" ? "✓ sent" : "sending…";
      add(meta, "span", "msg-state " + item.state, label);
      if (item.state === "failed") {
        const x = add(meta, "button", "btn ghost small", "Dismiss");
        x.type = "button";
        x.addEventListener("click", () => {
          S.outbox.delete(item.cid);
          renderMessages(false);
        });
      }
    }
    if (C.last === C.base && C.base === 0 && !S.outbox.size) add(list, "p", "muted pad", C.following ? "No messages yet." : "Loading…");
    const btn = $("load-earlier");
    btn.hidden = !(C.base > 0);
    if (keepTop) box.scrollTop = box.scrollHeight - oldHeight + box.scrollTop;
    else if (toBottom || nearBottom) box.scrollTop = box.scrollHeight;
  }

  function renderTyping() {
    const C = cur();
    const el = $("typing");
    if (!C || (!C.typing && !C.agentTyping)) {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    if (C.typing) {
      $("typing-who").textContent = convName(C) + " is typing…";
      $("typing-text").textContent = C.typing.text || "";
      $("typing-text").hidden = !C.typing.text;
    } else {
      $("typing-who").textContent = C.agentTyping.name + " is typing…";
      $("typing-text").textContent = "";
      $("typing-text").hidden = true;
    }
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("presence").addEventListener("change", setPresence);
    $("composer").addEventListener("submit", submitReply);
    const input = $("composer-input");
    input.addEventListener("keydown", (ev) => {
      if (ev.isComposing) return;
      if (suggestKey(ev)) return;
      if (ev.key === "Enter" && !ev.shiftKey) submitReply(ev);
    });
    input.addEventListener("input", onComposerInput);
    input.addEventListener("blur", () => {
      typingStop();
      closeSuggest();
    });
    const cannedBtn = $("canned-btn");
    cannedBtn.addEventListener("mousedown", (ev) => ev.preventDefault()); // the box keeps the focus
    cannedBtn.addEventListener("click", toggleCannedMenu);
    $("reopen-btn").addEventListener("click", reopenConv);
    $("search-form").addEventListener("submit", runSearch);
    $("search-clear").addEventListener("click", clearSearch);
    $("search-input").addEventListener("input", () => !$("search-input").value && S.search && clearSearch());
    $("search-input").addEventListener("keydown", (ev) => ev.key === "Escape" && S.search && clearSearch());
    $("settings-btn").addEventListener("click", openSettings);
    $("settings-close").addEventListener("click", closeSettings);
    // A click on the backdrop (the dialog itself, outside its content) closes it.
    $("settings").addEventListener("click", (ev) => ev.target === $("settings") && closeSettings());
    $("canned-form").addEventListener("submit", submitCanned);
    $("rule-form").addEventListener("submit", submitRule);
    $("transfer-btn").addEventListener("click", transfer);
    $("close-btn").addEventListener("click", closeConv);
    $("take-btn").addEventListener("click", takeConv);
    $("load-earlier").addEventListener("click", () => cur() && loadEarlier(cur()));
    $("dismiss-btn").addEventListener("click", dismiss);
    $("invite-form").addEventListener("submit", submitInvite);
    $("invite-cancel").addEventListener("click", closeInvite);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        markRead(cur());
        reconnectNow();
      }
    });
    window.addEventListener("online", reconnectNow);
    window.addEventListener("focus", () => markRead(cur()));
    // Time on site moves on by itself.
    setInterval(() => S.agent && S.visitors.size && render("visitors"), 5000);
    // No frame announces a conversation that waits in the queue or belongs to another
    // agent: look for new ones now and then.
    setInterval(() => S.welcomed && !document.hidden && loadConversations(), 20000);
    const s = saved();
    if (s) start(s.token, s.agent);
    else showLogin("");
  }

  init();
})();
