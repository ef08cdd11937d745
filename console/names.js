// Who is who: the names shown for visitors, conversations and agents, the visitor of a
// conversation, and what vouches for a visitor's identity (docs/identity.md).
// Owns how names are chosen (a verified or claimed name, a contact left with a message,
// "Visitor 3f9a2c", "You").
// Knows nothing of the page, the socket or REST; it reads the state (state.js).

import { S, me } from "./state.js";
import { shortId } from "./format.js";

export function visitorOfConv(C) {
  if (C.vid && S.visitors.has(C.vid)) return S.visitors.get(C.vid);
  for (const v of S.visitors.values()) if (v.conv === C.conv) return v;
  return null;
}

export function visitorName(v) {
  if (v && v.user && v.user.name) return v.user.name;
  return v ? "Visitor " + shortId(v.id) : "Visitor";
}

// What vouches for a visitor's name and attributes: a token signed by the host site, or
// nothing but the visitor's own browser.
export function identityTitle(u) {
  if (u.verified !== true) return "Not verified: sent by the visitor's browser, anyone could claim it";
  const exp = typeof u.exp === "number" ? " until " + new Date(u.exp * 1000).toLocaleString() : "";
  return "Verified: signed by the site" + exp;
}

export function convName(C) {
  const v = visitorOfConv(C);
  if (v && v.user && v.user.name) return v.user.name;
  if (C.contact && C.contact.name) return C.contact.name;
  if (v) return visitorName(v);
  return "Visitor #" + C.conv;
}

// A team member's id without its "a" prefix, as text.
export const agentKey = (id) => String(id).replace(/^a/, "");

export function agentName(sender, C) {
  if (sender === me()) return "You";
  const id = String(sender || "").replace(/^a/, "");
  const t = S.team.find((a) => agentKey(a.id) === id);
  if (t) return t.name;
  if (C && C.names.has(sender)) return C.names.get(sender);
  return "Agent";
}

// The sender id of the one team member with that name, or null.
export function teamIdByName(name) {
  const found = S.team.filter((a) => a.name === name);
  return found.length === 1 ? "a" + agentKey(found[0].id) : null;
}

// Whether a team member is the signed-in agent.
export const isMe = (a) => !!S.agent && agentKey(a.id) === String(S.agent.id);

// What streams.recompute needs to know about people.
export const who = () => ({ me: me(), name: S.agent ? S.agent.name : undefined, agentName, teamIdByName });
