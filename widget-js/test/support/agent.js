// The agent side of browser tests: login over REST, then the agent WebSocket (protocol
// 2.1) straight to kefu, following the visitor's conversation from offset 0.
"use strict";

const WebSocket = require("ws");
const { waitFor } = require("./kefu");

async function login(direct, password) {
  const r = await fetch(direct + "/v1/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "admin@localhost", password }),
  });
  if (!r.ok) throw new Error(`POST /v1/login: ${r.status} ${await r.text()}`);
  const { token } = await r.json();
  return token;
}

async function conversations(direct, token) {
  const r = await fetch(`${direct}/v1/conversations?token=${encodeURIComponent(token)}`);
  if (!r.ok) throw new Error(`GET /v1/conversations: ${r.status} ${await r.text()}`);
  return (await r.json()).conversations;
}

class Agent {
  constructor(srv) {
    this.srv = srv;
    this.entries = [];
    this.errors = [];
    this.acks = new Map();
    this.visitors = new Map();
    this.n = 0;
  }
  async connect() {
    this.token = await login(this.srv.direct, this.srv.password);
    const ws = (this.ws = new WebSocket(this.srv.direct.replace("http", "ws") + "/v1/ws"));
    ws.on("message", (data) => this.onFrame(JSON.parse(String(data))));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ t: "hello", v: 1, site: this.srv.key, role: "agent", token: this.token }));
    await waitFor(() => this.welcome, 10000, "agent welcome");
  }
  onFrame(f) {
    if (f.t === "welcome") this.welcome = f;
    else if (f.t === "ping") this.ws.send('{"t":"pong"}');
    else if (f.t === "e" && f.conv === this.conv) {
      const last = this.entries.length ? this.entries[this.entries.length - 1].off : 0;
      if (f.off !== last + 1) this.errors.push(`entry ${f.off} after ${last}`);
      this.entries.push(f);
    } else if (f.t === "ack") this.acks.set(f.cid, f);
    else if (f.t === "visitors") this.visitors = new Map(f.list.map((v) => [v.id, v]));
    else if (f.t === "visitor" && f.op === "leave") this.visitors.delete(f.v.id);
    else if (f.t === "visitor") this.visitors.set(f.v.id, f.v);
    else if (f.t === "err") this.errors.push(JSON.stringify(f));
  }
  // Follow the (only) conversation of the site once it exists.
  async follow() {
    const list = await waitFor(async () => {
      const c = await conversations(this.srv.direct, this.token);
      return c.length ? c : null;
    }, 30000, "a conversation to exist");
    this.conv = list[0].conv;
    this.ws.send(JSON.stringify({ t: "follow", conv: this.conv, after: 0 }));
    return this.conv;
  }
  visitorBodies() {
    return this.entries.filter((e) => e.kind === "msg" && e.role === "visitor").map((e) => e.body);
  }
  async say(body) {
    const cid = "agent" + ++this.n + "x" + Date.now().toString(36);
    this.ws.send(JSON.stringify({ t: "msg", conv: this.conv, cid, body }));
    await waitFor(() => this.acks.get(cid), 10000, "ack of agent message " + body);
  }
  send(frame) {
    this.ws.send(JSON.stringify(Object.assign({ conv: this.conv }, frame)));
  }
  close() {
    if (this.ws) this.ws.terminate();
  }
}

module.exports = { Agent, login, conversations };
