// The console's one WebSocket link (docs/protocol.md §2–3): hello with the agent's token,
// welcome, ping / pong, bye, a heartbeat timeout, and reconnecting with backoff; a close
// code that no reconnect can cure ends the link with its reason.
// Owns the socket, its timers and the link's state {state: connecting | online | offline
// | error, text, retryAt}.
// Knows nothing of conversations or the page: every other frame goes to onFrame, the
// state to onState.

const OPEN = 1; // WebSocket.OPEN

// Why the server ended the link for good, by close code.
const FATAL = {
  4100: "this console is too old for the server",
  4101: "unknown site",
  4102: "this address is not an allowed origin of the site",
  4104: "protocol error",
  4105: "WebSocket is disabled for this site",
};

// How long to wait before reconnect attempt number `attempt` (from 0): doubling from
// 0.5 s up to 15 s, then taking a random 50–100 % of it.
export function backoff(attempt, random = Math.random) {
  return Math.min(15000, 500 * Math.pow(2, attempt)) * (0.5 + random() / 2);
}

// What a close means: {expired: true} (the token is no longer valid), {fatal: text} (no
// point reconnecting), or null (reconnect).
export function closeVerdict(code, reason) {
  if (code === 4103) return { expired: true };
  if ((code >= 4100 && code < 4200) || code === 1007 || code === 1009) {
    const why = FATAL[code] || reason || "closed by the server";
    return { fatal: "Disconnected: " + why + " (" + code + ")" };
  }
  return null;
}

// The link's state in words: its own text, or one for its state.
export function statusText(status, now) {
  if (status.text) return status.text;
  if (status.state === "online") return "Connected";
  if (status.state === "connecting") return "Connecting…";
  return "Reconnecting in " + Math.max(1, Math.ceil((status.retryAt - now) / 1000)) + "s…";
}

/**
 * A link. opts: url(base) → the socket's URL on the node at base URL `base` (null: this
 * page's own server); route() (optional) → a promise of the base URL of the node serving
 * the agent's site (null: this page's own server; undefined: not known now, keep the last),
 * asked before the first connect, after a lost link and on a move to an unnamed node
 * (docs/protocol.md §6.4); hello() → the hello frame; onWelcome(f);
 * onFrame(f) for every frame but welcome, ping, pong and bye; onDown() when a link is
 * lost; onExpired() on close 4103; onState({state, text, retryAt}). For tests:
 * WebSocket, now(), setTimeout, clearTimeout, random().
 */
export function createLink(opts) {
  const WS = opts.WebSocket || globalThis.WebSocket;
  const now = opts.now || Date.now;
  const later = opts.setTimeout || ((fn, ms) => setTimeout(fn, ms));
  const cancel = opts.clearTimeout || ((t) => clearTimeout(t));
  let ws = null;
  let stopped = true;
  let welcomed = false;
  let hb = 3000;
  let lastRx = 0;
  let attempt = 0;
  let retryTimer = null;
  let retryAt = 0;
  let bye = null;
  let status = { state: "connecting", text: "", retryAt: 0 };
  // The node this link talks to (null: this page's server), whether to ask where that is
  // before the next connect, and the moves (close 4005) since the last welcome.
  let base = null;
  let reroute = true;
  let moves = 0;
  let movedAt = 0;
  let asking = 0;

  function setState(state, text) {
    status = { state, text: text || "", retryAt };
    opts.onState(status);
  }

  function detach(sock) {
    sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
  }

  // Send a frame once welcomed; false when it could not be.
  function send(frame) {
    if (!ws || ws.readyState !== OPEN || !welcomed) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (stopped) return;
    cancel(retryTimer);
    welcomed = false;
    bye = null;
    if (reroute && opts.route) return ask();
    let sock;
    try {
      sock = new WS(opts.url(base));
    } catch (e) {
      // Refused before any connection (the page's CSP does not list that node): as a
      // lost link, with backoff, asking again where to go.
      ws = null;
      return lost(1006, "refused");
    }
    ws = sock;
    setState("connecting");
    sock.onopen = () => {
      lastRx = now();
      sock.send(JSON.stringify(opts.hello()));
    };
    sock.onmessage = (m) => {
      lastRx = now();
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
    sock.onerror = () => {};
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      lost(ev.code, ev.reason);
    };
  }

  // Ask which node serves the site, then connect there; only the latest answer counts.
  function ask() {
    const mine = ++asking;
    setState("connecting");
    Promise.resolve()
      .then(() => opts.route())
      .catch(() => undefined)
      .then((b) => {
        if (mine !== asking || stopped || ws) return;
        if (b !== undefined) base = b;
        reroute = false;
        connect();
      });
  }

  function onFrame(f) {
    switch (f.t) {
      case "welcome":
        welcomed = true;
        attempt = 0;
        moves = 0;
        hb = f.hb || 3000;
        setState("online");
        return opts.onWelcome(f);
      case "ping":
        return send({ t: "pong" });
      case "pong":
        return;
      case "bye":
        bye = f;
        return;
      default:
        return opts.onFrame(f);
    }
  }

  function lost(code, reason) {
    const sock = ws;
    ws = null;
    welcomed = false;
    if (sock) {
      detach(sock);
      try {
        sock.close();
      } catch (e) {
        // gone already
      }
    }
    opts.onDown();
    if (stopped) return;
    if (bye && bye.code) code = bye.code;
    const verdict = closeVerdict(code, reason);
    if (verdict && verdict.expired) return opts.onExpired();
    if (verdict) return setState("error", verdict.fatal);
    if (code === 4005) {
      // Moved: to the node the bye names, else wherever the router says; at once, unless
      // moves keep coming without a welcome.
      const t = now();
      moves = t - movedAt < 10000 ? moves + 1 : 1;
      movedAt = t;
      if (bye && bye.url) base = bye.url.replace(/\/+$/, "");
      reroute = !(bye && bye.url) || moves > 3;
      if (moves <= 3) return connect();
    } else {
      reroute = true;
    }
    const delay = backoff(attempt, opts.random);
    attempt += 1;
    retryAt = now() + delay;
    retryTimer = later(connect, delay);
    setState("offline");
  }

  return {
    send,
    get welcomed() {
      return welcomed;
    },
    get stopped() {
      return stopped;
    },
    status: () => status,
    // Connect (again, after stop()).
    start() {
      stopped = false;
      connect();
    },
    // Close the link for good, until start().
    stop() {
      stopped = true;
      reroute = true;
      asking++;
      cancel(retryTimer);
      if (ws) {
        const sock = ws;
        ws = null;
        detach(sock);
        try {
          sock.close(1000, "bye");
        } catch (e) {
          // already closed
        }
      }
      welcomed = false;
    },
    // Waiting to reconnect: try now (the page is back in view, the network is back).
    reconnectNow() {
      if (!stopped && !ws) {
        attempt = 0;
        connect();
      }
    },
    // Once a second: a link silent for 2 × hb + 1 s is dead (protocol §3), so drop it
    // and reconnect; while waiting to reconnect, the countdown moves on.
    tick() {
      if (ws && ws.readyState === OPEN && now() - lastRx > 2 * hb + 1000) lost(4002, "heartbeat timeout");
      if (!ws && retryTimer && !stopped) opts.onState(status);
    },
  };
}
