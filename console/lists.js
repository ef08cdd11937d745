// What the lists show and in which order: the conversation groups, the live visitors, the
// agents a conversation can be transferred to, the search summary.
// Owns only pure functions of the state they are given.
// Knows nothing of the page, the socket or REST.

import { isMe } from "./names.js";
import { plural } from "./format.js";

// The listed conversations (followed, or assigned to this agent) by latest activity, in
// groups [title, conversations]: Mine, Waiting, Other agents, Closed.
export function groupConvs(convs) {
  const all = [...convs].filter((C) => C.followed || C.assignedToMe);
  all.sort((a, b) => (b.lastTs || 0) - (a.lastTs || 0) || b.conv - a.conv);
  return [
    ["Mine", all.filter((C) => !C.closed && C.mine)],
    ["Waiting", all.filter((C) => !C.closed && !C.mine && !C.owner)],
    ["Other agents", all.filter((C) => !C.closed && !C.mine && C.owner)],
    ["Closed", all.filter((C) => C.closed)],
  ];
}

// Live visitors, longest on the site first.
export function visitorsInOrder(visitors) {
  return [...visitors].sort((a, b) => (a.since || 0) - (b.since || 0));
}

// The team but the signed-in agent.
export function transferTargets(team) {
  return team.filter((a) => !isMe(a));
}

// The line above search results.
export function searchSummary({ q, hits, error }) {
  if (error) return error;
  if (hits === null) return "Searching for “" + q + "”…";
  return plural(hits.length, "message", "messages") + " with “" + q + "”";
}

// When an automatic invitation rule fires, in words.
export function ruleWhen(r) {
  const secs = Number(r.min_seconds) || 0;
  const visits = Number(r.min_visits) || 0;
  return "after " + plural(secs, "second", "seconds") + " on the page · at least " + plural(visits, "visit", "visits");
}
