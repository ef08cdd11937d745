// The chat pane: its header (who, where, owner, identity), the buttons' states, the
// transfer list, the messages with their read states and system lines, unsent replies,
// and who is typing.
// Owns those elements (the reply box is composer.js's).
// Knows nothing of the socket or REST: it draws the selected conversation from the state.

import { S, cur, me } from "../state.js";
import { hhmm } from "../format.js";
import { convName, agentName, visitorOfConv } from "../names.js";
import { transferTargets } from "../lists.js";
import { seenAt } from "../streams.js";
import { $, add } from "./dom.js";

export function renderPane() {
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
  renderTransferOptions();
  // Keep the agent's scroll position unless another conversation was just opened.
  const switched = S.paneConv !== C.conv;
  S.paneConv = C.conv;
  renderMessages(switched);
}

export function renderTransferOptions() {
  const sel = $("transfer-to");
  const keep = sel.value;
  sel.textContent = "";
  const others = transferTargets(S.team);
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

// toBottom: scroll to the end; keepTop: older entries came in above, keep what is in view.
export function renderMessages(toBottom, keepTop) {
  const C = cur();
  if (!C) return;
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const oldHeight = box.scrollHeight;
  const list = $("msg-list");
  list.textContent = "";
  // The visitor's latest read mark sits after the last agent message it covers.
  const seen = seenAt(C);
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
      if (o === seen) add(list, "div", "seen", "Seen by the visitor");
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
        S.outbox.drop(item.cid);
        renderMessages(false);
      });
    }
  }
  if (C.last === C.base && C.base === 0 && !S.outbox.size) add(list, "p", "muted pad", C.following ? "No messages yet." : "Loading…");
  $("load-earlier").hidden = !(C.base > 0);
  if (keepTop) box.scrollTop = box.scrollHeight - oldHeight + box.scrollTop;
  else if (toBottom || nearBottom) box.scrollTop = box.scrollHeight;
}

export function renderTyping() {
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
