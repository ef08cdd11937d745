// The console's state: who is signed in, the conversations by id, live visitors, the team,
// the selected conversation, unsent replies, canned responses, rules, webhooks and search
// results.
// Owns the one state object S, its reset, and lookups in it.
// Knows nothing of the page, the socket or REST: other modules read and change S, and
// decide what to draw or send.

import { Outbox } from "./outbox.js";
import { newStream } from "./streams.js";

export const STORE_KEY = "kefu.console"; // the signed-in agent and its token
export const OUTBOX_KEY = "kefu.console.outbox"; // replies not yet acked survive a reload

export const S = {
  token: null,
  agent: null, // {id, name, email, role, site}
  status: "online",
  visitors: new Map(),
  convs: new Map(), // conv id -> stream (streams.js)
  team: [],
  current: null,
  outbox: new Outbox(OUTBOX_KEY, typeof sessionStorage === "undefined" ? null : sessionStorage),
  inviting: null,
  paneConv: null,
  canned: [], // [{id, shortcut, text}] by shortcut (GET /v1/canned)
  cannedAt: 0,
  rules: [], // automatic invitation rules (GET /v1/rules), for the settings panel
  webhooks: [], // the site's webhooks (GET /v1/webhooks, never their secrets), for the settings panel
  deliveries: new Map(), // webhook id -> {list, error}: the deliveries shown under it (list null while loading)
  reopening: null, // {conv, at}: a reopen frame sent, not yet answered
  search: null, // {q, hits, error}: message search results shown instead of the list
};

// Forget the signed-in agent and everything it saw (the kept outbox in storage stays).
export function resetState() {
  S.token = null;
  S.agent = null;
  S.visitors.clear();
  S.convs.clear();
  S.outbox.clear();
  S.team = [];
  S.current = null;
  S.inviting = null;
  S.canned = [];
  S.cannedAt = 0;
  S.rules = [];
  S.webhooks = [];
  S.deliveries.clear();
  S.reopening = null;
  S.search = null;
}

export const conv = (id) => S.convs.get(id);
export const cur = () => (S.current === null ? null : conv(S.current));
// This agent's sender id in entries: "a" and its id.
export const me = () => "a" + (S.agent ? S.agent.id : "");
export const isAdmin = () => !!(S.agent && S.agent.role === "admin");

// The conversation with that id, made (empty, not followed) when it is new.
export function newConv(id) {
  let C = conv(id);
  if (!C) {
    C = newStream(id);
    S.convs.set(id, C);
  }
  return C;
}
