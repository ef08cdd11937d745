// Names and lists, from the shared state.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { S, resetState, newConv } from "../../state.js";
import { convName, agentName, teamIdByName, visitorName, visitorOfConv, identityTitle, isMe } from "../../names.js";
import { groupConvs, visitorsInOrder, transferTargets, searchSummary, ruleWhen } from "../../lists.js";

beforeEach(() => {
  resetState();
  S.agent = { id: 1, name: "Ann", site: "s_x" };
  S.team = [{ id: 1, name: "Ann" }, { id: "a2", name: "Bob", status: "away" }, { id: 3, name: "Cy" }, { id: 4, name: "Cy" }];
});

test("visitors' and conversations' names: verified or claimed name, contact, short id", () => {
  const C = newConv(7);
  assert.equal(convName(C), "Visitor #7");
  C.contact = { name: "Lee" };
  assert.equal(convName(C), "Lee");
  S.visitors.set("3f9a2c77", { id: "3f9a2c77", conv: 7 });
  assert.equal(visitorOfConv(C).id, "3f9a2c77", "found by conversation");
  assert.equal(convName(C), "Lee", "the contact before a bare visitor id");
  C.contact = null;
  assert.equal(convName(C), "Visitor 3f9a2c");
  S.visitors.set("v2", { id: "v2", conv: 9, user: { name: "Ann Lee" } });
  C.vid = "v2";
  assert.equal(convName(C), "Ann Lee", "the presence id from `assigned` first");
  assert.equal(visitorName(null), "Visitor");
});

test("agents' names: you, the team, the entries' names, or Agent", () => {
  const C = newConv(7);
  C.names.set("a9", "Dee");
  assert.equal(agentName("a1", C), "You");
  assert.equal(agentName("a2", C), "Bob");
  assert.equal(agentName("a3", C), "Cy");
  assert.equal(agentName("a9", C), "Dee");
  assert.equal(agentName("a10", C), "Agent");
  assert.equal(teamIdByName("Bob"), "a2");
  assert.equal(teamIdByName("Cy"), null, "two of them");
  assert.equal(isMe({ id: "a1" }), true);
  assert.deepEqual(transferTargets(S.team).map((a) => a.name), ["Bob", "Cy", "Cy"]);
});

test("identity titles say what vouches for a name", () => {
  assert.match(identityTitle({ verified: false }), /^Not verified/);
  assert.equal(identityTitle({ verified: true }), "Verified: signed by the site");
  assert.match(identityTitle({ verified: true, exp: 1_900_000_000 }), /^Verified: signed by the site until ./);
});

test("conversation groups, by latest activity", () => {
  const mk = (id, props) => Object.assign(newConv(id), { followed: true }, props);
  const a = mk(1, { mine: true, lastTs: 10 });
  const b = mk(2, { mine: true, lastTs: 30 });
  const w = mk(3, { lastTs: 5 });
  const o = mk(4, { owner: { sender: "a2", name: "Bob" } });
  const c = mk(5, { closed: true, mine: true });
  mk(6, { followed: false });
  const d = mk(7, { followed: false, assignedToMe: true, mine: true, lastTs: 30 });
  const groups = groupConvs(S.convs.values());
  assert.deepEqual(groups.map(([t, items]) => [t, items.map((C) => C.conv)]), [
    ["Mine", [d.conv, b.conv, a.conv]],
    ["Waiting", [w.conv]],
    ["Other agents", [o.conv]],
    ["Closed", [c.conv]],
  ]);
});

test("visitors by arrival; search summaries; rules in words", () => {
  assert.deepEqual(visitorsInOrder([{ id: "b", since: 20 }, { id: "a", since: 10 }, { id: "c" }]).map((v) => v.id), ["c", "a", "b"]);
  assert.equal(searchSummary({ q: "tea", hits: null, error: null }), "Searching for “tea”…");
  assert.equal(searchSummary({ q: "tea", hits: [{}], error: null }), "1 message with “tea”");
  assert.equal(searchSummary({ q: "tea", hits: [{}, {}], error: null }), "2 messages with “tea”");
  assert.equal(searchSummary({ q: "t", hits: [], error: "Type at least 2 characters." }), "Type at least 2 characters.");
  assert.equal(ruleWhen({ min_seconds: 1, min_visits: 0 }), "after 1 second on the page · at least 0 visits");
  assert.equal(ruleWhen({ min_seconds: "30", min_visits: 1 }), "after 30 seconds on the page · at least 1 visit");
  assert.equal(ruleWhen({}), "after 0 seconds on the page · at least 0 visits");
});
