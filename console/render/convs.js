// The left column: the conversation list (Mine, Waiting, Other agents, Closed), the message
// search that stands in for it (GET /v1/search), the team list, and the page title's
// unread count.
// Owns those elements and the search form.
// Knows nothing of the socket or of streams' offsets: it draws from the state and calls
// the `select` hook to open a conversation.

import { S, conv, newConv } from "../state.js";
import { hhmm } from "../format.js";
import { convName, agentName, visitorOfConv, isMe } from "../names.js";
import { groupConvs, searchSummary } from "../lists.js";
import { unreadTotal } from "../streams.js";
import * as api from "../api.js";
import { $, h, add } from "./dom.js";

let hooks = { select: () => {} };

// hooks.select(conv): show that conversation in the pane.
export function initConvs(h) {
  hooks = h;
  $("search-form").addEventListener("submit", runSearch);
  $("search-clear").addEventListener("click", clearSearch);
  $("search-input").addEventListener("input", () => !$("search-input").value && S.search && clearSearch());
  $("search-input").addEventListener("keydown", (ev) => ev.key === "Escape" && S.search && clearSearch());
}

export function updateTitle() {
  const n = unreadTotal(S.convs.values());
  document.title = (n ? "(" + n + ") " : "") + "kefu console";
}

export function renderConvs() {
  const list = $("conv-list");
  list.textContent = "";
  let open = 0;
  let any = false;
  for (const [title, items] of groupConvs(S.convs.values())) {
    if (!items.length) continue;
    any = true;
    if (title !== "Closed") open += items.length;
    const g = add(list, "div", "conv-group");
    add(g, "div", "conv-group-title", title + " · " + items.length);
    for (const C of items) g.appendChild(convItem(C));
  }
  if (!any) add(list, "p", "muted pad", "No open conversations yet.");
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
  b.addEventListener("click", () => hooks.select(C.conv));
  return b;
}

export function renderTeam() {
  const ul = $("team-list");
  ul.textContent = "";
  for (const a of S.team) {
    const li = add(ul, "li", "team-item");
    add(li, "span", "status-dot " + (a.status === "away" ? "away" : "online"));
    add(li, "span", "team-name", a.name + (isMe(a) ? " (you)" : ""));
    if (a.load !== undefined) add(li, "span", "team-load", a.load + " open");
  }
  if (!S.team.length) add(ul, "li", "muted small", "Team list not available.");
}

// ---------------------------------------------------------------- search

// Messages of the site: the way back to a conversation that is closed and so no longer
// listed (after a reload, or once removed from the list).
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
    data = await api.get("/v1/search?q=" + encodeURIComponent(q) + "&limit=50");
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

export function clearSearch() {
  searchSeq += 1;
  S.search = null;
  $("search-input").value = "";
  renderSearch();
}

// Signed out: no search, the (empty) list shown.
export function resetSearch() {
  S.search = null;
  $("search-input").value = "";
  $("search-results").hidden = true;
  $("conv-list").hidden = false;
}

export function renderSearch() {
  const box = $("search-results");
  const list = $("search-list");
  const on = !!S.search;
  box.hidden = !on;
  $("conv-list").hidden = on;
  list.textContent = "";
  if (!on) return;
  $("search-summary").textContent = searchSummary(S.search);
  for (const hit of S.search.hits || []) {
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
      hooks.select(hit.conv);
      renderSearch();
    });
  }
}
